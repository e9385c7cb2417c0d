"""The Subscriptions & alerts page (issue 12, item 4), through AppTest on SQLite and
PostgreSQL. Login is off: the person is hsl_ui.auth.ANONYMOUS. The clock is
pages_support.NOW, 2026-03-20 21:00 in Moscow: a daily 09:00 digest next runs on 21 March.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from hsl import alerts, subscriptions, views
from hsl.auth import Actor
from hsl.db import make_engine
from hsl.schedules import Schedule
from hsl_ui.auth import ANONYMOUS
from tests.conftest import url_of
from tests.pages_support import (  # noqa: F401 - clean_env and navigation_as_served are autouse
    clean_env,
    navigation_as_served,
    open_page,
    shown,
)

PAGE = "pages/subscriptions.py"
ME = Actor(ANONYMOUS, "viewer")
MADE = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def url(engine) -> str:
    return url_of(engine)


def _with(url: str, action):
    engine = make_engine(url)
    try:
        return action(engine)
    finally:
        engine.dispose()


def by_label(elements, label: str):
    return next(e for e in elements if e.label == label)


def table(at) -> list[dict]:
    return at.dataframe[0].value.to_dict("records")


def test_subscribe_to_a_saved_view_and_see_its_next_run(monkeypatch, url):
    view_id = _with(url, lambda e: views.create(e, ME, name="Funnel <b>", page="funnel",
                                                now=MADE))
    at = open_page(monkeypatch, url, PAGE, "viewer")
    assert not at.exception
    by_label(at.text_input, "Telegram chat *").input("123456789")
    by_label(at.button, "Subscribe").click().run()
    assert not at.exception
    assert [shown(s.value) for s in at.success] == [
        "Subscribed: “Funnel <b>”, Daily at 09:00, digest #1."]
    [row] = table(at)
    assert (row["View"], row["Telegram chat"], row["Schedule"], row["Next run"],
            row["Last run"]) == ("Funnel <b>", "123456789", "Daily, 09:00",
                                 "21 Mar 2026, 09:00", "")
    [kept] = _with(url, lambda e: subscriptions.listed(e, ME))
    assert (kept.view_id, kept.chat_id, kept.schedule.tz) == (view_id, 123456789,
                                                             "Europe/Moscow")


def test_a_bad_chat_id_is_one_sentence_and_nothing_is_saved(monkeypatch, url):
    _with(url, lambda e: views.create(e, ME, name="Funnel", page="funnel", now=MADE))
    at = open_page(monkeypatch, url, PAGE, "viewer")
    by_label(at.text_input, "Telegram chat *").input("@anna")
    by_label(at.button, "Subscribe").click().run()
    assert [shown(e.value) for e in at.error] == [
        "“@anna” is not a Telegram chat id: use the number of a person (e.g. 123456789) or "
        "of a group (e.g. -1001234567890)."]
    assert _with(url, lambda e: subscriptions.listed(e, ME)) == []


def test_pause_resume_and_delete(monkeypatch, url):
    def made(engine):
        view_id = views.create(engine, ME, name="Funnel", page="funnel", now=MADE)
        return subscriptions.subscribe(engine, ME, view_id=view_id, chat=111, now=MADE,
                                       schedule=Schedule("weekly", time(8, 30), 0,
                                                         tz="Europe/Moscow"))
    sub_id = _with(url, made)
    at = open_page(monkeypatch, url, PAGE, "viewer")
    assert table(at)[0]["Next run"] == "23 Mar 2026, 08:30"  # the next Monday
    by_label(at.button, "Pause").click().run()
    assert [shown(s.value) for s in at.success] == [f"Paused the digest #{sub_id}."]
    assert table(at)[0]["Next run"] == "Paused"
    by_label(at.button, "Resume").click().run()
    assert table(at)[0]["Next run"] == "23 Mar 2026, 08:30"
    by_label(at.button, "Delete").click().run()
    assert [shown(s.value) for s in at.success] == [f"Deleted the digest #{sub_id} of “Funnel”."]
    assert _with(url, lambda e: subscriptions.listed(e, ME)) == []


def test_a_viewer_sees_their_own_and_an_admin_everyones(monkeypatch, url):
    bob = Actor("bob", "analyst")

    def made(engine):
        shared = views.create(engine, bob, name="Team", page="overview", shared=True, now=MADE)
        daily = Schedule("daily", time(9, 0), tz="Europe/Moscow")
        subscriptions.subscribe(engine, bob, view_id=shared, chat=222, schedule=daily, now=MADE)
        subscriptions.subscribe(engine, ME, view_id=shared, chat=111, schedule=daily, now=MADE)
    _with(url, made)
    mine = open_page(monkeypatch, url, PAGE, "viewer")
    assert [r["Telegram chat"] for r in table(mine)] == ["111"]
    assert "Owner" not in mine.dataframe[0].value.columns
    everyone = open_page(monkeypatch, url, PAGE, "admin")
    assert [(r["Owner"], r["Telegram chat"]) for r in table(everyone)] == [
        (ANONYMOUS, "111"), ("bob", "222")]


def test_add_an_alert_and_see_it_listed(monkeypatch, url):
    at = open_page(monkeypatch, url, PAGE, "analyst")
    assert not at.exception
    by_label(at.text_input, "Name *").input("Many hot leads")
    by_label(at.selectbox, "Number *").select("hot-leads")
    by_label(at.text_input, "Telegram chat *").input("123456789")
    by_label(at.button, "Add the alert").click().run()
    assert not at.exception
    assert [shown(s.value) for s in at.success] == ["Added the alert #1 “Many hot leads”."]
    [row] = at.dataframe[-1].value.to_dict("records")
    assert (row["Name"], row["Condition"], row["Telegram chat"], row["Now"]) == (
        "Many hot leads", "Hot leads ≥ 20", "123456789", "Not checked yet")
    [rule] = _with(url, lambda e: alerts.rules(e, Actor(ANONYMOUS, "analyst")))
    assert (rule.metric, rule.op, rule.threshold, rule.params) == ("hot-leads", ">=", 20.0,
                                                                 "window_days=7")
    by_label(at.button, "Pause").click().run()  # the digests have none: this is the alert's
    assert [shown(s.value) for s in at.success] == ["Paused the alert “Many hot leads”."]


def test_an_alert_against_the_period_before_and_a_bad_number(monkeypatch, url):
    at = open_page(monkeypatch, url, PAGE, "analyst")
    by_label(at.text_input, "Name *").input("Payments down")
    by_label(at.selectbox, "Number *").select("confirmed-payments")
    by_label(at.selectbox, "Is *").select("<")
    by_label(at.text_input, "Than *").input("lots")
    by_label(at.text_input, "Telegram chat *").input("123456789")
    by_label(at.button, "Add the alert").click().run()
    assert [shown(e.value) for e in at.error] == [
        "“lots” is not a number; write one, or “the period before”."]
    by_label(at.text_input, "Than *").input("the period before")
    by_label(at.button, "Add the alert").click().run()
    [rule] = _with(url, lambda e: alerts.rules(e, Actor(ANONYMOUS, "analyst")))
    assert (rule.metric, rule.op, rule.threshold, rule.params) == (
        "confirmed-payments", "<", None, "dates=last-7-days")  # the form's default dates
