"""Saved views on the pages (issue 12, item 1), through AppTest on SQLite and PostgreSQL.

Login is off, so the person is hsl_ui.auth.ANONYMOUS with the role the test names. The
clock is pages_support.NOW: 2026-03-20 21:00 in Moscow, so "last month" is February 2026.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from hsl import views
from hsl.auth import Actor
from hsl.db import make_engine
from hsl.errors import ValidationError
from hsl.schema import saved_views
from hsl_ui.auth import ANONYMOUS
from tests.conftest import url_of
from tests.hostile import CORPUS
from tests.pages_support import (  # noqa: F401 - clean_env and navigation_as_served are autouse
    captions,
    clean_env,
    infos,
    navigation_as_served,
    open_page,
    shown,
)

FUNNEL, STREAMS, OVERVIEW = "pages/funnel.py", "pages/streams.py", "pages/overview.py"
BOB = Actor("bob", "analyst")


@pytest.fixture
def url(engine) -> str:
    """A fresh migrated database for each test: the views of one test are not another's."""
    return url_of(engine)


def sidebar_views(at: AppTest) -> dict[str, dict[str, list[str]]]:
    """Saved view label → the query string its sidebar link opens with."""
    found = {}
    for link in at.sidebar.get("page_link"):
        if link.proto.icon in (":material/bookmark:", ":material/group:"):
            found[shown(link.proto.label)] = link.proto.query_string
    return found


def successes(at: AppTest) -> list[str]:
    return [shown(s.value) for s in at.success]


def by_label(elements, label: str):
    return next(e for e in elements if e.label == label)


def test_save_a_view_with_rolling_dates_and_find_it_in_the_sidebar(monkeypatch, url):
    at = open_page(monkeypatch, url, FUNNEL, "analyst", dates="last-month", compare="year")
    assert not at.exception
    by_label(at.text_input, "Name *").input("Python, last month")
    assert by_label(at.radio, "Dates").options == ["Rolling: Last month",
                                                   "Fixed: 1 Feb – 28 Feb 2026"]
    by_label(at.radio, "Dates").set_value("Rolling: Last month")
    by_label(at.checkbox, "Share with everyone").check()
    by_label(at.button, "Save").click().run()
    assert not at.exception
    engine = make_engine(url)
    try:
        saved = views.every(engine)
    finally:
        engine.dispose()
    assert [(v.owner, v.name, v.page, v.query, v.dates_preset, v.shared) for v in saved] == [
        (ANONYMOUS, "Python, last month", "funnel", "compare=year", "last-month", True)]
    assert successes(at) == [f"Saved the view “Python, last month”: it is in the sidebar, "
                             f"and ?view={saved[0].id} opens it."]
    assert sidebar_views(at) == {
        "Python, last month": "compare=year&dates=last-month&start=2026-02-01&end=2026-02-28"}


def test_fixed_dates_are_saved_as_shown(monkeypatch, url):
    at = open_page(monkeypatch, url, FUNNEL, "viewer", start="2026-03-02", end="2026-03-08")
    by_label(at.text_input, "Name *").input("Week 10")
    assert by_label(at.radio, "Dates").options == ["Fixed: 2 Mar – 8 Mar 2026"]
    assert not [c for c in at.checkbox if c.label == "Share with everyone"]  # a viewer
    by_label(at.button, "Save").click().run()
    engine = make_engine(url)
    try:
        view = views.every(engine)[0]
    finally:
        engine.dispose()
    assert (view.dates_preset, view.start_date, view.end_date, view.shared) == (
        None, date(2026, 3, 2), date(2026, 3, 8), False)


def test_an_empty_name_is_one_sentence_and_nothing_is_saved(monkeypatch, url):
    at = open_page(monkeypatch, url, FUNNEL)
    by_label(at.button, "Save").click().run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == ["A saved view needs a name."]
    engine = make_engine(url)
    try:
        assert views.every(engine) == []
    finally:
        engine.dispose()


def _saved(url: str, actor: Actor, **kw) -> int:
    engine = make_engine(url)
    try:
        return views.create(engine, actor, **kw)
    finally:
        engine.dispose()


