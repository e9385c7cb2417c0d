"""Keep the summary tables exact, with work proportional to what changed (SPEC §9).

One refresh is one transaction (readers see the summaries before it or after it, never
half of it), one at a time per database. What it reads:

- **New events** (ids above the last refresh's highest) are added to every summary.
- **The trailing window**: every local day (in the summaries' timezone) from `lookback`
  before the newest event the last refresh saw is checked by its count and id sum against
  what the summaries hold plus what was just added. Ids are not commit order: a row
  committed late with a lower id, or a deleted event, makes its day differ, and such a
  day is recounted whole (its per-day, per-type, per-user-day rows; clicks are added),
  never patched.
- **Users, bookings, registrations** (a user's first-seen time outside events): one grouped
  pass over those three tables, which grow with people, not with events; only the people
  whose values changed are written. Booking statuses are not summarised; reports read
  them live.
- **Deletes**: a summarised user who is in none of the four tables any more (the bot
  deleted them; their rows went with them) is removed, and every day they had events on
  is recounted.

A change to the timezone setting, `full=True`, or no state yet rebuilds everything.
Changes older than the window, and deleted lesson-link clicks of a user who still exists,
are only seen by a full refresh (`python -m hsl refresh --full`).
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
    Date,
    MetaData,
    Select,
    Subquery,
    Table,
    Text,
    and_,
    bindparam,
    case,
    delete,
    distinct,
    exc,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement

from hsl.config import check_timezone
from hsl.db import day_of, is_postgres, json_field, upsert, utc, writing
from hsl.errors import ConflictError
from hsl.filters import utc_now
from hsl.metrics.common import CLICK_EVENT
from hsl.metrics.leads import recent_days
from hsl.metrics.streams import students_of_streams
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
    summary_stream_students,
    summary_streams,
    summary_user_days,
    summary_user_recent,
    summary_users,
    users,
)
from hsl.summaries import SummaryState, has_tables, read_state

LOOKBACK = timedelta(hours=24)
REFRESH_TIMEOUT_MS = 600_000  # a full rebuild of a large history may take minutes
LOCK_KEY = 0x48534C53  # "HSLS": one refresh at a time per PostgreSQL database
STREAMS_WAIT_SECONDS = 3.0  # how long a stream change waits for a refresh in progress

# The events above the last refresh's highest id, with their local day, read once.
_new = Table(
    "hsl_refresh_new",
    MetaData(),
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("day", Date, nullable=False),
    Column("lesson_type", Text),
    prefixes=["TEMPORARY"],
)
# The users whose all-time event counts this refresh recomputes.
_touched = Table(
    "hsl_refresh_touched",
    MetaData(),
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh did."""

    full: bool
    days: int  # local days recounted whole (-1: everything was rebuilt)
    added: int  # new events added to the summaries (0 on a rebuild)
    removed_users: int
    seconds: float
    state: SummaryState


def refresh(engine: Engine, tz: str, *, full: bool = False, lookback: timedelta = LOOKBACK,
            clock: Callable[[], datetime] = utc_now, wait: bool = True) -> RefreshResult | None:
    """Bring the summaries up to what the bot's tables hold now, in one transaction.

    With `wait=False` (the timers) a refresh that finds another one running returns None
    at once instead of queueing behind it.
    """
    check_timezone(tz)
    started = time.perf_counter()
    with _exclusive(engine, wait) as conn:
        if conn is None:
            return None
        now = clock()
        previous = read_state(conn)
        rebuild = full or previous is None or previous.tz != tz
        max_id = conn.execute(select(func.max(events.c.id))).scalar() or 0
        high_at = conn.execute(select(func.max(utc(events.c.created_at)))).scalar()
        if rebuild:
            for table in SUMMARY_TABLES:
                conn.execute(delete(table))
        _refresh_elsewhere(conn, rebuild)
        if rebuild:
            gone: list[int] = []
            _recompute_days(conn, tz, None)
            _recompute_user_events(conn, None)
            counted, added, recounted = -1, 0, set()
        else:
            gone = _gone_users(conn)
            counted, added, recounted = _refresh_changed(conn, previous, tz, lookback, gone)
        if gone:
            for table in (summary_users, summary_lesson_clicks):
                conn.execute(delete(table).where(table.c.user_id.in_(gone)))
        _update_first_seen(conn)
        write_streams(conn)
        recent = recent_days(now, tz)
        _refresh_recent(conn, recent, None if rebuild else previous, recounted)
        for temporary in (_new, _touched):
            temporary.drop(conn, checkfirst=True)
        state = SummaryState(tz, int(max_id), high_at, now,
                             now if rebuild else previous.rebuilt_at,
                             *(recent or (None, None)))
        _write_state(conn, state)
    _tidy(engine, rebuild)
    return RefreshResult(rebuild, counted, added, len(gone), time.perf_counter() - started,
                         state)


