"""lesson_registrations: rows vs people, attendance and notification share per lesson group.

Hand-counted dataset (times UTC; Moscow is UTC+3). Range 2026-11-01 .. 2026-11-07.

| who | registrations (lesson type, lesson date, registered at, notification sent) | clicks   |
|-----|------------------------------------------------------------------------------|----------|
| U1  | python 11-10 (11-02, sent); python 11-17 (11-03, not sent)                   | python   |
| U2  | python 11-10 (11-02, sent); web 11-12 (11-04, sent)                          | web      |
| U3  | web 11-12 (11-05, not sent)                                                  | —        |
| U4  | python 11-10 (10-30, sent: before the range)                                 | python   |
| U5  | web 11-12 (11-07 23:30 UTC = 11-08 02:30 Moscow, sent)                       | python   |
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hsl.errors import ValidationError
from hsl.filters import Period
from hsl.metrics.lessons import lesson_registrations
from tests.fixtures import utc
from tests.fixtures.foundation import records

PY, WEB, CLICK = "python_basics", "web_design", "lesson_link_clicked"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
START, END = date(2026, 11, 1), date(2026, 11, 7)
COLUMNS = ["registrations", "registrants", "attended", "attendance_rate", "notified",
           "notified_share"]


def _reg(user_id: int, lesson_type: str, lesson_day: int, at: str, sent: bool) -> dict:
    return {"user_id": user_id, "username": f"u{user_id}", "first_name": f"U{user_id}",
            "email": f"u{user_id}@example.org", "registered_at": utc(at),
            "notification_sent": sent, "lesson_type": lesson_type,
            "lesson_date": date(2026, 11, lesson_day)}


def _click(user_id: int, lesson_type: str) -> dict:
    return {"user_id": user_id, "event_type": CLICK, "created_at": utc("2026-11-06 10:00"),
            "details": {"lesson_type": lesson_type}}


ROWS = {
    "free_lesson_registrations": [
        _reg(1, PY, 10, "2026-11-02 10:00", True), _reg(1, PY, 17, "2026-11-03 10:00", False),
        _reg(2, PY, 10, "2026-11-02 11:00", True), _reg(2, WEB, 12, "2026-11-04 10:00", True),
        _reg(3, WEB, 12, "2026-11-05 10:00", False),
        _reg(4, PY, 10, "2026-10-30 10:00", True),
        _reg(5, WEB, 12, "2026-11-07 23:30", True),
    ],
    "events": [_click(1, PY), _click(2, WEB), _click(4, PY), _click(5, PY)],
}


@pytest.fixture(scope="module")
def db(module_engine):
    return module_engine(ROWS)


def utc_period() -> Period:
    return Period(START, END, "UTC", NOW)


def test_per_lesson_type_rows_and_people_differ(db):
    frame = lesson_registrations(db, utc_period())
    assert list(frame.columns) == ["lesson_type", *COLUMNS]
    assert records(frame) == [
        # U1 twice + U2 = 3 rows by 2 people; U1 clicked python, U2 only web: 1 of 2.
        # Sent: U1's 11-10 and U2's, not U1's 11-17: 2 of 3 rows. U4 is before the range.
        (PY, 3, 2, 1, 0.5, 2, pytest.approx(2 / 3)),
        # U2 U3 U5; only U2 clicked web (U5 clicked python). Sent: U2, U5.
        (WEB, 3, 3, 1, pytest.approx(1 / 3), 2, pytest.approx(2 / 3)),
    ]


def test_per_lesson_type_and_date(db):
    frame = lesson_registrations(db, utc_period(), ("lesson_type", "lesson_date"))
    assert list(frame.columns) == ["lesson_type", "lesson_date", *COLUMNS]
    assert records(frame) == [
        (PY, date(2026, 11, 10), 2, 2, 1, 0.5, 2, 1.0),  # U1 U2; U1 attended; both sent
        (PY, date(2026, 11, 17), 1, 1, 1, 1.0, 0, 0.0),  # U1 (clicked python), not sent
        (WEB, date(2026, 11, 12), 3, 3, 1, pytest.approx(1 / 3), 2, pytest.approx(2 / 3)),
    ]
    assert all(type(d) is date for d in frame["lesson_date"])


def test_total_row_counts_people_once(db):
    # 6 rows by U1 U2 U3 U5; attended any of their types: U1 (python), U2 (web). Sent: 4.
    assert records(lesson_registrations(db, utc_period(), ())) == [
        (6, 4, 2, 0.5, 4, pytest.approx(4 / 6)),
    ]


def test_lesson_type_filter(db):
    assert records(lesson_registrations(db, utc_period(), (), lesson_type=WEB)) == [
        (3, 3, 1, pytest.approx(1 / 3), 2, pytest.approx(2 / 3)),
    ]


def test_local_dates_in_moscow(db):
    # U5 registered at 02:30 on 11-08 in Moscow: after the range. Web: U2 U3, U2 sent.
    frame = lesson_registrations(db, Period(START, END, "Europe/Moscow", NOW))
    assert records(frame) == [
        (PY, 3, 2, 1, 0.5, 2, pytest.approx(2 / 3)),
        (WEB, 2, 2, 1, 0.5, 1, 0.5),
    ]


def test_unknown_grouping_is_one_sentence(db):
    with pytest.raises(ValidationError, match="cannot be grouped by 'email'"):
        lesson_registrations(db, utc_period(), ("email",))


def test_empty_database(empty_db):
    assert lesson_registrations(empty_db, utc_period()).empty
    # The total is one row of zeros: no rate divides by zero.
    assert records(lesson_registrations(empty_db, utc_period(), ())) == [(0, 0, 0, 0.0, 0, 0.0)]
