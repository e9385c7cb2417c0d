"""activity, event-types and the per-day-per-type series against the hand-counted dataset."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from hsl.db import make_engine
from hsl.errors import ValidationError
from hsl.filters import Period
from hsl.metrics.activity import activity_by_day, event_types, events_by_day_and_type
from hsl.reports import run_report
from tests.conftest import bot_like
from tests.fixtures.analytics import (
    ACTIVITY_END,
    ACTIVITY_ROWS,
    ACTIVITY_START,
    MOSCOW,
    NEW_YORK,
    NOW,
    records,
)

D2, D3, D4, D5 = (date(2026, 11, d) for d in (2, 3, 4, 5))


@pytest.fixture(scope="module")
def db(module_engine):
    return module_engine(ACTIVITY_ROWS)


def period(tz: str = "UTC", start: date = ACTIVITY_START, end: date = ACTIVITY_END) -> Period:
    return Period(start, end, tz, NOW)


def test_activity_utc(db):
    frame = activity_by_day(db, period())
    assert list(frame.columns) == ["day", "events", "active_users"]
    # 11-02: U1 10:00, U1 22:30, U2 11:00 → 3 events by 2 people; 11-03: nothing (spine);
    # 11-04: U1 09:00, U2 12:00, U2 13:00 → 3 by 2; 11-05: U3 21:30 → 1 by 1.
    # U3's 11-01 22:00 and U4's 11-06 are outside the UTC range.
    assert records(frame) == [(D2, 3, 2), (D3, 0, 0), (D4, 3, 2), (D5, 1, 1)]


def test_activity_moscow(db):
    frame = activity_by_day(db, period(MOSCOW))
    # 11-02: U1 13:00, U2 14:00, U3 01:00 (UTC 11-01 22:00) → 3 by 3;
    # 11-03: U1 01:30 (UTC 11-02 22:30) → 1 by 1; 11-04: 3 by 2 as in UTC;
    # 11-05: nothing — U3's faq is 11-06 00:30 Moscow.
    assert records(frame) == [(D2, 3, 3), (D3, 1, 1), (D4, 3, 2), (D5, 0, 0)]


def test_activity_across_a_daylight_saving_change(db):
    spring = period(NEW_YORK, date(2026, 3, 7), date(2026, 3, 9))
    # U5 in New York: 03-07 23:30; 03-08 00:30 and 23:30 (EDT from 03:00 on); 03-09 00:30.
    assert records(activity_by_day(db, spring)) == [
        (date(2026, 3, 7), 1, 1), (date(2026, 3, 8), 2, 1), (date(2026, 3, 9), 1, 1),
    ]
    # In UTC: two on 03-08 and two on 03-09.
    assert activity_by_day(db, period("UTC", date(2026, 3, 7), date(2026, 3, 9)))[
        "events"].tolist() == [0, 2, 2]


def test_activity_days_are_dates(db):
    assert all(type(day) is date for day in activity_by_day(db, period())["day"])


def test_event_types_utc(db):
    frame = event_types(db, period())
    assert list(frame.columns) == ["event_type", "events", "share"]
    # 7 events in range: menu U1×2 + U2×2 = 4; start, click and faq 1 each (ties by name).
    assert records(frame) == [
        ("menu_opened", 4, pytest.approx(4 / 7)),
        ("faq_opened", 1, pytest.approx(1 / 7)),
        ("lesson_link_clicked", 1, pytest.approx(1 / 7)),
        ("start_command", 1, pytest.approx(1 / 7)),
    ]
    assert frame["share"].sum() == pytest.approx(1.0)


def test_event_types_moscow(db):
    frame = event_types(db, period(MOSCOW))
    # Moscow adds U3's 11-01 22:00 menu (11-02 local) and drops U3's faq (11-06 local):
    # menu 5, click 1, start 1 of 7.
    assert records(frame) == [
        ("menu_opened", 5, pytest.approx(5 / 7)),
        ("lesson_link_clicked", 1, pytest.approx(1 / 7)),
        ("start_command", 1, pytest.approx(1 / 7)),
    ]
    assert frame["share"].sum() == pytest.approx(1.0)


def test_empty_range(db):
    quiet = period(start=date(2026, 12, 1), end=date(2026, 12, 3))
    types = event_types(db, quiet)
    assert list(types.columns) == ["event_type", "events", "share"]
    assert types.empty
    assert records(activity_by_day(db, quiet)) == [
        (date(2026, 12, 1), 0, 0), (date(2026, 12, 2), 0, 0), (date(2026, 12, 3), 0, 0),
    ]
    assert events_by_day_and_type(db, quiet).empty


def test_empty_database(empty_db):
    assert event_types(empty_db, period()).empty
    assert activity_by_day(empty_db, period())["events"].tolist() == [0, 0, 0, 0]


def test_by_day_and_type_all_types(db):
    frame = events_by_day_and_type(db, period())
    assert list(frame.columns) == ["day", "event_type", "events"]
    # Every day × the 4 types of the range, ranked menu, faq, click, start.
    assert len(frame) == 16
    assert frame.loc[frame["day"] == D2, "event_type"].tolist() == [
        "menu_opened", "faq_opened", "lesson_link_clicked", "start_command",
    ]
    assert frame.loc[frame["day"] == D2, "events"].tolist() == [2, 0, 0, 1]
    assert frame.loc[frame["day"] == D3, "events"].tolist() == [0, 0, 0, 0]
    assert frame.loc[frame["day"] == D4, "events"].tolist() == [2, 0, 1, 0]
    assert frame.loc[frame["day"] == D5, "events"].tolist() == [0, 1, 0, 0]


def test_by_day_and_type_top_two_and_other(db):
    frame = events_by_day_and_type(db, period(), top=2)
    # Top 2: menu (4), faq (1, first of the ties by name); click and start become "other".
    assert records(frame) == [
        (D2, "menu_opened", 2), (D2, "faq_opened", 0), (D2, "other", 1),
        (D3, "menu_opened", 0), (D3, "faq_opened", 0), (D3, "other", 0),
        (D4, "menu_opened", 2), (D4, "faq_opened", 0), (D4, "other", 1),
        (D5, "menu_opened", 0), (D5, "faq_opened", 1), (D5, "other", 0),
    ]
    # Per day the stack adds up to the activity report's events.
    assert frame.groupby("day")["events"].sum().tolist() == [3, 0, 3, 1]


def test_by_day_and_type_top_larger_than_types_has_no_other(db):
    frame = events_by_day_and_type(db, period(), top=10)
    assert "other" not in set(frame["event_type"])
    with pytest.raises(ValidationError):
        events_by_day_and_type(db, period(), top=0)


def test_reports_registered(db):
    assert records(run_report(db, "activity", period())) == records(activity_by_day(db, period()))
    assert list(run_report(db, "event-types", period()).columns) == [
        "event_type", "events", "share",
    ]


def test_sqlite_timestamps_in_other_spellings(database_factory):
    # An older bot may have written ISO text with an offset or without microseconds.
    engine = bot_like(make_engine(database_factory("sqlite")))
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO events (user_id, event_type, created_at) VALUES "
            "(1, 'menu_opened', '2026-11-03T01:30:00+03:00'),"  # = 11-02 22:30 UTC
            "(2, 'menu_opened', '2026-11-02 23:59:59'),"
            "(3, 'menu_opened', '2026-11-03 00:00:00.000000')"
        ))
    frame = activity_by_day(engine, period(start=D2, end=D3))
    assert records(frame) == [(D2, 2, 2), (D3, 1, 1)]
    engine.dispose()
