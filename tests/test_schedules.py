"""Digest schedules (hsl.schedules): the UTC instant of each run across month and year ends,
short months, daylight-saving changes in Europe/Berlin and none in Europe/Moscow; which
single run a restarted worker owes; period keys; and the sentences bad input gets.

Hand rules for the expected values: Europe/Moscow is UTC+3 all year. Europe/Berlin is
UTC+1 (CET) and UTC+2 (CEST) from 2026-03-29 01:00 UTC (clocks 02:00 → 03:00) until
2026-10-25 01:00 UTC (clocks 03:00 → 02:00, so 02:00-02:59 happens twice)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from hsl.errors import ValidationError
from hsl.schedules import (
    Schedule,
    is_late,
    latest_due,
    next_run,
    occurrence_on,
    period_key,
)

D = date
MSK = "Europe/Moscow"
BER = "Europe/Berlin"


def U(*parts: int) -> datetime:
    """A UTC instant."""
    return datetime(*parts, tzinfo=UTC)


DAILY_MSK = Schedule("daily", time(9, 0), tz=MSK)               # 06:00 UTC every day
MONDAY_MSK = Schedule("weekly", time(9, 0), 0, tz=MSK)          # Mondays 06:00 UTC
DAY31_MSK = Schedule("monthly", time(8, 30), day=31, tz=MSK)    # last day, 05:30 UTC
DAILY_BER_0230 = Schedule("daily", time(2, 30), tz=BER)


# --- daily -------------------------------------------------------------------------------

def test_daily_runs_at_local_time_across_month_and_year_end():
    # 09:00 MSK = 06:00 UTC, every date.
    assert occurrence_on(DAILY_MSK, D(2026, 11, 30)) == U(2026, 11, 30, 6, 0)
    # Strictly after: the run at 30 Nov 06:00 itself is not "next"; 1 Dec is.
    assert next_run(DAILY_MSK, U(2026, 11, 30, 6, 0)) == U(2026, 12, 1, 6, 0)
    assert next_run(DAILY_MSK, U(2026, 12, 31, 5, 59)) == U(2026, 12, 31, 6, 0)
    assert next_run(DAILY_MSK, U(2026, 12, 31, 6, 0)) == U(2027, 1, 1, 6, 0)


def test_daily_local_date_differs_from_utc_date():
    # 01:30 MSK on 1 Jan 2027 is 22:30 UTC on 31 Dec 2026; its key is the local day.
    early = Schedule("daily", time(1, 30), tz=MSK)
    run = occurrence_on(early, D(2027, 1, 1))
    assert run == U(2026, 12, 31, 22, 30)
    assert period_key(early, run) == "2027-01-01"
    # At 23:00 UTC on 31 Dec it is already 02:00 on 1 Jan in Moscow: next is 2 Jan 01:30 MSK.
    assert next_run(early, U(2026, 12, 31, 23, 0)) == U(2027, 1, 1, 22, 30)


# --- weekly ------------------------------------------------------------------------------

def test_weekly_runs_on_its_weekday_only():
    # 3 Dec 2026 is a Thursday; the Mondays around it are 30 Nov and 7 Dec.
    assert occurrence_on(MONDAY_MSK, D(2026, 12, 3)) is None
    assert occurrence_on(MONDAY_MSK, D(2026, 12, 7)) == U(2026, 12, 7, 6, 0)
    # Across the month end: after Wed 25 Nov comes Mon 30 Nov, then Mon 7 Dec.
    assert next_run(MONDAY_MSK, U(2026, 11, 25, 12, 0)) == U(2026, 11, 30, 6, 0)
    assert next_run(MONDAY_MSK, U(2026, 11, 30, 6, 0)) == U(2026, 12, 7, 6, 0)


def test_weekly_across_year_end_and_iso_week_53():
    # 1 Jan 2026 is a Thursday, so ISO 2026 has 53 weeks: week 53 is Mon 28 Dec 2026 to
    # Sun 3 Jan 2027, and week 1 of 2027 starts Mon 4 Jan 2027.
    last_monday = occurrence_on(MONDAY_MSK, D(2026, 12, 28))
    assert last_monday == U(2026, 12, 28, 6, 0)
    assert period_key(MONDAY_MSK, last_monday) == "2026-W53"
    first_monday = next_run(MONDAY_MSK, last_monday)
    assert first_monday == U(2027, 1, 4, 6, 0)
    assert period_key(MONDAY_MSK, first_monday) == "2027-W01"
    # A Friday schedule's run on Fri 1 Jan 2027 still belongs to ISO week 2026-W53.
    friday = Schedule("weekly", time(9, 0), 4, tz=MSK)
    assert period_key(friday, occurrence_on(friday, D(2027, 1, 1))) == "2026-W53"
    # Thursday 3 Dec 2026: 339 days after Mon 29 Dec 2025 (start of week 1) → week 49.
    thursday = Schedule("weekly", time(9, 0), 3, tz=MSK)
    assert period_key(thursday, occurrence_on(thursday, D(2026, 12, 3))) == "2026-W49"


# --- monthly -----------------------------------------------------------------------------

@pytest.mark.parametrize(("runs_on", "not_on"), [
    (D(2026, 4, 30), D(2026, 4, 29)),    # April has 30 days
    (D(2027, 2, 28), D(2027, 2, 27)),    # 2027 is not a leap year
    (D(2028, 2, 29), D(2028, 2, 28)),    # 2028 is a leap year
    (D(2026, 12, 31), D(2026, 12, 30)),  # a 31-day month runs on the 31st itself
], ids=["april", "feb-2027", "feb-2028-leap", "december"])
def test_monthly_day_31_runs_on_the_last_day_of_shorter_months(runs_on, not_on):
    # 08:30 MSK = 05:30 UTC on the same date.
    assert occurrence_on(DAY31_MSK, runs_on) == datetime.combine(runs_on, time(5, 30), UTC)
    assert occurrence_on(DAY31_MSK, not_on) is None


def test_monthly_next_run_across_short_months_and_year_end():
    assert next_run(DAY31_MSK, U(2026, 3, 31, 5, 30)) == U(2026, 4, 30, 5, 30)
    assert next_run(DAY31_MSK, U(2027, 1, 31, 5, 30)) == U(2027, 2, 28, 5, 30)
    assert next_run(DAY31_MSK, U(2028, 1, 31, 5, 30)) == U(2028, 2, 29, 5, 30)
    assert next_run(DAY31_MSK, U(2026, 12, 31, 5, 30)) == U(2027, 1, 31, 5, 30)
    assert period_key(DAY31_MSK, U(2027, 2, 28, 5, 30)) == "2027-02"


def test_monthly_first_of_month_just_after_local_midnight():
    # 00:15 MSK on 1 Jan 2027 is 21:15 UTC on 31 Dec 2026; the key is the local month.
    first = Schedule("monthly", time(0, 15), day=1, tz=MSK)
    run = next_run(first, U(2026, 12, 15, 0, 0))
    assert run == U(2026, 12, 31, 21, 15)
    assert period_key(first, run) == "2027-01"


# --- daylight saving ---------------------------------------------------------------------

def test_berlin_spring_gap_runs_at_the_end_of_the_gap():
    # 28 Mar (CET): 02:30 local = 01:30 UTC. 29 Mar: 02:30 does not exist; the first valid
    # instant after the gap is 03:00 CEST = 01:00 UTC. 30 Mar (CEST): 02:30 = 00:30 UTC.
    assert occurrence_on(DAILY_BER_0230, D(2026, 3, 28)) == U(2026, 3, 28, 1, 30)
    assert occurrence_on(DAILY_BER_0230, D(2026, 3, 29)) == U(2026, 3, 29, 1, 0)
    assert occurrence_on(DAILY_BER_0230, D(2026, 3, 30)) == U(2026, 3, 30, 0, 30)
    assert next_run(DAILY_BER_0230, U(2026, 3, 28, 1, 30)) == U(2026, 3, 29, 1, 0)
    assert next_run(DAILY_BER_0230, U(2026, 3, 29, 1, 0)) == U(2026, 3, 30, 0, 30)
    assert period_key(DAILY_BER_0230, U(2026, 3, 29, 1, 0)) == "2026-03-29"


@pytest.mark.parametrize("at", [time(2, 0), time(2, 59)])
def test_berlin_spring_gap_edges_all_run_at_three(at):
    # 02:00 and 02:59 are both inside the gap: both run at 03:00 CEST = 01:00 UTC, and 03:00
    # itself (the first valid local time) is that same instant.
    assert occurrence_on(Schedule("daily", at, tz=BER), D(2026, 3, 29)) == U(2026, 3, 29, 1, 0)
    assert occurrence_on(Schedule("daily", time(3, 0), tz=BER), D(2026, 3, 29)) \
        == U(2026, 3, 29, 1, 0)


def test_berlin_autumn_repeat_runs_once_at_the_first_occurrence():
    # 25 Oct: 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET); only the first
    # is a run, so after it the next run is 26 Oct 02:30 CET = 01:30 UTC, not 25 Oct 01:30.
    assert occurrence_on(DAILY_BER_0230, D(2026, 10, 24)) == U(2026, 10, 24, 0, 30)
    assert occurrence_on(DAILY_BER_0230, D(2026, 10, 25)) == U(2026, 10, 25, 0, 30)
    assert next_run(DAILY_BER_0230, U(2026, 10, 25, 0, 30)) == U(2026, 10, 26, 1, 30)
    # A worker starting during the repeated hour owes the 00:30 UTC run once.
    created = U(2026, 10, 1)
    assert latest_due(DAILY_BER_0230, U(2026, 10, 25, 1, 40), U(2026, 10, 24, 0, 30),
                      created) == U(2026, 10, 25, 0, 30)
    assert latest_due(DAILY_BER_0230, U(2026, 10, 25, 1, 40), U(2026, 10, 25, 0, 30),
                      created) is None


def test_berlin_weekly_sunday_on_both_change_days():
    # Both change days are Sundays: 29 Mar and 25 Oct 2026.
    sunday = Schedule("weekly", time(2, 30), 6, tz=BER)
    assert next_run(sunday, U(2026, 3, 23)) == U(2026, 3, 29, 1, 0)
    assert next_run(sunday, U(2026, 10, 19)) == U(2026, 10, 25, 0, 30)
    assert next_run(sunday, U(2026, 10, 25, 0, 30)) == U(2026, 11, 1, 1, 30)


def test_moscow_has_no_daylight_saving():
    # 02:30 MSK is 23:30 UTC the evening before, on Berlin's change days as on any other.
    night = Schedule("daily", time(2, 30), tz=MSK)
    assert occurrence_on(night, D(2026, 3, 29)) == U(2026, 3, 28, 23, 30)
    assert occurrence_on(night, D(2026, 10, 25)) == U(2026, 10, 24, 23, 30)
    assert occurrence_on(night, D(2026, 10, 26)) == U(2026, 10, 25, 23, 30)


# --- what a worker owes ------------------------------------------------------------------

def test_worker_stopped_three_days_owes_only_the_latest_run():
    # Last sent 30 Nov 06:00 UTC; down until 3 Dec 07:10 UTC. Missed 1, 2 and 3 Dec at
    # 06:00 UTC: only 3 Dec is owed, and it is 70 minutes late.
    due = latest_due(DAILY_MSK, U(2026, 12, 3, 7, 10), U(2026, 11, 30, 6, 0), U(2026, 11, 1))
    assert due == U(2026, 12, 3, 6, 0)
    assert is_late(due, U(2026, 12, 3, 7, 10)) is True
    assert period_key(DAILY_MSK, due) == "2026-12-03"
    # Once recorded as sent (last_run = that run), nothing more is owed that day.
    assert latest_due(DAILY_MSK, U(2026, 12, 3, 7, 11), due, U(2026, 11, 1)) is None


def test_weekly_worker_stopped_three_weeks_owes_only_the_latest_monday():
    # Last sent Mon 9 Nov; Mondays 16, 23 and 30 Nov missed; started Wed 2 Dec → 30 Nov.
    due = latest_due(MONDAY_MSK, U(2026, 12, 2, 12, 0), U(2026, 11, 9, 6, 0), U(2026, 10, 1))
    assert due == U(2026, 11, 30, 6, 0)
    assert period_key(MONDAY_MSK, due) == "2026-W49"


def test_monthly_never_run_owes_the_latest_month_end_after_creation():
    # Created 15 Jan 2027, never run, worker starts 5 Mar 2027: 31 Jan and 28 Feb were
    # missed; only 28 Feb 05:30 UTC is owed.
    assert latest_due(DAY31_MSK, U(2027, 3, 5), None, U(2027, 1, 15)) == U(2027, 2, 28, 5, 30)


def test_nothing_is_owed_for_runs_before_the_subscription_existed():
    # Created at 06:30 UTC on 3 Dec, after that day's 06:00 run: nothing until 4 Dec 06:00.
    created = U(2026, 12, 3, 6, 30)
    assert latest_due(DAILY_MSK, U(2026, 12, 3, 7, 0), None, created) is None
    assert latest_due(DAILY_MSK, U(2026, 12, 4, 5, 59, 59), None, created) is None
    # Created at the very instant of a run: that run is not owed (created < t is strict).
    assert latest_due(DAILY_MSK, U(2026, 12, 3, 7, 0), None, U(2026, 12, 3, 6, 0)) is None


def test_a_run_is_due_exactly_at_its_instant():
    created = U(2026, 12, 3, 6, 30)
    assert latest_due(DAILY_MSK, U(2026, 12, 4, 6, 0), None, created) == U(2026, 12, 4, 6, 0)
    assert is_late(U(2026, 12, 4, 6, 0), U(2026, 12, 4, 6, 0)) is False


def test_is_late_after_the_grace_period_only():
    due = U(2026, 12, 3, 6, 0)
    assert is_late(due, U(2026, 12, 3, 6, 15)) is False          # exactly 15 minutes
    assert is_late(due, U(2026, 12, 3, 6, 15, 1)) is True
    assert is_late(due, U(2026, 12, 3, 6, 4), grace=timedelta(minutes=3)) is True


def test_instants_without_timezone_are_refused():
    with pytest.raises(ValueError, match="has no timezone"):
        next_run(DAILY_MSK, datetime(2026, 12, 3, 6, 0))


# --- parsing and describing --------------------------------------------------------------

def test_parse_reads_form_input():
    assert Schedule.parse(" Weekly ", "9:05", weekday=0, tz=BER) \
        == Schedule("weekly", time(9, 5), 0, tz=BER)
    assert Schedule.parse("monthly", "23:59", day=31, tz=MSK) \
        == Schedule("monthly", time(23, 59), day=31, tz=MSK)


@pytest.mark.parametrize(("args", "kwargs", "sentence"), [
    (("hourly", "09:00"), {},
     "Unknown schedule 'hourly'; use daily, weekly or monthly."),
    (("daily", "25:00"), {},
     "The time '25:00' is not a time of day; use HH:MM from 00:00 to 23:59."),
    (("daily", "09:60"), {},
     "The time '09:60' is not a time of day; use HH:MM from 00:00 to 23:59."),
    (("daily", "9am"), {},
     "The time '9am' is not a time of day; use HH:MM from 00:00 to 23:59."),
    (("daily", "09:00"), {"weekday": 0},
     "A daily schedule takes no weekday; leave it empty."),
    (("daily", "09:00"), {"day": 1},
     "A daily schedule takes no day of the month; leave it empty."),
    (("weekly", "09:00"), {},
     "A weekly schedule needs a weekday from 0 (Monday) to 6 (Sunday)."),
    (("weekly", "09:00"), {"weekday": 7},
     "A weekly schedule needs a weekday from 0 (Monday) to 6 (Sunday)."),
    (("weekly", "09:00"), {"weekday": 0, "day": 3},
     "A weekly schedule takes no day of the month; leave it empty."),
    (("monthly", "09:00"), {"day": 0},
     "A monthly schedule needs a day of the month from 1 to 31."),
    (("monthly", "09:00"), {"day": 32},
     "A monthly schedule needs a day of the month from 1 to 31."),
    (("monthly", "09:00"), {},
     "A monthly schedule needs a day of the month from 1 to 31."),
    (("monthly", "09:00"), {"day": 5, "weekday": 2},
     "A monthly schedule takes no weekday; leave it empty."),
    (("daily", "09:00"), {"tz": "Mars/Olympus"},
     "Unknown timezone 'Mars/Olympus'; use an IANA name such as Europe/Moscow."),
])
def test_parse_refuses_bad_input_with_one_sentence(args, kwargs, sentence):
    kwargs = {"tz": MSK, **kwargs}
    with pytest.raises(ValidationError) as caught:
        Schedule.parse(*args, **kwargs)
    assert str(caught.value) == sentence


@pytest.mark.parametrize(("schedule", "text"), [
    (Schedule("daily", time(9, 0), tz=MSK), "Daily at 09:00"),
    (Schedule("weekly", time(9, 0), 0, tz=MSK), "Weekly on Monday at 09:00"),
    (Schedule("weekly", time(18, 45), 6, tz=MSK), "Weekly on Sunday at 18:45"),
    (Schedule("monthly", time(8, 30), day=31, tz=MSK),
     "Monthly on day 31 at 08:30 (the last day in shorter months)"),
    (Schedule("monthly", time(7, 5), day=28, tz=MSK), "Monthly on day 28 at 07:05"),
])
def test_describe(schedule, text):
    assert schedule.describe() == text
