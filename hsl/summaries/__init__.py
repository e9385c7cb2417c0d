"""Summary tables (SPEC §9): what the reports need from all of history, kept by `refresh`.

Reports ask `current(engine, tz)` whether to read the summaries. They do when the tables
exist, a refresh has filled them, and their days are in the timezone asked for; otherwise
(and inside `raw_path()`, which the tests and the bench use as the reference) they read
the bot's tables as before. Both paths give the same numbers for the data the last
refresh read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from weakref import WeakKeyDictionary

from sqlalchemy import exists, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement

from hsl.db import reading
from hsl.schema import summary_state

_RAW: ContextVar[bool] = ContextVar("hsl_summaries_raw_path", default=False)
_HAS_TABLES: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()


@dataclass(frozen=True)
class SummaryState:
    """What the last refresh read: its timezone, the highest event id, when it was current,
    and the local days summary_user_recent adds up (None: none yet)."""

    tz: str
    events_max_id: int
    events_high_at: datetime | None
    refreshed_at: datetime
    rebuilt_at: datetime
    recent_from: date | None = None
    recent_to: date | None = None


@contextmanager
def raw_path() -> Iterator[None]:
    """Within this block every report reads the bot's tables only (the reference path)."""
    token = _RAW.set(True)
    try:
        yield
    finally:
        _RAW.reset(token)


def in_use(engine: Engine) -> bool:
    """True when reports may read the summaries: outside raw_path(), with the tables there.
    Whether a refresh has filled them is for the statement to check (`filled`)."""
    return not _RAW.get() and has_tables(engine)


def filled() -> ColumnElement:
    """Predicate, true once a refresh has written the summaries' state (for a statement that
    reads summaries whatever their timezone, checked in the same snapshot)."""
    return exists().where(summary_state.c.id == 1)


def has_tables(engine: Engine) -> bool:
    """True when the database has the summary tables (migration 0004); remembered once seen."""
    if _HAS_TABLES.get(engine):
        return True
    found = inspect(engine).has_table(summary_state.name)
    if found:
        _HAS_TABLES[engine] = True
    return found


def read_state(bind: Engine | Connection) -> SummaryState | None:
    """The summaries' state row, or None before the first refresh (or without the tables)."""
    if isinstance(bind, Engine):
        if not has_tables(bind):
            return None
        with reading(bind) as conn:
            return read_state(conn)
    row = bind.execute(select(summary_state).where(summary_state.c.id == 1)).first()
    if row is None:
        return None
    m = row._mapping
    return SummaryState(m["tz"], int(m["events_max_id"]), m["events_high_at"],
                        m["refreshed_at"], m["rebuilt_at"], m["recent_from"], m["recent_to"])


def current(bind: Engine | Connection, tz: str | None = None) -> SummaryState | None:
    """The state when reports should read the summaries, else None.

    With `tz`, only when their days are local days of `tz`; without it (a report that
    reads no days, only summary_users' instants) whatever timezone they were built in.
    """
    if _RAW.get():
        return None
    if isinstance(bind, Engine):
        state = read_state(bind)
    else:  # read in the caller's transaction: the state of the snapshot its report reads
        state = read_state(bind) if has_tables(bind.engine) else None
    if state is None or (tz is not None and state.tz != tz):
        return None
    return state
