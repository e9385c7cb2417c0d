"""The audited stream change and the audit log (tests/fixtures/people.py STREAM_ROWS).

| user | bookings (id stream status created)                     | newest active |
|------|----------------------------------------------------------|---------------|
| 301  | 1 2nd confirmed 10-01; 2 3rd pending 11-01               | 2             |
| 302  | 3 2nd new 11-05 10:00; 4 3rd new 11-05 10:00;            | 4 (same time, |
|      | 5 10th cancelled 11-10                                   | higher id)    |
| 303  | 6 2nd cancelled                                          | none          |
| 304  | no bookings, one event                                   | none          |
"""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import select, text

from hsl import admin
from hsl.admin import AUDIT_COLUMNS, audit_entries, change_stream
from hsl.auth import Actor
from hsl.errors import (
    ConflictError,
    DatabaseUnavailable,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from hsl.filters import Period
from hsl.metrics.streams import stream_summary
from hsl.schema import audit_log, bookings
from hsl.summaries import raw_path
from hsl.summaries.refresh import LOCK_KEY as REFRESH_LOCK
from hsl.summaries.refresh import refresh
from tests.conftest import loaded_engine
from tests.fixtures import utc
from tests.fixtures.people import MOSCOW, STREAM_ROWS, rows

ADMIN = Actor("alice", "admin")
ORIGINAL = [(1, "2nd_stream"), (2, "3rd_stream"), (3, "2nd_stream"), (4, "3rd_stream"),
            (5, "10th_stream"), (6, "2nd_stream")]


@pytest.fixture(scope="module")
def untouched(module_engine):
    """The database that no test writes to."""
    return module_engine(STREAM_ROWS)


@pytest.fixture
def db(backend, database_factory):
    """A fresh database per test: these tests write."""
    engine = loaded_engine(backend, database_factory, STREAM_ROWS)
    yield engine
    engine.dispose()


def streams(engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        stmt = select(bookings.c.id, bookings.c.course_stream).order_by(bookings.c.id)
        return [tuple(r) for r in conn.execute(stmt)]


def audit_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        stmt = select(audit_log).order_by(audit_log.c.id)
        return [dict(r._mapping) for r in conn.execute(stmt)]


# ---------------------------------------------------------------- success


def test_a_change_writes_the_booking_and_its_audit_row(db):
    entry = change_stream(db, ADMIN, 301, "2nd_stream", "  moved at her request ",
                          now=utc("2026-11-20 09:00"))
    # Booking 2 (the newest active) moved; booking 1 did not.
    assert streams(db) == [(1, "2nd_stream"), (2, "2nd_stream"), *ORIGINAL[2:]]
    [row] = audit_rows(db)
    assert row == {
        "id": entry.id,
        "occurred_at": utc("2026-11-20 09:00"),
        "actor": "alice",
        "action": "change_stream",
        "entity": "booking",
        "entity_id": "2",
        "before": {"user_id": 301, "booking_id": 2, "course_stream": "3rd_stream"},
        "after": {"user_id": 301, "booking_id": 2, "course_stream": "2nd_stream"},
        "reason": "moved at her request",
    }
    assert (entry.entity_id, entry.before, entry.after, entry.reason) == (
        row["entity_id"], row["before"], row["after"], row["reason"])


def test_the_newest_active_booking_is_chosen_by_time_then_id(db):
    # 302: bookings 3 and 4 share a time, 4 has the higher id; 5 is newer but cancelled.
    # 10th_stream is a known stream although only a cancelled booking names it.
    entry = change_stream(db, ADMIN, 302, "10th_stream", "wants the later stream")
    assert entry.entity_id == "4"
    assert streams(db) == [*ORIGINAL[:3], (4, "10th_stream"), *ORIGINAL[4:]]


# ---------------------------------------------------------------- rejections


@pytest.mark.parametrize("actor, user_id, stream, reason, error, message", [
    (Actor("vic", "viewer"), 301, "2nd_stream", "r", PermissionDenied,
     "may not change course streams"),
    (Actor("ann", "analyst"), 301, "2nd_stream", "r", PermissionDenied,
     "may not change course streams"),
    (ADMIN, 301, "2nd_stream", "   ", ValidationError, "Give a reason"),
    (ADMIN, 301, "2nd_stream", None, ValidationError, "Give a reason"),
    (ADMIN, 301, "99th_stream", "r", ValidationError, "not a known course stream"),
    (ADMIN, 301, "", "r", ValidationError, "not a known course stream"),
    (ADMIN, 303, "3rd_stream", "r", NotFoundError, "User 303 has no active booking"),
    (ADMIN, 304, "3rd_stream", "r", NotFoundError, "User 304 has no active booking"),
    (ADMIN, 999, "3rd_stream", "r", NotFoundError, "No user with id 999"),
    (ADMIN, -3, "3rd_stream", "r", ValidationError, "not a user id"),
    (ADMIN, 301, "3rd_stream", "r", ConflictError, "already in 3rd_stream"),
])
def test_every_rejection_writes_nothing(untouched, actor, user_id, stream, reason, error,
                                        message):
    with pytest.raises(error, match=message):
        change_stream(untouched, actor, user_id, stream, reason)
    assert streams(untouched) == ORIGINAL
    assert audit_rows(untouched) == []


def test_a_failure_after_the_update_rolls_both_back(db, monkeypatch):
    def broken_record(conn, entry):
        raise RuntimeError("audit insert failed")

    monkeypatch.setattr(admin, "_record", broken_record)
    with pytest.raises(RuntimeError, match="audit insert failed"):
        change_stream(db, ADMIN, 301, "2nd_stream", "will fail")
    assert streams(db) == ORIGINAL
    assert audit_rows(db) == []


@pytest.fixture
def pg_db(database_factory):
    engine = loaded_engine("postgresql", database_factory, STREAM_ROWS)
    yield engine
    engine.dispose()


def test_a_connection_lost_mid_change_writes_nothing(pg_db, pg_admin, monkeypatch):
    """PostgreSQL only: the server ends our session between the UPDATE and the audit row."""
    db = pg_db
    real_record = admin._record

    def lose_connection(conn, entry):
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with pg_admin.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return real_record(conn, entry)

    monkeypatch.setattr(admin, "_record", lose_connection)
    with pytest.raises(DatabaseUnavailable, match="cannot be reached"):
        change_stream(db, ADMIN, 301, "2nd_stream", "server goes away")
    assert streams(db) == ORIGINAL
    assert audit_rows(db) == []


# ---------------------------------------------------------------- concurrency


def _race(db, monkeypatch, targets: list[str]) -> list[object]:
    """Two admins change user 301 at once; each holds its transaction open for a while."""
    real_record = admin._record

    def slow_record(conn, entry):
        time.sleep(0.3)  # inside the transaction, after the UPDATE: the other one must wait
        return real_record(conn, entry)

    monkeypatch.setattr(admin, "_record", slow_record)
    barrier = threading.Barrier(len(targets))
    outcomes: list[object] = [None] * len(targets)

    def run(i: int, target: str) -> None:
        barrier.wait()
        try:
            outcomes[i] = change_stream(db, Actor(f"admin{i}", "admin"), 301, target, "race")
        except ConflictError as err:
            outcomes[i] = err

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


def test_two_concurrent_changes_to_different_streams_serialise(db, monkeypatch):
    outcomes = _race(db, monkeypatch, ["2nd_stream", "10th_stream"])
    assert all(isinstance(o, admin.AuditEntry) for o in outcomes), outcomes
    first, second = audit_rows(db)
    # The audit log is one chain: the second change starts where the first one ended.
    assert first["before"]["course_stream"] == "3rd_stream"
    assert second["before"] == first["after"]
    assert dict(streams(db))[2] == second["after"]["course_stream"]
    assert {first["after"]["course_stream"], second["after"]["course_stream"]} == {
        "2nd_stream", "10th_stream"}


def test_two_concurrent_changes_to_the_same_stream_one_wins(db, monkeypatch):
    outcomes = _race(db, monkeypatch, ["2nd_stream", "2nd_stream"])
    wins = [o for o in outcomes if isinstance(o, admin.AuditEntry)]
    losses = [o for o in outcomes if isinstance(o, ConflictError)]
    assert (len(wins), len(losses)) == (1, 1), outcomes
    assert "already in 2nd_stream" in str(losses[0])
    [row] = audit_rows(db)
    assert row["id"] == wins[0].id
    assert row["before"]["course_stream"] == "3rd_stream"
    assert dict(streams(db))[2] == "2nd_stream"


# ---------------------------------------------------------------- the audit log


@pytest.fixture
def logged(db):
    """Two changes: alice moves 301 on 11-20 09:00 UTC, bob moves 302 on 11-21 23:30 UTC."""
    change_stream(db, ADMIN, 301, "2nd_stream", "first", now=utc("2026-11-20 09:00"))
    change_stream(db, Actor("bob", "admin"), 302, "2nd_stream", "second",
                  now=utc("2026-11-21 23:30"))
    return db


def test_audit_log_newest_first(logged):
    frame = audit_entries(logged, ADMIN)
    assert list(frame.columns) == AUDIT_COLUMNS
    assert rows(frame, "actor", "entity_id", "user_id", "reason") == [
        ("bob", "4", 302, "second"), ("alice", "2", 301, "first")]
    assert frame["before"].iloc[1] == (
        '{"booking_id": 2, "course_stream": "3rd_stream", "user_id": 301}')


def test_audit_log_filters(logged):
    assert rows(audit_entries(logged, ADMIN, user_id=301), "actor") == [("alice",)]
    assert rows(audit_entries(logged, ADMIN, actor_name="bob"), "actor") == [("bob",)]
    assert audit_entries(logged, ADMIN, actor_name="carol").empty
    utc_day = Period(date(2026, 11, 21), date(2026, 11, 21), "UTC")
    assert rows(audit_entries(logged, ADMIN, utc_day), "actor") == [("bob",)]
    # 23:30 UTC is 02:30 the next day in Moscow.
    assert audit_entries(logged, ADMIN, Period(date(2026, 11, 21), date(2026, 11, 21), MOSCOW)
                         ).empty
    moscow = audit_entries(logged, ADMIN, Period(date(2026, 11, 22), date(2026, 11, 22), MOSCOW))
    assert moscow["occurred_at"].iloc[0].isoformat() == "2026-11-22T02:30:00+03:00"


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_only_admins_read_the_audit_log(untouched, role):
    with pytest.raises(PermissionDenied, match="may not read the audit log"):
        audit_entries(untouched, Actor("x", role))


def test_a_stream_change_during_a_refresh_is_saved_and_the_summaries_follow_later(
        pg_db, monkeypatch):
    """PostgreSQL: a refresh holds its lock (here: held by hand) past the change's wait;
    the change is saved at once, the stream summary catches up at the next refresh."""
    refresh(pg_db, "UTC")
    monkeypatch.setattr("hsl.summaries.refresh.STREAMS_WAIT_SECONDS", 0.3)
    period = Period.last_days(30, "UTC")
    before = stream_summary(pg_db, period)
    with pg_db.connect() as holder, holder.begin():
        holder.exec_driver_sql(f"SELECT pg_advisory_xact_lock({REFRESH_LOCK})")
        started = time.monotonic()
        change_stream(pg_db, ADMIN, 301, "2nd_stream", "moved during a refresh")
        assert time.monotonic() - started < 2
    assert streams(pg_db)[1] == (2, "2nd_stream")
    assert_frame_equal(stream_summary(pg_db, period), before)  # not rewritten meanwhile
    refresh(pg_db, "UTC")
    ours = stream_summary(pg_db, period)
    with raw_path():
        assert_frame_equal(ours, stream_summary(pg_db, period))
    assert not ours.equals(before)
