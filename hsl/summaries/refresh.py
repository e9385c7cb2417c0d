"""Keep the summary tables exact, with work proportional to what changed (SPEC §9).

One refresh is one transaction (readers see the summaries before it or after it, never
half of it), one at a time per database. What it re-reads:

- **Events**: every local day (in the summaries' timezone) holding an event with an id
  above the last refresh's highest, and every day from `lookback` before the newest event
  the last refresh saw. Ids are not commit order, so the trailing window is what catches a
  row committed late with a lower id; a changed day is recomputed whole (its per-day,
  per-type, per-user-day rows and lesson clicks), never patched.
- **Users, bookings, registrations** (a user's first-seen time outside events): read in
  full, one grouped pass over those three tables, which grow with people, not with events.
  Booking statuses are not summarised at all; reports read them live.
- **Deletes**: a summarised user who is in none of the four tables any more (the bot
  deleted them; their rows went with them) is removed, and every day they had events on
  is recomputed.

A change to the timezone setting, `full=True`, or no state yet rebuilds everything.
Events deleted from a user who still exists are not found by an incremental refresh; a
full one (`python -m hsl refresh --full`) recounts them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    Table,
    and_,
    case,
    delete,
    distinct,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement

from hsl.config import check_timezone
from hsl.db import day_of, is_postgres, json_field, utc, writing
from hsl.errors import ConflictError
from hsl.filters import utc_now
from hsl.metrics.common import CLICK_EVENT
from hsl.schema import (
    SUMMARY_TABLES,
    UTCDateTime,
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
from hsl.summaries import SummaryState, has_tables, read_state

LOOKBACK = timedelta(hours=24)
REFRESH_TIMEOUT_MS = 600_000  # a full rebuild of a large history may take minutes
_LOCK_KEY = 0x48534C53  # "HSLS": one refresh at a time per PostgreSQL database

# The earliest time a user appears in users / bookings / registrations, built per refresh.
_elsewhere = Table(
    "hsl_refresh_elsewhere",
    MetaData(),
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", UTCDateTime),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh did."""

    full: bool
    days: int  # local days recomputed
    removed_users: int
    seconds: float
    state: SummaryState


def refresh(engine: Engine, tz: str, *, full: bool = False, lookback: timedelta = LOOKBACK,
            clock: Callable[[], datetime] = utc_now) -> RefreshResult:
    """Bring the summaries up to what the bot's tables hold now, in one transaction."""
    check_timezone(tz)
    started = time.perf_counter()
    with _exclusive(engine) as conn:
        now = clock()
        previous = read_state(conn)
        rebuild = full or previous is None or previous.tz != tz
        max_id = conn.execute(select(func.max(events.c.id))).scalar() or 0
        high_at = conn.execute(select(func.max(utc(events.c.created_at)))).scalar()
        if rebuild:
            for table in SUMMARY_TABLES:
                conn.execute(delete(table))
        _refresh_elsewhere(conn)
        gone = _gone_users(conn)
        if rebuild:
            days = None
        else:
            days = _changed_days(conn, previous, tz, lookback)
            if gone:  # every day a deleted user had events on
                days |= set(conn.execute(
                    select(summary_user_days.c.day).distinct()
                    .where(summary_user_days.c.user_id.in_(gone))
                ).scalars())
        ranges = None if days is None else _utc_ranges(days, tz)
        if days is None or days:
            _recompute_days(conn, tz, days, ranges)
            _recompute_user_events(conn, ranges)
        if gone:
            for table in (summary_users, summary_lesson_clicks):
                conn.execute(delete(table).where(table.c.user_id.in_(gone)))
        _update_first_seen(conn)
        _elsewhere.drop(conn)
        state = SummaryState(tz, int(max_id), high_at, now,
                             now if rebuild else previous.rebuilt_at)
        _write_state(conn, state)
    counted = len(days) if days is not None else -1
    return RefreshResult(rebuild, counted, len(gone), time.perf_counter() - started, state)


