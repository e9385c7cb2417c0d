"""Alert rules (issue 12, item 3): the numbers, the conditions, edge triggering, two workers
at once and who may do what; on SQLite and PostgreSQL.

NOW is Friday 2026-11-20 12:00 UTC; the reporting timezone is UTC. "This week" is the
preset last-7-days: 14–20 Nov; the period before it 7–13 Nov.

    user  first seen   registration (type, day)   bookings (day: status)     events
    1     2 Nov        python_basics 3 Nov        16 Nov: confirmed           -
    2     15 Nov       python_basics 15 Nov       17 Nov: new                 click python_basics
                                                                              15 Nov; 4 a day on
                                                                              15–19 Nov (20)
    3     18 Nov (reg) python_basics 18 Nov       19 Nov: cancelled           5 on 18 Nov
    4     10 Nov       design 10 Nov              11, 12 Nov: confirmed       click design 10 Nov

Counted by hand, this week | the week before:
    new users            2 (users 2, 3)        | 1 (user 4)
    registrations        2 (users 2, 3)        | 1 (user 4)
    confirmed payments   1 (user 1)            | 2 (user 4 twice)
    active bookings      2 (user 1, user 2)    | 2 (user 4 twice)
    hot leads            1: user 2, a registrant who has not paid, with 21 events on 5 days
                         in the 7 days before NOW (user 3: 5 events, cool; 1 and 4 paid)
                         | 0 in the 7 days before that
    attendance rate      last 7 days: 50 % (user 2 of users 2, 3); last 14 days: 66.7 %
                         (users 2 and 4 of 2, 3, 4); design over 14 days: 100 %
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from hsl import alerts
from hsl.auth import Actor
from hsl.db import make_engine
from hsl.errors import NotFoundError, PermissionDenied, ValidationError
from hsl.schema import alert_firings, alert_rules
from tests.conftest import loaded_engine
from tests.fixtures import load_rows, utc
from tests.fixtures.analytics import booking, burst, registration, user

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
TZ = "UTC"
ANN, BOB, ADA = Actor("ann", "viewer"), Actor("bob", "analyst"), Actor("ada", "admin")


def click(user_id: int, at: str, lesson_type: str) -> dict:
    return {"user_id": user_id, "event_type": "lesson_link_clicked", "created_at": utc(at),
            "details": {"lesson_type": lesson_type}}


ROWS = {
    "users": [user(1, "2026-11-02 08:00", "one", "One"), user(2, "2026-11-15 08:00", "two", "Two"),
              user(4, "2026-11-10 08:00", "four", "Four")],
    "free_lesson_registrations": [
        registration(1, "2026-11-03 10:00"), registration(2, "2026-11-15 09:00"),
        registration(3, "2026-11-18 09:00"), registration(4, "2026-11-10 09:00", "design")],
    "bookings": [
        booking(1, 1, "2026-11-16 10:00", "3rd_stream", 2),
        booking(2, 4, "2026-11-11 10:00", "3rd_stream", 2),
        booking(3, 4, "2026-11-12 10:00", "3rd_stream", 2),
        booking(4, 2, "2026-11-17 10:00", "3rd_stream", 0),
        booking(5, 3, "2026-11-19 10:00", "3rd_stream", -1)],
    "events": [click(2, "2026-11-15 11:00", "python_basics"),
               click(4, "2026-11-10 10:00", "design"),
               *burst(2, {15: 4, 16: 4, 17: 4, 18: 4, 19: 4}), *burst(3, {18: 5})],
}


@pytest.fixture(name="db")
def alert_db(backend, database_factory):
    """A fresh database holding ROWS (tests/test_alert_cli.py uses it too)."""
    engine = loaded_engine(backend, database_factory, ROWS)
    yield engine
    engine.dispose()


def make(engine, actor=ANN, name="Rule", metric="hot-leads", params="", op=">=",
         threshold: float | None = 1, chat_id=111, now=NOW) -> int:
    return alerts.create(engine, actor, name=name, metric=metric, params=params, op=op,
                         threshold=threshold, chat_id=chat_id, now=now)


def rule_of(engine, rule_id: int) -> alerts.Rule:
    return alerts.get(engine, rule_id)


def evaluated(engine, metric, params="", op=">=", threshold: float | None = 0, now=NOW):
    rid = make(engine, metric=metric, params=params, op=op, threshold=threshold)
    return alerts.evaluate(engine, rule_of(engine, rid), now=now, tz=TZ)


def firing_rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(
            alert_firings.c.rule_id, alert_firings.c.value, alert_firings.c.campaign_id)
            .order_by(alert_firings.c.id))]


# ---------------------------------------------------------------- the numbers


@pytest.mark.parametrize(("metric", "params", "now_value", "before_value"), [
    ("new-users", "", 2, 1),
    ("registrations", "", 2, 1),
    ("confirmed-payments", "", 1, 2),
    ("active-bookings", "dates=last-7-days", 2, 2),
    ("hot-leads", "", 1, 0),
    ("attendance-rate", "", 50.0, 100.0),  # the week before: user 4 of user 4
    ("attendance-rate", "days=14", 66.7, 0.0),  # 24 Oct – 6 Nov: user 1 did not click
    ("attendance-rate", "lesson_type=design&days=14", 100.0, 0.0),
])
def test_each_metric_counts_what_the_pages_count(db, metric, params, now_value, before_value):
    found = evaluated(db, metric, params, threshold=None)
    assert (found.value, found.compared_with) == (now_value, before_value)


def test_month_presets_compare_with_the_same_days_a_month_earlier(db):
    # this-month on 20 Nov: 1–20 Nov (registrations of users 1, 4, 2, 3) vs 1–20 Oct (none).
    found = evaluated(db, "registrations", "dates=this-month", threshold=None)
    assert (found.value, found.compared_with) == (4, 0)
    # last-month on 20 Nov is October: nothing; compared with September: nothing.
    found = evaluated(db, "registrations", "dates=last-month", threshold=None)
    assert (found.value, found.compared_with) == (0, 0)


def test_the_days_are_those_of_the_reporting_timezone(db):
    rule = rule_of(db, make(db, metric="registrations", params="dates=today", threshold=1))
    late = utc("2026-11-18 22:00")  # 19 Nov 01:00 in Moscow
    assert alerts.evaluate(db, rule, now=late, tz="UTC").value == 1  # user 3, 18 Nov 09:00
    assert alerts.evaluate(db, rule, now=late, tz="Europe/Moscow").value == 0


# ---------------------------------------------------------------- conditions and the message


def test_threshold_and_period_before_conditions(db):
    hot = evaluated(db, "hot-leads", op=">=", threshold=1)
    assert (hot.is_true, hot.compared_with) == (True, 1)
    assert not evaluated(db, "hot-leads", op=">", threshold=1).is_true
    assert evaluated(db, "hot-leads", op="<=", threshold=1).is_true
    assert not evaluated(db, "hot-leads", op="<", threshold=1).is_true
    # "confirmed payments this week < last week": 1 < 2.
    pay = evaluated(db, "confirmed-payments", op="<", threshold=None)
    assert pay.is_true
    assert pay.text == ("<b>Confirmed payments (last 7 days) &lt; the period before</b> is now "
                        "true: 1 confirmed payments, 2 the period before (rule “Rule”)")
    assert not evaluated(db, "active-bookings", op="<", threshold=None).is_true  # 2 < 2


def test_the_message_reads_well_with_a_link_and_hostile_names_escaped(db):
    rid = make(db, name='<script>alert("x")</script> & co', metric="attendance-rate",
               params="lesson_type=<b>py</b>&days=14", op="<", threshold=40)
    rule = rule_of(db, rid)
    assert rule.condition == "Attendance rate of <b>py</b> over the last 14 days < 40 %"
    found = alerts.evaluate(db, rule, now=NOW, tz=TZ, public_url="https://hsl.example/?a=1&b=2")
    assert (found.value, found.is_true) == (0.0, True)  # nobody registered for "<b>py</b>"
    assert found.text == (
        "<b>Attendance rate of &lt;b&gt;py&lt;/b&gt; over the last 14 days &lt; 40 %</b> is "
        "now true: attendance 0 % (rule “&lt;script&gt;alert(\"x\")&lt;/\u2060script&gt; "
        "&amp; co”)\n"
        '<a href="https://hsl.example/?a=1&amp;b=2">Open the app</a>')
    hot = alerts.evaluate(db, rule_of(db, make(db, name="Hot", threshold=1)), now=NOW, tz=TZ)
    assert hot.text == "<b>Hot leads ≥ 1</b> is now true: 1 hot leads (rule “Hot”)"


# ---------------------------------------------------------------- edge triggering


def test_a_rule_fires_when_it_becomes_true_and_again_only_after_being_false(db):
    rid = make(db, name="Busy week", metric="registrations", op=">=", threshold=2)
    sent: list[tuple[int, int, str]] = []

    def notify(conn, rule_id, chat_id, text):
        sent.append((rule_id, chat_id, text))
        return 900 + len(sent)

    def run(at: str) -> tuple[float, bool, bool]:
        (result,) = alerts.check(db, now=utc(at), tz=TZ, dry_run=False, notify=notify)
        return result.value, result.is_true, result.fired

    assert run("2026-11-13 12:00") == (1, False, False)  # 7–13 Nov: user 4
    assert run("2026-11-18 12:00") == (2, True, True)  # 12–18 Nov: users 2, 3
    assert run("2026-11-20 12:00") == (2, True, False)  # still true: quiet
    assert run("2026-11-23 12:00") == (1, False, False)  # 17–23 Nov: user 3
    load_rows(db, {"free_lesson_registrations": [registration(5, "2026-11-22 09:00")]})
    assert run("2026-11-24 12:00") == (2, True, True)  # 18–24 Nov: users 3, 5
    assert [(r, c) for r, c, _ in sent] == [(rid, 111), (rid, 111)]
    assert sent[0][2] == ("<b>Free-lesson registrations (last 7 days) ≥ 2</b> is now true: "
                          "2 registrations (rule “Busy week”)")
    assert firing_rows(db) == [(rid, 2.0, 901), (rid, 2.0, 902)]
    rule = rule_of(db, rid)
    assert (rule.is_true, rule.last_value, rule.last_outcome) == (True, 2.0, "fired")
    assert rule.last_checked_at == rule.last_fired_at == utc("2026-11-24 12:00")
    # A check older than the last one changes nothing.
    (late,) = alerts.check(db, now=utc("2026-11-21 12:00"), tz=TZ, dry_run=False)
    assert late.fired is False
    assert rule_of(db, rid).last_checked_at == utc("2026-11-24 12:00")


def test_the_first_check_of_a_true_rule_fires_and_paused_rules_are_not_checked(db):
    hot = make(db, name="Hot", threshold=1)
    quiet = make(db, name="Quiet", threshold=1)
    alerts.pause(db, ANN, quiet)
    results = alerts.check(db, now=NOW, tz=TZ, dry_run=False)
    assert [(r.rule_id, r.fired) for r in results] == [(hot, True)]
    assert firing_rows(db) == [(hot, 1.0, None)]
    assert rule_of(db, quiet).is_true is None
    # Resumed while true, it fires at its first check, as it was never checked.
    alerts.pause(db, ANN, quiet, paused=False)
    assert [(r.rule_id, r.fired) for r in alerts.check(db, now=NOW, tz=TZ, dry_run=False)] == [
        (hot, False), (quiet, True)]


def test_a_rule_that_no_longer_applies_is_reported_and_the_others_still_checked(db):
    with db.begin() as conn:  # as if a later version dropped the number it watches
        conn.execute(alert_rules.insert().values(
            owner="ann", name="Old", metric="revenue", params="", op=">", threshold=5,
            chat_id=111, paused=False, created_at=NOW))
    hot = make(db, name="Hot", threshold=1)
    old, new = alerts.check(db, now=NOW, tz=TZ, dry_run=False)
    sentence = ("“revenue” is not a number alerts can watch; the numbers are hot-leads, "
                "new-users, registrations, confirmed-payments, active-bookings, attendance-rate.")
    assert (old.condition, old.is_true, old.fired, old.text) == ("revenue > 5.0", False, False,
                                                                  sentence)
    assert (new.rule_id, new.fired) == (hot, True)
    assert rule_of(db, old.rule_id).last_outcome == f"error: {sentence}"


def test_a_dry_run_writes_nothing(db):
    rid = make(db, threshold=1)
    before = rule_of(db, rid)
    called: list[int] = []
    (result,) = alerts.check(db, now=NOW, tz=TZ, dry_run=True,
                             notify=lambda *a: called.append(1))
    assert (result.value, result.is_true, result.fired) == (1, True, True)  # would fire
    assert (rule_of(db, rid), firing_rows(db), called) == (before, [], [])


def test_two_workers_checking_at_once_fire_a_rule_once(db, backend):
    rid = make(db, threshold=1)
    url = db.url.render_as_string(hide_password=False)
    engines = [make_engine(url), make_engine(url)]
    sent: list[int] = []
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def notify(conn, rule_id, chat_id, text):
        time.sleep(0.3)  # inside the transaction, with the row locked: the other one waits
        sent.append(rule_id)
        return 7

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = [r.fired for r in alerts.check(engines[i], now=NOW, tz=TZ,
                                                         dry_run=False, notify=notify)]
        except Exception as err:  # noqa: BLE001 - shown by the assertion below
            outcomes[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for each in engines:
        each.dispose()
    assert sorted(outcomes) == [[False], [True]], outcomes
    assert (sent, firing_rows(db)) == ([rid], [(rid, 1.0, 7)])


# ---------------------------------------------------------------- who may do what


def test_rules_are_listed_paused_and_deleted_by_their_owner_or_an_admin(db):
    mine = make(db, ANN, name="Ann's")
    bobs = make(db, BOB, name="Bob's")
    assert [r.id for r in alerts.rules(db, ANN)] == [mine]
    assert [r.id for r in alerts.rules(db, ADA)] == [mine, bobs]
    with pytest.raises(PermissionDenied) as err:
        alerts.delete(db, ANN, bobs)
    assert str(err.value) == "Only its owner or an admin may change the alert rule “Bob's”."
    with pytest.raises(PermissionDenied):
        alerts.pause(db, ANN, bobs)
    assert alerts.pause(db, ANN, mine).paused is True
    alerts.check(db, now=NOW, tz=TZ, dry_run=False)  # Bob's fires: a firing to delete with it
    assert alerts.delete(db, ADA, bobs).name == "Bob's"
    assert alerts.delete(db, ANN, mine).id == mine
    assert (alerts.rules(db, ADA), firing_rows(db)) == ([], [])
    with pytest.raises(NotFoundError) as err:
        alerts.delete(db, ADA, mine)
    assert str(err.value) == f"There is no alert rule #{mine}."


def test_a_group_chat_takes_an_admins_allowance(db):
    with pytest.raises(PermissionDenied) as err:
        make(db, ANN, chat_id=-1001234567890)
    assert str(err.value) == ("The group chat -1001234567890 is not one an admin has allowed "
                              "for alerts.")
    with pytest.raises(PermissionDenied):
        alerts.allow_chat(db, BOB, -1001234567890, "Sales team", NOW)
    alerts.allow_chat(db, ADA, -1001234567890, "Sales team", NOW)
    rid = make(db, ANN, chat_id=-1001234567890)
    assert rule_of(db, rid).chat_id == -1001234567890
    assert rule_of(db, make(db, ANN, chat_id=987654321)).chat_id == 987654321  # a person


@pytest.mark.parametrize(("changes", "sentence"), [
    ({"name": "  "}, "An alert rule needs a name."),
    ({"name": "x" * 81}, "An alert rule's name can be at most 80 characters long."),
    ({"name": "a\u200bb"}, "An alert rule's name cannot hold control or invisible characters."),
    ({"metric": "revenue"}, "“revenue” is not a number alerts can watch; the numbers are "
     "hot-leads, new-users, registrations, confirmed-payments, active-bookings, "
     "attendance-rate."),
    ({"op": "=="}, "“==” is not a comparison; use one of >=, >, <=, <."),
    ({"params": "dates=last-7-days"}, "“dates” is not an option of hot-leads; its options "
     "are window_days."),
    ({"params": "window_days=0"}, "The option window_days must be a whole number from 1 to 366."),
    ({"metric": "new-users", "params": "dates=last-week"}, "“last-week” is not a date preset; "
     "the presets are today, yesterday, last-7-days, last-30-days, last-90-days, this-month, "
     "last-month, this-quarter, last-quarter, year-to-date, last-year."),
    ({"metric": "attendance-rate", "params": "days=7&days=8"}, "The option days is given twice."),
    ({"threshold": float("nan")}, "A rule's threshold must be a number (or none, to compare "
     "with the period before)."),
    ({"chat_id": 0}, "“0” is not a Telegram chat id."),
])
def test_bad_rules_are_refused_in_one_sentence(db, changes, sentence):
    with pytest.raises(ValidationError) as err:
        make(db, **changes)
    assert str(err.value) == sentence
    with db.connect() as conn:
        assert conn.execute(select(alert_rules.c.id)).all() == []
