"""Shared fixtures: every data test runs on SQLite and on a real PostgreSQL.

PostgreSQL comes from HSL_TEST_PG_URL (default: the local server, database `test`);
each test run creates its own databases and drops them afterwards. When PostgreSQL
cannot be reached its tests are skipped on a laptop, but with CI=true (or
HSL_REQUIRE_PG=1) they fail: CI never goes green without PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.engine import Engine

from hsl import migrate
from hsl.db import make_engine, normalize_url
from tests.fixtures import load_rows

PG_ADMIN_URL = os.environ.get("HSL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _pg_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("HSL_REQUIRE_PG") == "1"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the PostgreSQL maintenance database (skip/fail if down)."""
    engine = create_engine(normalize_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as err:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        engine.dispose()
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {err.__class__.__name__}"
        if _pg_required():
            pytest.fail(message + " (required because CI=true or HSL_REQUIRE_PG=1)")
        pytest.skip(message)
    yield engine
    engine.dispose()


class Databases:
    """Brand-new databases for tests: `make(backend, migrated=False)` gives one's URL.

    Empty, or with `migrated` as `bot_like` leaves it: copied from one migrated once a
    session (a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL), since
    running every migration costs ~0.3 s a PostgreSQL database and ~0.08 s a SQLite file,
    and hundreds of tests each want a fresh one. `done(url)` drops a PostgreSQL database
    in the background once its test is over; `close()` drops the rest.
    """

    def __init__(self, request, tmp_path_factory) -> None:
        self._request, self._paths = request, tmp_path_factory
        self._admin: Engine | None = None
        self._created: set[str] = set()
        self._templates: dict[str, str] = {}
        # Each drop waits for a checkpoint, and concurrent drops share one.
        self._pool = ThreadPoolExecutor(max_workers=4)
        self._dropping: list = []

    def __call__(self, backend: str, migrated: bool = False) -> str:
        return self.make(backend, migrated)

    def make(self, backend: str, migrated: bool = False) -> str:
        if migrated and backend not in self._templates:
            self._templates[backend] = url_of(bot_like(make_engine(self.make(backend))))
        template = self._templates[backend] if migrated else None
        if backend == "sqlite":
            path = self._paths.mktemp("sqlite") / f"{uuid.uuid4().hex}.sqlite"
            if template:
                shutil.copyfile(make_url(template).database, path)
            return f"sqlite:///{path}"
        self._admin = self._request.getfixturevalue("pg_admin")
        name = f"hsl_test_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        self._created.add(name)
        return self._admin.url.set(database=name).render_as_string(hide_password=False)

    def done(self, url: str) -> None:
        """The test that made `url` is over: drop it (PostgreSQL) while the next ones run."""
        name = make_url(url).database
        if name in self._created:
            self._created.discard(name)
            self._dropping.append(self._pool.submit(self._drop, name))

    def _drop(self, name: str) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self._dropping += [self._pool.submit(self._drop, name) for name in self._created]
        self._pool.shutdown(wait=True)
        for dropped in self._dropping:
            dropped.result()


@pytest.fixture(scope="session")
def database_factory(request, tmp_path_factory) -> Iterator[Databases]:
    """make(backend, migrated=False) → URL of a brand-new database (see Databases); all
    dropped by the end of the session."""
    databases = Databases(request, tmp_path_factory)
    yield databases
    databases.close()


def bot_like(engine: Engine) -> Engine:
    """Migrate, then drop the foreign keys, as in an older bot database (SPEC §1).

    Hand-counted fixtures need people who exist only in `events` or only in `bookings`,
    which enforced foreign keys would refuse on PostgreSQL (SQLite does not enforce them).
    """
    migrate.upgrade(engine)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in ("bookings", "events", "free_lesson_registrations"):
                for fk in inspect(conn).get_foreign_keys(table):
                    conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{fk["name"]}"'))
    return engine


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    """The database kind under test: "sqlite" or "postgresql".

    Module-scoped, so that a module's read-only databases (`module_engine`) are built once
    per backend; function-scoped databases (`engine`, `loaded_engine`) stay fresh per test.
    """
    return request.param


def _fresh_engine(database_factory: Databases, backend: str, migrated: bool
                  ) -> Iterator[Engine]:
    url = database_factory(backend, migrated)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    database_factory.done(url)


@pytest.fixture
def empty_engine(backend, database_factory) -> Iterator[Engine]:
    """An engine on a fresh database with no tables at all."""
    yield from _fresh_engine(database_factory, backend, migrated=False)


@pytest.fixture
def engine(backend, database_factory) -> Iterator[Engine]:
    """An engine on a fresh migrated database without enforced foreign keys."""
    yield from _fresh_engine(database_factory, backend, migrated=True)


def loaded_engine(backend: str, database_factory, rows: dict) -> Engine:
    """A fresh migrated database filled with `rows` (see tests.fixtures.load_rows)."""
    engine = make_engine(database_factory(backend, migrated=True))
    load_rows(engine, rows)
    return engine


def url_of(engine: Engine) -> str:
    """The engine's URL with its password (for DATABASE_URL or --db); the engine is disposed."""
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def module_engine(backend, database_factory) -> Iterator[Callable[[dict], Engine]]:
    """Return load(rows) → a fresh migrated database filled with `rows`, kept for the module.

    For data the module's tests only read: `db = module_engine(ROWS)` in a module-scoped
    fixture builds it once per backend; every engine is disposed after the module.
    """
    engines: list[Engine] = []

    def load(rows: dict) -> Engine:
        engines.append(loaded_engine(backend, database_factory, rows))
        return engines[-1]

    yield load
    for engine in engines:
        engine.dispose()
        database_factory.done(engine.url.render_as_string(hide_password=False))


@pytest.fixture(scope="module")
def empty_db(module_engine) -> Engine:
    """A migrated database without any rows, shared by the module's tests."""
    return module_engine({})


@pytest.fixture(scope="module")
def empty_url(backend, database_factory) -> str:
    """URL of a new database as `python -m hsl init-db` leaves it (no rows), for the module."""
    engine = make_engine(database_factory(backend))
    migrate.upgrade(engine)
    return url_of(engine)
