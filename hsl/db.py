"""Engines for the embedded SQLite demo and PostgreSQL, and the few per-dialect SQL helpers."""

from __future__ import annotations

import os
import re
import sqlite3
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, Table, Text, bindparam, create_engine, event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.types import TypeDecorator

from hsl.errors import DatabaseUnavailable, QueryTimeout, ValidationError

URL_EXAMPLE = "postgresql://user:password@host:5432/dbname"
_DRIVERS = {"postgresql": "postgresql+psycopg2", "postgres": "postgresql+psycopg2",
            "postgres+psycopg2": "postgresql+psycopg2"}
_SUPPORTED = ("postgresql+psycopg2", "sqlite", "sqlite+pysqlite")


def normalize_url(raw: str) -> URL:
    """Parse a database URL; plain `postgres(ql)://` URLs get the psycopg2 driver.

    Every refusal is one sentence that never repeats the URL (it may hold a password).
    """
    if not isinstance(raw, str):
        raise ValidationError(f"The database URL must be text, such as {URL_EXAMPLE}.")
    raw = raw.strip()
    if "\x00" in raw:
        raise ValidationError("The database URL holds a NUL character.")
    try:
        raw.encode("utf-8")
    except UnicodeError:
        raise ValidationError("The database URL is not valid UTF-8 text.") from None
    try:
        url = make_url(raw)
    except exc.ArgumentError:
        raise ValidationError(
            f"The database URL is not a valid URL; write it like {URL_EXAMPLE}."
        ) from None
    except ValueError:  # SQLAlchemy's int() of the port; the text may be a password
        raise ValidationError(
            "The port in the database URL is not a number from 1 to 65535."
        ) from None
    if url.port is not None and not 1 <= url.port <= 65535:
        raise ValidationError("The port in the database URL is not a number from 1 to 65535.")
    url = url.set(drivername=_DRIVERS.get(url.drivername, url.drivername))
    if url.get_backend_name() not in ("postgresql", "sqlite"):
        raise ValidationError(f"Unsupported database {url.get_backend_name()!r}; use PostgreSQL.")
    if url.drivername not in _SUPPORTED:
        raise ValidationError(
            f"Unsupported database driver {url.drivername!r}; use postgresql:// (psycopg2) "
            "or sqlite:///."
        )
    if url.get_backend_name() == "sqlite" and (url.username or url.password or url.host
                                               or url.port):
        raise ValidationError(
            "A SQLite URL names a file only, like sqlite:////absolute/path/to/file.db."
        )
    return url


def sqlite_file(url: URL) -> str | None:
    """The file a SQLite URL names (plain or `file:` URI form); None for an in-memory one."""
    database = url.database or ""
    is_uri = str(url.query.get("uri", "")).lower() in ("1", "true", "t", "yes", "y", "on")
    if is_uri and database.startswith("file:"):
        if url.query.get("mode") == "memory":
            return None
        rest = database[len("file:"):].split("?", 1)[0].split("#", 1)[0]
        if rest.startswith("//"):  # file://localhost/path or file:///path
            rest = urlsplit("file:" + rest).path
        database = unquote(rest)
    return database if database and database != ":memory:" else None


def safe_url(url: str | URL) -> str:
    """The URL for people: driver, user, host, port and database; never a secret.

    The password is shown as `***` and the query string (`?password=…`, `sslpassword`,
    any option) is left out; control characters are escaped so it stays on one line.
    """
    if not isinstance(url, URL):
        try:
            url = make_url(str(url).strip())
        except (exc.ArgumentError, ValueError, TypeError):
            return "(a database URL that cannot be read)"
    if url.get_backend_name() == "sqlite":
        text = f"{url.drivername}:///{sqlite_file(url) or ':memory:'}"
    else:
        text = URL.create(
            url.drivername,
            username=url.username,
            password="***" if url.password is not None else None,
            host=url.host,
            port=url.port,
            database=url.database,
        ).render_as_string(hide_password=True)
    return printable(text)


