"""Weekly cohort retention against the hand-counted dataset, in UTC and Europe/Moscow."""

from __future__ import annotations

from datetime import date

import pytest

from hsl.filters import Period
from hsl.metrics.retention import retention
from hsl.reports import run_report
from tests.fixtures.analytics import (
    MOSCOW,
    NOW,
    RETENTION_END,
    RETENTION_ROWS,
    RETENTION_START,
    records,
)

COLUMNS = ["cohort_week", "week_offset", "cohort_size", "active_users", "retention"]
W2, W9, W16, W23 = (date(2026, 11, d) for d in (2, 9, 16, 23))


@pytest.fixture(scope="module")
def db(module_engine):
    return module_engine(RETENTION_ROWS)


def period(tz: str = "UTC", start: date = RETENTION_START, end: date = RETENTION_END) -> Period:
    return Period(start, end, tz, NOW)


def test_retention_utc(db):
    frame = retention(db, period())
    assert list(frame.columns) == COLUMNS
    assert records(frame) == [
        # Cohort 11-02: R1 (users row 11-03), R2 (event 11-04), R3 (registration 11-05) and
        # R8 (event Sunday 11-08 22:00). R6 was first seen in October: no cohort.
        (W2, 0, 4, 3, 0.75),  # R1 11-03, R2 11-04, R8 11-08; R3 never has an event
        (W2, 1, 4, 1, 0.25),  # R2 11-10
        (W2, 2, 4, 3, 0.75),  # R8 11-16, R1 11-17, R2 11-20 (after --end, same week)
        # Cohort 11-09: R4 alone.
        (W9, 0, 1, 1, 1.0),  # R4 11-09 08:00
        (W9, 1, 1, 0, 0.0),  # the empty week: R4 never came back
        # Cohort 11-16: R5, first seen by a booking on 11-20 (after --end; Monday in range).
        (W16, 0, 1, 0, 0.0),
    ]
    # R1's 11-24 event (week 11-23) is past the week of --end; R7's cohort 11-23 too.
    assert all(type(week) is date for week in frame["cohort_week"])


def test_retention_moscow(db):
    frame = retention(db, period(MOSCOW))
    # R8's first event is Monday 11-09 01:00 in Moscow: it moves to the 11-09 cohort.
    assert records(frame) == [
        (W2, 0, 3, 2, pytest.approx(2 / 3)),  # R1, R2
        (W2, 1, 3, 1, pytest.approx(1 / 3)),  # R2
        (W2, 2, 3, 2, pytest.approx(2 / 3)),  # R1, R2
        (W9, 0, 2, 2, 1.0),  # R4 11-09 11:00, R8 11-09 01:00
        (W9, 1, 2, 1, 0.5),  # R8 11-16 13:00
        (W16, 0, 1, 0, 0.0),  # R5
    ]


def test_cohorts_start_at_the_first_monday_in_range(db):
    frame = retention(db, period(start=date(2026, 11, 3)))
    # From Tuesday 11-03 the first Monday is 11-09: cohorts 11-09 and 11-16 only.
    assert [(r[0], r[1]) for r in records(frame)] == [(W9, 0), (W9, 1), (W16, 0)]


def test_cohort_without_users_is_left_out(db):
    frame = retention(db, period(start=date(2026, 11, 23), end=date(2026, 11, 30)))
    # Mondays 11-23 (R7 only, who has no events) and 11-30 (nobody: no rows).
    # Offsets reach the week of 11-30: 0 and 1.
    assert records(frame) == [(W23, 0, 1, 0, 0.0), (W23, 1, 1, 0, 0.0)]


def test_range_without_a_monday(db):
    frame = retention(db, period(start=date(2026, 11, 3), end=date(2026, 11, 5)))
    assert frame.empty and list(frame.columns) == COLUMNS


def test_empty_database(empty_db):
    frame = retention(empty_db, period())
    assert frame.empty and list(frame.columns) == COLUMNS


def test_report_registered(db):
    assert records(run_report(db, "retention", period())) == records(retention(db, period()))
