"""Password sign-in throttling by user name, kept in the database, and its audit trail.

The rule (docs/DECISIONS.md): the first FREE_FAILURES wrong passwords for a user name cost
nothing; after that a try must wait FIRST_WAIT_SECONDS after the last wrong one, twice as
long after each further wrong one, at most MAX_WAIT_SECONDS. While a name waits its password
is not checked. A right password clears the count. Known and unknown names are treated
alike, so the answers never tell which names exist.

Counts live in `sign_in_attempts`, so they hold across browser tabs, browsers, app
processes and restarts. Every try is written to `audit_log` (actor: the name typed, never
the password): `sign_in`, `sign_in_failed` or `sign_in_throttled`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import delete, exc, update
from sqlalchemy.engine import Connection, Engine

from hsl.db import upsert, writing
from hsl.errors import ConflictError, HslError
from hsl.schema import audit_log, sign_in_attempts

FREE_FAILURES = 5
FIRST_WAIT_SECONDS = 30
MAX_WAIT_SECONDS = 15 * 60
MAX_NAME_CHARS = 200  # longer names are cut: a huge name cannot bloat the tables

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGN_IN_THROTTLED = "sign_in_throttled"
ENTITY = "user_name"
COUNT_KEY = "wrong_passwords"  # the audit row's before/after: {"wrong_passwords": n}
REASONS = {
    SIGN_IN: "Signed in with the right password.",
    SIGN_IN_FAILED: "Wrong user name or password.",
    SIGN_IN_THROTTLED: "Too many wrong attempts; the password was not checked.",
}
TABLES_MISSING = (
    "The database lacks the app's sign-in tables; run `python -m hsl init-db` against it."
)

T = TypeVar("T")
a = sign_in_attempts.c


class TooManyAttempts(HslError):
    """The user name had too many wrong passwords: its next try has to wait."""

    def __init__(self, seconds: int) -> None:
        super().__init__(
            f"Too many wrong attempts for this user name; try again in {seconds} seconds."
        )
        self.seconds = seconds


def user_key(name: str) -> str:
    """The user name as counted and audited: trimmed, at most MAX_NAME_CHARS characters.

    A NUL character (PostgreSQL text cannot hold it) is counted as U+FFFD instead.
    """
    return (name or "").strip()[:MAX_NAME_CHARS].replace("\x00", "\ufffd")


def wait_after(failures: int) -> int:
    """Seconds a try must wait after the last of `failures` wrong passwords (0: none)."""
    if failures < FREE_FAILURES:
        return 0
    doublings = min(failures - FREE_FAILURES, 10)  # 30 s · 2^10 is far past the cap
    return min(FIRST_WAIT_SECONDS * 2**doublings, MAX_WAIT_SECONDS)


def attempt(engine: Engine, name: str, check: Callable[[], T | None], now: datetime) -> T | None:
    """Run `check` (the password test) for user name `name` unless it must wait.

    Returns what `check` returns: None is a wrong password. The try is counted as wrong
    before `check` runs, so tries at the same moment from several browsers are all
    counted and none slips past the limit; a right password then clears the count.
    Raises TooManyAttempts (password not checked), DatabaseUnavailable, or ConflictError
    when the database lacks the tables. An error raised by `check` leaves the try counted.
    """
    key, now = user_key(name), _as_utc(now)
    with _transaction(engine) as conn:
        failures, last_failure = _locked_count(conn, key)
        wait = _seconds_left(failures, last_failure, now)
        if wait:
            _audit(conn, key, SIGN_IN_THROTTLED, failures, failures, now)
        else:
            conn.execute(update(sign_in_attempts).where(a.user_name == key)
                         .values(failures=a.failures + 1, last_failure_at=now))
    if wait:
        raise TooManyAttempts(wait)
    result = check()
    with _transaction(engine) as conn:
        if result is None:
            _audit(conn, key, SIGN_IN_FAILED, failures, failures + 1, now)
        else:
            conn.execute(delete(sign_in_attempts).where(a.user_name == key))
            _audit(conn, key, SIGN_IN, failures, 0, now)
    return result


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _seconds_left(failures: int, last_failure: datetime | None, now: datetime) -> int:
    """Whole seconds (rounded up) until the next try may be checked; 0: now."""
    wait = wait_after(failures)
    if not wait or last_failure is None:
        return 0
    left = wait - (now - last_failure).total_seconds()
    return min(wait, math.ceil(left)) if left > 0 else 0


def _locked_count(conn: Connection, key: str) -> tuple[int, datetime | None]:
    """The name's (wrong passwords, last one), its row created if missing and locked.

    An UPSERT that changes nothing still locks the row until the transaction ends, also
    when two transactions create it at once, so concurrent tries for a name take turns.
    (SQLite's BEGIN IMMEDIATE already lets one writer in at a time.)
    """
    stmt = (
        upsert(conn, sign_in_attempts).values(user_name=key, failures=0)
        .on_conflict_do_update(index_elements=[a.user_name], set_={"failures": a.failures})
        .returning(a.failures, a.last_failure_at)
    )
    row = conn.execute(stmt).one()
    return int(row.failures), row.last_failure_at


def _audit(conn: Connection, key: str, action: str, before: int, after: int,
           now: datetime) -> None:
    conn.execute(audit_log.insert().values(
        occurred_at=now, actor=key, action=action, entity=ENTITY, entity_id=key,
        before={COUNT_KEY: before}, after={COUNT_KEY: after}, reason=REASONS[action],
    ))


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    """hsl.db.writing, with a missing table (a database before init-db) as one sentence."""
    try:
        with writing(engine) as conn:
            yield conn
    except (exc.OperationalError, exc.ProgrammingError) as err:
        missing = getattr(err.orig, "pgcode", None) == "42P01" or "no such table" in str(err.orig)
        if missing:
            raise ConflictError(TABLES_MISSING) from err
        raise
