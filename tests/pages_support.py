"""Helpers for AppTest page tests: databases to run the app on, and opening one page."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from hsl import demo, migrate
from hsl.db import make_engine
from tests.test_pages import APP


def url_of(engine: Engine) -> str:
    """The engine's URL with its password (for DATABASE_URL); the engine is disposed."""
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    return url


def empty_database(backend: str, database_factory: Callable[[str], str]) -> str:
    """URL of a new migrated database without any rows."""
    engine = make_engine(database_factory(backend))
    migrate.upgrade(engine)
    return url_of(engine)


def demo_database(backend: str, database_factory: Callable[[str], str],
                  size: demo.DemoSize) -> str:
    """URL of a new migrated database filled with demo rows of `size`."""
    engine = make_engine(database_factory(backend))
    migrate.upgrade(engine)
    demo.load(engine, size)
    return url_of(engine)


def open_page(monkeypatch, url: str, script: str, role: str, **query: str) -> AppTest:
    """Run page `script` of app.py on the database `url`, login off, as `role`, once."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("HSL_AUTH_DISABLED", "1")
    monkeypatch.setenv("HSL_AUTH_DISABLED_ROLE", role)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query)
    return at.switch_page(script).run()
