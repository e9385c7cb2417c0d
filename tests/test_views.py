"""Saved views (issue 12, item 1): who may save, open, share, rename and delete, and how the
dates roll; on SQLite and PostgreSQL.

People: ann (viewer), bob (analyst), ada (admin). NOW is 2026-11-15 09:00 UTC; the
reporting timezone is Europe/Moscow, so today is 15 Nov 2026 there.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hsl import views
from hsl.auth import Actor
from hsl.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError

ANN, BOB, ADA = Actor("ann", "viewer"), Actor("bob", "analyst"), Actor("ada", "admin")
NOW = datetime(2026, 11, 15, 9, tzinfo=UTC)


def save(engine, actor=ANN, name="My funnel", page="funnel", **kw) -> int:
    return views.create(engine, actor, name=name, page=page, now=NOW, **kw)


def test_a_view_keeps_its_page_filters_and_rolling_dates(engine):
    view_id = save(engine, query="?lesson_type=python_basics&compare=year&start=2026-01-01"
                   "&end=2026-01-31&page=3", preset="last-month")
    view = views.get(engine, ANN, view_id)
    # The dates and a pager's page are kept apart from the filters.
    assert (view.name, view.page, view.query) == ("My funnel", "funnel",
                                                  "lesson_type=python_basics&compare=year")
    assert (view.dates_preset, view.start_date, view.end_date) == ("last-month", None, None)
    # Opened on 15 Nov: last month is October; opened on 3 Jan 2027: December 2026.
    assert view.query_params(date(2026, 11, 15)) == [
        ("lesson_type", "python_basics"), ("compare", "year"), ("dates", "last-month"),
        ("start", "2026-10-01"), ("end", "2026-10-31")]
    assert view.query_params(date(2027, 1, 3))[-2:] == [("start", "2026-12-01"),
                                                        ("end", "2026-12-31")]


def test_fixed_dates_stay_and_no_dates_mean_the_default_preset(engine):
    fixed = views.get(engine, ANN, save(engine, name="Oct", start=date(2026, 10, 3),
                                        end=date(2026, 10, 9)))
    assert fixed.query_params(date(2027, 5, 1)) == [("start", "2026-10-03"),
                                                     ("end", "2026-10-09")]
    default = views.get(engine, ANN, save(engine, name="Default"))
    assert default.dates_preset == "last-30-days"
    assert default.query_params(date(2026, 11, 15)) == [
        ("dates", "last-30-days"), ("start", "2026-10-17"), ("end", "2026-11-15")]
    # Streams has no dates: a view of it keeps none, whatever was asked.
    streams = views.get(engine, ANN, save(engine, name="S", page="streams",
                                          query="stream=3rd_stream", preset="today"))
    assert streams.query_params(date(2026, 11, 15)) == [("stream", "3rd_stream")]


@pytest.mark.parametrize(("given", "sentence"), [
    ({"name": "  "}, "A saved view needs a name."),
    ({"name": "x" * 81}, "A view's name can be at most 80 characters long."),
    ({"name": "bad\u202ename"}, "A view's name cannot hold control or invisible characters."),
    ({"page": "users"}, "“users” is not a page a view can open; the pages are overview, "
                        "free-lessons, funnel, activity, streams, leads."),
    ({"preset": "last-week"}, "“last-week” is not a date preset; the presets are today, "
     "yesterday, last-7-days, last-30-days, last-90-days, this-month, last-month, "
     "this-quarter, last-quarter, year-to-date, last-year."),
    ({"preset": "today", "start": date(2026, 1, 1)},
     "A view's dates are either a preset or fixed dates, not both."),
    ({"start": date(2026, 1, 1)}, "Fixed dates need both a start and an end."),
    ({"start": date(2026, 2, 1), "end": date(2026, 1, 1)}, "The start date is after the end date."),
    ({"query": "lesson type=x"}, "“lesson type” is not a filter of any page."),
    ({"query": "a=\x00"}, "A view's filters cannot hold a NUL character."),
])
def test_bad_input_is_one_sentence_and_saves_nothing(engine, given, sentence):
    with pytest.raises(ValidationError) as err:
        save(engine, **given)
    assert str(err.value) == sentence
    assert views.every(engine) == []


def test_names_are_unique_per_owner_and_spaces_collapse(engine):
    save(engine, name="  Python   funnel ")
    with pytest.raises(ConflictError) as err:
        save(engine, name="Python funnel")
    assert str(err.value) == "You already have a saved view named “Python funnel”."
    save(engine, BOB, name="Python funnel")  # another owner may use the name
    assert [(v.owner, v.name) for v in views.every(engine)] == [
        ("ann", "Python funnel"), ("bob", "Python funnel")]


def test_personal_views_are_private_and_shared_ones_are_for_everyone(engine):
    ann_own = save(engine, ANN, name="Ann's")
    bob_own = save(engine, BOB, name="Bob's")
    bob_shared = save(engine, BOB, name="For all", shared=True)
    # Ann sees her own, then others' shared; never Bob's personal one.
    assert [v.name for v in views.visible(engine, ANN)] == ["Ann's", "For all"]
    assert [v.name for v in views.visible(engine, BOB)] == ["Bob's", "For all"]
    for hidden, asker in ((bob_own, ANN), (ann_own, BOB), (999, ANN)):
        with pytest.raises(NotFoundError) as err:
            views.get(engine, asker, hidden)
        assert str(err.value) == f"There is no saved view #{hidden} that you can open."
    assert views.get(engine, ANN, bob_shared).name == "For all"
    assert views.get(engine, ADA, bob_own).name == "Bob's"  # an admin opens any


def test_a_viewer_cannot_share(engine):
    with pytest.raises(PermissionDenied) as err:
        save(engine, ANN, shared=True)
    assert str(err.value) == ("Your role (viewer) may not share views with everyone; it "
                              "takes the analyst role.")
    view_id = save(engine, ANN)
    with pytest.raises(PermissionDenied):
        views.change(engine, ANN, view_id, shared=True)
    assert views.every(engine)[0].shared is False


def test_only_the_owner_or_an_admin_renames_or_deletes(engine):
    shared = save(engine, BOB, name="Team funnel", shared=True)
    for attempt in (lambda: views.change(engine, ANN, shared, name="Mine now"),
                    lambda: views.remove(engine, ANN, shared)):
        with pytest.raises(PermissionDenied) as err:
            attempt()
        assert str(err.value) == ("Only its owner or an admin may change the saved view "
                                  "“Team funnel”.")
    assert views.change(engine, BOB, shared, name="Funnel, team").name == "Funnel, team"
    assert views.change(engine, ADA, shared, shared=False).shared is False
    save(engine, BOB, name="Other")
    with pytest.raises(ConflictError) as err:
        views.change(engine, ADA, shared, name="Other")
    assert str(err.value) == "bob already has a saved view named “Other”."
    assert views.remove(engine, ADA, shared).name == "Funnel, team"
    assert [v.name for v in views.every(engine)] == ["Other"]


@pytest.mark.parametrize("text", ["abc", "0", "-1", "1e3", "١٢", "9" * 19, ""])
def test_a_view_number_from_a_link_is_checked(text):
    with pytest.raises(ValidationError) as err:
        views.view_id(text)
    assert str(err.value).endswith("is not a saved view's number.")


def test_a_view_number_from_a_link():
    assert views.view_id(" 42 ") == 42
