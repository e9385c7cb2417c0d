"""Digest subscriptions (issue 12, item 2): who may subscribe which chat, when a run is owed,
and that a period's run is claimed once, on SQLite and PostgreSQL.

ann (viewer) and bob (analyst) own views; ada is an admin. Moscow is UTC+3 all year, so a
daily digest at 09:00 is due at 06:00 UTC.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time

import pytest

from hsl import subscriptions as subs
from hsl import views
from hsl.auth import Actor
from hsl.db import make_engine
from hsl.errors import NotFoundError, PermissionDenied, ValidationError
from hsl.schedules import Schedule
from tests.conftest import url_of

ANN, BOB, ADA = Actor("ann", "viewer"), Actor("bob", "analyst"), Actor("ada", "admin")
MADE = datetime(2026, 11, 30, 10, tzinfo=UTC)
DAILY = Schedule("daily", time(9, 0), tz="Europe/Moscow")


def view(engine, actor=ANN, **kw) -> int:
    return views.create(engine, actor, name=kw.pop("name", "Funnel"), page="funnel", now=MADE,
                        **kw)


def test_a_person_subscribes_their_own_chat_to_a_view_they_can_open(engine):
    mine = view(engine)
    sub_id = subs.subscribe(engine, ANN, view_id=mine, chat=111, schedule=DAILY, now=MADE)
    [found] = subs.listed(engine, ANN)
    assert (found.id, found.view_name, found.owner, found.chat_id) == (sub_id, "Funnel",
                                                                       "ann", 111)
    assert found.schedule.describe() == "Daily at 09:00"
    assert found.next_run(MADE) == datetime(2026, 12, 1, 6, tzinfo=UTC)
    # Bob's personal view is not Ann's to open, so not hers to subscribe to.
    bobs = view(engine, BOB, name="Bob's")
    with pytest.raises(NotFoundError):
        subs.subscribe(engine, ANN, view_id=bobs, chat=111, schedule=DAILY, now=MADE)


def test_a_viewer_cannot_subscribe_others(engine):
    shared = view(engine, BOB, shared=True)
    subs.subscribe(engine, BOB, view_id=shared, chat=222, schedule=DAILY, now=MADE)
    cases = [
        (dict(chat=222), "That Telegram id belongs to someone else's subscriptions; subscribe "
                         "your own."),
        (dict(chat=111, owner="bob"), "Only an admin may subscribe someone else."),
        (dict(chat=-100500), "The group chat -100500 is not one an admin has allowed for "
                             "digests."),
    ]
    for given, sentence in cases:
        with pytest.raises(PermissionDenied) as err:
            subs.subscribe(engine, ANN, view_id=shared, schedule=DAILY, now=MADE, **given)
        assert str(err.value) == sentence
    subs.subscribe(engine, ANN, view_id=shared, chat=111, schedule=DAILY, now=MADE)
    with pytest.raises(PermissionDenied) as err:  # her id is 111 from now on
        subs.subscribe(engine, ANN, view_id=shared, chat=333, schedule=DAILY, now=MADE)
    assert str(err.value) == ("Your digests go to your Telegram id 111; only an admin may send "
                              "them to another person.")
    # An admin allows a group; then anyone may send digests there. Admins send anywhere.
    with pytest.raises(PermissionDenied):
        subs.allow_chat(engine, BOB, -100500, "Sales team")
    subs.allow_chat(engine, ADA, -100500, "Sales team")
    subs.subscribe(engine, ANN, view_id=shared, chat=-100500, schedule=DAILY, now=MADE)
    subs.subscribe(engine, ADA, view_id=shared, chat=222, owner="bob", schedule=DAILY, now=MADE)
    assert [(s.owner, s.chat_id) for s in subs.listed(engine, ADA)] == [
        ("ann", 111), ("ann", -100500), ("bob", 222), ("bob", 222)]
    assert [s.chat_id for s in subs.listed(engine, ANN)] == [111, -100500]  # her own only


@pytest.mark.parametrize("text", ["abc", "0", "-0", "1e5", "+5", "9" * 16, ""])
def test_a_chat_id_is_a_number(text):
    with pytest.raises(ValidationError) as err:
        subs.chat_id(text)
    assert "is not a Telegram chat id" in str(err.value)


def test_chat_ids_read_from_text():
    assert (subs.chat_id(" 123456789 "), subs.chat_id("-1001234567890")) == (
        123456789, -1001234567890)


def test_a_run_is_owed_once_at_its_time_and_claimed_once(engine):
    sub_id = subs.subscribe(engine, ANN, view_id=view(engine), chat=111, schedule=DAILY,
                            now=MADE)
    before = datetime(2026, 12, 1, 5, 59, tzinfo=UTC)
    assert subs.due(engine, before) == []  # the first 09:00 after it was made: 1 Dec
    at_time = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    [run] = subs.due(engine, at_time)
    assert (run.subscription.id, run.due_at, run.period_key, run.late) == (
        sub_id, at_time, "2026-12-01", False)
    run_id = subs.claim(engine, run, at_time)
    assert run_id is not None
    assert subs.claim(engine, run, at_time) is None  # the period is taken
    assert subs.due(engine, datetime(2026, 12, 1, 12, tzinfo=UTC)) == []
    subs.finish(engine, run_id, outcome="Sent", campaign_id=None, now=at_time)
    [found] = subs.listed(engine, ANN)
    assert (found.last_due_at, found.last_run_at, found.last_outcome) == (at_time, at_time,
                                                                          "Sent")


def test_a_stopped_worker_owes_only_the_latest_run_marked_late(engine):
    subs.subscribe(engine, ANN, view_id=view(engine), chat=111, schedule=DAILY, now=MADE)
    # No worker from 30 Nov to 4 Dec 08:00 UTC: runs of 1, 2, 3 and 4 Dec were missed.
    back = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    [run] = subs.due(engine, back)
    assert (run.due_at, run.period_key, run.late) == (datetime(2026, 12, 4, 6, tzinfo=UTC),
                                                       "2026-12-04", True)
    assert subs.claim(engine, run, back) is not None
    assert subs.due(engine, back) == []


def test_paused_subscriptions_owe_nothing_and_resume_without_a_backlog(engine):
    sub_id = subs.subscribe(engine, ANN, view_id=view(engine), chat=111, schedule=DAILY,
                            now=MADE)
    subs.set_paused(engine, ANN, sub_id, True)
    assert subs.due(engine, datetime(2026, 12, 2, 7, tzinfo=UTC)) == []
    assert subs.listed(engine, ANN)[0].next_run(MADE) is None
    with pytest.raises(NotFoundError):
        subs.set_paused(engine, BOB, sub_id, False)  # not his
    assert subs.unsubscribe(engine, ADA, sub_id).id == sub_id
    assert subs.listed(engine, ADA) == []


def test_two_workers_claim_a_period_once(engine, backend):
    if backend != "postgresql":
        pytest.skip("two workers share a PostgreSQL database")
    subs.subscribe(engine, ANN, view_id=view(engine), chat=111, schedule=DAILY, now=MADE)
    now = datetime(2026, 12, 1, 6, 5, tzinfo=UTC)
    [run] = subs.due(engine, now)
    claimed, start = [], threading.Barrier(2)

    def worker() -> None:
        mine = make_engine(url_of(engine))
        try:
            start.wait()
            claimed.append(subs.claim(mine, run, now))
        finally:
            mine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 2 and claimed.count(None) == 1  # one run row, one refusal
