"""Building blocks every metric shares: range predicates, first-seen, rates, date spines.

Reports that need all of history read the summary tables (SPEC §9) when
`hsl.summaries.current()` returns their state, and the bot's tables otherwise (and inside
`hsl.summaries.raw_path()`).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from sqlalchemy import and_, func, select, union_all
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.selectable import Subquery

from hsl.db import reading, utc
from hsl.filters import Period
from hsl.schema import bookings, events, free_lesson_registrations, summary_users, users
from hsl.summaries import SummaryState

CLICK_EVENT = "lesson_link_clicked"
# (user_id, timestamp) of every table that makes a user known; first seen is their minimum.
SEEN_AT = (
    (users.c.user_id, users.c.first_seen_at),
    (bookings.c.user_id, bookings.c.created_at),
    (events.c.user_id, events.c.created_at),
    (free_lesson_registrations.c.user_id, free_lesson_registrations.c.registered_at),
)


def fetch(bind: Engine | Connection, stmt: Select) -> pd.DataFrame:
    """Run `stmt` (read-only when given an engine) and return its rows as a DataFrame."""
    if isinstance(bind, Engine):
        with reading(bind) as conn:
            return fetch(conn, stmt)
    result = bind.execute(stmt)
    return pd.DataFrame(plain_rows(result), columns=list(result.keys()))


def plain_rows(result: CursorResult) -> list[tuple]:
    """All of `result`'s rows as plain tuples.

    When no column has a result processor (PostgreSQL: psycopg2 already gives every value
    as the column's type says; see hsl.schema.UTCDateTime), straight from the driver's
    cursor: SQLAlchemy's Row per row and its tuple cost ~2 µs a row (45,000 leads: ~90 ms).
    Otherwise through the Rows (SQLite's instants are text until their processor runs).
    pandas is given tuples either way: it probes a Row for namedtuple fields, ~10 µs a row.
    """
    processors = getattr(result._metadata, "_processors", None)  # SQLAlchemy's, pinned
    if result.returns_rows and processors is not None and not any(processors):
        rows = result.cursor.fetchall()
        result.close()
        return rows
    return [tuple(row) for row in result.fetchall()]


def fetch_scalar(bind: Engine | Connection, stmt: Select) -> int:
    """Run a one-value `stmt` (read-only when given an engine) and return it as an int."""
    if isinstance(bind, Engine):
        with reading(bind) as conn:
            return fetch_scalar(conn, stmt)
    return int(bind.execute(stmt).scalar() or 0)


def in_period(ts: ColumnElement, period: Period) -> ColumnElement:
    """Predicate: the UTC timestamp `ts` falls on one of the period's local dates."""
    return and_(utc(ts) >= period.utc_start, utc(ts) < period.utc_end)


def first_seen(state: SummaryState | None = None) -> Subquery:
    """Subquery (user_id, first_seen): every known user and their earliest timestamp.

    From summary_users when `state` is given (as of that refresh; then with its
    `last_event_at` too), else from the four tables.
    """
    if state is not None:
        s = summary_users.c
        return select(s.user_id, s.first_seen_at.label("first_seen"),
                      s.last_event_at).subquery("first_seen")
    per_table = union_all(
        *(
            select(uid.label("user_id"), func.min(utc(ts)).label("ts")).group_by(uid)
            for uid, ts in SEEN_AT
        )
    ).subquery("seen_by_table")
    return (
        select(per_table.c.user_id, func.min(per_table.c.ts).label("first_seen"))
        .group_by(per_table.c.user_id)
        .subquery("first_seen")
    )


def rate(numerator: pd.Series | float, denominator: pd.Series | float) -> pd.Series | float:
    """Return numerator / denominator as a fraction; a zero denominator gives 0."""
    if isinstance(denominator, pd.Series):
        num = pd.Series(numerator, index=denominator.index, dtype="float64")
        den = denominator.astype("float64")
        return (num / den.where(den != 0)).fillna(0.0)
    return float(numerator) / float(denominator) if denominator else 0.0


def day_spine(start: date, end: date) -> pd.DataFrame:
    """Return a one-column frame `day` with every date from start to end inclusive."""
    days = (end - start).days + 1
    return pd.DataFrame({"day": [start + timedelta(days=i) for i in range(max(days, 0))]})


def on_spine(spine: pd.DataFrame, counts: pd.DataFrame, key: str = "day") -> pd.DataFrame:
    """Left-join `counts` onto the spine, turning missing counts into 0 (ints stay ints)."""
    if counts.empty:
        counts = pd.DataFrame(columns=[key, *[c for c in counts.columns if c != key]])
    counts = counts.copy()
    counts[key] = pd.to_datetime(counts[key]).dt.date if len(counts) else counts[key]
    merged = spine.merge(counts, on=key, how="left")
    value_cols = [c for c in merged.columns if c != key]
    merged[value_cols] = merged[value_cols].fillna(0).astype("int64")
    return merged


def from_newest_registration(column: str, user_id: ColumnElement) -> ColumnElement:
    """Correlated `column` of the user's newest registration (registered_at DESC, id DESC)."""
    regs = free_lesson_registrations.c
    return (
        select(regs[column])
        .where(regs.user_id == user_id)
        .order_by(utc(regs.registered_at).desc(), regs.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def contact_details(user_id: ColumnElement) -> list[ColumnElement]:
    """Correlated `last_name` (the users row) and `email` (the newest registration) of
    `user_id`: what an analyst joins a lead list or a roster on."""
    return [
        select(users.c.last_name).where(users.c.user_id == user_id).scalar_subquery()
        .label("last_name"),
        from_newest_registration("email", user_id).label("email"),
    ]


def latest_names(user_id: ColumnElement, users_joined: bool = False) -> list[ColumnElement]:
    """Correlated `username`, `first_name` of `user_id`: the users row, else newest registration.

    With `users_joined` the query has `users` LEFT JOINed on `user_id` and reads it from
    there (one join instead of two look-ups a row); registrations are read only when empty.
    """
    columns = []
    for name in ("username", "first_name"):
        from_users = users.c[name] if users_joined else (
            select(users.c[name]).where(users.c.user_id == user_id).scalar_subquery())
        from_regs = from_newest_registration(name, user_id)
        columns.append(func.coalesce(from_users, from_regs).label(name))
    return columns


def local_times(values: pd.Series, tz: str) -> pd.Series:
    """Aware timestamps (None → NaT) converted to the reporting timezone `tz`."""
    return pd.to_datetime(values, utc=True).dt.tz_convert(tz)
