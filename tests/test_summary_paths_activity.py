"""Activity, lesson and roster reports on the summary tables equal their raw path (SPEC §9).

Each report runs twice on the same data: as the pages and the CLI run it (reading the
summaries when they are current for the period's timezone) and inside `raw_path()` (the
bot's tables only, the reference). After every change a live bot makes, followed by a
refresh, the two must be the same DataFrame; between a change and the next refresh the
summary path keeps the last refresh's numbers. Periods in another timezone than the
summaries' read the raw tables.

Hand-counted dataset (times UTC; Moscow is UTC+3, so 21:00 UTC is the next local day):

| user | events (id: type, details, UTC time → Moscow day)       | registrations      | bookings |
|------|---------------------------------------------------------|--------------------|----------|
| 1    | 10 start 11-19 22:30 → 11-20; 11 click python 11-21     | python (11-21)     | paid     |
| 2    | 12 start, 13 menu 11-25 09:00; 14 click design at       | python (11-25      | new (0)  |
|      | 11-25 21:00 = Moscow midnight → 11-26                   | 21:30 → 11-26),    |          |
|      |                                                         | design (11-24)     |          |
| 3    | 16 click with lesson_type "" 11-26                      | "" (11-26)         | —        |
| 4    | events only: 21 menu 11-29 20:59 → 11-29 23:59;         | —                  | —        |
|      | 20 click without lesson_type 11-29 23:00 → 11-30        |                    |          |
| 6    | 17, 18, 19 clicks 11-27 whose details are the JSON      | python (11-27)     | cancelled|
|      | string "python", an array, NULL: none names a lesson    |                    |          |
| 7    | 22 click lesson_type 5 (a JSON number) 11-28; 23 menu   | "5" (11-28)        | paid     |
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import delete, insert, update

from hsl.admin import change_stream
from hsl.audience import audience_choices
from hsl.auth import Actor
from hsl.filters import Period
from hsl.metrics.activity import activity_by_day, event_types, events_by_day_and_type
from hsl.metrics.funnel import funnel
from hsl.metrics.lessons import (
    LESSON_KEYS,
    attendance,
    attendance_by_date,
    lesson_registrations,
)
from hsl.metrics.streams import status_counts, stream_roster, stream_summary
from hsl.reports import run_report
from hsl.schema import bookings, events, free_lesson_registrations, users
from hsl.summaries import current, raw_path
from hsl.summaries.refresh import refresh
from tests.fixtures.foundation import records

TZ = "Europe/Moscow"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CLICK, MENU, START = "lesson_link_clicked", "menu_opened", "start_command"
PY, DESIGN = "python", "design"
STREAM = "3rd_stream"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def d(day: int) -> date:
    return date(2026, 11, day)


def event(event_id: int, user_id: int, event_type: str, when: datetime,
          details: object = None) -> dict:
    return {"id": event_id, "user_id": user_id, "event_type": event_type, "created_at": when,
            "details": details}


def lesson(name: object) -> dict:
    return {"lesson_type": name}


def registration(reg_id: int, user_id: int, lesson_type: str, when: datetime,
                 lesson_day: int) -> dict:
    return {"id": reg_id, "user_id": user_id, "email": f"{user_id}@example.com",
            "registered_at": when, "lesson_type": lesson_type, "lesson_date": d(lesson_day)}


def booking(booking_id: int, user_id: int, confirmed: int, when: datetime) -> dict:
    return {"id": booking_id, "user_id": user_id, "course_stream": STREAM,
            "confirmed": confirmed, "created_at": when}


@pytest.fixture
def db(engine):
    with engine.begin() as conn:
        conn.execute(insert(users), [
            {"user_id": 1, "username": "ann", "first_seen_at": at(19, 10)},
            {"user_id": 2, "username": "bob", "first_seen_at": at(24, 7)},
            {"user_id": 3, "username": "cy", "first_seen_at": None},
            {"user_id": 6, "username": "fay", "first_seen_at": at(27, 8)},
            {"user_id": 7, "username": "gil", "first_seen_at": at(28, 7)},
        ])
        conn.execute(insert(free_lesson_registrations), [
            registration(1, 1, PY, at(21, 10), 22),
            registration(2, 2, PY, at(25, 21, 30), 26),  # Moscow 11-26 00:30
            registration(3, 2, DESIGN, at(24, 12), 26),
            registration(4, 3, "", at(26, 10), 27),
            registration(5, 6, PY, at(27, 9), 28),
            registration(6, 7, "5", at(28, 8), 29),
        ])
        conn.execute(insert(bookings), [
            booking(1, 2, 0, at(24, 8)),
            booking(2, 1, 2, at(23, 10)),
            booking(3, 6, -1, at(27, 11)),
            booking(4, 7, 2, at(28, 10)),
        ])
        conn.execute(insert(events), [
            event(10, 1, START, at(19, 22, 30)),
            event(11, 1, CLICK, at(21, 11), lesson(PY)),
            event(12, 2, START, at(25, 9)),
            event(13, 2, MENU, at(25, 9, 5)),
            event(14, 2, CLICK, at(25, 21), lesson(DESIGN)),
            event(16, 3, CLICK, at(26, 12), lesson("")),
            event(17, 6, CLICK, at(27, 10), PY),  # a JSON string, not an object
            event(18, 6, CLICK, at(27, 10, 5), [PY]),  # a JSON array
            event(19, 6, CLICK, at(27, 10, 10)),  # NULL details
            event(20, 4, CLICK, at(29, 23), {"stream": "3rd_stream"}),
            event(21, 4, MENU, at(29, 20, 59)),
            event(22, 7, CLICK, at(28, 9), lesson(5)),
            event(23, 7, MENU, at(28, 9, 30)),
        ])
    return engine


def fresh(engine, minutes: int = 0) -> None:
    """Refresh the summaries (days in Moscow) with the clock `minutes` after NOW."""
    refresh(engine, TZ, clock=lambda: NOW + timedelta(minutes=minutes))


def moscow(start: int, end: int) -> Period:
    return Period(d(start), d(end), TZ, NOW)


def in_utc(start: int, end: int) -> Period:
    return Period(d(start), d(end), "UTC", NOW)


# Every converted report, with the options the pages and the CLI use.
REPORTS: dict[str, Callable[..., pd.DataFrame]] = {
    "activity": activity_by_day,
    "event_types": event_types,
    "by_day_and_type": events_by_day_and_type,
    "by_day_and_top_type": lambda e, p: events_by_day_and_type(e, p, top=1),
    "attendance": attendance,
    "attendance_by_date": attendance_by_date,
    "registrations_total": lambda e, p: lesson_registrations(e, p, ()),
    "registrations_by_date_python": lambda e, p: lesson_registrations(e, p, LESSON_KEYS, PY),
    "funnel": funnel,
    "funnel_python": lambda e, p: funnel(e, p, lesson_type=PY),
    "funnel_empty_lesson_type": lambda e, p: funnel(e, p, lesson_type=""),
    "cli_activity": lambda e, p: run_report(e, "activity", p),
    "cli_event_types": lambda e, p: run_report(e, "event-types", p),
    "cli_attendance_by_date": lambda e, p: run_report(e, "attendance-by-date", p),
    "cli_funnel": lambda e, p: run_report(e, "funnel", p, lesson_type=DESIGN),
    "roster": lambda e, p: stream_roster(e, p, STREAM),
    "streams": stream_summary,
    "status_counts": status_counts,
    "cli_streams": lambda e, p: run_report(e, "streams", p),
    "audience_choices": lambda e, p: pd.DataFrame(
        {name: [" | ".join(values)] for name, values in audience_choices(e).items()}),
}
# The whole history, single days at the timezone edge, the trailing days a refresh rereads.
PERIODS = [(18, 30), (26, 26), (25, 26), (29, 30), (1, 3)]


def summary_and_raw(engine, report: Callable[..., pd.DataFrame],
                    period: Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    ours = report(engine, period)
    with raw_path():
        reference = report(engine, period)
    return ours, reference


def assert_paths_agree(engine, also_utc: bool = False) -> None:
    """Every report over every period: the summary path is the raw path, exactly.

    `also_utc`: the same dates in UTC too, which must not read the Moscow summaries.
    """
    assert current(engine, TZ) is not None  # the Moscow periods below read the summaries
    for start, end in PERIODS:
        for period in (moscow(start, end), *([in_utc(start, end)] if also_utc else [])):
            for name, report in REPORTS.items():
                ours, reference = summary_and_raw(engine, report, period)
                assert_frame_equal(ours, reference, obj=f"{name} {period}")


# ------------------------------------------------------------ hand-counted, summary path


def test_activity_from_the_summaries(db):
    fresh(db)
    frame = activity_by_day(db, moscow(19, 30))
    assert records(frame) == [
        (d(19), 0, 0),
        (d(20), 1, 1),  # event 10 at 22:30 UTC on the 19th
        (d(21), 1, 1),
        (d(22), 0, 0), (d(23), 0, 0), (d(24), 0, 0),
        (d(25), 2, 1),  # user 2's start and menu
        (d(26), 2, 2),  # user 2's click at Moscow midnight, user 3's click
        (d(27), 3, 1),  # user 6's three clicks
        (d(28), 2, 1),  # user 7
        (d(29), 1, 1),  # user 4's menu at 23:59 Moscow
        (d(30), 1, 1),  # user 4's click at 02:00 Moscow
    ]
    assert all(type(day) is date for day in frame["day"])


def test_event_types_from_the_summaries(db):
    fresh(db)
    # 13 events: clicks 11, 14, 16, 17, 18, 19, 20, 22; menus 13, 21, 23; starts 10, 12.
    assert records(event_types(db, moscow(19, 30))) == [
        (CLICK, 8, pytest.approx(8 / 13)),
        (MENU, 3, pytest.approx(3 / 13)),
        (START, 2, pytest.approx(2 / 13)),
    ]
    # Moscow 11-29 is user 4's menu alone; the click at 23:00 UTC is already 11-30.
    assert records(event_types(db, moscow(29, 29))) == [(MENU, 1, 1.0)]


def test_events_by_day_and_type_from_the_summaries(db):
    fresh(db)
    # 11-25: start 1, menu 1; 11-26: clicks 2. Ranked click (2), menu, start (ties by name).
    assert records(events_by_day_and_type(db, moscow(25, 26))) == [
        (d(25), CLICK, 0), (d(25), MENU, 1), (d(25), START, 1),
        (d(26), CLICK, 2), (d(26), MENU, 0), (d(26), START, 0),
    ]
    assert records(events_by_day_and_type(db, moscow(25, 26), top=1)) == [
        (d(25), CLICK, 0), (d(25), "other", 2),
        (d(26), CLICK, 2), (d(26), "other", 0),
    ]


def test_attendance_from_the_summaries(db):
    fresh(db)
    # Clicks naming a lesson: (1, python), (2, design), (3, ""), (7, "5" from the number 5).
    # python: users 1, 2, 6 registered; only 1 clicked python (2 clicked design, 6's clicks
    # name nothing).
    assert records(attendance(db, moscow(19, 30))) == [
        ("", 1, 1, 1.0),
        ("5", 1, 1, 1.0),
        (DESIGN, 1, 1, 1.0),
        (PY, 3, 1, pytest.approx(1 / 3)),
    ]
    assert records(attendance_by_date(db, moscow(19, 30))) == [
        ("", d(27), 1, 1, 1.0),
        ("5", d(29), 1, 1, 1.0),
        (DESIGN, d(26), 1, 1, 1.0),
        (PY, d(22), 1, 1, 1.0),
        (PY, d(26), 1, 0, 0.0),
        (PY, d(28), 1, 0, 0.0),
    ]
    # Moscow 11-26: user 2's python (00:30 local) and user 3's "" registration.
    assert records(attendance(db, moscow(26, 26))) == [("", 1, 1, 1.0), (PY, 1, 0, 0.0)]


def test_funnel_from_the_summaries(db):
    fresh(db)
    # Cohort 1, 2, 3, 6, 7. Attended: 1, 2, 3, 7. Booked (not cancelled): 1, 2, 7 (6's is
    # cancelled). Paid: 1, 7.
    assert records(funnel(db, moscow(19, 30))) == [
        ("registered", 5, 1.0, 1.0, 5),
        ("attended", 4, 0.8, 0.8, 4),
        ("booked", 3, 0.6, 0.75, 3),
        ("paid", 2, 0.4, pytest.approx(2 / 3), 2),
    ]
    # python cohort 1, 2, 6; attended python: 1 only; booked: 1 (open: 1, 2); paid: 1.
    assert records(funnel(db, moscow(19, 30), lesson_type=PY)) == [
        ("registered", 3, 1.0, 1.0, 3),
        ("attended", 1, pytest.approx(1 / 3), pytest.approx(1 / 3), 1),
        ("booked", 1, pytest.approx(1 / 3), 1.0, 2),
        ("paid", 1, pytest.approx(1 / 3), 1.0, 1),
    ]


def test_roster_events_and_last_activity_from_the_summaries(db):
    fresh(db)
    frame = stream_roster(db, moscow(19, 30), STREAM)
    # All time: user 1 events 10, 11; user 2 events 12, 13, 14; user 6 events 17-19;
    # user 7 events 22, 23. Last activity in Moscow time.
    assert [(r.user_id, r.status, r.events) for r in frame.itertuples()] == [
        (1, "confirmed", 2), (2, "new", 3), (6, "cancelled", 3), (7, "confirmed", 2),
    ]
    zone = ZoneInfo(TZ)
    assert list(frame["last_activity"]) == [
        at(21, 11).astimezone(zone), at(25, 21).astimezone(zone),
        at(27, 10, 10).astimezone(zone), at(28, 9, 30).astimezone(zone),
    ]


def more_streams(db) -> None:
    """Beside the four 3rd-stream bookings: user 3 twice in 10th_stream (new, then pending),
    user 2 in 2nd_stream with a status code the app does not know (7), and user 8's booking
    without a stream."""
    with db.begin() as conn:
        conn.execute(insert(bookings), [
            {**booking(5, 3, 0, at(25, 9)), "course_stream": "10th_stream"},
            {**booking(6, 3, 1, at(26, 9)), "course_stream": "10th_stream"},
            {**booking(7, 2, 7, at(26, 10)), "course_stream": "2nd_stream"},
            {**booking(8, 8, 2, at(27, 10)), "course_stream": None},
        ])


def test_streams_from_the_summaries(db):
    more_streams(db)
    fresh(db)
    frame = stream_summary(db, moscow(19, 30))
    # (stream, bookings, new, pending, confirmed, cancelled, students, paid, cancel rate);
    # 3rd_stream: users 2 (new), 1 and 7 (confirmed), 6 (cancelled).
    *named, unnamed = records(frame)
    assert named == [
        ("2nd_stream", 1, 0, 0, 0, 0, 1, 0.0, 0.0),
        ("3rd_stream", 4, 1, 0, 2, 1, 4, 0.5, 0.25),
        ("10th_stream", 2, 1, 1, 0, 0, 1, 0.0, 0.0),
    ]
    assert pd.isna(unnamed[0]) and unnamed[1:] == (1, 0, 0, 1, 0, 1, 1.0, 0.0)  # no stream
    *named, unnamed = records(status_counts(db, moscow(19, 30)))
    assert named == [
        ("2nd_stream", 7, "unknown (7)", 1),
        ("3rd_stream", 0, "new", 1), ("3rd_stream", 2, "confirmed", 2),
        ("3rd_stream", -1, "cancelled", 1),
        ("10th_stream", 0, "new", 1), ("10th_stream", 1, "pending", 1),
    ]
    assert pd.isna(unnamed[0]) and unnamed[1:] == (2, "confirmed", 1)
    assert_paths_agree(db)


def test_a_stream_change_shows_in_the_streams_summary_at_once(db):
    more_streams(db)
    fresh(db)
    with db.begin() as conn:  # the bot: user 6's cancelled booking is pending again
        conn.execute(update(bookings).where(bookings.c.id == 3).values(confirmed=1))
    ours, reference = summary_and_raw(db, stream_summary, moscow(19, 30))
    assert records(ours)[1][1:6] == (4, 1, 0, 2, 1)  # as of the refresh
    assert records(reference)[1][1:6] == (4, 1, 1, 2, 0)
    roster = REPORTS["roster"]
    ours, reference = summary_and_raw(db, roster, moscow(19, 30))
    assert ours["status"].tolist() == ["confirmed", "new", "cancelled", "confirmed"]
    assert reference["status"].tolist() == ["confirmed", "new", "pending", "confirmed"]

    # An admin moves user 7's booking to 10th_stream: that rewrites the summary (with the
    # bot's change too), in the change's own transaction.
    change_stream(db, Actor("root", "admin"), 7, "10th_stream", "asked to move")
    ours, reference = summary_and_raw(db, stream_summary, moscow(19, 30))
    assert_frame_equal(ours, reference)
    assert [r[:7] for r in records(ours)][1:3] == [
        ("3rd_stream", 3, 1, 1, 1, 0, 3), ("10th_stream", 3, 1, 1, 1, 0, 2)]
    tenth = lambda e, p: stream_roster(e, p, "10th_stream")  # noqa: E731
    for report in (roster, tenth):  # the rosters too, names and totals as of the refresh
        ours, reference = summary_and_raw(db, report, moscow(19, 30))
        assert_frame_equal(ours, reference)
    assert [(r.user_id, r.status, r.events) for r in ours.itertuples()] == [
        (3, "pending", 1), (7, "confirmed", 2)]
    assert_paths_agree(db)


# ---------------------------------------------------------- summary path = raw path


def test_both_paths_agree_after_the_first_refresh(db):
    fresh(db)
    assert_paths_agree(db, also_utc=True)


def test_both_paths_agree_after_every_change_and_refresh(db):
    fresh(db)
    # Appended events: user 2 clicks python (attends it now), user 3 opens the menu.
    with db.begin() as conn:
        conn.execute(insert(events), [
            event(24, 2, CLICK, at(30, 8), lesson(PY)),
            event(25, 3, MENU, at(30, 8, 30)),
        ])
    fresh(db, 1)
    assert_paths_agree(db)
    assert records(attendance(db, moscow(19, 30)))[-1] == (PY, 3, 2, pytest.approx(2 / 3))

    # Committed late with ids below the highest read, within the trailing day.
    with db.begin() as conn:
        conn.execute(insert(events), [
            event(15, 6, CLICK, at(29, 12), lesson(PY)),
            event(9, 1, "faq_opened", at(29, 20, 30)),
        ])
    fresh(db, 2)
    assert_paths_agree(db)
    assert records(attendance(db, moscow(19, 30)))[-1] == (PY, 3, 3, 1.0)

    # Booking status changes: user 2 pays, user 6's cancelled booking is pending again.
    with db.begin() as conn:
        conn.execute(update(bookings).where(bookings.c.id == 1).values(confirmed=2))
        conn.execute(update(bookings).where(bookings.c.id == 3).values(confirmed=1))
    fresh(db, 3)
    assert_paths_agree(db)
    assert funnel(db, moscow(19, 30))["open_users"].tolist() == [5, 5, 4, 3]

    # User 1 is deleted by the bot: their rows go from all four tables.
    with db.begin() as conn:
        for table in (events, bookings, free_lesson_registrations, users):
            conn.execute(delete(table).where(table.c.user_id == 1))
    fresh(db, 4)
    assert_paths_agree(db)
    assert records(activity_by_day(db, moscow(20, 21))) == [(d(20), 0, 0), (d(21), 0, 0)]

    # A new user who exists only in events, clicking a lesson they never registered for.
    with db.begin() as conn:
        conn.execute(insert(events), [
            event(26, 8, CLICK, at(30, 9), lesson(PY)),
            event(27, 8, MENU, at(30, 9, 1)),
        ])
    fresh(db, 5)
    assert_paths_agree(db, also_utc=True)
    assert records(activity_by_day(db, moscow(30, 30))) == [(d(30), 5, 4)]  # users 2, 3, 4, 8


# --------------------------------------------------------- freshness and other timezones


def test_between_refreshes_the_summary_path_keeps_the_last_refresh(db):
    fresh(db)
    with db.begin() as conn:  # user 2 clicks python after the refresh
        conn.execute(insert(events), [event(30, 2, CLICK, at(30, 10), lesson(PY))])
    period = moscow(19, 30)

    ours, reference = summary_and_raw(db, activity_by_day, period)
    assert records(ours)[-1] == (d(30), 1, 1) and records(reference)[-1] == (d(30), 2, 2)

    ours, reference = summary_and_raw(db, event_types, period)
    assert records(ours)[0][:2] == (CLICK, 8) and records(reference)[0][:2] == (CLICK, 9)

    ours, reference = summary_and_raw(db, events_by_day_and_type, moscow(30, 30))
    assert records(ours) == [(d(30), CLICK, 1)]
    assert records(reference) == [(d(30), CLICK, 2)]

    ours, reference = summary_and_raw(db, attendance, period)
    assert records(ours)[-1] == (PY, 3, 1, pytest.approx(1 / 3))
    assert records(reference)[-1] == (PY, 3, 2, pytest.approx(2 / 3))

    ours, reference = summary_and_raw(db, lambda e, p: funnel(e, p, lesson_type=PY), period)
    assert ours["users"].tolist() == [3, 1, 1, 1]
    assert reference["users"].tolist() == [3, 2, 2, 1]  # user 2 booked, has not paid

    ours, reference = summary_and_raw(db, REPORTS["roster"], period)
    assert ours["events"].tolist() == [2, 3, 3, 2]
    assert reference["events"].tolist() == [2, 4, 3, 2]
    assert reference["last_activity"][1] == at(30, 10)

    fresh(db, 1)
    assert_frame_equal(attendance(db, period), summary_and_raw(db, attendance, period)[1])


def test_a_period_in_another_timezone_reads_the_raw_tables(db):
    fresh(db)
    with db.begin() as conn:  # after the refresh: only the raw tables know it
        conn.execute(insert(events), [event(30, 2, CLICK, at(30, 10), lesson(PY))])
    period = in_utc(19, 30)
    assert current(db, period.tz) is None
    # In UTC event 10 (22:30) is on the 19th, user 2's click at 21:00 on the 25th and
    # user 4's two events both on the 29th; the new click counts on the 30th.
    assert records(activity_by_day(db, period)) == [
        (d(19), 1, 1), (d(20), 0, 0), (d(21), 1, 1),
        (d(22), 0, 0), (d(23), 0, 0), (d(24), 0, 0),
        (d(25), 3, 1), (d(26), 1, 1), (d(27), 3, 1), (d(28), 2, 1), (d(29), 2, 1),
        (d(30), 1, 1),
    ]
    assert records(event_types(db, in_utc(29, 29))) == [(CLICK, 1, 0.5), (MENU, 1, 0.5)]
    # The new click makes user 2 attend python, although no refresh has run.
    assert records(attendance(db, period))[-1] == (PY, 3, 2, pytest.approx(2 / 3))
    # User 2's python registration (21:30 UTC on the 25th) is not on the UTC 26th.
    assert records(attendance(db, in_utc(26, 26))) == [("", 1, 1, 1.0)]
    assert funnel(db, period)["users"].tolist() == [5, 4, 3, 2]