def _tidy(engine: Engine, rebuilt: bool) -> None:
    """PostgreSQL: VACUUM the summaries (ANALYZE too after a rebuild), outside the refresh.

    Vacuuming keeps the visibility map current, so reports read windows of days from the
    covering index alone; after an incremental refresh it visits only the pages it
    changed (about 0.1 s). Nothing to do on SQLite.
    """
    if not is_postgres(engine):
        return
    what = "VACUUM (ANALYZE)" if rebuilt else "VACUUM"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"SET statement_timeout = {REFRESH_TIMEOUT_MS}")
        try:
            conn.exec_driver_sql(f"{what} {', '.join(t.name for t in SUMMARY_TABLES)}")
        finally:
            conn.exec_driver_sql("RESET statement_timeout")


def refresh_command(engine: Engine, tz: str, *, full: bool = False) -> str:
    """`python -m hsl refresh`: run one refresh and say what it did in one sentence."""
    if not has_tables(engine):
        raise ConflictError(
            "The database has no summary tables yet; run `python -m hsl init-db` against it.")
    done = refresh(engine, tz, full=full)
    what = "Rebuilt every summary" if done.full else (
        f"Refreshed the summaries ({done.added:,} new event{'s' * (done.added != 1)} added, "
        f"{done.days} local day{'s' * (done.days != 1)} recounted, "
        f"{done.removed_users} deleted user{'s' * (done.removed_users != 1)} removed)")
    return (f"{what} in {done.seconds:.2f} s; they hold the data as of "
            f"{done.state.refreshed_at:%Y-%m-%d %H:%M:%S} UTC, days in {tz}.")


@contextmanager
def _exclusive(engine: Engine, wait: bool = True) -> Iterator[Connection | None]:
    """A write transaction no other refresh runs beside, seeing one snapshot throughout.

    Yields None when `wait` is false and another refresh holds the database.
    """
    entered = False
    try:
        with writing(engine) as conn:
            entered = True
            if is_postgres(conn):
                # The first statements of the transaction: the snapshot is taken after the lock.
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {REFRESH_TIMEOUT_MS}")
                lock = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
                if conn.exec_driver_sql(f"SELECT {lock}({LOCK_KEY})").scalar() is False:
                    yield None
                    return
            yield conn
    except exc.OperationalError as err:  # SQLite: another writer kept the file past the wait
        if entered or wait or "locked" not in str(err):
            raise
        yield None


def _refresh_changed(conn: Connection, previous: SummaryState, tz: str, lookback: timedelta,
                     gone: list[int]) -> tuple[int, int, set[date]]:
    """The incremental refresh; return how many local days were recounted whole, the rows
    added, and those days.

    New rows (ids above the last refresh's highest) are added to what the summaries hold.
    A day of the trailing window whose count or id sum no longer matches, and every day a
    deleted user had events on, is recounted whole from the raw rows instead.
    """
    _load_new(conn, tz, previous.events_max_id)
    recount = _mismatched_days(conn, previous, tz, lookback)
    if gone:
        recount |= set(conn.execute(
            select(summary_user_days.c.day).distinct()
            .where(summary_user_days.c.user_id.in_(gone))).scalars())
    if recount:
        _touched.create(conn)
        on_days = summary_user_days.c.day.in_(sorted(recount))
        _touch(conn, select(summary_user_days.c.user_id).where(on_days).distinct())
        _recompute_days(conn, tz, recount)
        _touch(conn, select(summary_user_days.c.user_id).where(on_days).distinct())
    added = _add_new(conn, recount)
    if recount:  # after the additions: these users' totals are summed from their days
        _recompute_user_events(conn, _touched)
    return len(recount), added, recount