def test_a_short_link_opens_the_view_with_its_dates_rolled(monkeypatch, url):
    view_id = _saved(url, BOB, name="Team funnel", page="funnel",
                     query="compare=year", preset="last-month",
                     shared=True)
    at = open_page(monkeypatch, url, OVERVIEW, "viewer", view=str(view_id))
    assert not at.exception
    assert successes(at) == ["Opened the saved view “Team funnel”."]
    assert at.title[0].value == "Funnel"
    assert dict(at.query_params) == {"compare": "year", "dates": "last-month",
                                     "start": "2026-02-01", "end": "2026-02-28"}
    assert at.date_input[0].value == (date(2026, 2, 1), date(2026, 2, 28))


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_someone_elses_personal_view_does_not_open_by_its_id(monkeypatch, url, role):
    view_id = _saved(url, BOB, name="Bob's own", page="funnel")
    at = open_page(monkeypatch, url, OVERVIEW, role, view=str(view_id))
    assert not at.exception
    assert f"There is no saved view #{view_id} that you can open." in infos(at)
    assert at.title[0].value == "Overview" and "view" not in at.query_params
    assert sidebar_views(at) == {}  # nor is it listed


def test_an_admin_opens_any_view_and_a_bad_number_is_one_sentence(monkeypatch, url):
    view_id = _saved(url, BOB, name="Bob's own", page="streams")
    at = open_page(monkeypatch, url, OVERVIEW, "admin", view=str(view_id))
    assert at.title[0].value == "Streams"
    bad = open_page(monkeypatch, url, OVERVIEW, "admin", view="12abc")
    assert "“12abc” is not a saved view's number." in infos(bad)


def test_a_view_whose_lesson_type_is_gone_opens_with_a_plain_notice(monkeypatch, url):
    view_id = _saved(url, BOB, name="Old type", page="funnel", query="lesson_type=cooking",
                     shared=True)
    at = open_page(monkeypatch, url, OVERVIEW, "viewer", view=str(view_id))
    assert not at.exception and not at.error
    assert at.title[0].value == "Funnel"
    assert ("Ignored `lesson_type=cooking` from the link: “cooking” is not one of the "
            "choices. Showing All lesson types.") in infos(at)


def test_rename_and_delete_from_the_sidebar(monkeypatch, url):
    view_id = _saved(url, Actor(ANONYMOUS, "analyst"), name="Mine", page="funnel")
    at = open_page(monkeypatch, url, FUNNEL)
    by_label(at.text_input, "New name *").input("Mine, renamed")
    by_label(at.button, "Save changes").click().run()
    assert successes(at) == ["Saved the changes to “Mine, renamed”."]
    assert list(sidebar_views(at)) == ["Mine, renamed"]
    by_label(at.button, "Delete this view").click().run()
    assert successes(at) == ["Deleted the saved view “Mine, renamed”."]
    assert sidebar_views(at) == {}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(saved_views.select()).all() == []
    finally:
        engine.dispose()
    assert view_id


def test_hostile_view_names_are_refused_or_shown_as_plain_text(monkeypatch, url):
    kept = {}
    for value in CORPUS.values():
        try:
            _saved(url, BOB, name=value[:40], page="funnel", shared=True)
        except ValidationError as err:  # control characters, NUL, bidi: one sentence
            assert str(err) in {"A view's name cannot hold control or invisible characters.",
                                "A saved view needs a name."}
            continue
        kept[views.clean_name(value[:40])] = True
    assert len(kept) >= 10
    at = open_page(monkeypatch, url, FUNNEL, "viewer")
    assert not at.exception
    labels = [p.proto.label for p in at.sidebar.get("page_link")
              if p.proto.icon == ":material/group:"]
    assert sorted(shown(label) for label in labels) == sorted(f"{n} · bob" for n in kept)
    for label in labels:  # no Markdown link, image or HTML survives unescaped
        bare = re.sub(r"\\.", "", label)
        assert "](" not in bare and "<" not in bare and "://" not in bare.replace(":\u2060", "")
