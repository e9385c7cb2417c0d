"""Helpers for AppTest page tests: the app's settings, databases to run it on, opening a page
and reading what it shows.

A page-test module imports the autouse fixtures `clean_env` and `navigation_as_served`
(`from tests.pages_support import clean_env, navigation_as_served  # noqa: F401`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from hsl import demo, migrate
from hsl.db import make_engine
from hsl_ui import charts
from tests.conftest import url_of

APP = str(Path(__file__).resolve().parent.parent / "app.py")
MOSCOW = "Europe/Moscow"
NOW = datetime(2026, 3, 20, 18, 0, tzinfo=UTC)  # 21:00 on 2026-03-20 in Moscow


# ---------------------------------------------------------------- the app's surroundings


@pytest.fixture(autouse=True)
def navigation_as_served(monkeypatch):
    """Run app.py on every AppTest rerun, as `streamlit run` does.

    AppTest forgets before each run that st.navigation replaced the legacy pages/ folder
    and then reruns only the page script; a server remembers it for the process.
    """

    class ServedPagesManager(PagesManager):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr("streamlit.testing.v1.app_test.PagesManager", ServedPagesManager)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No database settings leak in from the developer's shell; the clock is fixed."""
    for name in ("DATABASE_URL", "HSL_AUTH_DISABLED", "HSL_AUTH_DISABLED_ROLE",
                 "HSL_STATEMENT_TIMEOUT_MS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HSL_TIMEZONE", MOSCOW)
    monkeypatch.setenv("HSL_REFRESH_SECONDS", "0")  # no timer refreshing test databases
    monkeypatch.setenv("HSL_DEMO_DB", str(tmp_path / "never-used-demo.sqlite"))
    monkeypatch.setattr("hsl_ui.sidebar.utc_now", lambda: NOW)


# ---------------------------------------------------------------- databases


def demo_database(backend: str, database_factory: Callable[[str], str],
                  anchor: date | None = None) -> str:
    """URL of a new migrated database with a small deterministic demo (300 people, 3,000
    events, seed 7) whose data ends on `anchor` (default: today)."""
    engine = make_engine(database_factory(backend))
    migrate.upgrade(engine)
    demo.load(engine, demo.DemoSize(users=300, events=3000, seed=7, anchor=anchor))
    return url_of(engine)


# ---------------------------------------------------------------- running a page


def open_page(monkeypatch, url: str, script: str, role: str = "analyst",
              **query: str) -> AppTest:
    """Run page `script` of app.py on the database `url`, login off, as `role`, once."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("HSL_AUTH_DISABLED", "1")
    monkeypatch.setenv("HSL_AUTH_DISABLED_ROLE", role)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query)
    return at.switch_page(script).run()


def spy_downloads(monkeypatch, excel: dict[str, bytes] | None = None
                  ) -> dict[str, list[list[str]]]:
    """File name → CSV rows of every CSV download button drawn from now on.

    Deferred data (a callable) is made at once; the UTF-8 BOM is checked and dropped. The
    Excel file beside each CSV is made too (a zip); its bytes go into `excel` when given.
    """
    got: dict[str, list[list[str]]] = {}
    real = st.download_button

    def spy(label, data, *args, **kwargs):
        body = data() if callable(data) else data
        name = kwargs["file_name"]
        if name.endswith(".xlsx"):
            assert body.startswith(b"PK")  # an .xlsx file is a zip
            if excel is not None:
                excel[name] = body
            return real(label, data, *args, **kwargs)
        assert body.startswith("\ufeff".encode())  # Excel reads UTF-8 only with the BOM
        got[name] = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        return real(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", spy)
    return got


# ---------------------------------------------------------------- reading what it shows


def infos(at: AppTest) -> list[str]:
    return [shown(i.value) for i in at.info]


def errors(at: AppTest) -> list[str]:
    return [shown(e.value) for e in at.error]


def captions(at: AppTest) -> list[str]:
    return [shown(c.value) for c in at.caption]


def chart_specs(at: AppTest) -> list[str]:
    return [c.proto.spec for c in at.get("vega_lite_chart")]


def assert_charts_valid(at: AppTest) -> int:
    """Every chart the run drew is valid Vega-Lite (the app builds its charts unchecked,
    hsl_ui.charts); returns how many there were."""
    __tracebackhide__ = True
    specs = chart_specs(at)
    for spec in specs:
        charts.validate_spec(json.loads(spec))
    return len(specs)


def chart_labels(at: AppTest) -> list[str]:
    """The bar labels the charts draw, read from the data Streamlit sends to the browser."""
    frames = [convert_arrow_bytes_to_pandas_df(ds.data.data)
              for chart in at.get("vega_lite_chart") for ds in chart.proto.datasets]
    return [label for f in frames if "label" in f for label in f["label"]]


def shown(markdown: str) -> str:
    """What a person reads from a Markdown text: backslash escapes and the invisible
    word joiners and directional isolates of fmt.md removed."""
    return re.sub(r"\\(.)", r"\1", markdown.translate(INVISIBLE))


INVISIBLE = dict.fromkeys(map(ord, "\u2060\u2068\u2069"))
