"""Saved views in a real browser (issue 12): save a view with rolling dates, then open it
from the sidebar a month later and see the rolled dates.

Two app servers share one demo database; each has its own clock (HSL_CLOCK): the first
runs on 15 November 2026, the second on 10 December 2026 (Europe/Moscow).
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.support import LOAD_MS, LOADED, new_page, screenshot, settled

NOVEMBER, DECEMBER = "2026-11-15T10:00:00+00:00", "2026-12-10T10:00:00+00:00"


@pytest.fixture(scope="module")
def two_months(serve, tmp_path_factory) -> tuple[str, str]:
    demo_file = tmp_path_factory.mktemp("views") / "demo.sqlite"
    env = {"HSL_DEMO_DB": str(demo_file), "HSL_TIMEZONE": "Europe/Moscow"}
    # The database is filled on the first page run, which the test makes on November's.
    return serve(**env, HSL_CLOCK=NOVEMBER), serve(**env, HSL_CLOCK=DECEMBER)


def shown_dates(page) -> tuple[str, str, str]:
    """(preset, start, end) as the sidebar shows them."""
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.locator("input[type=date]").last.wait_for(timeout=LOAD_MS)
    start, end = sidebar.locator("input[type=date]").evaluate_all("e => e.map(i => i.value)")
    return sidebar.get_by_role("combobox", name="Dates").input_value(), start, end


def _loaded(page) -> None:
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    settled(page)


def test_a_saved_view_rolls_its_dates_when_opened_next_month(two_months, browser):
    november, december = two_months
    page = new_page(browser, f"{november}/funnel?dates=last-month&compare=year")
    try:
        _loaded(page)
        assert shown_dates(page) == ("Last month", "2026-10-01", "2026-10-31")
        page.get_by_test_id("stSidebar").get_by_role("button", name="Save view").click()
        page.get_by_role("textbox", name="Name").fill("Funnel, last month")
        page.get_by_text("Rolling: Last month").click()
        page.get_by_role("button", name="Save", exact=True).click()
        saved = page.get_by_text(re.compile(r"^Saved the view “Funnel, last month”: it is in "
                                            r"the sidebar, and \?view=(\d+) opens it\.$"))
        saved.wait_for(timeout=LOAD_MS)
        view_id = re.search(r"view=(\d+)", saved.text_content()).group(1)
        _loaded(page)

        # A month later, on the other server: the link in the sidebar opens November.
        page.goto(december)
        _loaded(page)
        link = page.get_by_test_id("stSidebar").get_by_role("link", name="Funnel, last month")
        link.click()
        page.wait_for_url(re.compile(r"/funnel\?.*dates=last-month"), timeout=LOAD_MS)
        page.get_by_role("heading", name="Funnel", level=1).wait_for(timeout=LOAD_MS)
        _loaded(page)
        assert "start=2026-11-01" in page.url and "end=2026-11-30" in page.url
        assert "compare=year" in page.url
        assert shown_dates(page) == ("Last month", "2026-11-01", "2026-11-30")

        # The short link does the same from any page.
        page.goto(f"{december}/activity?view={view_id}")
        page.get_by_text("Opened the saved view “Funnel, last month”.").wait_for(
            timeout=LOAD_MS)
        page.get_by_role("heading", name="Funnel", level=1).wait_for(timeout=LOAD_MS)
        _loaded(page)
        assert shown_dates(page) == ("Last month", "2026-11-01", "2026-11-30")
        page.get_by_test_id("stSidebar").get_by_role("button", name="Save view").click()
        page.get_by_role("textbox", name="Name").wait_for(timeout=LOAD_MS)
        screenshot(page, "saved_views.png")
    finally:
        page.context.close()
