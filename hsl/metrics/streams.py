"""Course streams (SPEC §3, §7): bookings by status per stream, and one stream's roster.

Streams are whatever strings the bot wrote, read from `bookings` and sorted naturally
(`2nd_stream` before `10th_stream`); everything here is all time.
"""

from __future__ import annotations

import re

import pandas as pd
from sqlalchemy import bindparam, case, distinct, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.selectable import Subquery

from hsl.db import reading, utc
from hsl.errors import NotFoundError
from hsl.filters import Period
from hsl.metrics.common import (
    contact_details,
    fetch,
    latest_names,
    local_times,
    plain_rows,
)
from hsl.schema import (
    BOOKING_STATUS,
    bookings,
    events,
    status_word,
    summary_stream_students,
    summary_streams,
    summary_users,
    users,
)
from hsl.summaries import current, filled, in_use

# The summary's status columns, in display order, with their `confirmed` codes.
STATUS_COLUMNS = {"new": 0, "pending": 1, "confirmed": 2, "cancelled": -1}
SUMMARY_COLUMNS = [
    "course_stream", "bookings", *STATUS_COLUMNS, "students", "paid_rate", "cancel_rate",
]
STATUS_COUNT_COLUMNS = ["course_stream", "confirmed", "status", "bookings"]
ROSTER_COLUMNS = ["user_id", "username", "first_name", "status", "events", "last_activity"]

b = bookings.c


def natural_key(name: str | None) -> tuple:
    """Sort key: digit runs compare as numbers, text case-insensitively; missing sorts last."""
    if not isinstance(name, str):
        return (1, ())
    parts = re.split(r"(\d+)", name)
    return (0, tuple(
        (0, int(part), part) if i % 2 else (1, part.casefold(), part)
        for i, part in enumerate(parts) if part
    ))


def list_streams(engine: Engine) -> list[str]:
    """Every stream named by a booking, naturally sorted (bookings without a stream skipped)."""
    stmt = select(b.course_stream).where(b.course_stream.is_not(None)).distinct()
    return sorted(fetch(engine, stmt)["course_stream"], key=natural_key)


_s = summary_streams.c
# (from summary_streams, from bookings), built once: building them took longer than the query.
_SUMMARY_STATEMENTS = (
    select(
        _s.course_stream,
        func.sum(_s.bookings),
        *(func.coalesce(func.sum(case((_s.confirmed == code, _s.bookings))), 0)
          for code in STATUS_COLUMNS.values()),
        func.max(_s.students),
    ).where(filled()).group_by(_s.course_stream),
    select(
        b.course_stream,
        func.count(),
        *(func.count(case((b.confirmed == code, 1))) for code in STATUS_COLUMNS.values()),
        func.count(distinct(b.user_id)),
    ).group_by(b.course_stream),
)
_STATUS_STATEMENTS = (
    select(_s.course_stream, _s.confirmed, _s.bookings).where(filled()),
    select(b.course_stream, b.confirmed, func.count()).group_by(b.course_stream, b.confirmed),
)


def _summarised_or_raw(engine: Engine, summarised: Select, raw: Select) -> list[tuple]:
    """The rows of `summarised` (over summary_streams, `filled()` checked inside it: a dozen
    rows cost less than reading the state first), else, or when it has none, of `raw`."""
    with reading(engine) as conn:
        if in_use(engine) and (rows := plain_rows(conn.execute(summarised))):
            return rows
        return plain_rows(conn.execute(raw))


def stream_summary(engine: Engine, period: Period | None = None) -> pd.DataFrame:
    """Per stream, all time: bookings by status, distinct students, paid and cancel rates (0..1).

    `period` is accepted for the report registry and ignored. Statuses other than the four
    known ones count only in `bookings` (see `status_counts`). Bookings without a stream
    form one row with an empty `course_stream`, last. From summary_streams when the
    summaries are current (as of the last refresh or stream change). A dozen rows: built
    in Python, where pandas' per-column steps would cost more than the query.
    """
    rows = _summarised_or_raw(engine, *_SUMMARY_STATEMENTS)
    rows.sort(key=lambda row: natural_key(row[0]))
    cells = []
    for stream, *counts in rows:  # PostgreSQL's sums are Decimals: ints first
        total, new, pending, confirmed, cancelled, students = map(int, counts)
        cells.append((stream, total, new, pending, confirmed, cancelled, students,
                      confirmed / total if total else 0.0, cancelled / total if total else 0.0))
    frame = pd.DataFrame(cells, columns=SUMMARY_COLUMNS)  # ints and floats: int64, float64
    return frame if cells else frame.astype(_SUMMARY_TYPES)


_SUMMARY_TYPES = {"bookings": "int64", **dict.fromkeys(STATUS_COLUMNS, "int64"),
                  "students": "int64", "paid_rate": "float64", "cancel_rate": "float64"}


