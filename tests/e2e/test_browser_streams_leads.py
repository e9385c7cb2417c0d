"""Streams and Leads in a real headless Chromium: change a filter, reopen the link, screenshot."""

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

ROSTER = re.compile(r"^[\d,]+ (people|person) with a booking in the (\S+) stream\. ")
WINDOW_14 = re.compile(r"^Events in the last 14 days up to now ")


def open_from_navigation(page, app_url: str, title: str) -> None:
    """Open the app's front page, then `title` from the sidebar, as a person would."""
    page.goto(app_url)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)  # the app's own navigation is drawn
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=LOAD_MS)


def roster_caption(page, stream: str | None = None) -> str:
    """Wait until the roster (of `stream`, if given) is drawn; return its caption."""
    pattern = ROSTER if stream is None else re.compile(
        rf"^[\d,]+ (people|person) with a booking in the {re.escape(stream)}\. ")
    caption = page.get_by_text(pattern)
    caption.wait_for(timeout=LOAD_MS)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    return caption.text_content()


def tier_cards(page) -> list[str]:
    """The four tier counts as the cards show them, once the run has drawn them."""
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    values = page.get_by_test_id("stMetricValue")
    values.nth(3).wait_for(timeout=LOAD_MS)
    return values.all_text_contents()


def save_screenshot(page, name: str) -> None:
    page.mouse.move(0, 0)  # no hover toolbar over a table in the picture
    full_page_screenshot(page, name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ARTIFACTS / name, SCREENSHOTS / name)


def no_errors(page) -> None:
    text = page.locator("body").inner_text()
    for bad in ("Traceback", "Exception", "Error:", "StreamlitAPI"):
        assert bad not in text


def test_streams_stream_choice_goes_into_a_link_that_reproduces_the_roster(app_url, page,
                                                                          browser):
    open_from_navigation(page, app_url, "Streams")
    newest = roster_caption(page)
    assert page.get_by_test_id("stDataFrame").count() == 2  # summary and roster
    # A click on a bar of the status chart picks its stream.
    page.locator('[data-testid=stVegaLiteChart] [aria-label*="Stream: 2nd stream;"]').first.click()
    page.wait_for_url(re.compile(r"[?&]stream=2nd_stream"), timeout=LOAD_MS)
    assert roster_caption(page, "2nd stream") != newest
    choose(page, "Stream", "3rd stream")
    page.wait_for_url(re.compile(r"[?&]stream=3rd_stream"), timeout=LOAD_MS)
    third = roster_caption(page, "3rd stream")
    assert third != newest
    no_errors(page)

    other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        other.goto(page.url)
        assert roster_caption(other, "3rd stream") == third
        assert other.get_by_role("combobox", name="Stream").input_value() == "3rd stream"
    finally:
        other.context.close()
    save_screenshot(page, "streams.png")


def test_leads_window_goes_into_a_link_that_reproduces_the_counts(app_url, page, browser):
    open_from_navigation(page, app_url, "Leads")
    page.get_by_text(re.compile(r"^Events in the last 7 days up to now ")).wait_for(
        timeout=LOAD_MS)
    window = page.get_by_role("spinbutton", name="Window (days)")
    window.fill("14")
    window.press("Enter")
    page.wait_for_url(re.compile(r"[?&]window=14"), timeout=LOAD_MS)
    page.get_by_text(WINDOW_14).wait_for(timeout=LOAD_MS)
    counts = tier_cards(page)
    no_errors(page)

    other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        other.goto(page.url)
        other.get_by_text(WINDOW_14).wait_for(timeout=LOAD_MS)
        assert tier_cards(other) == counts
        assert other.get_by_role("spinbutton", name="Window (days)").input_value() == "14"
    finally:
        other.context.close()
    save_screenshot(page, "leads.png")
