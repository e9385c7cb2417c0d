"""Free lessons, Funnel and Activity in a real headless Chromium: a filter, its link, a screenshot.

Each test opens its page from the sidebar, changes one filter, checks the URL, opens that
URL in a fresh browser context and expects the same view, and saves the page's screenshot
(before the filter change) to docs/screenshots/.
"""

from __future__ import annotations

import re
import shutil

import pytest

from tests.e2e.test_browser import (
    ARTIFACTS,
    LOAD_MS,
    LOADED,
    SCREENSHOTS,
    choose,
    full_page_screenshot,
)

pytestmark = pytest.mark.browser

STACKED_LEGEND = ("e => [...e.querySelectorAll('.role-legend-label text')]"
                  ".map(t => t.textContent)")


def open_page(page, app_url: str, title: str) -> None:
    """Open the front page, then `title` from the sidebar, as a person would.

    The front page must finish its first run: until app.py has called st.navigation once
    in a server process, Streamlit serves the pages/ folder as a legacy multipage app.
    """
    page.goto(app_url)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)
    link.wait_for(timeout=LOAD_MS)
    link.click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=LOAD_MS)


def card_values(page, count: int) -> list[str]:
    """The metric cards' values once the run has drawn all `count` of them."""
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    values = page.get_by_test_id("stMetricValue")
    values.nth(count - 1).wait_for(timeout=LOAD_MS)
    return values.all_text_contents()


def first_card_changes_from(page, old: str) -> None:
    page.wait_for_function(
        "old => document.querySelector('[data-testid=stMetricValue]')?.textContent !== old",
        arg=old, timeout=LOAD_MS,
    )


def in_new_context(browser, url: str):
    """A fresh browser page (no shared session) at `url`."""
    other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    other.goto(url)
    return other


def no_errors(page) -> None:
    text = page.locator("body").inner_text()
    for bad in ("Traceback", "Exception", "Error:", "StreamlitAPI", "No data for these filters"):
        assert bad not in text


def screenshot(page, name: str) -> None:
    full_page_screenshot(page, name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ARTIFACTS / name, SCREENSHOTS / name)


@pytest.mark.parametrize(("title", "cards", "shot"), [
    ("Free lessons", 5, "free_lessons.png"),
    ("Funnel", 4, "funnel.png"),
])
def test_lesson_type_filter_goes_into_a_link_that_reproduces_the_view(
        app_url, page, browser, title, cards, shot):
    open_page(page, app_url, title)
    everyone = card_values(page, cards)
    assert page.locator("[data-testid=stVegaLiteChart]").count() == 2
    no_errors(page)
    screenshot(page, shot)

    choose(page, "Lesson type", "Python basics")
    page.wait_for_url(re.compile(r"[?&]lesson_type=python_basics"), timeout=LOAD_MS)
    first_card_changes_from(page, everyone[0])
    python_only = card_values(page, cards)
    assert python_only != everyone

    other = in_new_context(browser, page.url)
    try:
        assert card_values(other, cards) == python_only
        assert other.get_by_role("combobox", name="Lesson type").input_value() == "Python basics"
    finally:
        other.context.close()


def test_activity_top_n_goes_into_a_link_that_reproduces_the_chart(app_url, page, browser):
    open_page(page, app_url, "Activity")
    cards = card_values(page, 4)
    chart = page.locator("[data-testid=stVegaLiteChart]").first
    chart.locator(".role-legend-label").first.wait_for(timeout=LOAD_MS)
    assert len(chart.evaluate(STACKED_LEGEND)) == 6  # the 5 most frequent types and Other
    assert page.locator("[data-testid=stVegaLiteChart]").count() == 4
    no_errors(page)
    screenshot(page, "activity.png")

    top = page.get_by_role("spinbutton", name="Event types shown by name")
    top.fill("2")
    top.press("Enter")
    page.wait_for_url(re.compile(r"[?&]top=2"), timeout=LOAD_MS)
    page.wait_for_function(f"() => ({STACKED_LEGEND})("
                           "document.querySelector('[data-testid=stVegaLiteChart]')).length === 3",
                           timeout=LOAD_MS)
    legend = chart.evaluate(STACKED_LEGEND)
    assert legend[-1] == "Other"
    assert card_values(page, 4) == cards  # the numbers do not depend on the chart's N

    other = in_new_context(browser, page.url)
    try:
        assert card_values(other, 4) == cards
        assert other.get_by_role("spinbutton", name="Event types shown by name").input_value() \
            == "2"
        other_chart = other.locator("[data-testid=stVegaLiteChart]").first
        other_chart.locator(".role-legend-label").first.wait_for(timeout=LOAD_MS)
        assert other_chart.evaluate(STACKED_LEGEND) == legend
    finally:
        other.context.close()
