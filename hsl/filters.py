"""Frozen filter dataclasses that pages and the CLI pass down to the metric functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hsl.config import check_timezone
from hsl.errors import ValidationError

DEFAULT_RANGE_DAYS = 30


def utc_now() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Period:
    """An inclusive range of local dates in a reporting timezone, plus the clock "now"."""

    start: date
    end: date
    tz: str = "UTC"
    now: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        check_timezone(self.tz)
        if self.start > self.end:
            raise ValidationError(
                f"The start date {self.start} is after the end date {self.end}."
            )
        if self.now.tzinfo is None:
            object.__setattr__(self, "now", self.now.replace(tzinfo=UTC))

    @classmethod
    def last_days(cls, days: int = DEFAULT_RANGE_DAYS, tz: str = "UTC",
                  now: datetime | None = None) -> Period:
        """Return the `days` local dates up to and including today in `tz`."""
        now = now or utc_now()
        today = now.astimezone(ZoneInfo(check_timezone(tz))).date()
        return cls(today - timedelta(days=days - 1), today, tz, now)

    def local_midnight_utc(self, day: date) -> datetime:
        """Return the UTC instant at which local `day` begins."""
        return datetime.combine(day, time(0), ZoneInfo(self.tz)).astimezone(UTC)

    @property
    def utc_start(self) -> datetime:
        """The first UTC instant of the range (inclusive)."""
        return self.local_midnight_utc(self.start)

    @property
    def utc_end(self) -> datetime:
        """The first UTC instant after the range (exclusive)."""
        return self.local_midnight_utc(self.end + timedelta(days=1))

    @property
    def days(self) -> int:
        """Number of local days in the range."""
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """Return the period of equal length that ends the day before this one starts."""
        length = timedelta(days=self.days)
        return Period(self.start - length, self.end - length, self.tz, self.now)

    def describe(self) -> str:
        """Return a short slug such as `2026-10-27_2026-11-25` for file names."""
        return f"{self.start.isoformat()}_{self.end.isoformat()}"
