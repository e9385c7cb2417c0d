"""Streams and Leads in a real headless Chromium: change a filter, reopen the link, screenshot."""

from __future__ import annotations

import re

import pytest

from tests.e2e.support import (
    LOAD_MS,
    LOADED,
    card_values,
    choose,
    new_page,
    no_errors,
    open_from_navigation,
    screenshot,
    settled,
)

pytestmark = pytest.mark.browser

ROSTER = re.compile(r"^[\d,]+ (people|person) with a booking in the (\S+) stream\. ")
WINDOW_14 = re.compile(r"^Events in the last 14 days up to now ")


def roster_caption(page, stream: str | None = None) -> str:
    """Wait until the roster (of `stream`, if given) is drawn; return its caption."""
    pattern = ROSTER if stream is None else re.compile(
        rf"^[\d,]+ (people|person) with a booking in the {re.escape(stream)}\. ")
    caption = page.get_by_text(pattern)
    caption.wait_for(timeout=LOAD_MS)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    settled(page)  # the roster table comes after its caption, in the same run
    return caption.text_content()


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
    no_errors(page, expect_data=False)

    other = new_page(browser, page.url)
    try:
        assert roster_caption(other, "3rd stream") == third
        assert other.get_by_role("combobox", name="Stream").input_value() == "3rd stream"
    finally:
        other.context.close()
    screenshot(page, "streams.png")


def test_leads_window_goes_into_a_link_that_reproduces_the_counts(app_url, page, browser):
    open_from_navigation(page, app_url, "Leads")
    page.get_by_text(re.compile(r"^Events in the last 7 days up to now ")).wait_for(
        timeout=LOAD_MS)
    window = page.get_by_role("spinbutton", name="Window (days)")
    window.fill("14")
    window.press("Enter")
    page.wait_for_url(re.compile(r"[?&]window=14"), timeout=LOAD_MS)
    page.get_by_text(WINDOW_14).wait_for(timeout=LOAD_MS)
    counts = card_values(page, 4)
    no_errors(page, expect_data=False)

    other = new_page(browser, page.url)
    try:
        other.get_by_text(WINDOW_14).wait_for(timeout=LOAD_MS)
        assert card_values(other, 4) == counts
        assert other.get_by_role("spinbutton", name="Window (days)").input_value() == "14"
    finally:
        other.context.close()
    screenshot(page, "leads.png")
