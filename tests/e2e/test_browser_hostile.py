"""The hostile-input walk in a real Chromium: every page as every role, on a PostgreSQL
database whose every text column holds a hostile value, with and without every query
parameter set to one (tests/hostile.py).

On each page: no exception element and no traceback text, the page drew its title, no
link but the app's own pages and `t.me/<valid username>`, no element the data smuggled in,
and no character that reorders the text around it.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

import pytest

from hsl import migrate
from hsl.db import make_engine
from hsl.filters import utc_now
from hsl_ui.banners import UNEXPECTED
from tests.conftest import bot_like
from tests.e2e.support import LOAD_MS, LOADED, screenshot
from tests.fixtures import load_rows
from tests.hostile import (
    CORPUS,
    EVIL,
    MAX_ID,
    PAGE_PARAMS,
    REORDERING,
    ROLE_PAGES,
    TELEGRAM_LINK,
    URL_PATHS,
    hostile_rows,
)

pytestmark = pytest.mark.browser

ROLES = ("viewer", "analyst", "admin")
COMBO_PERSON = 9000 + list(CORPUS).index("combo")
ISOLATES_OPEN = re.compile("[\u2066\u2067\u2068]")
SERVER_WORDS = ("Traceback", "Error:", "psycopg2", "sqlalchemy", "File \"/", ".py\"",
                "OperationalError", "ValueError", UNEXPECTED)


@pytest.fixture(scope="module")
def hostile_apps(serve, database_factory) -> dict[str, str]:
    """role → base URL of the app (login off, that role) on the hostile PostgreSQL database."""
    url = database_factory("postgresql")
    engine = make_engine(url)
    migrate.upgrade(engine)
    load_rows(bot_like(engine), hostile_rows("postgresql", utc_now()))
    engine.dispose()
    return {role: serve(DATABASE_URL=url, HSL_AUTH_DISABLED="1", HSL_AUTH_DISABLED_ROLE=role,
                        HSL_TIMEZONE="Europe/Moscow") for role in ROLES}


def visit(page, base: str, path: str, query: dict[str, str] | None = None) -> None:
    """Open `base/path?query` and wait until the run has finished drawing."""
    page.goto(f"{base}/{path}" + (f"?{urlencode(query)}" if query else ""))
    if path == "messages":  # composing loads nothing cached: no "Data loaded at" line
        page.get_by_role("heading", name="Campaigns").or_(
            page.get_by_role("heading", name=re.compile("^Campaign #"))).or_(
            page.get_by_text(LOADED)).first.wait_for(timeout=LOAD_MS)
        page.wait_for_timeout(1500)
    else:
        page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
        page.wait_for_timeout(300)  # the last deltas of the run


def assert_inert(page, base: str) -> None:
    """What a person sees holds nothing the data or the URL could have made live."""
    assert page.locator("[data-testid=stException]").count() == 0
    text = page.locator("body").inner_text()
    for word in SERVER_WORDS:
        assert word not in text, word
    assert page.locator("h1").count() >= 1, "the page drew no title"
    origin = urlsplit(base).netloc
    for href in page.locator("a[href]").evaluate_all("els => els.map(e => e.href)"):
        target = urlsplit(href)
        assert target.netloc == origin or TELEGRAM_LINK.fullmatch(href), href
    assert EVIL not in "".join(
        page.locator("img, iframe, script, object, embed").evaluate_all(
            "els => els.map(e => (e.src || '') + (e.data || ''))"))
    assert not REORDERING.search(text)
    assert len(ISOLATES_OPEN.findall(text)) == text.count("\u2069"), "unbalanced isolates"


@pytest.mark.parametrize("role", ROLES)
def test_every_page_on_hostile_data_and_hostile_links(hostile_apps, browser, role):
    base = hostile_apps[role]
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        for script in ROLE_PAGES[role]:
            keys = PAGE_PARAMS[script]
            # Every parameter holds the combined hostile value; those naming a choice fall
            # back, so the page shows the hostile data too (stream, lesson type... are
            # hostile values themselves).
            visit(page, base, URL_PATHS[script], dict.fromkeys(keys, CORPUS["combo"]))
            assert_inert(page, base)
    finally:
        page.context.close()


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_hostile_people_and_a_hostile_stream(hostile_apps, browser, role):
    base = hostile_apps[role]
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        for user_id in (COMBO_PERSON, MAX_ID, 9000 + list(CORPUS).index("huge")):
            visit(page, base, "users", {"user": str(user_id)})
            assert_inert(page, base)
        if role == "admin":
            screenshot(page, "hostile_profile.png")
            # The only link in the header of a person with a valid username: t.me.
            visit(page, base, "users", {"user": str(MAX_ID)})
            assert page.locator("a[href^='https://t.me/']").evaluate_all(
                "els => els.map(e => e.href)") == ["https://t.me/valid_user_name"]
        visit(page, base, "streams", {"stream": CORPUS["combo"]})
        assert_inert(page, base)
        visit(page, base, "users", {"q": CORPUS["md_link"]})
        assert_inert(page, base)
    finally:
        page.context.close()
