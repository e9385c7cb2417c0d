"""When digests are due: daily, weekly or monthly runs at a local time in the reporting timezone.

Rules, in one place:

- A schedule runs at wall-clock time `at` in timezone `tz`: every day, on one weekday
  (0 = Monday ... 6 = Sunday) or on one day of the month (1..31; a day past a month's end
  means that month's last day, so day 31 runs on 30 April and 28/29 February).
- Daylight saving: a local time skipped by a spring-forward gap runs at the first instant
  after the gap (02:30 on 29 March 2026 in Europe/Berlin runs at 03:00 CEST); a local time
  that happens twice in an autumn fall-back runs once, at its first occurrence (fold=0).
- A worker that missed runs owes only the latest one (`latest_due`), sent once, marked late
  when it is past its time by more than a grace period (`is_late`).
- `period_key` names the day, ISO week or month a run belongs to, in local time, so a
  database UNIQUE(subscription_id, period_key) lets only one worker send each period.

Every instant taken or returned is a timezone-aware datetime; returned ones are in UTC.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hsl.config import check_timezone
from hsl.errors import ValidationError

EVERY = ("daily", "weekly", "monthly")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEFAULT_GRACE = timedelta(minutes=15)

_HH_MM = re.compile(r"(\d{1,2}):(\d{2})")
# Every schedule runs at least once in any 62 consecutive days (monthly: once a month).
_SEARCH_DAYS = 62


@dataclass(frozen=True)
class Schedule:
    """When a digest runs: `every` day, week (on `weekday`) or month (on `day`), `at` local
    time in timezone `tz` (keyword-only, no default: a schedule always names its timezone).
    Construction checks the combination; `parse` reads user input."""

    every: str
    at: time
    weekday: int | None = None
    day: int | None = None
    tz: str = field(kw_only=True)

    def __post_init__(self) -> None:
        if self.every not in EVERY:
            raise ValidationError(
                f"Unknown schedule {self.every!r}; use daily, weekly or monthly."
            )
        if self.weekday is not None and self.every != "weekly":
            raise ValidationError(f"A {self.every} schedule takes no weekday; leave it empty.")
        if self.day is not None and self.every != "monthly":
            raise ValidationError(
                f"A {self.every} schedule takes no day of the month; leave it empty."
            )
        if self.every == "weekly" and not _is_int_in(self.weekday, 0, 6):
            raise ValidationError(
                "A weekly schedule needs a weekday from 0 (Monday) to 6 (Sunday)."
            )
        if self.every == "monthly" and not _is_int_in(self.day, 1, 31):
            raise ValidationError("A monthly schedule needs a day of the month from 1 to 31.")
        check_timezone(self.tz)

    @classmethod
    def parse(
        cls, every: str, at_text: str, weekday: int | None = None, day: int | None = None,
        *, tz: str,
    ) -> Schedule:
        """Return the Schedule for form or command-line input; `at_text` is "HH:MM".

        Raises ValidationError with one sentence for anything malformed or not allowed.
        """
        match = _HH_MM.fullmatch(str(at_text).strip())
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ValidationError(
                f"The time {at_text!r} is not a time of day; use HH:MM from 00:00 to 23:59."
            )
        at = time(int(match[1]), int(match[2]))
        return cls(str(every).strip().lower(), at, weekday, day, tz=tz)

    def describe(self) -> str:
        """Return the schedule in plain English, e.g. "Weekly on Monday at 09:00"."""
        at = self.at.strftime("%H:%M")
        if self.every == "daily":
            return f"Daily at {at}"
        if self.every == "weekly":
            return f"Weekly on {WEEKDAYS[self.weekday]} at {at}"
        shorter = " (the last day in shorter months)" if self.day > 28 else ""
        return f"Monthly on day {self.day} at {at}{shorter}"


def _is_int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _runs_on(schedule: Schedule, local_date: date) -> bool:
    if schedule.every == "daily":
        return True
    if schedule.every == "weekly":
        return local_date.weekday() == schedule.weekday
    last_day = calendar.monthrange(local_date.year, local_date.month)[1]
    return local_date.day == min(schedule.day, last_day)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no timezone; pass an aware datetime.")
    return moment.astimezone(UTC)


def _local_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of naive local `wall` in `zone`: its first occurrence when the
    clock repeats it, the end of the gap when the clock skips it."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap fold=0 reads `wall` with the offset before the jump (an instant after the
    # transition) and fold=1 with the offset after it (an instant before): the transition
    # lies between the two; zoneinfo does not expose it, so bisect to the second.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after, offset_before = first, before.astimezone(zone).utcoffset()
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) / 2
        if middle.astimezone(zone).utcoffset() == offset_before:
            before = middle
        else:
            after = middle
    return after.replace(microsecond=0)


def occurrence_on(schedule: Schedule, local_date: date) -> datetime | None:
    """Return the UTC instant the schedule runs on `local_date` (its own timezone), or None
    when it has no run that day."""
    if not _runs_on(schedule, local_date):
        return None
    wall = datetime.combine(local_date, schedule.at.replace(tzinfo=None))
    return _local_instant(wall, ZoneInfo(schedule.tz))


def _local_date(schedule: Schedule, moment: datetime) -> date:
    return _utc(moment).astimezone(ZoneInfo(schedule.tz)).date()


def next_run(schedule: Schedule, after: datetime) -> datetime:
    """Return the first UTC instant the schedule runs strictly after `after`."""
    after = _utc(after)
    start = _local_date(schedule, after)
    for offset in range(_SEARCH_DAYS + 1):
        run = occurrence_on(schedule, start + timedelta(days=offset))
        if run is not None and run > after:
            return run
    raise AssertionError(f"{schedule.describe()} has no run within {_SEARCH_DAYS} days.")


def previous_run(schedule: Schedule, at_or_before: datetime) -> datetime:
    """Return the last UTC instant the schedule runs at or before `at_or_before`."""
    at_or_before = _utc(at_or_before)
    end = _local_date(schedule, at_or_before)
    for offset in range(_SEARCH_DAYS + 1):
        run = occurrence_on(schedule, end - timedelta(days=offset))
        if run is not None and run <= at_or_before:
            return run
    raise AssertionError(f"{schedule.describe()} has no run within {_SEARCH_DAYS} days.")


def latest_due(
    schedule: Schedule, now: datetime, last_run: datetime | None, created: datetime,
) -> datetime | None:
    """Return the run a worker owes at `now`: the latest scheduled instant t with
    max(last_run, created) < t <= now, or None. Several missed runs owe only the latest."""
    done = max(_utc(created), _utc(last_run)) if last_run is not None else _utc(created)
    run = previous_run(schedule, now)
    return run if run > done else None


def is_late(due: datetime, now: datetime, grace: timedelta = DEFAULT_GRACE) -> bool:
    """Return True when a run due at `due` is sent at `now` more than `grace` after it."""
    return _utc(now) - _utc(due) > grace


def period_key(schedule: Schedule, due: datetime) -> str:
    """Return the local day ("2026-12-03"), ISO week ("2026-W49") or month ("2026-12") that
    the run at `due` belongs to: one key per period, for a UNIQUE constraint."""
    local = _local_date(schedule, due)
    if schedule.every == "daily":
        return local.isoformat()
    if schedule.every == "weekly":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"