def _refresh_recent(conn: Connection, days: tuple[date, date] | None,
                    previous: SummaryState | None, recounted: set[date]) -> None:
    """Make summary_user_recent add up each user's summary_user_days rows on `days`, with
    their rows of the day before and the day after alongside (a default lead window's
    edge days).

    When the previous refresh added up other days (a new local day began; a rebuild:
    `previous` None) every row is written again; else only the rows of the people whose
    days from the day before to the day after this refresh changed: new events on them
    (today's, mostly), and every person on a day that was recounted whole (deleted users
    included).
    """
    r, ud = summary_user_recent.c, summary_user_days.c
    if days is None:
        conn.execute(delete(summary_user_recent))
        return
    first, last = days
    low, high = first - timedelta(days=1), last + timedelta(days=1)
    who = None
    if previous is not None and (previous.recent_from, previous.recent_to) == days:
        n = _new.c
        fresh = n.day.not_in(sorted(recounted))
        changed = [select(n.user_id).where(n.day >= low, n.day < high, fresh)]
        if any(low <= day <= high for day in recounted):
            changed.append(select(_touched.c.user_id))
        who = union_all(*changed).subquery("changed_people")
        conn.execute(delete(summary_user_recent).where(r.user_id.in_(select(who.c.user_id))))
        # New events on the last day only (today's, as a rule): their rows keep the other
        # days and take that day's row again (one day's rows, not nine).
        _refresh_high_day(conn, high, select(n.user_id).where(n.day == high, fresh)
                          .except_(select(who.c.user_id)).subquery("today_only"))
    else:
        conn.execute(delete(summary_user_recent))
    whole = and_(ud.day >= first, ud.day <= last)

    def on(day: ColumnElement | bool, value: ColumnElement) -> ColumnElement:
        return case((day, value), else_=None)

    rows = (
        select(ud.user_id,
               func.coalesce(func.sum(on(whole, ud.events)), 0),
               func.count(on(whole, ud.day)), func.max(on(whole, ud.last_at)),
               func.max(on(ud.day == low, ud.events)), func.max(on(ud.day == low, ud.first_at)),
               func.max(on(ud.day == low, ud.last_at)),
               func.max(on(ud.day == high, ud.events)), func.max(on(ud.day == high, ud.last_at)))
        .where(ud.day >= low, ud.day <= high).group_by(ud.user_id)
    )
    if who is not None:
        rows = rows.where(ud.user_id.in_(select(who.c.user_id)))
    conn.execute(insert(summary_user_recent).from_select(
        ["user_id", "events", "active_days", "last_at", "low_events", "low_first_at",
         "low_last_at", "high_events", "high_last_at"], rows))


def _refresh_high_day(conn: Connection, high: date, people: Subquery) -> None:
    """summary_user_recent's `high_*` of `people` from their summary_user_days row of `high`;
    a row (with no other day) for those who had none."""
    r, ud = summary_user_recent.c, summary_user_days.c
    theirs = and_(ud.day == high, ud.user_id.in_(select(people.c.user_id)))
    conn.execute(update(summary_user_recent)
                 .values(high_events=ud.events, high_last_at=ud.last_at)
                 .where(ud.user_id == r.user_id, theirs))
    conn.execute(insert(summary_user_recent).from_select(
        ["user_id", "events", "active_days", "high_events", "high_last_at"],
        select(ud.user_id, literal(0), literal(0), ud.events, ud.last_at)
        .where(theirs, ~exists().where(r.user_id == ud.user_id))))


def write_streams(conn: Connection) -> None:
    """Rewrite summary_streams and summary_stream_students from `bookings` (one grouped pass
    each: statuses change in place, with nothing to tell which did, and the table grows
    with people, not events), the students' names and totals with them (summary_users
    first: a refresh calls this once those are written)."""
    b = bookings.c
    students = (select(b.course_stream, func.count(distinct(b.user_id)).label("students"))
                .group_by(b.course_stream).subquery("students"))
    conn.execute(delete(summary_streams))
    conn.execute(insert(summary_streams).from_select(
        ["course_stream", "confirmed", "bookings", "students"],
        select(b.course_stream, b.confirmed, func.count(), func.max(students.c.students))
        .join(students, b.course_stream.is_not_distinct_from(students.c.course_stream))
        .group_by(b.course_stream, b.confirmed)))
    conn.execute(delete(summary_stream_students))
    conn.execute(insert(summary_stream_students).from_select(
        ["course_stream", "user_id", "confirmed", "username", "first_name", "events",
         "last_event_at"], students_of_streams()))


