"""Drill-down in a real headless Chromium: a funnel step's link opens the Audience page on
exactly that step's people (the demo database)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.support import LOAD_MS, card_values, no_errors, open_from_navigation

pytestmark = pytest.mark.browser


def test_a_funnel_step_link_opens_the_audience_with_the_same_count(app_url, page):
    open_from_navigation(page, app_url, "Funnel")
    booked = card_values(page, 4)[2]  # Registered, Attended, Booked, Paid
    people = "person" if booked == "1" else "people"
    link = page.get_by_role("link", name=f"Booked: {booked} {people}", exact=True)
    link.click()
    page.wait_for_url(re.compile(r"/audience\?.*booked=yes"), timeout=LOAD_MS)
    match = "person matches" if booked == "1" else "people match"
    page.get_by_role("heading", name=f"{booked} {match}", exact=True).wait_for(timeout=LOAD_MS)
    page.get_by_text(re.compile(r"^People who registered for a free lesson from .* and "
                                r"clicked its link and have an active booking\.$")
                     ).wait_for(timeout=LOAD_MS)
    no_errors(page)