def refresh_command(engine: Engine, tz: str, *, full: bool = False) -> str:
    """`python -m hsl refresh`: run one refresh and say what it did in one sentence."""
    if not has_tables(engine):
        raise ConflictError(
            "The database has no summary tables yet; run `python -m hsl init-db` against it.")
    done = refresh(engine, tz, full=full)
    what = "Rebuilt every summary" if done.full else (
        f"Refreshed the summaries ({done.days} local day{'s' * (done.days != 1)} recounted, "
        f"{done.removed_users} deleted user{'s' * (done.removed_users != 1)} removed)")
    return (f"{what} in {done.seconds:.2f} s; they hold the data as of "
            f"{done.state.refreshed_at:%Y-%m-%d %H:%M:%S} UTC, days in {tz}.")


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    """A write transaction no other refresh runs beside, seeing one snapshot throughout."""
    with writing(engine) as conn:
        if is_postgres(conn):
            # The first statements of the transaction: the snapshot is taken after the lock.
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {REFRESH_TIMEOUT_MS}")
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        yield conn


def _refresh_elsewhere(conn: Connection) -> None:
    """Bring `known_elsewhere` / `seen_elsewhere_at` up to users, bookings, registrations."""
    _elsewhere.drop(conn, checkfirst=True)
    _elsewhere.create(conn)
    regs = free_lesson_registrations.c
    per_table = union_all(
        select(users.c.user_id, utc(users.c.first_seen_at).label("ts")),
        select(bookings.c.user_id, func.min(utc(bookings.c.created_at)))
        .group_by(bookings.c.user_id),
        select(regs.user_id, func.min(utc(regs.registered_at))).group_by(regs.user_id),
    ).subquery("per_table")
    conn.execute(insert(_elsewhere).from_select(
        ["user_id", "ts"],
        select(per_table.c.user_id, func.min(per_table.c.ts)).group_by(per_table.c.user_id),
    ))
    if is_postgres(conn):
        conn.exec_driver_sql(f"ANALYZE {_elsewhere.name}")
    s, e = summary_users.c, _elsewhere.c
    conn.execute(
        update(summary_users)
        .values(known_elsewhere=True, seen_elsewhere_at=e.ts)
        .where(s.user_id == e.user_id)
        .where(or_(s.known_elsewhere == false(), s.seen_elsewhere_at.is_distinct_from(e.ts)))
    )
    conn.execute(insert(summary_users).from_select(
        ["user_id", "known_elsewhere", "seen_elsewhere_at"],
        select(e.user_id, true(), e.ts).where(~exists().where(s.user_id == e.user_id)),
    ))
    conn.execute(
        update(summary_users)
        .values(known_elsewhere=False, seen_elsewhere_at=None)
        .where(s.known_elsewhere == true(), ~exists().where(e.user_id == s.user_id))
    )


def _gone_users(conn: Connection) -> list[int]:
    """Summarised users in none of the four tables any more (deleted by the bot)."""
    s = summary_users.c
    stmt = select(s.user_id).where(
        s.known_elsewhere == false(), ~exists().where(events.c.user_id == s.user_id)
    )
    return [int(uid) for uid in conn.execute(stmt).scalars()]


def _changed_days(conn: Connection, previous: SummaryState, tz: str,
                  lookback: timedelta) -> set[date]:
    """Local days with events above the last id read, or in the trailing window."""
    e = events.c
    new = e.id > previous.events_max_id
    if previous.events_high_at is None:
        since = None
        recent = new
    else:
        since = previous.events_high_at - lookback
        recent = or_(new, utc(e.created_at) >= since)
    stmt = select(day_of(e.created_at, tz)).where(recent).distinct()
    days = set(conn.execute(stmt).scalars())
    if since is not None:  # days summarised in the window whose events are gone
        first = since.astimezone(ZoneInfo(tz)).date()
        days |= set(conn.execute(
            select(summary_days.c.day).where(summary_days.c.day >= first)).scalars())
    return {d if isinstance(d, date) else date.fromisoformat(d) for d in days}


def _utc_ranges(days: Iterable[date], tz: str) -> list[tuple[datetime, datetime]]:
    """[start, end) UTC instants covering exactly the local `days`, one per run of days."""
    zone, ranges = ZoneInfo(tz), []
    for day in sorted(days):
        start = datetime.combine(day, datetime.min.time(), zone)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
    return ranges