def status_counts(engine: Engine, period: Period | None = None) -> pd.DataFrame:
    """Bookings per (stream, status code), all time, with the status word ("unknown (N)").

    Rows follow the streams' natural order, then new, pending, confirmed, cancelled and
    unknown codes ascending; for the stacked status chart and the "unknown (N)" cells.
    """
    rows = _summarised_or_raw(engine, *_STATUS_STATEMENTS)
    known = list(STATUS_COLUMNS.values())
    rows.sort(key=lambda row: (natural_key(row[0]), (known.index(row[1]), 0)
                               if row[1] in BOOKING_STATUS else (len(known), row[1])))
    frame = pd.DataFrame(
        [(stream, int(code), status_word(int(code)), int(n)) for stream, code, n in rows],
        columns=STATUS_COUNT_COLUMNS)
    return frame if rows else frame.astype({"confirmed": "int64", "bookings": "int64"})


def _event_totals(people: Subquery) -> list[ColumnElement]:
    """The columns `events` (all time) and `last_activity` of `people` (a subquery with
    user_id), counted over events."""
    mine = events.c.user_id == people.c.user_id
    return [
        select(func.count()).where(mine).scalar_subquery().label("events"),
        select(func.max(utc(events.c.created_at))).where(mine).scalar_subquery()
        .label("last_activity"),
    ]


def students_of_streams() -> Select:
    """What summary_stream_students holds, from the bot's tables and summary_users: per
    named stream and student, the status of their newest booking there, their names,
    events and last event (summary_users' as of the last refresh; 0 and none without)."""
    newest = _newest_in_stream(None, b.course_stream, b.confirmed)
    uid, s = newest.c.user_id, summary_users.c
    return (
        select(newest.c.course_stream, uid, newest.c.confirmed,
               *latest_names(uid, users_joined=True), func.coalesce(s.events, 0),
               s.last_event_at)
        .select_from(newest.outerjoin(summary_users, s.user_id == uid)
                     .outerjoin(users, users.c.user_id == uid))
    )


_t = summary_stream_students.c
_SUMMARISED_ROSTER = (
    select(_t.user_id, _t.username, _t.first_name, _t.confirmed, _t.events, _t.last_event_at)
    .where(_t.course_stream == bindparam("stream")).order_by(_t.user_id)
)


def _newest_in_stream(stream: str | None, *columns: ColumnElement) -> Subquery:
    """Each of the stream's students' newest booking there (created_at DESC, id DESC);
    with `stream` None, of every named stream's."""
    newest_first = (utc(b.created_at).desc(), b.id.desc())
    ranked = (
        select(
            b.user_id,
            *columns,
            func.row_number().over(partition_by=(b.course_stream, b.user_id),
                                   order_by=newest_first).label("n"),
        )
        .where(b.course_stream.is_not(None) if stream is None else b.course_stream == stream)
        .subquery("ranked")
    )
    return select(*ranked.c).where(ranked.c.n == 1).subquery("newest_booking")


ROSTER_DETAIL_COLUMNS = ["user_id", "last_name", "email", "booked_at"]


def roster_details(engine: Engine, period: Period, stream: str) -> pd.DataFrame:
    """Per student of the stream (by user_id): what an analyst joins a roster on.

    `last_name` (the users row), `email` (newest registration; empty without one) and
    `booked_at`, when their newest booking in the stream was made (the one `status` of
    the roster is the word for), in the period's timezone.
    """
    newest = _newest_in_stream(stream, utc(b.created_at).label("booked_at"))
    uid = newest.c.user_id
    stmt = select(
        uid,
        *contact_details(uid),
        newest.c.booked_at,
    ).order_by(uid)
    frame = fetch(engine, stmt)
    frame["booked_at"] = local_times(frame["booked_at"], period.tz)
    return frame[ROSTER_DETAIL_COLUMNS]


def stream_roster(engine: Engine, period: Period, stream: str) -> pd.DataFrame:
    """The stream's students by user_id: newest booking status there, all-time events and
    last activity (in the period's timezone; empty when the student has no events).

    From summary_stream_students when the summaries are current for the period's timezone
    (as of the last refresh or stream change: statuses and names too); a stream it does
    not hold yet is read from the bot's tables. Raises NotFoundError when no booking
    names the stream.
    """
    with reading(engine) as conn:
        rows = []
        if current(conn, period.tz) is not None:
            rows = plain_rows(conn.execute(_SUMMARISED_ROSTER, {"stream": stream}))
        if not rows:
            newest = _newest_in_stream(stream, b.confirmed)
            rows = plain_rows(conn.execute(
                select(newest.c.user_id, *latest_names(newest.c.user_id, users_joined=True),
                       newest.c.confirmed, *_event_totals(newest))
                .select_from(newest.outerjoin(users, users.c.user_id == newest.c.user_id))
                .order_by(newest.c.user_id)))
    if not rows:
        raise NotFoundError(f"No booking is in the stream {stream!r}; pick a known stream.")
    frame = pd.DataFrame(rows, columns=[*ROSTER_COLUMNS[:3], "confirmed", "events",
                                        "last_activity"])
    frame["status"] = [status_word(int(code)) for code in frame["confirmed"]]
    frame["events"] = frame["events"].astype("int64")
    frame["last_activity"] = local_times(frame["last_activity"], period.tz)
    return frame[ROSTER_COLUMNS]
