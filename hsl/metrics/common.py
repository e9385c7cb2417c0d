"""Building blocks every metric shares: range predicates, first-seen, rates, date spines.

Reports that need all of history read the summary tables (SPEC §9) when
`hsl.summaries.current()` returns their state, and the bot's tables otherwise (and inside
`hsl.summaries.raw_path()`).
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
from pyarrow import csv as pacsv
from sqlalchemy import Boolean, Date, Integer, String, and_, exc, func, select, union_all
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.selectable import Subquery
from sqlalchemy.types import TypeEngine

from hsl.db import is_postgres, reading, utc
from hsl.filters import Period
from hsl.schema import (
    UTCDateTime,
    bookings,
    events,
    free_lesson_registrations,
    summary_users,
    users,
)
from hsl.summaries import SummaryState

CLICK_EVENT = "lesson_link_clicked"
# (user_id, timestamp) of every table that makes a user known; first seen is their minimum.
SEEN_AT = (
    (users.c.user_id, users.c.first_seen_at),
    (bookings.c.user_id, bookings.c.created_at),
    (events.c.user_id, events.c.created_at),
    (free_lesson_registrations.c.user_id, free_lesson_registrations.c.registered_at),
)


def fetch(bind: Engine | Connection, stmt: Select, bulk: bool = False) -> pd.DataFrame:
    """Run `stmt` (read-only when given an engine) and return its rows as a DataFrame.

    `bulk` (a result of tens of thousands of rows): on PostgreSQL the rows come through
    COPY ... TO STDOUT as CSV, parsed by pyarrow into columns, when every column is of a
    type `_ARROW_TYPES` knows and no parameter expands. It is the same frame as without it
    (tests/test_fetch.py), ~100 ms sooner for 45,000 leads: psycopg2 builds a Python
    object per value, and pandas walks them again.
    """
    if isinstance(bind, Engine):
        with reading(bind) as conn:
            return fetch(conn, stmt, bulk)
    if bulk and is_postgres(bind):
        copied = _copied(bind, stmt)
        if copied is not None:
            return copied
    result = bind.execute(stmt)
    return pd.DataFrame(plain_rows(result), columns=list(result.keys()))


# SQLAlchemy column type → the pyarrow type its CSV text parses into (first match wins).
_ARROW_TYPES = (
    (UTCDateTime, pa.timestamp("us", tz="UTC")),
    (Boolean, pa.bool_()),
    (Integer, pa.int64()),  # BigInteger and SmallInteger too
    (String, pa.string()),  # Text too
    (Date, pa.date32()),
)


def _arrow_type(kind: TypeEngine) -> pa.DataType | None:
    for sql_type, arrow in _ARROW_TYPES:
        if isinstance(kind, sql_type):
            return arrow
    return None


def _copied(conn: Connection, stmt: Select) -> pd.DataFrame | None:
    """`stmt`'s rows read with COPY into a frame, or None when a column or parameter is of
    a kind this does not handle (the caller then fetches them row by row)."""
    names = [c.key for c in stmt.selected_columns]
    types = [_arrow_type(c.type) for c in stmt.selected_columns]
    compiled = stmt.compile(dialect=conn.dialect)
    if None in types or len(set(names)) < len(names) or any(
            b.expanding or b.literal_execute for b in compiled.binds.values()):
        return None
    # The parameters as execute() would pass them (each type's bind processing), quoted
    # into the statement by psycopg2 as it does for every statement it runs.
    params = {}
    for key, value in compiled.construct_params().items():
        process = compiled.binds[key].type.bind_processor(conn.dialect)
        params[key] = process(value) if process else value
    dbapi = conn.connection.dbapi_connection
    cursor, driver = dbapi.cursor(), conn.dialect.loaded_dbapi
    out = io.BytesIO()
    try:
        query = cursor.mogrify(str(compiled), params).decode(dbapi.encoding)
        cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", out)
    except driver.Error as err:  # as SQLAlchemy raises them, so reading() names them
        gone = conn.dialect.is_disconnect(err, dbapi, cursor)
        if gone:
            conn.invalidate(err)
        raise exc.DBAPIError.instance(str(compiled), params, err, driver.Error,
                                      connection_invalidated=gone) from err
    finally:
        cursor.close()
    if not out.tell():  # no rows: what the row-by-row fetch makes of none
        return pd.DataFrame([], columns=names)
    out.seek(0)
    table = pacsv.read_csv(
        out,
        read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        # Only an unquoted empty field is NULL: PostgreSQL writes "" for an empty text.
        convert_options=pacsv.ConvertOptions(
            column_types=dict(zip(names, types, strict=True)), null_values=[""],
            strings_can_be_null=True, quoted_strings_can_be_null=False,
            true_values=["t"], false_values=["f"]),
    )
    return table.to_pandas()


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
