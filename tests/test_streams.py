"""streams, status counts and rosters against the hand-counted dataset."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from hsl.errors import NotFoundError, ValidationError
from hsl.filters import Period
from hsl.metrics.streams import (
    list_streams,
    natural_key,
    status_counts,
    stream_roster,
    stream_summary,
)
from hsl.reports import run_report
from tests.fixtures.analytics import (
    MOSCOW,
    NOW,
    S10,
    S11,
    S12,
    S13,
    S14,
    STREAM_ROWS,
    records,
)

SUMMARY = [
    "course_stream", "bookings", "new", "pending", "confirmed", "cancelled", "students",
    "paid_rate", "cancel_rate",
]
ROSTER = ["user_id", "username", "first_name", "status", "events", "last_activity"]


@pytest.fixture(scope="module")
def db(module_engine):
    return module_engine(STREAM_ROWS)


def period(tz: str = "UTC") -> Period:
    # Streams are all time: a range that holds none of the bookings must not matter.
    return Period(date(2026, 1, 1), date(2026, 1, 2), tz, NOW)


def iso(value) -> str | None:
    return None if pd.isna(value) else value.isoformat()


def test_natural_key_orders_numbers_as_numbers():
    names = ["10th_stream", "2nd_stream", "1st_stream", "Beta", "alpha", None, "9th_stream"]
    assert sorted(names, key=natural_key) == [
        "1st_stream", "2nd_stream", "9th_stream", "10th_stream", "alpha", "Beta", None,
    ]


def test_list_streams_is_natural_and_read_from_data(db):
    # Lexical order would put 10th before 2nd and 9th; the NULL stream is not a stream.
    assert list_streams(db) == ["2nd_stream", "9th_stream", "10th_stream"]


def test_stream_summary(db):
    frame = stream_summary(db, period())
    assert list(frame.columns) == SUMMARY
    assert records(frame) == [
        # ids 1-4: statuses 2, 0, -1 and the unknown 3 (counted only in bookings);
        # students S10, S11, S12; paid 1/4, cancelled 1/4.
        ("2nd_stream", 4, 1, 0, 1, 1, 3, 0.25, 0.25),
        # id 9: one paid booking by S14.
        ("9th_stream", 1, 0, 0, 1, 0, 1, 1.0, 0.0),
        # ids 5-8: one of each known status; students S11 and S13.
        ("10th_stream", 4, 1, 1, 1, 1, 2, 0.25, 0.25),
        # id 10 has no stream: kept, last.
        (None, 1, 1, 0, 0, 0, 1, 0.0, 0.0),
    ]


def test_unknown_status_is_bookings_minus_known(db):
    frame = stream_summary(db, period())
    known = frame[["new", "pending", "confirmed", "cancelled"]].sum(axis=1)
    assert (frame["bookings"] - known).tolist() == [1, 0, 0, 0]


def test_status_counts_name_unknown_codes(db):
    frame = status_counts(db)
    assert list(frame.columns) == ["course_stream", "confirmed", "status", "bookings"]
    assert records(frame) == [
        ("2nd_stream", 0, "new", 1),
        ("2nd_stream", 2, "confirmed", 1),
        ("2nd_stream", -1, "cancelled", 1),
        ("2nd_stream", 3, "unknown (3)", 1),
        ("9th_stream", 2, "confirmed", 1),
        ("10th_stream", 0, "new", 1),
        ("10th_stream", 1, "pending", 1),
        ("10th_stream", 2, "confirmed", 1),
        ("10th_stream", -1, "cancelled", 1),
        (None, 0, "new", 1),
    ]


def test_roster_second_stream(db):
    frame = stream_roster(db, period(MOSCOW), "2nd_stream")
    assert list(frame.columns) == ROSTER
    rows = [(*row[:5], iso(row[5])) for row in records(frame)]
    assert rows == [
        # S11: no users row → the newest registration's names (bob, not bob_old);
        # one event 10-02 12:00 UTC = 15:00 Moscow.
        (S11, "bob", "Bob", "cancelled", 1, "2026-10-02T15:00:00+03:00"),
        # S12: unknown status, no names anywhere, no events → empty last activity.
        (S12, None, None, "unknown (3)", 0, None),
        # S10: id 1 (10-05, confirmed) is newer than id 2 (10-01, new) although its id is
        # lower; three events all time, the last 11-24 23:30 UTC = 11-25 02:30 Moscow.
        (S10, "ann", "Ann", "confirmed", 3, "2026-11-25T02:30:00+03:00"),
    ]


def test_roster_tie_on_created_at_goes_to_the_higher_id(db):
    frame = stream_roster(db, period(), "10th_stream")
    rows = [(*row[:5], iso(row[5])) for row in records(frame)]
    assert rows == [
        # ids 5 (pending) and 6 (new) share created_at: id 6 wins → new.
        (S11, "bob", "Bob", "new", 1, "2026-10-02T12:00:00+00:00"),
        # id 8 (cancelled, 10-12) is newer than id 7 (confirmed, 10-11).
        (S13, None, None, "cancelled", 0, None),
    ]


def test_roster_last_activity_is_aware_in_the_reporting_zone(db):
    last = stream_roster(db, period(MOSCOW), "2nd_stream")["last_activity"].iloc[2]
    assert isinstance(last, datetime)
    assert last.utcoffset().total_seconds() == 3 * 3600


def test_roster_single_student(db):
    frame = stream_roster(db, period(), "9th_stream")
    assert frame[["user_id", "status", "events"]].values.tolist() == [[S14, "confirmed", 0]]


def test_roster_unknown_stream(db):
    with pytest.raises(NotFoundError, match="3rd_stream"):
        stream_roster(db, period(), "3rd_stream")


def test_empty_database(empty_db):
    assert list_streams(empty_db) == []
    frame = stream_summary(empty_db, period())
    assert frame.empty and list(frame.columns) == SUMMARY
    assert status_counts(empty_db).empty


def test_reports_registered(db):
    assert run_report(db, "streams", period())["course_stream"].tolist()[:3] == [
        "2nd_stream", "9th_stream", "10th_stream",
    ]
    roster = run_report(db, "roster", period(), stream="10th_stream")
    assert roster["user_id"].tolist() == [S11, S13]
    with pytest.raises(ValidationError, match="--stream"):
        run_report(db, "roster", period())
    with pytest.raises(ValidationError, match="--stream"):
        run_report(db, "streams", period(), stream="2nd_stream")
