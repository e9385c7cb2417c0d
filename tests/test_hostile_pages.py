"""Every page, as every role, on a database whose every text column holds a hostile value,
and every query parameter of every page set to each hostile value (tests/hostile.py).

What must hold on each run: no exception (nor the app's own "something went wrong"), no
error banner, and in every text the page shows — titles, captions, notices, table cells,
card labels, widget options — no raw link, markup or reordering character: everything
from the data or the URL went through `hsl_ui.format.md` / `plain`. The real browser
checks what these texts become on screen (tests/e2e/test_browser_hostile.py).
"""

from __future__ import annotations

import re
from functools import partial

import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from hsl.db import make_engine
from hsl.filters import Period
from hsl.metrics.streams import list_streams, status_counts, stream_roster, stream_summary
from hsl.schema import bookings
from hsl.summaries import current, raw_path
from hsl.summaries.refresh import refresh
from hsl_ui.banners import UNEXPECTED
from tests.conftest import loaded_engine, url_of
from tests.hostile import (
    CORPUS,
    MAX_ID,
    PAGE_PARAMS,
    REORDERING,
    ROLE_PAGES,
    URL_WALK,
    hostile_rows,
    storable,
)
from tests.pages_support import (  # noqa: F401 - clean_env and navigation_as_served are autouse
    MOSCOW,
    NOW,
    clean_env,
    navigation_as_served,
    open_page,
    spy_downloads,
)

ROLES_PAGES = ROLE_PAGES
# Raw text that Markdown would turn into a link, markup or an HTML element, or that
# reorders or hides text. fmt.md escapes or breaks every one of them.
LIVE = re.compile(
    r"\]\(|https?://|www\.evil|@evil|mailto:|javascript:|(?<!\\)<(a\b|img|script)|(?<!\\)&#x|"
    r":red\[|(?<!\\):material/warning|\*\*bold|\x00|\x07|\x1b"
)
CODE_SPAN = re.compile(r"`[^`]*`")
# The one kind of link data may lead to: t.me/<valid username> (hsl.metrics.users.tme_link).
TELEGRAM_MD_LINK = re.compile(r"\]\(https://t\.me/[A-Za-z0-9_]{1,32}\)")
# The app's own links that a table cell may hold: a user id to its profile (audit log).
PROFILE_MD_LINK = re.compile(r"^\[\d+\]\(users\?user=\d+\)$")


@pytest.fixture(scope="module")
def hostile_url(backend, database_factory) -> str:
    """A database whose every text column holds a corpus value (tests/hostile.py)."""
    return url_of(loaded_engine(backend, database_factory, hostile_rows(backend, NOW)))


def markdown_on_screen(at: AppTest) -> list[tuple[str, str]]:
    """(where, text) of every text the run shows as Markdown: elements, table cells, labels."""
    found = [(kind, e.value) for kind in ("title", "header", "subheader", "caption", "markdown",
                                          "info", "warning", "error", "success", "toast")
             for e in getattr(at, kind)]
    found += [("metric", m.label) for m in at.metric] + [("metric", str(m.value))
                                                         for m in at.metric]
    for table in at.table:
        found += [("table", str(cell)) for row in table.value.values.tolist() for cell in row]
    for kind in ("selectbox", "multiselect", "text_input", "number_input", "date_input"):
        found += [(kind, widget.label) for widget in getattr(at, kind)]
    return found


def plain_on_screen(at: AppTest) -> list[tuple[str, str]]:
    """(where, text) shown as it is (no Markdown): widget options and data-table cells."""
    found = [(kind, str(o)) for kind in ("selectbox", "multiselect") for w in getattr(at, kind)
             for o in w.options]
    for frame in at.dataframe:
        found += [("dataframe", str(cell)) for row in frame.value.values.tolist()
                  for cell in row]
    return found