def streams_after_change(conn: Connection) -> bool:
    """In the transaction of a change to `bookings` (an admin's stream change): rewrite the
    stream summaries when a refresh has filled the summaries, holding the refresh's lock so
    no refresh writes them meanwhile. A refresh in progress is waited for up to
    STREAMS_WAIT_SECONDS (an incremental one takes under a second; a rebuild, minutes): past that
    the change is saved without them, and the refresh after that one brings them up to it.
    Return whether they were rewritten."""
    if not has_tables(conn.engine) or read_state(conn) is None:
        return False
    if is_postgres(conn):
        deadline = time.monotonic() + STREAMS_WAIT_SECONDS
        try_lock = f"SELECT pg_try_advisory_xact_lock({LOCK_KEY})"
        while not conn.exec_driver_sql(try_lock).scalar():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
    write_streams(conn)
    return True


def _seen_elsewhere() -> Subquery:
    """Per user in users / bookings / registrations: the earliest time there (`ts`), and
    whether they registered for a free lesson (`registered`, 1/0)."""
    regs = free_lesson_registrations.c
    per_table = union_all(
        select(users.c.user_id, utc(users.c.first_seen_at).label("ts"),
               literal(0).label("registered")),
        select(bookings.c.user_id, func.min(utc(bookings.c.created_at)), literal(0))
        .group_by(bookings.c.user_id),
        select(regs.user_id, func.min(utc(regs.registered_at)), literal(1))
        .group_by(regs.user_id),
    ).subquery("per_table")
    p = per_table.c
    return (select(p.user_id, func.min(p.ts).label("ts"),
                   func.max(p.registered).label("registered"))
            .group_by(p.user_id).subquery("elsewhere"))


def _refresh_elsewhere(conn: Connection, rebuild: bool) -> None:
    """Bring `known_elsewhere` / `seen_elsewhere_at` / `registered` up to users, bookings,
    registrations.

    A rebuild writes every user; otherwise one pass finds the users whose values differ
    (new people, deleted ones, an earlier booking, a first registration) and only those
    are written.
    """
    seen, s = _seen_elsewhere(), summary_users.c
    registered = seen.c.registered == 1
    if rebuild:
        conn.execute(insert(summary_users).from_select(
            ["user_id", "known_elsewhere", "seen_elsewhere_at", "registered"],
            select(seen.c.user_id, true(), seen.c.ts, registered)))
        return
    x = seen.c
    differs = (
        select(func.coalesce(x.user_id, s.user_id), x.user_id.is_not(None), x.ts,
               x.registered, s.user_id.is_not(None))
        .select_from(seen.outerjoin(summary_users, s.user_id == x.user_id, full=True))
        .where(or_(
            and_(x.user_id.is_(None), or_(s.known_elsewhere == true(),
                                          s.registered == true())),
            and_(x.user_id.is_not(None), or_(
                s.user_id.is_(None), s.known_elsewhere == false(),
                s.seen_elsewhere_at.is_distinct_from(x.ts),
                s.registered != registered)),
        ))
    )
    new, changed = [], []
    for user_id, known, ts, is_registered, summarised in conn.execute(differs):
        row = {"uid": user_id, "known": bool(known), "ts": ts if known else None,
               "registered": bool(known and is_registered)}
        (changed if summarised else new).append(row)
    if new:
        conn.execute(insert(summary_users), [
            {"user_id": r["uid"], "known_elsewhere": True, "seen_elsewhere_at": r["ts"],
             "registered": r["registered"]} for r in new])
    if changed:
        conn.execute(
            update(summary_users)
            .where(s.user_id == bindparam("uid"))
            .values(known_elsewhere=bindparam("known"), seen_elsewhere_at=bindparam("ts"),
                    registered=bindparam("registered")),
            changed)


def _gone_users(conn: Connection) -> list[int]:
    """Summarised users in none of the four tables any more (deleted by the bot)."""
    s = summary_users.c
    # A scalar subquery with LIMIT 1 stays one probe of the events index per candidate
    # (people known from events only), never an anti-join hashing every event.
    an_event = select(events.c.id).where(events.c.user_id == s.user_id).limit(1)
    stmt = select(s.user_id).where(s.known_elsewhere == false(),
                                   an_event.scalar_subquery().is_(None))
    return [int(uid) for uid in conn.execute(stmt).scalars()]


