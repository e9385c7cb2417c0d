"""A deep link as the very first request of a freshly started server.

Until app.py has called st.navigation once in a server process, Streamlit treats the
pages/ folder as its legacy automatic page list and would run the linked page file alone,
without the login gate and the sidebar. The app sends such a run through app.py and then
reopens the linked page with its query string.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.support import LOAD_MS, LOADED, new_page, no_errors

pytestmark = pytest.mark.browser


def test_first_request_for_a_page_link_gets_the_whole_app(serve, browser, tmp_path):
    url = serve(HSL_DEMO_DB=str(tmp_path / "fresh.sqlite"), HSL_TIMEZONE="Europe/Moscow")
    page = new_page(browser, f"{url}/activity?top=3")
    page.get_by_role("heading", name="Activity", exact=True).wait_for(timeout=LOAD_MS)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)  # the shared sidebar ran too
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_by_text("Dates", exact=True).is_visible()
    assert sidebar.get_by_role("button", name="Refresh").is_visible()
    # The legacy page list (lower-case file names such as "audit log") is gone.
    nav = sidebar  # the app's own page links
    assert nav.get_by_role("link", name="Audit log", exact=True).is_visible()
    assert nav.get_by_role("link", name="audit log", exact=True).count() == 0
    assert re.search(r"/activity\?(.*&)?top=3(&|$)", page.url), page.url
    assert page.get_by_label("Event types shown by name", exact=True).input_value() == "3"
    no_errors(page)
