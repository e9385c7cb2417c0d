"""The whole app in a real headless Chromium: the Overview journey and its screenshot."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import text

from hsl import migrate
from hsl.db import make_engine
from tests.e2e.support import LOAD_MS, LOADED, choose, new_page, no_errors, screenshot

pytestmark = pytest.mark.browser

DOWN = "The database cannot be reached right now; retrying…"
REGISTERED = re.compile(r"^Registered — [\d,]+ (people|person)$")


def wait_for_overview(page) -> str:
    """Wait until the run has drawn everything; return the funnel's first bar label."""
    kpi_label = page.get_by_test_id("stMetricLabel")
    kpi_label.get_by_text("Known users", exact=True).wait_for(timeout=LOAD_MS)
    registered = page.get_by_text(REGISTERED)
    registered.wait_for(timeout=LOAD_MS)
    # The sidebar's "Data loaded at" caption is the last thing a run writes.
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    return registered.text_content()


def test_overview_shows_kpis_and_funnel(app_url, page):
    page.goto(app_url)
    wait_for_overview(page)
    kpi_label = page.get_by_test_id("stMetricLabel")
    for label in ("New users", "Registrations", "Active bookings", "Confirmed payments"):
        assert kpi_label.get_by_text(label, exact=True).is_visible()
    page.get_by_text(re.compile(r"^Paid — [\d,]+ (people|person)")).wait_for(timeout=LOAD_MS)
    assert page.get_by_text("Demo data", exact=True).is_visible()
    assert page.get_by_text("Times in Europe/Moscow").is_visible()
    assert re.search(r"[?&]start=\d{4}-\d\d-\d\d&end=\d{4}-\d\d-\d\d", page.url)

    no_errors(page)
    screenshot(page, "overview.png")


def test_lesson_type_filter_goes_into_a_link_that_reproduces_the_view(app_url, page, browser):
    page.goto(app_url)
    everyone = wait_for_overview(page)
    choose(page, "Lesson type", "Python basics")
    page.wait_for_url(re.compile(r"lesson_type=python_basics"), timeout=LOAD_MS)
    page.wait_for_function(
        "old => ![...document.querySelectorAll('text')].some(t => t.textContent === old)",
        arg=everyone, timeout=LOAD_MS,
    )
    python_only = wait_for_overview(page)
    assert python_only != everyone

    other = new_page(browser, page.url)
    try:
        assert wait_for_overview(other) == python_only
        lesson_type = other.get_by_role("combobox", name="Lesson type")
        assert lesson_type.input_value() == "Python basics"
    finally:
        other.context.close()


def test_database_outage_banner_goes_away_by_itself(serve, pg_admin, page):
    name = f"hsl_e2e_{uuid.uuid4().hex[:12]}"
    url = pg_admin.url.set(database=name).render_as_string(hide_password=False)
    page.goto(serve(DATABASE_URL=url, HSL_AUTH_DISABLED="1"))
    page.get_by_text(DOWN, exact=True).wait_for(timeout=LOAD_MS)
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        # No reload: the banner's own timer notices the database and reruns the page.
        page.get_by_test_id("stMetricLabel").get_by_text("Known users", exact=True).wait_for(
            timeout=LOAD_MS)
        page.get_by_text(DOWN, exact=True).wait_for(state="detached", timeout=LOAD_MS)
    finally:
        with pg_admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