def assert_inert(at: AppTest) -> None:
    """No exception, no error, no live link/markup/reordering text (code spans are inert)."""
    __tracebackhide__ = True
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert UNEXPECTED not in errors and errors == [], errors
    for where, text in markdown_on_screen(at):
        outside_code = TELEGRAM_MD_LINK.sub("", CODE_SPAN.sub("", PROFILE_MD_LINK.sub("", text)))
        assert not LIVE.search(outside_code), (where, outside_code[:300])
    for where, text in markdown_on_screen(at) + plain_on_screen(at):
        assert not REORDERING.search(text) and "\x00" not in text, (where, text[:300])
        assert len(text) < 3_000, (where, text[:100])  # huge values are cut on screen
    assert at.title, "the page drew no title"


@pytest.mark.parametrize("role", list(ROLES_PAGES))
def test_every_page_on_hostile_data_as_every_role(monkeypatch, hostile_url, role):
    for script in ROLES_PAGES[role]:
        at = open_page(monkeypatch, hostile_url, script, role=role)
        assert_inert(at), script


@pytest.mark.parametrize("value", list(URL_WALK.values()), ids=list(URL_WALK))
def test_every_query_parameter_of_every_page_set_to_a_hostile_value(monkeypatch, backend,
                                                                     hostile_url, value):
    if backend != "postgresql":
        pytest.skip("URL parsing does not depend on the database: walked on PostgreSQL only")
    for script, keys in PAGE_PARAMS.items():
        at = open_page(monkeypatch, hostile_url, script, role="admin",
                       **dict.fromkeys(keys, value))
        assert_inert(at)


HOSTILE_PEOPLE = [*(9000 + i for i in range(len(CORPUS))), MAX_ID, 8999]


@pytest.mark.parametrize(("role", "people"), [
    ("admin", HOSTILE_PEOPLE),  # every profile, with its audit history and stream form
    ("viewer", [9000 + list(CORPUS).index("combo"), MAX_ID]),  # no contacts, names only
])
def test_every_hostile_person_profile(monkeypatch, hostile_url, role, people):
    for user_id in people:
        at = open_page(monkeypatch, hostile_url, "pages/users.py", role=role, user=str(user_id))
        assert_inert(at)
        assert [m.label for m in at.metric][:2] == ["Lead tier", "Funnel position"]


def test_every_hostile_stream_roster_and_its_csv_name(monkeypatch, hostile_url):
    engine = make_engine(hostile_url)
    with engine.connect() as conn:
        streams = sorted(conn.execute(select(bookings.c.course_stream).distinct()).scalars())
    engine.dispose()
    assert len(streams) == len(CORPUS)
    downloads = spy_downloads(monkeypatch)
    for stream in streams:
        downloads.clear()
        at = open_page(monkeypatch, hostile_url, "pages/streams.py", role="analyst",
                       stream=stream)
        assert_inert(at)
        roster = [n for n in downloads if n.startswith("roster")]
        assert len(roster) == 1 and len(roster[0]) <= 100, list(downloads)
        # The roster CSV holds the stream's one student, the stream's name kept whole.
        assert [row[0] for row in downloads[roster[0]][1:]] == [
            str(9000 + [storable(v, "postgresql") for v in CORPUS.values()].index(
                stream.replace("\x00", "")))]


def test_hostile_data_refreshed_into_the_summaries_reads_as_it_does_raw(
        monkeypatch, backend, database_factory):
    """The refresh copies hostile text (stream names, names, lesson and event types) into
    the summaries; every page on them is as inert, and the streams and their rosters are
    what the bot's tables give."""
    engine = loaded_engine(backend, database_factory, hostile_rows(backend, NOW))
    refresh(engine, MOSCOW, clock=lambda: NOW)
    assert current(engine, MOSCOW) is not None  # the pages below read the summaries
    period = Period.last_days(30, MOSCOW, NOW)
    streams = list_streams(engine)
    assert len(streams) == len(CORPUS)
    for report in (stream_summary, status_counts,
                   *(partial(stream_roster, stream=s) for s in streams)):
        ours = report(engine, period)
        with raw_path():
            assert_frame_equal(ours, report(engine, period))
    url = url_of(engine)
    for script in ROLES_PAGES["admin"]:
        assert_inert(open_page(monkeypatch, url, script, role="admin")), script
    for stream in streams[:3]:
        assert_inert(open_page(monkeypatch, url, "pages/streams.py", stream=stream))
