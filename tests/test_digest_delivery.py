"""Digests delivered by real send-worker processes to the stand-in Bot API (issue 12):
once per period, late after a stopped worker, never twice under two workers.

The database holds a small demo (300 people) whose activity ends on 30 Nov 2026. Ann's
saved view "Weekly funnel" (Funnel, last 7 days) is subscribed daily at 09:00 Moscow
(06:00 UTC) to chat 111 on 30 Nov. Each worker runs `--once` with its own clock
(HSL_CLOCK).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select

from hsl import alerts, subscriptions, views
from hsl.auth import Actor
from hsl.db import make_engine
from hsl.filters import Period
from hsl.reports import run_report
from hsl.schedules import Schedule
from hsl.schema import campaign_recipients, campaigns, digest_runs
from tests.pages_support import demo_database
from tests.telegram_standin import (
    STANDIN_TOKEN,
    standin_fixture,  # noqa: F401 - the `standin` fixture
)
from tests.test_worker import ROOT, SCRIPT

ANN = Actor("ann", "analyst")
MADE = datetime(2026, 11, 30, 10, tzinfo=UTC)
CHAT = 111


@pytest.fixture
def subscribed(backend, database_factory) -> str:
    url = demo_database(backend, database_factory, anchor=date(2026, 11, 30))
    engine = make_engine(url)
    try:
        view_id = views.create(engine, ANN, name="Weekly funnel", page="funnel",
                               preset="last-7-days", now=MADE)
        subscriptions.subscribe(engine, ANN, view_id=view_id, chat=CHAT, now=MADE,
                                schedule=Schedule("daily", time(9, 0), tz="Europe/Moscow"))
    finally:
        engine.dispose()
    return url


def worker(url: str, standin, clock: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HSL_") and k != "DATABASE_URL"}
    env.update(HSL_TELEGRAM_API_URL=standin.base_url, HSL_TELEGRAM_RATE="20",
               HSL_TELEGRAM_BOT_TOKEN=STANDIN_TOKEN, HSL_TIMEZONE="Europe/Moscow",
               HSL_CLOCK=clock, HSL_REFRESH_SECONDS="0", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, str(SCRIPT), "--db", url, "--once"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)


def run(url: str, standin, clock: str, workers: int = 1) -> None:
    started = [worker(url, standin, clock) for _ in range(workers)]
    for process in started:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, out + err
        assert STANDIN_TOKEN not in out + err


def runs(url: str) -> list[tuple[str, bool, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(digest_runs.c.period_key, digest_runs.c.late,
                                       campaigns.c.audience_kind, campaign_recipients.c.status)
                                .join(campaigns, campaigns.c.id == digest_runs.c.campaign_id)
                                .join(campaign_recipients,
                                      campaign_recipients.c.campaign_id == campaigns.c.id)
                                .order_by(digest_runs.c.id)).all()
    finally:
        engine.dispose()
    return [tuple(r) for r in rows]


def last_outcome(url: str) -> str:
    engine = make_engine(url)
    try:
        [sub] = subscriptions.listed(engine, ANN)
    finally:
        engine.dispose()
    return sub.last_outcome


def test_a_digest_goes_out_once_at_its_time_with_its_chart(subscribed, standin):
    run(subscribed, standin, "2026-12-01T05:59:00+00:00")  # 08:59 in Moscow: not yet
    assert standin.messages == [] and last_outcome(subscribed) is None  # no run yet
    run(subscribed, standin, "2026-12-01T06:01:00+00:00")
    [sent] = standin.messages
    assert (sent.method, sent.chat_id, sent.parse_mode) == ("sendPhoto", CHAT, "HTML")
    assert sent.text.startswith("<b>Weekly funnel</b>")
    assert "25 Nov – 1 Dec 2026" in sent.text  # last 7 days on 1 December
    assert sent.photo.startswith(b"\x89PNG\r\n\x1a\n")
    assert "Late" not in sent.text
    run(subscribed, standin, "2026-12-01T09:00:00+00:00")  # later that day: nothing more
    assert len(standin.messages) == 1
    assert runs(subscribed) == [("2026-12-01", False, "digest", "sent")]
    assert last_outcome(subscribed) == "Sent"  # what the Subscriptions page says


def test_a_stopped_worker_sends_the_latest_missed_digest_once_marked_late(subscribed,
                                                                          standin):
    run(subscribed, standin, "2026-12-04T08:00:00+00:00")  # no worker for 1–3 December
    [sent] = standin.messages
    assert "Late: due 04 Dec 09:00, sent 04 Dec 11:00" in sent.text
    assert "28 Nov – 4 Dec 2026" in sent.text  # the digest of the day it is sent
    run(subscribed, standin, "2026-12-04T08:05:00+00:00")
    assert len(standin.messages) == 1
    assert runs(subscribed) == [("2026-12-04", True, "digest", "sent")]
    assert last_outcome(subscribed) == "Sent (late)"


def test_two_workers_at_once_send_a_period_once(subscribed, standin, backend):
    if backend != "postgresql":
        pytest.skip("two workers share a PostgreSQL database")
    run(subscribed, standin, "2026-12-02T06:03:00+00:00", workers=2)
    assert len(standin.messages) == 1
    assert runs(subscribed) == [("2026-12-02", False, "digest", "sent")]


def test_an_alert_is_sent_when_it_becomes_true_and_not_again_while_it_stays(subscribed,
                                                                            standin):
    engine = make_engine(subscribed)
    try:
        rule_id = alerts.create(engine, ANN, name="Any registrations", metric="registrations",
                                params="dates=last-7-days", op=">=", threshold=1, chat_id=222,
                                now=MADE)
    finally:
        engine.dispose()
    # The demo's registrations of 24–30 Nov are in the last 7 days on 30 Nov.
    run(subscribed, standin, "2026-11-30T12:00:00+00:00")
    [sent] = [m for m in standin.messages if m.chat_id == 222]
    assert (sent.method, sent.parse_mode) == ("sendMessage", "HTML")
    assert sent.text.startswith("<b>Free-lesson registrations (last 7 days) ≥ 1</b> is now "
                                "true: ")
    run(subscribed, standin, "2026-11-30T13:00:00+00:00")  # still true: no second message
    assert len([m for m in standin.messages if m.chat_id == 222]) == 1
    engine = make_engine(subscribed)
    try:
        [(_, value, campaign_id)] = alerts.firings(engine, rule_id)
        with engine.connect() as conn:
            kind = conn.execute(select(campaigns.c.audience_kind)
                                .where(campaigns.c.id == campaign_id)).scalar_one()
    finally:
        engine.dispose()
    period = Period(date(2026, 11, 24), date(2026, 11, 30), "Europe/Moscow",
                    datetime(2026, 11, 30, 12, tzinfo=UTC))
    engine = make_engine(subscribed)
    try:
        counted = int(run_report(engine, "kpis", period)["registrations"].iloc[0])
    finally:
        engine.dispose()
    assert value == counted >= 1 and kind == "alert"  # the number the Overview page shows
    assert f"is now true: {counted} registrations" in sent.text
