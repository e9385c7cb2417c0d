"""hsl_ui.streamlit_adapter: the Streamlit internals it reads still exist and still mean it.

A Streamlit upgrade that renames or reshapes them fails here first, instead of quietly
turning the adapter's answers into None (its fail-safe) in production.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
import streamlit as st
from streamlit import config
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import ScriptRunContext, get_script_run_ctx
from streamlit.source_util import PageInfo
from streamlit.testing.v1 import AppTest

from hsl import migrate
from hsl.db import make_engine
from hsl_ui import streamlit_adapter
from tests.pages_support import clean_env  # noqa: F401 - autouse

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def login_off_url(monkeypatch, tmp_path) -> str:
    """A migrated, empty SQLite database, login turned off: the app without any sign-in."""
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("HSL_AUTH_DISABLED", "1")
    return url


@pytest.fixture
def fresh_server(monkeypatch) -> None:
    """Streamlit as just started: it has not yet decided whether pages/ is a legacy page list."""
    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)


# ---------------------------------------------------------------- the internals it reads


def test_the_internals_the_adapter_reads_are_still_there():
    assert streamlit_adapter.PagesManager is PagesManager
    assert streamlit_adapter.get_script_run_ctx is get_script_run_ctx
    assert "uses_pages_directory" in vars(PagesManager)  # a class-wide flag, not per session
    assert list(inspect.signature(PagesManager.get_pages).parameters) == ["self"]
    assert all(p.default is not p.empty
               for p in inspect.signature(get_script_run_ctx).parameters.values())
    fields = {f.name for f in dataclasses.fields(ScriptRunContext)}
    assert {"main_script_path", "pages_manager"} <= fields
    assert isinstance(inspect.getattr_static(ScriptRunContext, "page_script_hash"), property)
    assert "script_path" in PageInfo.__annotations__


def test_the_public_api_it_reads_is_still_there():
    assert isinstance(inspect.getattr_static(type(st.context), "url"), property)
    assert isinstance(st.get_option("server.baseUrlPath"), str)


def test_outside_a_script_run_there_is_no_answer():
    assert streamlit_adapter.lone_page_script() is None
    assert streamlit_adapter.requested_page_path() is None


# ---------------------------------------------------------------- lone page runs


def test_the_app_runs_from_a_relative_entry_path_with_the_repository_as_cwd(login_off_url):
    script = ("from streamlit.testing.v1 import AppTest; "
              "at = AppTest.from_file('app.py', default_timeout=60).run(); "
              "print(len(at.exception), [t.value for t in at.title])")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "0 ['Overview']"


def test_a_page_file_run_alone_is_sent_through_the_app(login_off_url, fresh_server):
    # As the first request of a fresh server for /activity?top=3: Streamlit runs
    # pages/activity.py alone; the app reopens it inside app.py, filters kept.
    at = AppTest.from_file("../app.py", default_timeout=60)  # an unresolved entry path
    at.query_params["top"] = "3"
    at.switch_page("pages/activity.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Activity"]
    # The shared sidebar ran: "Save view" (its form's Save) and Refresh.
    assert [b.label for b in at.sidebar.button] == ["Save", "Refresh"]
    assert at.query_params["top"] == "3"


# ---------------------------------------------------------------- the requested page


def _requested() -> None:
    import streamlit as st

    from hsl_ui import streamlit_adapter

    st.session_state["requested"] = streamlit_adapter.requested_page_path()


@pytest.mark.parametrize(("url", "base", "expected"), [
    (None, "", None),  # a client that sends no address
    ("http://localhost:8501", "", None),
    ("http://localhost:8501/", "", None),
    ("http://localhost:8501/users", "", "users"),
    ("https://school.org/analytics/users", "", "users"),  # a prefix the proxy adds
    ("https://school.org/analytics", "analytics", None),  # server.baseUrlPath
    ("https://school.org/analytics/audit_log", "/analytics/", "audit_log"),
])
def test_the_requested_page_is_the_last_path_segment(url, base, expected):
    before = config.get_option("server.baseUrlPath")
    config.set_option("server.baseUrlPath", base)
    try:
        at = AppTest.from_function(_requested)
        at.context = {"url": url}
        at.run()
    finally:
        config.set_option("server.baseUrlPath", before)
    assert not at.exception
    assert at.session_state["requested"] == expected
