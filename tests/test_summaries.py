"""Summary tables (SPEC §9): after every refresh they hold exactly what the raw tables say.

The expected values are computed here in Python from every raw row, independently of the
SQL in hsl.summaries.refresh, after the changes a live bot makes: appends, a row committed
late with a lower id, a booking whose status changes, a deleted user, an events-only user.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, insert, select, update

from hsl import migrate
from hsl.schema import (
    BOT_TABLES,
    bookings,
    events,
    free_lesson_registrations,
    summary_day_types,
    summary_days,
    summary_lesson_clicks,
    summary_state,
    summary_user_days,
    summary_users,
    users,
)
from hsl.summaries import raw_path, read_state
from hsl.summaries.refresh import refresh
from tests.conftest import url_of
from tests.fixtures.foundation import run_hsl

TZ = "Europe/Moscow"  # UTC+3: 22:30 UTC is the next local day
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def click(lesson: str | None) -> dict:
    return {"lesson_type": lesson} if lesson else {}


@pytest.fixture
def db(engine):
    """Three users, their events over a few days, a booking and a registration."""
    with engine.begin() as conn:
        conn.execute(insert(users), [
            {"user_id": 1, "username": "ann", "first_seen_at": at(20, 10)},
            {"user_id": 2, "username": "bob", "first_seen_at": at(25, 9)},
            {"user_id": 3, "username": "cy", "first_seen_at": None},  # bare row, no time
        ])
        conn.execute(insert(bookings), [
            {"id": 1, "user_id": 2, "course_stream": "1st_stream", "confirmed": 0,
             "created_at": at(24, 8)},  # earlier than bob's users row
        ])
        conn.execute(insert(free_lesson_registrations), [
            {"id": 1, "user_id": 1, "email": "a@x", "registered_at": at(21, 10),
             "lesson_type": "python", "lesson_date": date(2026, 11, 22)},
        ])
        conn.execute(insert(events), [
            {"id": 10, "user_id": 1, "event_type": "start", "created_at": at(19, 22, 30),
             "details": None},
            {"id": 11, "user_id": 1, "event_type": "lesson_link_clicked",
             "created_at": at(21, 11), "details": click("python")},
            {"id": 12, "user_id": 2, "event_type": "start", "created_at": at(25, 9),
             "details": None},
            {"id": 13, "user_id": 2, "event_type": "start", "created_at": at(25, 9, 5),
             "details": None},
            {"id": 20, "user_id": 4, "event_type": "lesson_link_clicked",  # events only
             "created_at": at(29, 23), "details": click(None)},
        ])
    return engine


def expected(engine) -> dict:
    """Every summary, computed in Python from all raw rows."""
    zone = ZoneInfo(TZ)
    with raw_path(), engine.connect() as conn:
        rows = {t.name: [r._mapping for r in conn.execute(select(t))]
                for t in (users, bookings, events, free_lesson_registrations)}
    seen: dict[int, list] = defaultdict(list)
    for r in rows["users"]:
        seen[r["user_id"]] += [r["first_seen_at"]]
    for r in rows["bookings"]:
        seen[r["user_id"]] += [r["created_at"]]
    for r in rows["free_lesson_registrations"]:
        seen[r["user_id"]] += [r["registered_at"]]
    per_user: dict[int, list] = defaultdict(list)
    day_types, day_users, user_days, clicks = Counter(), defaultdict(set), defaultdict(list), set()
    for r in rows["events"]:
        uid, ts = r["user_id"], r["created_at"]
        seen[uid] += [ts]
        per_user[uid].append(ts)
        day = ts.astimezone(zone).date()
        day_types[day, r["event_type"]] += 1
        day_users[day].add(uid)
        user_days[uid, day].append(ts)
        lesson = (r["details"] or {}).get("lesson_type") if isinstance(r["details"], dict) else None
        if r["event_type"] == "lesson_link_clicked" and lesson is not None:
            clicks.add((uid, lesson))
    people = {
        uid: (min((t for t in times if t is not None), default=None), len(per_user[uid]),
              max(per_user[uid], default=None))
        for uid, times in seen.items()
    }
    days = {day: (sum(n for (d, _), n in day_types.items() if d == day), len(ids))
            for day, ids in day_users.items()}
    return {
        "users": people,
        "days": days,
        "day_types": dict(day_types),
        "user_days": {k: (len(v), min(v), max(v)) for k, v in user_days.items()},
        "clicks": clicks,
    }


def stored(engine) -> dict:
    """What the summary tables hold, in the shape of `expected`."""
    with engine.connect() as conn:
        def all_rows(table):
            return [r._mapping for r in conn.execute(select(table))]
        return {
            "users": {r["user_id"]: (r["first_seen_at"], r["events"], r["last_event_at"])
                      for r in all_rows(summary_users)},
            "days": {r["day"]: (r["events"], r["active_users"]) for r in all_rows(summary_days)},
            "day_types": {(r["day"], r["event_type"]): r["events"]
                          for r in all_rows(summary_day_types)},
            "user_days": {(r["user_id"], r["day"]): (r["events"], r["first_at"], r["last_at"])
                          for r in all_rows(summary_user_days)},
            "clicks": {(r["user_id"], r["lesson_type"]) for r in all_rows(summary_lesson_clicks)},
        }


def test_a_first_refresh_builds_what_the_raw_tables_say(db):
    result = refresh(db, TZ, clock=lambda: NOW)
    assert result.full
    held = stored(db)
    assert held == expected(db)
    # by hand: ann first seen by her event at 22:30 UTC on the 19th, bob by his booking,
    # cy known without a time, user 4 only through an event
    assert held["users"] == {
        1: (at(19, 22, 30), 2, at(21, 11)),
        2: (at(24, 8), 2, at(25, 9, 5)),
        3: (None, 0, None),
        4: (at(29, 23), 1, at(29, 23)),
    }
    assert held["days"][date(2026, 11, 20)] == (1, 1)  # 22:30 UTC on the 19th, Moscow 20th
    assert held["days"][date(2026, 11, 25)] == (2, 1)
    assert held["clicks"] == {(1, "python")}  # user 4's click names no lesson
    state = read_state(db)
    assert (state.tz, state.events_max_id, state.refreshed_at) == (TZ, 20, NOW)


def test_appends_late_commits_status_changes_and_deletes_end_up_exact(db):
    refresh(db, TZ, clock=lambda: NOW)
    with db.begin() as conn:
        conn.execute(insert(events), [
            # appended after the refresh
            {"id": 21, "user_id": 2, "event_type": "lesson_link_clicked",
             "created_at": at(30, 8), "details": click("design")},
            # committed late with an id below the last one read, a few hours back
            {"id": 15, "user_id": 1, "event_type": "start", "created_at": at(29, 20, 59),
             "details": None},
            # a new events-only user
            {"id": 22, "user_id": 5, "event_type": "start", "created_at": at(30, 9),
             "details": None},
        ])
        conn.execute(update(bookings).where(bookings.c.id == 1).values(confirmed=2))
    second = refresh(db, TZ, clock=lambda: NOW + timedelta(minutes=1))
    assert not second.full
    assert stored(db) == expected(db)
    assert stored(db)["users"][1][1] == 3  # the late row counts for ann

    # bob is deleted by the bot: his rows in every table go with him (ON DELETE CASCADE)
    with db.begin() as conn:
        for table in (events, bookings, free_lesson_registrations, users):
            conn.execute(delete(table).where(table.c.user_id == 2))
    third = refresh(db, TZ, clock=lambda: NOW + timedelta(minutes=2))
    assert third.removed_users == 1
    held = stored(db)
    assert held == expected(db)
    assert 2 not in held["users"] and date(2026, 11, 25) not in held["days"]  # his old day


def test_a_new_timezone_rebuilds_the_days(db):
    refresh(db, TZ, clock=lambda: NOW)
    result = refresh(db, "UTC", clock=lambda: NOW)
    assert result.full
    assert stored(db)["days"][date(2026, 11, 19)] == (1, 1)  # 22:30 UTC is the 19th in UTC
    assert read_state(db).tz == "UTC"


def test_the_refresh_command_says_what_it_did(db):
    url = url_of(db)
    first = run_hsl("refresh", "--db", url, env={"HSL_TIMEZONE": TZ})
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout.startswith("Rebuilt every summary in ")
    assert f"days in {TZ}." in first.stdout
    again = run_hsl("refresh", "--db", url, env={"HSL_TIMEZONE": TZ})
    # nothing new: the trailing window's days are checked and found unchanged
    assert again.stdout.startswith("Refreshed the summaries (0 new events added, "
                                   "0 local days recounted, 0 deleted users removed) in ")


def test_the_refresh_command_on_a_database_without_summaries_says_what_to_run(empty_engine):
    with empty_engine.begin() as conn:
        for table in BOT_TABLES:
            table.create(conn)
    result = run_hsl("refresh", "--db", url_of(empty_engine))
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "The database has no summary tables yet; run `python -m hsl init-db` against it.")


def test_new_rows_on_old_days_are_added_without_recounting_a_day(db):
    refresh(db, TZ, clock=lambda: NOW)
    with db.begin() as conn:
        conn.execute(insert(events), [
            # cy had a users row without a time and no events: this is her first
            {"id": 30, "user_id": 3, "event_type": "start", "created_at": at(10, 12),
             "details": None},
            # ann, on a day summarised already, long before the trailing window
            {"id": 31, "user_id": 1, "event_type": "lesson_link_clicked",
             "created_at": at(21, 15), "details": click("design")},
        ])
    result = refresh(db, TZ, clock=lambda: NOW + timedelta(minutes=1))
    assert (result.full, result.added, result.days) == (False, 2, 0)
    held = stored(db)
    assert held == expected(db)
    assert held["users"][3] == (at(10, 12), 1, at(10, 12))  # first seen by that event
    assert held["days"][date(2026, 11, 21)] == (2, 1)  # ann's two events that day
    assert held["user_days"][1, date(2026, 11, 21)] == (2, at(21, 11), at(21, 15))
    assert (1, "design") in held["clicks"]


def test_a_day_in_the_window_that_lost_or_gained_old_rows_is_recounted_whole(db):
    refresh(db, TZ, clock=lambda: NOW)
    with db.begin() as conn:  # ann on the newest day; then a refresh reads it
        conn.execute(insert(events), {"id": 40, "user_id": 1, "event_type": "start",
                                      "created_at": at(29, 22), "details": None})
    refresh(db, TZ, clock=lambda: NOW + timedelta(minutes=1))
    with db.begin() as conn:
        conn.execute(delete(events).where(events.c.id == 40))  # the bot removes it again
        # and a row committed late, with a low id, on a day no summary has yet
        conn.execute(insert(events), {"id": 16, "user_id": 2, "event_type": "start",
                                      "created_at": at(30, 23), "details": None})
    result = refresh(db, TZ, clock=lambda: NOW + timedelta(minutes=2))
    assert (result.added, result.days) == (0, 2)  # Moscow 30 Nov and 1 Dec
    held = stored(db)
    assert held == expected(db)
    assert held["users"][1] == (at(19, 22, 30), 2, at(21, 11))  # back to two events
    assert held["days"][date(2026, 12, 1)] == (1, 1)  # 23:00 UTC on the 30th


def test_a_timer_refresh_does_not_wait_for_one_already_running(db):
    refresh(db, TZ, clock=lambda: NOW)
    with db.connect() as other:  # another refresh, holding the database
        if db.dialect.name == "postgresql":
            other.exec_driver_sql("BEGIN")
            other.exec_driver_sql("SELECT pg_advisory_xact_lock(1213418579)")  # "HSLS"
        else:
            other.exec_driver_sql("BEGIN IMMEDIATE")
        assert refresh(db, TZ, wait=False) is None
        other.rollback()
    assert refresh(db, TZ, wait=False) is not None  # free again


def test_summaries_from_before_the_fingerprints_are_rebuilt_by_the_next_refresh(empty_engine):
    engine = empty_engine
    migrate.upgrade(engine, "0004")  # as a database migrated by the last release
    with engine.begin() as conn:
        conn.execute(insert(summary_state).values(
            id=1, tz=TZ, events_max_id=0, events_high_at=None, refreshed_at=NOW,
            rebuilt_at=NOW))
    migrate.upgrade(engine)
    assert read_state(engine) is None
    assert refresh(engine, TZ, clock=lambda: NOW).full
