"""The people reports read the summaries (SPEC §9) and give exactly what the raw path gives.

Every report here (first seen by day, KPIs, growth, leads, tier counts, a profile's lead
tier, retention, the users report and search) is computed twice after each refresh: as the
app does it (from the summary tables) and inside `raw_path()` (from the bot's tables only),
and the two frames must be equal, on SQLite and PostgreSQL, after appends, a row committed
late with a lower id, booking status changes, a deleted user and a new events-only user.
Hand-counted values on the summary path catch both paths being wrong the same way; one
test shows the summary path really is read (it lags behind the raw tables until a refresh).

Reporting timezone Europe/Moscow (UTC+3, no DST): 21:00 UTC is the next local midnight.
Range 2026-11-16 (Mon) .. 2026-11-30 (Mon); now = 2026-11-30 12:00 UTC (15:00 Moscow).
Leads window (7 days): (11-23 12:00, 11-30 12:00] UTC; its whole local days are 11-24 ..
11-29 (from summary_user_days), its edges 11-23 15:00 .. 24:00 and 11-30 00:00 .. 15:00
Moscow (from events).

    user        users row       bookings               registrations   events (UTC)
    1 ann       11-20 10:00     —                      11-21 python    11-19 22:30 (Moscow
                                                                       11-20), 11-23 11:00,
                                                                       11-23 13:00, 11-24
                                                                       10:00 and 11:00,
                                                                       11-26 20:59, 11-29
                                                                       21:30, 11-30 12:00
                                                                       (= now), 11-30 13:00
    2 bob       11-25 09:00     11-24 08:00 new        11-24 python    11-25 09:00, 09:05
    3 cy        no time         —                      —               —
    4           —               —                      —               11-29 23:00 click
    6 dee       11-10 10:00     11-12 confirmed        11-11 python    11-11 11:00, 11-27 10:00
    7           —               —                      11-18 design    —
    8           —               11-15 22:30 pending    —               11-29 22:00 (Sun UTC,
                                                                       Mon 11-30 Moscow)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import delete, insert, select, update

from hsl.filters import Period
from hsl.metrics.leads import LeadRules, leads, tier_counts
from hsl.metrics.overview import first_seen_by_day, growth, kpis
from hsl.metrics.retention import retention
from hsl.metrics.users import count_users, lead_tier, search_users, users_report
from hsl.reports import REPORTS as ALL_REPORTS
from hsl.reports import clock_free, run_report
from hsl.schema import (
    BOT_TABLES,
    bookings,
    events,
    free_lesson_registrations,
    summary_user_days,
    summary_user_recent,
    users,
)
from hsl.summaries import current, raw_path
from hsl.summaries.refresh import refresh
from tests.fixtures.analytics import records

TZ = "Europe/Moscow"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ANN, BOB, CY, EVENTS_ONLY, DEE, REG_ONLY, BOOKING_ONLY = 1, 2, 3, 4, 6, 7, 8


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return at(11, day, hour, minute)


def event(id_: int, user_id: int, ts: datetime, kind: str = "menu_opened",
          lesson: str | None = None) -> dict:
    return {"id": id_, "user_id": user_id, "event_type": kind, "created_at": ts,
            "details": {"lesson_type": lesson} if lesson else None}


def registration(id_: int, user_id: int, ts: datetime, lesson: str) -> dict:
    return {"id": id_, "user_id": user_id, "email": f"u{user_id}@example.com",
            "registered_at": ts, "lesson_type": lesson, "lesson_date": ts.date()}


def period(tz: str = TZ, now: datetime = NOW, start: date = date(2026, 11, 16),
           end: date = date(2026, 11, 30)) -> Period:
    return Period(start, end, tz, now)


@pytest.fixture
def db(engine):
    """The people of the table in the module docstring."""
    with engine.begin() as conn:
        conn.execute(insert(users), [
            {"user_id": ANN, "username": "ann", "first_name": "Ann", "first_seen_at": nov(20, 10)},
            {"user_id": BOB, "username": "bob", "first_name": "Bob", "first_seen_at": nov(25, 9)},
            {"user_id": CY, "username": "cy", "first_name": None,
             "first_seen_at": None},  # a bare row, no time
            {"user_id": DEE, "username": "dee", "first_name": "Dee",
             "first_seen_at": nov(10, 10)},
        ])
        conn.execute(insert(bookings), [
            {"id": 1, "user_id": BOB, "course_stream": "1st_stream", "confirmed": 0,
             "created_at": nov(24, 8)},  # earlier than bob's users row
            {"id": 2, "user_id": DEE, "course_stream": "1st_stream", "confirmed": 2,
             "created_at": nov(12, 10)},
            {"id": 3, "user_id": BOOKING_ONLY, "course_stream": "2nd_stream", "confirmed": 1,
             "created_at": nov(15, 22, 30)},  # Moscow 11-16 01:30
        ])
        conn.execute(insert(free_lesson_registrations), [
            registration(1, ANN, nov(21, 10), "python"),
            registration(2, BOB, nov(24, 10), "python"),
            registration(3, DEE, nov(11, 10), "python"),
            registration(4, REG_ONLY, nov(18, 10), "design"),
        ])
        conn.execute(insert(events), [
            event(10, ANN, nov(19, 22, 30)),  # Moscow 11-20 01:30: earlier than her users row
            event(11, ANN, nov(23, 11)),  # before the window, on its first (partial) day
            event(12, ANN, nov(23, 13)),  # in the window's first partial day
            event(13, ANN, nov(24, 10)),
            event(14, ANN, nov(24, 11)),
            event(15, ANN, nov(26, 20, 59)),  # Moscow 23:59
            event(16, ANN, nov(29, 21, 30)),  # Moscow 11-30 00:30: the last partial day
            event(17, ANN, NOW),  # exactly now: in the window
            event(18, ANN, nov(30, 13)),  # after now
            event(20, BOB, nov(25, 9)),
            event(21, BOB, nov(25, 9, 5)),
            event(30, EVENTS_ONLY, nov(29, 23), "lesson_link_clicked", "python"),
            event(40, DEE, nov(11, 11), "lesson_link_clicked", "python"),
            event(41, DEE, nov(27, 10)),
            event(42, BOOKING_ONLY, nov(29, 22)),
        ])
    return engine


def do_refresh(engine, minutes: int = 0) -> None:
    refresh(engine, TZ, clock=lambda: NOW + timedelta(minutes=minutes))
    assert current(engine, TZ) is not None
    assert_recent_adds_up(engine)


def assert_recent_adds_up(engine) -> None:
    """summary_user_recent is each person's summary_user_days rows added up over the days
    the state names (the whole days of a 7-day lead window as of the refresh), with their
    rows of the day before and the day after (the window's edge days) next to them."""
    state = current(engine, TZ)
    with engine.connect() as conn:
        days = conn.execute(select(summary_user_days)).mappings().all()
        recent = conn.execute(select(summary_user_recent)).mappings().all()
    first, last = (pd.Timestamp(d).date() for d in (state.recent_from, state.recent_to))
    low, high = first - timedelta(days=1), last + timedelta(days=1)
    expected: dict[int, dict] = {}
    for row in days:
        day = pd.Timestamp(row["day"]).date()
        if not low <= day <= high:
            continue
        mine = expected.setdefault(row["user_id"], {
            "events": 0, "active_days": 0, "last_at": None, "low_events": None,
            "low_first_at": None, "low_last_at": None, "high_events": None,
            "high_last_at": None})
        if day == low:
            mine.update(low_events=row["events"], low_first_at=row["first_at"],
                        low_last_at=row["last_at"])
        elif day == high:
            mine.update(high_events=row["events"], high_last_at=row["last_at"])
        else:
            mine["events"] += row["events"]
            mine["active_days"] += 1
            mine["last_at"] = max(filter(None, (mine["last_at"], row["last_at"])))
    assert {r["user_id"]: {k: v for k, v in r.items() if k != "user_id"}
            for r in recent} == expected


# Each report as the app computes it; the same call inside raw_path() is the reference.
REPORTS: dict[str, Callable] = {
    "first_seen_by_day": lambda db: first_seen_by_day(db, TZ),
    "first_seen_by_day utc": lambda db: first_seen_by_day(db, "UTC"),
    "kpis": lambda db: kpis(db, period()),
    "kpis utc": lambda db: kpis(db, period("UTC")),
    "growth": lambda db: growth(db, period()),
    "growth utc": lambda db: growth(db, period("UTC")),
    "leads": lambda db: leads(db, period()),
    "leads paying": lambda db: leads(db, period(), include_paying=True),
    "leads 1 day": lambda db: leads(db, period(), window_days=1),
    "leads 30 days": lambda db: leads(db, period(), window_days=30),
    "leads clock in the past": lambda db: leads(db, period(now=nov(25, 10))),
    "leads midnight clock": lambda db: leads(db, period(now=nov(29, 21)), window_days=3),
    # Moscow 04:00 and 23:00: the first edge day is read before and after `since`.
    "leads early clock": lambda db: leads(db, period(now=nov(30, 1)), window_days=2),
    "leads late clock": lambda db: leads(db, period(now=nov(29, 20)), window_days=2),
    "leads utc": lambda db: leads(db, period("UTC")),
    "tier_counts": lambda db: tier_counts(db, period(), LeadRules(cool_events=2)),
    "lead_tier": lambda db: pd.DataFrame(
        {"tier": pd.Series([lead_tier(db, uid, period()) for uid in range(1, 10)], dtype=object)}),
    "retention": lambda db: retention(db, period(start=date(2026, 11, 2))),
    "retention one week": lambda db: retention(
        db, period(start=date(2026, 11, 23), end=date(2026, 11, 29))),
    "retention utc": lambda db: retention(db, period("UTC", start=date(2026, 11, 2))),
    "users_report": lambda db: users_report(db, period()),
    "search": lambda db: search_users(db, "bo", TZ),
    "count_users": lambda db: pd.DataFrame({"n": [count_users(db), count_users(db, "an")]}),
}


def assert_paths_agree(engine) -> dict[str, pd.DataFrame]:
    """Every report from the summaries equals the raw path's; return the summary frames."""
    ours = {name: run(engine) for name, run in REPORTS.items()}
    with raw_path():
        assert current(engine, TZ) is None
        raw = {name: run(engine) for name, run in REPORTS.items()}
    for name in REPORTS:
        assert_frame_equal(ours[name], raw[name], obj=name)
    return ours


def as_dates(frame: pd.DataFrame, column: str = "day") -> pd.DataFrame:
    """`column` as datetime.date (SQLite returns local days as ISO text)."""
    frame = frame.copy()
    frame[column] = [None if d is None or pd.isna(d) else pd.Timestamp(d).date()
                     for d in frame[column]]
    return frame


def lead_rows(frame: pd.DataFrame) -> list[tuple]:
    """(user_id, events, active_days, last_activity, tier) per lead row."""
    return [(r[0], r[3], r[4], r[5], r[6]) for r in records(frame)]


def test_the_summary_path_matches_hand_counts(db):
    do_refresh(db)
    ours = assert_paths_agree(db)

    # First seen: ann by her event (Moscow 11-20 01:30), bob by his booking (11-24),
    # 8 by a booking at Moscow 11-16 01:30, 7 by a registration, 4 by an event (Moscow
    # 11-30 02:00), dee by her users row; cy has no time at all.
    by_day = dict(records(as_dates(ours["first_seen_by_day"])))
    assert by_day == {date(2026, 11, 10): 1, date(2026, 11, 16): 1, date(2026, 11, 18): 1,
                      date(2026, 11, 20): 1, date(2026, 11, 24): 1, date(2026, 11, 30): 1,
                      None: 1}
    by_utc_day = dict(records(as_dates(ours["first_seen_by_day utc"])))
    assert by_utc_day[date(2026, 11, 19)] == 1 and by_utc_day[date(2026, 11, 15)] == 1

    assert records(ours["kpis"]) == [(7, 5, 3, 3, 2, 2, 0, 0)]
    grown = {row[0]: row[1:] for row in records(as_dates(ours["growth"]))}
    assert grown[date(2026, 11, 16)] == (1, 2)  # booking-only 8 joins dee
    assert grown[date(2026, 11, 29)] == (0, 5)
    assert grown[date(2026, 11, 30)] == (1, 6)  # the events-only user

    # ann: 12 (edge), 13, 14 (11-24), 15 (11-26), 16 and 17 (edge, 11-30) → 6 events on
    # 4 Moscow days; 11 is before the window, 18 after now (her last activity is 17).
    assert lead_rows(ours["leads"]) == [
        (ANN, 6, 4, NOW, "cool"),
        (BOB, 2, 1, nov(25, 9, 5), "cold"),
        (REG_ONLY, 0, 0, None, "cold"),
    ]
    assert lead_rows(ours["leads paying"])[2] == (DEE, 1, 1, nov(27, 10), "cold")
    # A clock of 11-25 10:00 UTC: ann's last summarised event (11-30 13:00) is later, so
    # her last activity is read from events: 11-24 11:00. Window (11-18 10:00, now].
    assert lead_rows(ours["leads clock in the past"])[:2] == [
        (ANN, 5, 3, nov(24, 11), "cool"),  # 10 (Moscow 11-20), 11 and 12 (11-23), 13, 14
        (BOB, 2, 1, nov(25, 9, 5), "cold"),
    ]
    # Window of 1 day (11-29 12:00, 11-30 12:00]: no whole local day, all from events.
    assert lead_rows(ours["leads 1 day"])[0] == (ANN, 2, 1, NOW, "cold")
    assert records(ours["tier_counts"]) == [("hot", 0), ("warm", 0), ("cool", 2), ("cold", 1)]
    assert list(ours["lead_tier"]["tier"]) == [
        "cool", "cold", None, None, None, None, "cold", None, None]

    W9, W16, W23, W30 = (date(2026, 11, d) for d in (9, 16, 23, 30))
    assert records(ours["retention"]) == [
        (W9, 0, 1, 1, 1.0), (W9, 1, 1, 0, 0.0), (W9, 2, 1, 1, 1.0), (W9, 3, 1, 0, 0.0),
        # ann, 7 and 8; 8's Sunday-UTC event is Moscow's Monday 11-30
        (W16, 0, 3, 1, 1 / 3), (W16, 1, 3, 1, 1 / 3), (W16, 2, 3, 2, 2 / 3),
        (W23, 0, 1, 1, 1.0), (W23, 1, 1, 0, 0.0),
        (W30, 0, 1, 1, 1.0),
    ]
    report = {r[0]: r[5] for r in records(ours["users_report"])}
    assert report == {ANN: nov(19, 22, 30), BOB: nov(24, 8), CY: None, EVENTS_ONLY: nov(29, 23),
                      DEE: nov(10, 10), REG_ONLY: nov(18, 10), BOOKING_ONLY: nov(15, 22, 30)}
    assert list(ours["search"]["user_id"]) == [BOB]
    assert records(ours["count_users"]) == [(7,), (1,)]


def test_after_appends_late_commits_status_changes_and_deletes_both_paths_agree(db):
    do_refresh(db)
    assert_paths_agree(db)

    with db.begin() as conn:  # appended
        conn.execute(insert(events), [event(50, BOB, nov(30, 8)), event(51, REG_ONLY, nov(28, 10)),
                                      event(52, REG_ONLY, nov(23, 20))])
    do_refresh(db, 1)
    ours = assert_paths_agree(db)
    assert lead_rows(ours["leads"])[1] == (BOB, 3, 2, nov(30, 8), "cold")

    with db.begin() as conn:  # committed late, with an id below the last one read
        conn.execute(insert(events), [event(19, ANN, nov(29, 20)), event(22, BOB, nov(30, 9))])
    do_refresh(db, 2)
    ours = assert_paths_agree(db)
    assert lead_rows(ours["leads"])[0] == (ANN, 7, 5, NOW, "cool")  # 11-29 is a new day

    for status in (2, -1):  # bob pays (no longer a lead), then cancels (a lead again)
        with db.begin() as conn:
            conn.execute(update(bookings).where(bookings.c.id == 1).values(confirmed=status))
        do_refresh(db, 3)
        ours = assert_paths_agree(db)
        assert (BOB in set(ours["leads"]["user_id"])) is (status == -1)

    with db.begin() as conn:  # the bot deletes ann: her rows go from every table
        for table in BOT_TABLES:
            conn.execute(delete(table).where(table.c.user_id == ANN))
    do_refresh(db, 4)
    ours = assert_paths_agree(db)
    assert ANN not in set(ours["users_report"]["user_id"])
    assert records(ours["kpis"])[0][:2] == (6, 4)

    with db.begin() as conn:  # a new events-only user
        conn.execute(insert(events), [event(60, 9, nov(30, 9), "start")])
    do_refresh(db, 5)
    ours = assert_paths_agree(db)
    assert records(ours["kpis"])[0][:2] == (7, 5)
    assert records(ours["users_report"])[-1][0] == 9


def test_only_the_reports_marked_as_reading_the_clock_change_with_it(db):
    """The app caches the other reports with one fixed clock (hsl.reports.clock_free)."""
    do_refresh(db)
    earlier = NOW - timedelta(days=5)
    for name, report in ALL_REPORTS.items():
        options = {"stream": "1st_stream"} if name == "roster" else {}
        at_now = run_report(db, name, period(), **options)
        before = run_report(db, name, period(now=earlier), **options)
        fixed = run_report(db, name, clock_free(name, period()), **options)
        assert_frame_equal(fixed, at_now, obj=name)
        if report.reads_clock:  # leads: 11-25 12:00 is before most of ann's events
            assert not at_now.equals(before), name
        else:
            assert_frame_equal(before, at_now, obj=name)


def test_the_whole_days_added_up_ahead_follow_the_clock_into_a_new_local_day(db):
    do_refresh(db)
    state = current(db, TZ)
    assert (state.recent_from, state.recent_to) == (date(2026, 11, 24), date(2026, 11, 29))
    # ann's whole days 11-24 (2 events), 11-26 (1), 11-29 (her 21:30 event is Moscow
    # 11-30 00:30, so not): 3 events on 2 days; dee 11-27; bob 11-25 (2). The edge days:
    # ann's 11-23 (14:00 and 16:00 Moscow) and 11-30 (00:30, 15:00, 16:00); 4 and 8 have
    # one event each on Moscow 11-30 (02:00, 01:00) and no whole day.
    with db.connect() as conn:
        held = {r.user_id: (r.events, r.active_days, r.low_events, r.low_first_at,
                            r.low_last_at, r.high_events, r.high_last_at)
                for r in conn.execute(select(summary_user_recent))}
    assert held == {
        ANN: (3, 2, 2, nov(23, 11), nov(23, 13), 3, nov(30, 13)),
        BOB: (2, 1, None, None, None, None, None),
        DEE: (1, 1, None, None, None, None, None),
        EVENTS_ONLY: (0, 0, None, None, None, 1, nov(29, 23)),
        BOOKING_ONLY: (0, 0, None, None, None, 1, nov(29, 22)),
    }

    # A day later (Moscow 12-01 15:00) the whole days are 11-25 .. 11-30: written again.
    later = NOW + timedelta(days=1)
    with db.begin() as conn:
        conn.execute(insert(events), [event(80, BOB, later - timedelta(hours=1))])
    refresh(db, TZ, clock=lambda: later)
    state = current(db, TZ)
    assert (state.recent_from, state.recent_to) == (date(2026, 11, 25), date(2026, 11, 30))
    assert_recent_adds_up(db)
    tomorrow = period(now=later, end=date(2026, 12, 1))
    ours = leads(db, tomorrow)
    with raw_path():
        assert_frame_equal(ours, leads(db, tomorrow))
    # ann: 11-26, 11-30 00:30, 12:00 and 13:00 → 4 events on 2 days; bob: 11-25 (2) and
    # today 11:00 → 3 on 2 days.
    assert lead_rows(ours)[:2] == [(ANN, 4, 2, nov(30, 13), "cold"),
                                   (BOB, 3, 2, later - timedelta(hours=1), "cold")]


def test_between_refreshes_the_summary_path_keeps_the_last_refresh_numbers(db):
    do_refresh(db)
    # Not refreshed: a new events-only user, bob active on a whole day of the window, and
    # cy's first registration (a lead once a refresh has read it).
    with db.begin() as conn:
        conn.execute(insert(events), [event(70, 10, nov(26, 10)), event(71, BOB, nov(26, 10))])
        conn.execute(insert(free_lesson_registrations), [
            registration(9, CY, nov(29, 10), "python")])
    ours = {name: REPORTS[name](db) for name in ("kpis", "growth", "leads", "retention",
                                                  "users_report", "first_seen_by_day")}
    with raw_path():
        raw = {name: REPORTS[name](db) for name in ours}
    assert (ours["kpis"]["known_users"][0], raw["kpis"]["known_users"][0]) == (7, 8)
    # New in the period: user 10, and cy, first seen by her registration.
    assert (ours["kpis"]["new_users"][0], raw["kpis"]["new_users"][0]) == (5, 7)
    day = as_dates(ours["growth"])["day"] == date(2026, 11, 26)
    assert (ours["growth"]["new_users"][day].item(), raw["growth"]["new_users"][day].item()) == (
        0, 1)
    assert (len(ours["users_report"]), len(raw["users_report"])) == (7, 8)
    assert (ours["first_seen_by_day"]["users"].sum(), raw["first_seen_by_day"]["users"].sum()) == (
        7, 8)
    assert lead_rows(ours["leads"])[1] == (BOB, 2, 1, nov(25, 9, 5), "cold")
    assert lead_rows(raw["leads"])[1] == (BOB, 3, 2, nov(26, 10), "cold")
    assert (CY in set(ours["leads"]["user_id"]), CY in set(raw["leads"]["user_id"])) == (
        False, True)

    def cohort_23(frame):
        return [r[2:4] for r in records(frame) if r[0] == date(2026, 11, 23) and r[1] == 0]
    # Raw: user 10 and cy (first seen 11-29) join the week of 11-23; cy has no events.
    assert (cohort_23(ours["retention"]), cohort_23(raw["retention"])) == ([(1, 1)], [(3, 2)])

    do_refresh(db, 1)  # and a refresh brings them level
    assert_paths_agree(db)


def test_a_window_inside_one_long_local_day_reads_it_all_from_events(engine):
    """Berlin's 25-hour 2026-10-25: a 1-day window from 00:30 to 23:30 is in that one day."""
    tz, now = "Europe/Berlin", at(10, 25, 22, 30)  # 23:30 CET; since = 00:30 CEST
    with engine.begin() as conn:
        conn.execute(insert(free_lesson_registrations), [
            registration(1, ANN, at(10, 1, 10), "python")])
        conn.execute(insert(events), [
            event(1, ANN, at(10, 24, 22, 10)),  # 00:10 local on the 25th: before the window
            event(2, ANN, at(10, 24, 23)),
            event(3, ANN, at(10, 25, 22)),
            event(4, ANN, at(10, 25, 22, 45)),  # after now, same local day
            event(5, ANN, at(10, 23, 10)),  # in the 3-day window only
        ])
    refresh(engine, tz, clock=lambda: now)
    berlin = Period(date(2026, 10, 1), date(2026, 10, 31), tz, now)
    for days in (1, 3):
        ours = leads(engine, berlin, window_days=days)
        with raw_path():
            assert_frame_equal(ours, leads(engine, berlin, window_days=days))
        expected = (ANN, 2, 1, at(10, 25, 22), "cold") if days == 1 else (
            ANN, 4, 2, at(10, 25, 22), "cold")
        assert lead_rows(ours) == [expected]


def test_a_first_edge_day_is_read_before_the_window_starts_when_that_is_shorter(db):
    # dee on Moscow 11-27: 08:00, 09:00 (both new) and 13:00. A 3-day window ending 11-30
    # 10:00 Moscow starts 11-27 10:00: 10 hours of that day lie before it, 14 after, so
    # the two events before are read from events and taken from her day's 3.
    with db.begin() as conn:
        conn.execute(insert(events), [event(43, DEE, nov(27, 5)), event(44, DEE, nov(27, 6))])
    do_refresh(db)
    early = period(now=nov(30, 7))
    ours = leads(db, early, window_days=3, include_paying=True)
    with raw_path():
        assert_frame_equal(ours, leads(db, early, window_days=3, include_paying=True))
    dee = [row for row in lead_rows(ours) if row[0] == DEE]
    assert dee == [(DEE, 1, 1, nov(27, 10), "cold")]
