"""Helpers for the browser tests: opening pages as a person would, reading them, screenshots."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}
LOAD_MS = 90_000
LOADED = re.compile(r"^Data loaded at \d\d:\d\d:\d\d$")  # the last thing a run writes
NO_DATA = "No data for these filters"  # the notice, whatever follows it


def new_page(browser, url: str | None = None):
    """A 1280×900 page in a fresh browser context (no shared session), at `url` if given."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    if url is not None:
        page.goto(url)
    return page


def open_from_navigation(page, app_url: str, title: str) -> None:
    """Open the front page, then `title` from the sidebar, as a person would.

    The front page must finish its first run: until app.py has called st.navigation once
    in a server process, Streamlit serves the pages/ folder as a legacy multipage app.
    """
    page.goto(app_url)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    link = page.get_by_test_id("stSidebar").get_by_role("link", name=title, exact=True)
    link.wait_for(timeout=LOAD_MS)
    path = link.get_attribute("href").split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    link.click()
    # The front page has headings named like other pages ("Funnel"): wait for the address first
    page.wait_for_url(re.compile(rf"/{re.escape(path)}(\?|$)"), timeout=LOAD_MS)
    page.get_by_role("heading", name=title, exact=True, level=1).wait_for(timeout=LOAD_MS)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)


def _open_list(page, label: str, item) -> None:
    """Open the selectbox `label`'s list with the keyboard until `item` shows in it (a list
    opened while the page redraws closes again: it is reopened)."""
    box = page.get_by_role("combobox", name=label)
    for _ in range(5):
        box.focus()
        page.keyboard.press("ArrowDown")
        try:
            item.wait_for(timeout=3000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the selectbox `label` with the keyboard, as a person would: type
    its name to narrow the list (a long list draws only the options in view), then click."""
    item = page.get_by_role("option", name=option, exact=True)
    box = page.get_by_role("combobox", name=label)
    for _ in range(5):
        box.focus()
        box.press_sequentially(option)
        try:
            item.click(timeout=3000)
            return
        except PlaywrightTimeout:
            box.fill("")
            page.keyboard.press("Escape")
    item.click()


def options_of(page, label: str) -> list[str]:
    """The options of the selectbox `label` as its open list shows them, then closed."""
    _open_list(page, label, page.get_by_role("option").first)
    texts = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return texts


def settled(page) -> None:
    """Wait until the script run is over: no status widget, no element left from the last run."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')"
        " && !document.querySelector('[data-stale=true]')", timeout=LOAD_MS)


def card_values(page, count: int) -> list[str]:
    """The metric cards' values once the run has drawn all `count` of them."""
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    settled(page)
    values = page.get_by_test_id("stMetricValue")
    values.nth(count - 1).wait_for(timeout=LOAD_MS)
    return values.all_text_contents()


def no_errors(page, expect_data: bool = True) -> None:
    """No traceback or error text on the page (nor the no-data notice, when data is expected)."""
    text = page.locator("body").inner_text()
    for bad in ("Traceback", "Exception", "Error:", "StreamlitAPI",
                *([NO_DATA] if expect_data else [])):
        assert bad not in text


def whole_page(page, path: Path, redraw_ms: int = 1500) -> None:
    """Save the whole scrolling page at the window's width to `path` (Streamlit scrolls inside
    its main block, so the window is made as tall as the page for the picture; the charts
    get `redraw_ms` to redraw at that size)."""
    page.mouse.move(0, 0)  # no hover toolbar over a table in the picture
    size = page.viewport_size
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    page.wait_for_timeout(redraw_ms)  # let the charts redraw at the new size
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def screenshot(page, name: str) -> None:
    """Save the whole scrolling page at 1280 px to artifacts/<name> and docs/screenshots/."""
    page.set_viewport_size(VIEWPORT)
    whole_page(page, ARTIFACTS / name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ARTIFACTS / name, SCREENSHOTS / name)


SERVER_DETAILS = ("Traceback", "Exception", "Error:", "StreamlitAPI", "psycopg2", "sqlalchemy",
                  ".py")


def no_traceback(page) -> None:
    """No traceback, exception box or server detail (driver, library, source path) shown."""
    assert page.get_by_test_id("stException").count() == 0
    text = page.locator("body").inner_text().lower()
    for bad in SERVER_DETAILS:
        assert bad.lower() not in text, bad