def _load_new(conn: Connection, tz: str, after_id: int) -> None:
    """Copy the events with an id above `after_id` into `_new`, with their local day."""
    _new.drop(conn, checkfirst=True)
    _new.create(conn)
    e = events.c
    conn.execute(insert(_new).from_select(
        ["id", "user_id", "event_type", "ts", "day", "lesson_type"],
        select(e.id, e.user_id, e.event_type, utc(e.created_at), day_of(e.created_at, tz),
               json_field(e.details, "lesson_type")).where(e.id > after_id),
    ))
    if is_postgres(conn):
        conn.exec_driver_sql(f"ANALYZE {_new.name}")


def _mismatched_days(conn: Connection, previous: SummaryState, tz: str,
                     lookback: timedelta) -> set[date]:
    """Days of the trailing window whose raw rows are not what the summary plus `_new` say.

    Each local day from `lookback` before the newest event the last refresh saw is checked
    by its count and id sum, over the raw rows (index-only on PostgreSQL). A day differs
    when a row came in late with a lower id, or rows were deleted. Rows in the window
    beyond every known day (a late row on a day nothing else is on) make their days differ.
    """
    if previous.events_high_at is None:
        return set()
    zone = ZoneInfo(tz)
    first = (previous.events_high_at - lookback).astimezone(zone).date()
    sd, n = summary_days.c, _new.c
    expected: dict[date, list[int]] = {}
    for day, count, id_sum in conn.execute(
            select(sd.day, sd.events, sd.id_sum).where(sd.day >= first)):
        expected[_as_date(day)] = [int(count), None if id_sum is None else int(id_sum)]
    for day, count, id_sum in conn.execute(
            select(n.day, func.count(), func.sum(n.id)).where(n.day >= first).group_by(n.day)):
        known = expected.setdefault(_as_date(day), [0, 0])
        known[0] += int(count)
        known[1] = None if known[1] is None else known[1] + int(id_sum)
    last = max(expected, default=first)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    ranges = [_utc_ranges([d], tz)[0] for d in days]
    ts = utc(events.c.created_at)
    per_day = union_all(*(
        select(literal(i).label("i"), func.count().label("n"),
               func.coalesce(func.sum(events.c.id), 0).label("ids"))
        .where(ts >= start, ts < end)
        for i, (start, end) in enumerate(ranges)
    ))
    changed = set()
    for i, count, id_sum in conn.execute(per_day):
        if expected.get(days[i], [0, 0]) != [int(count), int(id_sum)]:
            changed.add(days[i])
    beyond = ts >= ranges[-1][1]
    if conn.execute(select(exists().where(beyond))).scalar():
        changed |= {_as_date(d) for d in conn.execute(
            select(day_of(events.c.created_at, tz)).where(beyond).distinct()).scalars()}
    return changed


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _touch(conn: Connection, user_ids: Select) -> None:
    """Add `user_ids` to the users whose event totals are recomputed."""
    conn.execute(upsert(conn, _touched).from_select(["user_id"], user_ids)
                 .on_conflict_do_nothing())


