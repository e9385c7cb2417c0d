"""Frozen filter dataclasses that pages and the CLI pass down to the metric functions."""

from __future__ import annotations

import calendar
import functools
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hsl.config import check_timezone
from hsl.errors import ValidationError

DEFAULT_RANGE_DAYS = 30

# Named date ranges, as the URL spells them (`?dates=last-month`) → how a person reads them.
# Each rolls: it means other dates tomorrow (hsl.filters.preset_dates).
PRESETS: dict[str, str] = {
    "today": "Today",
    "yesterday": "Yesterday",
    "last-7-days": "Last 7 days",
    "last-30-days": "Last 30 days",
    "last-90-days": "Last 90 days",
    "this-month": "This month",
    "last-month": "Last month",
    "this-quarter": "This quarter",
    "last-quarter": "Last quarter",
    "year-to-date": "Year to date",
    "last-year": "Last year",
}
DEFAULT_PRESET = "last-30-days"
_LAST_DAYS = {"last-7-days": 7, "last-30-days": 30, "last-90-days": 90}

# What a period's numbers are compared with (`?compare=month`) → how a person reads it.
COMPARISONS: dict[str, str] = {
    "previous": "The period before",
    "month": "A month earlier",
    "year": "A year earlier",
}
DEFAULT_COMPARISON = "previous"
_MONTHS_BACK = {"month": 1, "year": 12}


CLOCK_SETTING = "HSL_CLOCK"
@functools.cache  # read once a process: the first call fixes the offset
def _offset() -> timedelta:
    """How far the process' clock is moved: `HSL_CLOCK` (an ISO 8601 time, UTC when it names
    no offset) is the time at the first call, and the clock runs on from there. Unset: 0.
    For demos and browser tests that need another day; never set in production."""
    given = os.environ.get(CLOCK_SETTING, "").strip()
    if not given:
        return timedelta(0)
    try:
        moment = datetime.fromisoformat(given)
    except ValueError:
        raise ValidationError(f"{CLOCK_SETTING} must be an ISO 8601 time such as "
                              "2026-12-01T09:00:00+00:00.") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment - datetime.now(UTC)


def utc_now() -> datetime:
    """Return the current time, aware, in UTC (moved by HSL_CLOCK when it is set)."""
    return datetime.now(UTC) + _offset()


def local_today(tz: str, now: datetime | None = None) -> date:
    """Return the calendar date it is at `now` (default: the current time) in timezone `tz`."""
    moment = now or utc_now()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(check_timezone(tz))).date()


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def preset_dates(name: str, today: date) -> tuple[date, date]:
    """Return the inclusive (start, end) local dates that preset `name` means on `today`.

    "Last N days" end today (today included); "this" month, quarter and year end today;
    "last" month, quarter and year are the whole calendar unit before the current one.
    Raises ValidationError for a name that is not in PRESETS.
    """
    if name in _LAST_DAYS:
        return today - timedelta(days=_LAST_DAYS[name] - 1), today
    if name == "today":
        return today, today
    if name == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    if name == "this-month":
        return today.replace(day=1), today
    if name == "last-month":
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    if name == "this-quarter":
        return _quarter_start(today), today
    if name == "last-quarter":
        end = _quarter_start(today) - timedelta(days=1)
        return _quarter_start(end), end
    if name == "year-to-date":
        return date(today.year, 1, 1), today
    if name == "last-year":
        return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
    raise ValidationError(
        f"“{name}” is not a date preset; the presets are {', '.join(PRESETS)}."
    )


def _months_before(day: date, months: int, *, month_end: bool) -> date:
    """The same day `months` months earlier, clipped to that month's length; its last day
    when `month_end`."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, last if month_end else min(day.day, last))


def _is_month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


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

    @classmethod
    def from_preset(cls, name: str, tz: str = "UTC", now: datetime | None = None) -> Period:
        """Return the dates preset `name` (PRESETS) means today in `tz`."""
        now = now or utc_now()
        return cls(*preset_dates(name, local_today(tz, now)), tz, now)

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

    def compared(self, kind: str = DEFAULT_COMPARISON) -> Period:
        """Return the period this one is compared with (COMPARISONS).

        `previous`: the period of equal length just before. `month` / `year`: the same dates
        one month / twelve months earlier, a day past the end of a shorter month clipped to
        its last day (31 Mar → 28 Feb); a range that ends on the last day of a month ends
        on the last day of that earlier month, so a whole month (quarter, year) is compared
        with a whole one (1–30 Nov → 1–31 Oct).
        """
        if kind == "previous":
            return self.previous()
        if kind not in _MONTHS_BACK:
            raise ValidationError(
                f"“{kind}” is not a comparison; the comparisons are {', '.join(COMPARISONS)}."
            )
        months = _MONTHS_BACK[kind]
        return Period(_months_before(self.start, months, month_end=False),
                      _months_before(self.end, months, month_end=_is_month_end(self.end)),
                      self.tz, self.now)

    def comparison_words(self, kind: str = DEFAULT_COMPARISON) -> str:
        """Return how the comparison reads after "compared with": `the 30 days before`,
        `the day before`, `the same dates a month earlier`, `the same dates a year earlier`."""
        if kind == "previous":
            return "the day before" if self.days == 1 else f"the {self.days:,} days before"
        if kind not in _MONTHS_BACK:
            raise ValidationError(
                f"“{kind}” is not a comparison; the comparisons are {', '.join(COMPARISONS)}."
            )
        day = "day" if self.days == 1 else "dates"
        return f"the same {day} a {'month' if kind == 'month' else 'year'} earlier"

    def describe(self) -> str:
        """Return a short slug such as `2026-10-27_2026-11-25` for file names."""
        return f"{self.start.isoformat()}_{self.end.isoformat()}"