def printable(text: str) -> str:
    """`text` with control and other unprintable characters escaped (`\\n`, `\\x00`)."""
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def make_sqlite_folder(path: str) -> None:
    """Create the folder of SQLite file `path` (write commands and the demo only)."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatabaseUnavailable(
            f"Cannot create the SQLite database at {printable(path)}."
        ) from err


def make_engine(raw_url: str, statement_timeout_ms: int = 30_000, *,
                create: bool = False) -> Engine:
    """Return a pooled engine with pre-ping; PostgreSQL sessions get a statement timeout.

    SQLite: a URL in the `file:` URI form with `mode=rw` (what `load_settings` makes of a
    configured file) opens an existing file only: a missing one is DatabaseUnavailable and
    is never created. `create=True` (init-db, demo, the embedded demo file) makes the
    file's folder and lets SQLite create the file. A plain file URL (tests) is opened the
    way SQLite does: the file, not its folder, is created on first connect.
    """
    url = normalize_url(raw_url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        if path is not None and create:
            make_sqlite_folder(path)
            if url.query.get("mode") == "rw":
                url = url.update_query_dict({"mode": "rwc"})
        elif path is not None and url.query.get("mode") in ("rw", "ro"):
            if not os.path.isfile(path):
                raise DatabaseUnavailable(f"No SQLite database file at {printable(path)}.")
        engine = _create(url, pool_pre_ping=True)
        event.listen(engine, "connect", _register_sqlite_functions)
        return engine
    engine = _create(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={
            "connect_timeout": 5,
            # JIT compilation costs more than it saves on these short reporting queries.
            # TimeZone=UTC: psycopg2 then returns instants in datetime.UTC (UTCDateTime).
            "options": f"-c statement_timeout={int(statement_timeout_ms)} -c jit=off"
            " -c work_mem=64MB -c TimeZone=UTC",
            "application_name": "hsl-analytics",
        },
    )
    event.listen(engine, "first_connect", partial(_choose_pg_fold, engine.dialect))
    return engine


def _create(url: URL, **kwargs) -> Engine:
    """create_engine, with a driver's refusal of the URL's options as one sentence."""
    try:
        return create_engine(url, **kwargs)
    except (exc.ArgumentError, ValueError, TypeError, ImportError) as err:
        raise ValidationError(
            f"The database URL {safe_url(url)} has options the driver does not accept."
        ) from err


def is_postgres(bind: Engine | Connection) -> bool:
    """True when the engine or connection talks to PostgreSQL."""
    return bind.dialect.name == "postgresql"


def upsert(bind: Engine | Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """INSERT into `table` in the dialect of `bind`, with its ON CONFLICT clauses."""
    return (postgresql.insert if is_postgres(bind) else sqlite.insert)(table)


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """Yield a connection inside a read-only transaction (PostgreSQL) / query-only mode."""
    with _unavailable_when_down(), engine.connect() as conn:
        if is_postgres(conn):
            with conn.begin():
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                yield conn
        else:
            conn.exec_driver_sql("PRAGMA query_only = ON")
            try:
                yield conn
            finally:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA query_only = OFF")


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in one read-write transaction: committed at the end, or rolled back.

    SQLite takes its write lock up front (BEGIN IMMEDIATE), so what the block reads cannot
    change before it writes; on PostgreSQL the block locks its rows with SELECT ... FOR UPDATE.
    """
    with _unavailable_when_down(), engine.connect() as conn:
        if not is_postgres(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


@contextmanager
def _unavailable_when_down() -> Iterator[None]:
    """Turn the database errors a person can meet into typed errors (one sentence each).

    A lost or refused connection is DatabaseUnavailable; a statement cancelled by the
    statement timeout (or a lock wait it ends) is QueryTimeout; text PostgreSQL cannot
    hold (a NUL character) is a ValidationError. Anything else is raised as it is.
    """
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as err:
        if _is_timeout(err):
            raise QueryTimeout(QUERY_TIMEOUT) from err
        if _is_connection_problem(err):
            raise DatabaseUnavailable("The database cannot be reached right now.") from err
        raise
    except ValueError as err:
        if "NUL" in str(err):  # psycopg2: "A string literal cannot contain NUL (0x00) ..."
            raise ValidationError(NUL_TEXT) from err
        raise


QUERY_TIMEOUT = ("The database took too long to answer and the query was stopped; try "
                 "again in a moment, or choose fewer days.")
NUL_TEXT = "The text holds a NUL character, which cannot be searched for or saved."


def _is_timeout(err: exc.DBAPIError) -> bool:
    """True for PostgreSQL's query_canceled (57014), the statement timeout's error."""
    return getattr(err.orig, "pgcode", None) == "57014"


def _is_connection_problem(err: exc.DBAPIError) -> bool:
    text = str(err.orig).lower()
    return err.connection_invalidated or any(
        word in text
        for word in ("could not connect", "connection refused", "server closed", "unable to open",
                     "terminating connection", "connection to server", "timeout expired",
                     "connection already closed")
    )


# read_only_sql_transaction (a hot standby, default_transaction_read_only) and
# insufficient_privilege (a login that may only SELECT).
_READ_ONLY_CODES = ("25006", "42501")


def refuses_writes(err: BaseException) -> bool:
    """True when `err` is the database refusing a write: a read replica, a read-only login or
    a read-only SQLite file."""
    if not isinstance(err, exc.DBAPIError):
        return False
    if getattr(err.orig, "pgcode", None) in _READ_ONLY_CODES:
        return True
    return isinstance(err.orig, sqlite3.Error) and "readonly database" in str(err.orig)


def check_connection(engine: Engine) -> None:
    """Raise DatabaseUnavailable with one sentence when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            # SQLite only notices a file that is not a database when it reads the schema.
            conn.exec_driver_sql("SELECT 1" if is_postgres(conn) else "PRAGMA schema_version")
    except (exc.DBAPIError, ValueError, TypeError) as err:
        # ValueError/TypeError: the driver refused a connect argument from the URL's query.
        path = sqlite_file(engine.url) if engine.dialect.name == "sqlite" else None
        if path is not None and not os.path.isfile(path):
            raise DatabaseUnavailable(f"No SQLite database file at {printable(path)}.") from err
        raise DatabaseUnavailable(
            f"Cannot connect to the database at {safe_url(engine.url)}."
        ) from err


# ---------------------------------------------------------------- dialect helpers


class local_date(FunctionElement):  # noqa: N801 - reads like SQL
    """The calendar date of a UTC timestamp column in a reporting timezone."""

    type = Date()
    inherit_cache = True
    name = "local_date"


class utc_ts(FunctionElement):  # noqa: N801
    """A timestamp column normalised to UTC so SQLite compares and orders any ISO spelling."""

    inherit_cache = True
    name = "utc_ts"

    def __init__(self, col: ColumnElement) -> None:
        super().__init__(col)
        self.type = col.type


class json_text(FunctionElement):  # noqa: N801
    """A top-level key of a JSON column as text; NULL when absent or not an object."""

    type = Text()
    inherit_cache = True
    name = "json_text"


class folded(FunctionElement):  # noqa: N801
    """Text lower-cased by Unicode rules (SQLite's own lower() folds ASCII only)."""

    type = Text()
    inherit_cache = True
    name = "folded"


@compiles(folded, "postgresql")
def _pg_folded(element, compiler, **kw):
    text = compiler.process(element.clauses, **kw)
    collation = getattr(compiler.dialect, "hsl_fold_collation", None)
    return f'lower({text} COLLATE "{collation}")' if collation else f"lower({text})"


def _choose_pg_fold(dialect, dbapi_conn, _record) -> None:
    """Fold with ICU when the database's own LC_CTYPE lower-cases ASCII only (e.g. "C")."""
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(
            "SELECT lower('ЁЖ') = 'ёж', "
            "EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')"
        )
        folds, has_icu = cursor.fetchone()
    finally:
        cursor.close()
        dbapi_conn.rollback()
    dialect.hsl_fold_collation = "und-x-icu" if has_icu and not folds else None


@compiles(folded, "sqlite")
def _sqlite_folded(element, compiler, **kw):
    return f"hsl_fold({compiler.process(element.clauses, **kw)})"


@compiles(local_date, "postgresql")
def _pg_local_date(element, compiler, **kw):
    ts, tz = list(element.clauses)
    return f"CAST(timezone({compiler.process(tz, **kw)}, {compiler.process(ts, **kw)}) AS DATE)"


@compiles(json_text, "postgresql")
def _pg_json_text(element, compiler, **kw):
    col, key = list(element.clauses)
    return f"({compiler.process(col, **kw)} ->> {compiler.process(key, **kw)})"


@compiles(utc_ts, "postgresql")
def _pg_utc_ts(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(utc_ts, "sqlite")
def _sqlite_utc_ts(element, compiler, **kw):
    return f"hsl_utc({compiler.process(element.clauses, **kw)})"


@compiles(local_date, "sqlite")
def _sqlite_local_date(element, compiler, **kw):
    return f"hsl_local_date({compiler.process(element.clauses, **kw)})"


@compiles(json_text, "sqlite")
def _sqlite_json_text(element, compiler, **kw):
    col, key = list(element.clauses)
    c = compiler.process(col, **kw)
    k = compiler.process(key, **kw)
    # json_extract raises on malformed text; bot data may hold anything.
    return (
        f"(CASE WHEN json_valid({c}) AND json_type({c}) = 'object' "
        f"THEN CAST(json_extract({c}, '$.' || {k}) AS TEXT) END)"
    )


def day_of(ts: ColumnElement, tz: str) -> ColumnElement:
    """Return the SQL expression for the local calendar date of `ts` in `tz`."""
    return local_date(ts, tz)


def utc(ts: ColumnElement) -> ColumnElement:
    """Return `ts` in a form that compares and sorts as UTC time on every dialect."""
    return utc_ts(ts)


def json_field(col: ColumnElement, key: str) -> ColumnElement:
    """Return `col->>key` (text) portable across PostgreSQL and SQLite."""
    return json_text(col, key)


def fold(text: ColumnElement) -> ColumnElement:
    """Return `text` lower-cased for case-insensitive matching, Cyrillic included, per dialect."""
    return folded(text)


class _Instants(TypeDecorator):
    """A bound list of instants: an array of timestamptz on PostgreSQL, ISO text on SQLite."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if dialect.name == "postgresql":
            return list(value)  # psycopg2 sends ARRAY['…'::timestamptz, …], a constant
        return ",".join(instant.isoformat() for instant in value)


class time_bucket(FunctionElement):  # noqa: N801
    """Which of the half-open intervals between sorted instants a timestamp falls in."""

    type = Integer()
    inherit_cache = True
    name = "time_bucket"


@compiles(time_bucket, "postgresql")
def _pg_time_bucket(element, compiler, **kw):
    ts, edges = list(element.clauses)
    return f"width_bucket({compiler.process(ts, **kw)}, {compiler.process(edges, **kw)})"


@compiles(time_bucket, "sqlite")
def _sqlite_time_bucket(element, compiler, **kw):
    return f"hsl_bucket({compiler.process(element.clauses, **kw)})"


def bucket_of(ts: ColumnElement, edges: Sequence[datetime]) -> ColumnElement:
    """Return SQL for i such that edges[i-1] <= ts < edges[i] (0 before edges[0]).

    `edges` are sorted aware instants, e.g. the local midnights of a date range: bucketing a
    large scan this way costs a binary search a row instead of a timezone conversion a row.
    """
    instants = tuple(edge.astimezone(UTC) for edge in edges)
    return time_bucket(ts, bindparam(None, instants, type_=_Instants()))


# ---------------------------------------------------------------- SQLite functions


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _parse_utc(text: str) -> datetime:
    """Parse any ISO 8601 spelling SQLite may hold; naive text is UTC (SPEC §1)."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# The spelling SQLAlchemy (and the demo loader) write: naive UTC with microseconds.
_CANONICAL_UTC = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", re.ASCII)


def _sqlite_utc_fn(ts: str | None) -> str | None:
    if not isinstance(ts, str):
        return ts
    if _CANONICAL_UTC.fullmatch(ts):  # already canonical: skip the costly parse and format
        return ts
    return _parse_utc(ts).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_local_date_fn(ts: str | None, tz: str) -> str | None:
    if not isinstance(ts, str):
        return None
    return _parse_utc(ts).astimezone(_zone(tz)).date().isoformat()


def _sqlite_fold_fn(text: object) -> object:
    # str.lower, like PostgreSQL's lower(): per-letter lower case, no casefold (ß stays ß).
    return text.lower() if isinstance(text, str) else text


@lru_cache(maxsize=16)
def _canonical_edges(edges: str) -> list[str]:
    return [_sqlite_utc_fn(edge) for edge in edges.split(",")]


def _sqlite_bucket_fn(ts: str | None, edges: str) -> int | None:
    if not isinstance(ts, str):
        return None
    # Canonical UTC text sorts as time does, so the search compares strings.
    return bisect_right(_canonical_edges(edges), _sqlite_utc_fn(ts))


def _register_sqlite_functions(dbapi_conn: sqlite3.Connection, _record) -> None:
    dbapi_conn.create_function("hsl_bucket", 2, _sqlite_bucket_fn, deterministic=True)
    dbapi_conn.create_function("hsl_utc", 1, _sqlite_utc_fn, deterministic=True)
    dbapi_conn.create_function("hsl_local_date", 2, _sqlite_local_date_fn, deterministic=True)
    dbapi_conn.create_function("hsl_fold", 1, _sqlite_fold_fn, deterministic=True)
