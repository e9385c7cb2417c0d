"""The Back button in a real browser: one history entry per page or filter change, and Back
restores each page with its dates and filters exactly (issue 11, item 2)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from hsl.filters import local_today, preset_dates
from tests.e2e.support import LOAD_MS, LOADED, card_values, choose, settled

pytestmark = pytest.mark.browser


def entries(page) -> int:
    return page.evaluate("history.length")


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def sidebar_dates(page) -> tuple[str, str, str]:
    """(preset shown, start, end) as the sidebar's date widgets hold them."""
    sidebar = page.get_by_test_id("stSidebar")
    start, end = sidebar.locator("input[type=date]").evaluate_all("e => e.map(i => i.value)")
    return sidebar.get_by_role("combobox", name="Dates").input_value(), start, end


def shown(page, title: str) -> None:
    """Wait until page `title` has finished its run."""
    page.get_by_role("heading", name=title, exact=True, level=1).wait_for(timeout=LOAD_MS)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    settled(page)


def open_link(page, title: str) -> None:
    """Click `title` in the sidebar's page list, as a person would."""
    page.get_by_test_id("stSidebar").get_by_role("link", name=title, exact=True).click()
    page.wait_for_url(re.compile(rf"/{title.lower()}\?"), timeout=LOAD_MS)
    shown(page, title)


def back(page, title: str, url_has: str) -> None:
    page.go_back()
    page.wait_for_url(re.compile(re.escape(url_has)), timeout=LOAD_MS)
    shown(page, title)


def test_back_restores_each_page_with_its_dates_and_filters(app_url, page):
    page.goto(app_url)
    shown(page, "Overview")
    assert query(page)["dates"] == ["last-30-days"]
    first = entries(page)

    choose(page, "Dates", "Last month")
    page.wait_for_url(re.compile(r"dates=last-month"), timeout=LOAD_MS)
    shown(page, "Overview")
    start, end = (d.isoformat() for d in preset_dates("last-month",
                                                       local_today("Europe/Moscow")))
    november = {"dates": ["last-month"], "start": [start], "end": [end]}
    assert query(page) == november and entries(page) == first + 1
    overview_cards = card_values(page, 5)

    open_link(page, "Funnel")
    assert query(page) == november and entries(page) == first + 2
    everyone = card_values(page, 4)
    choose(page, "Lesson type", "Python basics")
    page.wait_for_url(re.compile(r"lesson_type=python_basics"), timeout=LOAD_MS)
    shown(page, "Funnel")
    assert entries(page) == first + 3
    python = card_values(page, 4)
    assert python != everyone

    open_link(page, "Activity")
    assert query(page) == november and entries(page) == first + 4

    back(page, "Funnel", "lesson_type=python_basics")
    assert query(page) == {**november, "lesson_type": ["python_basics"]}
    assert sidebar_dates(page) == ("Last month", start, end)
    # The run that follows Back redraws the widgets: wait for it, not just for the address.
    expect(page.get_by_role("combobox", name="Lesson type")).to_have_value(
        "Python basics", timeout=LOAD_MS)
    assert card_values(page, 4) == python
    assert "Ignored" not in page.locator("body").inner_text()

    back(page, "Funnel", f"funnel?dates=last-month&start={start}&end={end}")
    assert query(page) == november
    expect(page.get_by_role("combobox", name="Lesson type")).to_have_value(
        "All lesson types", timeout=LOAD_MS)
    assert card_values(page, 4) == everyone

    back(page, "Overview", "dates=last-month")
    assert sidebar_dates(page) == ("Last month", start, end)
    assert card_values(page, 5) == overview_cards
    assert "Ignored" not in page.locator("body").inner_text()
    assert entries(page) == first + 4  # Back moved through the entries, added none