def _events_in(ranges: list[tuple[datetime, datetime]] | None) -> ColumnElement:
    """Predicate on events: created within one of `ranges` (every event when None)."""
    if ranges is None:
        return true()
    ts = utc(events.c.created_at)
    return or_(*(and_(ts >= start, ts < end) for start, end in ranges))


def _recompute_days(conn: Connection, tz: str, days: set[date] | None,
                    ranges: list[tuple[datetime, datetime]] | None) -> None:
    """Rebuild the per-day, per-day-and-type and per-user-day rows of `days`, and clicks."""
    if days is not None:
        listed = sorted(days)
        for table in (summary_days, summary_day_types, summary_user_days):
            conn.execute(delete(table).where(table.c.day.in_(listed)))
    e, where = events.c, _events_in(ranges)
    day = day_of(e.created_at, tz).label("day")
    conn.execute(insert(summary_days).from_select(
        ["day", "events", "active_users"],
        select(day, func.count(), func.count(distinct(e.user_id))).where(where).group_by(day),
    ))
    conn.execute(insert(summary_day_types).from_select(
        ["day", "event_type", "events"],
        select(day, e.event_type, func.count()).where(where).group_by(day, e.event_type),
    ))
    ts = utc(e.created_at)
    conn.execute(insert(summary_user_days).from_select(
        ["user_id", "day", "events", "first_at", "last_at"],
        select(e.user_id, day, func.count(), func.min(ts), func.max(ts))
        .where(where).group_by(e.user_id, day),
    ))
    lesson = json_field(e.details, "lesson_type")
    clicks = (
        select(e.user_id, lesson).distinct()
        .where(e.event_type == CLICK_EVENT, lesson.is_not(None), where)
    )
    dialect = postgresql if is_postgres(conn) else sqlite
    conn.execute(
        dialect.insert(summary_lesson_clicks)
        .from_select(["user_id", "lesson_type"], clicks)
        .on_conflict_do_nothing()
    )


def _recompute_user_events(conn: Connection,
                           ranges: list[tuple[datetime, datetime]] | None) -> None:
    """Per user with events in `ranges`: their all-time event count, first and last event."""
    ud, s = summary_user_days.c, summary_users.c
    touched = select(events.c.user_id).where(_events_in(ranges)).distinct()
    conn.execute(insert(summary_users).from_select(
        ["user_id", "known_elsewhere"],
        select(ud.user_id, false()).distinct()
        .where(ud.user_id.in_(touched), ~exists().where(s.user_id == ud.user_id)),
    ))
    mine = ud.user_id == s.user_id
    conn.execute(
        update(summary_users)
        .values(
            events=select(func.coalesce(func.sum(ud.events), 0)).where(mine).scalar_subquery(),
            first_event_at=select(func.min(ud.first_at)).where(mine).scalar_subquery(),
            last_event_at=select(func.max(ud.last_at)).where(mine).scalar_subquery(),
        )
        .where(s.user_id.in_(touched))
    )


def _update_first_seen(conn: Connection) -> None:
    """first_seen_at = the earlier of the two first times, where that changed."""
    s = summary_users.c
    earliest = case(
        (s.seen_elsewhere_at.is_(None), s.first_event_at),
        (s.first_event_at.is_(None), s.seen_elsewhere_at),
        (s.first_event_at < s.seen_elsewhere_at, s.first_event_at),
        else_=s.seen_elsewhere_at,
    )
    conn.execute(
        update(summary_users)
        .values(first_seen_at=earliest)
        .where(s.first_seen_at.is_distinct_from(earliest))
    )


def _write_state(conn: Connection, state: SummaryState) -> None:
    values = {
        "tz": state.tz, "events_max_id": state.events_max_id,
        "events_high_at": state.events_high_at, "refreshed_at": state.refreshed_at,
        "rebuilt_at": state.rebuilt_at,
    }
    updated = conn.execute(
        update(summary_state).values(**values).where(summary_state.c.id == 1)
    ).rowcount
    if not updated:
        conn.execute(insert(summary_state).values(id=1, **values))
