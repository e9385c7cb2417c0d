"""Free lessons, Funnel and Activity in a real headless Chromium: a filter, its link, a screenshot.

Each test opens its page from the sidebar, changes one filter, checks the URL, opens that
URL in a fresh browser context and expects the same view, and saves the page's screenshot
(before the filter change) to docs/screenshots/.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.support import (
    LOAD_MS,
    card_values,
    choose,
    new_page,
    no_errors,
    open_from_navigation,
    screenshot,
)

pytestmark = pytest.mark.browser

STACKED_LEGEND = ("e => [...e.querySelectorAll('.role-legend-label text')]"
                  ".map(t => t.textContent)")


def first_card_changes_from(page, old: str) -> None:
    page.wait_for_function(
        "old => document.querySelector('[data-testid=stMetricValue]')?.textContent !== old",
        arg=old, timeout=LOAD_MS,
    )


@pytest.mark.parametrize(("title", "cards", "shot"), [
    ("Free lessons", 5, "free_lessons.png"),
    ("Funnel", 4, "funnel.png"),
])
def test_lesson_type_filter_goes_into_a_link_that_reproduces_the_view(
        app_url, page, browser, title, cards, shot):
    open_from_navigation(page, app_url, title)
    everyone = card_values(page, cards)
    assert page.locator("[data-testid=stVegaLiteChart]").count() == 2
    no_errors(page)
    screenshot(page, shot)

    choose(page, "Lesson type", "Python basics")
    page.wait_for_url(re.compile(r"[?&]lesson_type=python_basics"), timeout=LOAD_MS)
    first_card_changes_from(page, everyone[0])
    python_only = card_values(page, cards)
    assert python_only != everyone

    other = new_page(browser, page.url)
    try:
        assert card_values(other, cards) == python_only
        assert other.get_by_role("combobox", name="Lesson type").input_value() == "Python basics"
    finally:
        other.context.close()


def test_activity_top_n_goes_into_a_link_that_reproduces_the_chart(app_url, page, browser):
    open_from_navigation(page, app_url, "Activity")
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

    other = new_page(browser, page.url)
    try:
        assert card_values(other, 4) == cards
        assert other.get_by_role("spinbutton", name="Event types shown by name").input_value() \
            == "2"
        other_chart = other.locator("[data-testid=stVegaLiteChart]").first
        other_chart.locator(".role-legend-label").first.wait_for(timeout=LOAD_MS)
        assert other_chart.evaluate(STACKED_LEGEND) == legend
    finally:
        other.context.close()