def _add_new(conn: Connection, recounted: set[date]) -> int:
    """Add the rows of `_new` outside the `recounted` days to every per-day summary.

    Return how many rows that was.
    """
    n = _new.c
    fresh = n.day.not_in(sorted(recounted)) if recounted else true()
    least, greatest = (func.least, func.greatest) if is_postgres(conn) else (func.min, func.max)

    def add_up(table: Table, keys: list[str], rows: Select, add: list[str],
               lowest: tuple[str, ...] = (), highest: tuple[str, ...] = ()) -> None:
        stmt = upsert(conn, table).from_select([c.name for c in rows.selected_columns], rows)
        new, old = stmt.excluded, table.c
        changes = {c: old[c] + new[c] for c in add}
        # coalesce: SQLite's min/max of a NULL is NULL (a user with no events until now)
        changes |= {c: least(func.coalesce(old[c], new[c]), new[c]) for c in lowest}
        changes |= {c: greatest(func.coalesce(old[c], new[c]), new[c]) for c in highest}
        conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=changes))

    sd, ud = summary_days.c, summary_user_days.c
    pairs = select(n.user_id, n.day).where(fresh).distinct().subquery("pairs")
    first_of_day = (  # (user, day) pairs new to the summaries: each one more active user
        select(pairs.c.day, func.count().label("more"))
        .where(~exists().where(ud.user_id == pairs.c.user_id, ud.day == pairs.c.day))
        .group_by(pairs.c.day)
    )
    more = {_as_date(day): int(count) for day, count in conn.execute(first_of_day)}
    add_up(summary_user_days, ["user_id", "day"], select(
        n.user_id, n.day, func.count().label("events"), func.min(n.ts).label("first_at"),
        func.max(n.ts).label("last_at")).where(fresh).group_by(n.user_id, n.day),
        ["events"], ("first_at",), ("last_at",))
    add_up(summary_day_types, ["day", "event_type"], select(
        n.day, n.event_type, func.count().label("events")).where(fresh)
        .group_by(n.day, n.event_type), ["events"])
    add_up(summary_days, ["day"], select(
        n.day, func.count().label("events"), literal(0).label("active_users"),
        func.sum(n.id).label("id_sum")).where(fresh).group_by(n.day), ["events", "id_sum"])
    for day, count in more.items():
        conn.execute(update(summary_days).values(active_users=sd.active_users + count)
                     .where(sd.day == day))
    add_up(summary_users, ["user_id"], select(
        n.user_id, false().label("known_elsewhere"), func.count().label("events"),
        func.min(n.ts).label("first_event_at"), func.max(n.ts).label("last_event_at"))
        .where(fresh).group_by(n.user_id), ["events"], ("first_event_at",), ("last_event_at",))
    _insert_clicks(conn, select(n.user_id, n.lesson_type).distinct()
                   .where(n.event_type == CLICK_EVENT, n.lesson_type.is_not(None)))
    return conn.execute(select(func.count()).select_from(_new).where(fresh)).scalar()


def _insert_clicks(conn: Connection, pairs: Select) -> None:
    conn.execute(upsert(conn, summary_lesson_clicks)
                 .from_select(["user_id", "lesson_type"], pairs).on_conflict_do_nothing())


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


def _recompute_days(conn: Connection, tz: str, days: set[date] | None) -> None:
    """Rebuild the per-day, per-day-and-type and per-user-day rows of `days` (every day
    when None), and clicks."""
    ranges = None if days is None else _utc_ranges(days, tz)
    if days is not None:
        listed = sorted(days)
        for table in (summary_days, summary_day_types, summary_user_days):
            conn.execute(delete(table).where(table.c.day.in_(listed)))
    e, where = events.c, _events_in(ranges)
    day = day_of(e.created_at, tz).label("day")
    conn.execute(insert(summary_days).from_select(
        ["day", "events", "active_users", "id_sum"],
        select(day, func.count(), func.count(distinct(e.user_id)), func.sum(e.id))
        .where(where).group_by(day),
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
    _insert_clicks(conn, select(e.user_id, lesson).distinct()
                   .where(e.event_type == CLICK_EVENT, lesson.is_not(None), where))


def _recompute_user_events(conn: Connection, touched: Table | None) -> None:
    """Per user in `touched` (everyone when None): all-time event count, first, last event.

    Summed from their per-day rows, which are exact by now; a touched user without any
    left (their events were deleted) gets no events.
    """
    ud, s = summary_user_days.c, summary_users.c
    if touched is None:
        source, key = summary_user_days, ud.user_id
    else:  # every touched user, with or without days left
        key = touched.c.user_id
        source = touched.outerjoin(summary_user_days, ud.user_id == key)
    totals = (
        select(key.label("user_id"), func.coalesce(func.sum(ud.events), 0).label("events"),
               func.min(ud.first_at).label("first_at"), func.max(ud.last_at).label("last_at"))
        .select_from(source).group_by(key)
    )
    missing = ~exists().where(s.user_id == key)
    conn.execute(insert(summary_users).from_select(
        ["user_id", "known_elsewhere"],
        select(key, false()).select_from(source).where(missing, ud.user_id.is_not(None))
        .distinct(),
    ))
    t = totals.subquery("totals").c
    conn.execute(
        update(summary_users)
        .values(events=t.events, first_event_at=t.first_at, last_event_at=t.last_at)
        .where(s.user_id == t.user_id)
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
        "rebuilt_at": state.rebuilt_at, "recent_from": state.recent_from,
        "recent_to": state.recent_to,
    }
    updated = conn.execute(
        update(summary_state).values(**values).where(summary_state.c.id == 1)
    ).rowcount
    if not updated:
        conn.execute(insert(summary_state).values(id=1, **values))
