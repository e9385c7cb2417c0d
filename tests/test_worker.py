"""The send-worker (SPEC §8): measured pacing on a real clock, SIGTERM, SIGKILL and
restart, two workers on one campaign, the token kept out of every text, and settings.

Everything goes through the real TelegramTransport to the local stand-in Bot API.
Worker processes run tests/worker_process.py (what `python -m hsl send-worker` runs).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from hsl.config import Settings, load_settings
from hsl.errors import DatabaseUnavailable, ValidationError
from hsl.messaging import delivery
from hsl.messaging.transports import MISSING_TOKEN, DryRunTransport, TelegramTransport
from hsl.schema import campaign_recipients, worker_heartbeats
from hsl.worker import FatalSendError, Worker, batch_size, run_worker, worker_seen
from tests.fixtures.messaging import campaign_of, make_campaign, rows_of
from tests.telegram_standin import (
    STANDIN_TOKEN,
    TelegramStandin,
    standin_fixture,  # noqa: F401 - the `standin` fixture
)

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "worker_process.py"
R = campaign_recipients.c


@pytest.fixture
def transport(standin) -> Iterator[TelegramTransport]:
    with TelegramTransport(standin.token, standin.base_url, timeout=5.0) as real:
        yield real


def now() -> datetime:
    return datetime.now(UTC)


def real_worker(engine, transport, rate: float, **kwargs) -> Worker:
    return Worker(engine, lambda dry: DryRunTransport() if dry else transport, rate=rate,
                  **kwargs)


def most_in_a_second(times: list[float]) -> int:
    """The most arrivals any closed one-second window holds."""
    times = sorted(times)
    return max(sum(1 for t in times if start <= t <= start + 1.0) for start in times)


def wait_until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def start_worker(url: str, standin: TelegramStandin, *, rate: float, once: bool = False,
                 token: str | None = STANDIN_TOKEN) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HSL_TELEGRAM") and k != "DATABASE_URL"}
    env.update(HSL_TELEGRAM_API_URL=standin.base_url, HSL_TELEGRAM_RATE=str(rate),
               PYTHONUNBUFFERED="1")
    if token:
        env["HSL_TELEGRAM_BOT_TOKEN"] = token
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), "--db", url, *(["--once"] if once else [])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )


def finished(process: subprocess.Popen, timeout: float = 30.0) -> tuple[int, str]:
    out, err = process.communicate(timeout=timeout)
    assert STANDIN_TOKEN not in out + err
    return process.returncode, out + err


def url_for(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


# --- pacing, measured on a real clock -------------------------------------------------------


def test_no_second_holds_more_than_the_rate(engine, standin, transport):
    cid = make_campaign(engine, range(1, 26), now=now())
    started = time.monotonic()
    assert real_worker(engine, transport, rate=10).run(once=True) == 0
    took = time.monotonic() - started

    arrivals = [m.at for m in standin.messages]
    assert len(arrivals) == 25 and {m.chat_id for m in standin.messages} == set(range(1, 26))
    assert most_in_a_second(arrivals) <= 10
    assert all(later - earlier >= 1.0 for earlier, later in zip(arrivals, arrivals[10:],
                                                              strict=False))
    # And not much slower than it may be: 25 messages at 10 a second.
    assert 1.5 <= arrivals[-1] - arrivals[0] < 3.5 and took < 6
    assert campaign_of(engine, cid)["status"] == "done"


def test_messages_to_one_chat_are_a_second_apart(engine, standin, transport):
    for _ in range(3):  # three campaigns to the same three people
        make_campaign(engine, [1, 2, 3], now=now())
    assert real_worker(engine, transport, rate=50).run(once=True) == 0

    for chat in (1, 2, 3):
        arrivals = [m.at for m in standin.messages_to(chat)]
        assert len(arrivals) == 3
        assert all(b - a >= 1.0 for a, b in pairwise(arrivals))
    assert standin.messages[-1].at - standin.messages[0].at < 3.5


# --- stopping ---------------------------------------------------------------------------------


def test_sigterm_finishes_and_records_the_message_in_flight(engine, standin):
    cid = make_campaign(engine, range(1, 7), now=now())
    standin.script(1, ["slow:1.5"])
    worker = start_worker(url_for(engine), standin, rate=5)  # batches of one
    wait_until(lambda: standin.messages_to(1))  # the stand-in holds it for 1.5 s
    worker.send_signal(signal.SIGTERM)
    code, output = finished(worker, timeout=10)

    assert code == 0, output
    assert len(standin.messages) == 1
    rows = rows_of(engine, cid)
    assert rows[1]["status"] == "sent" and rows[1]["telegram_message_id"] is not None
    assert {(r["status"], r["attempts"]) for u, r in rows.items() if u != 1} == {("pending", 0)}
    with engine.connect() as conn:  # a clean exit leaves no heartbeat
        assert conn.execute(select(func.count()).select_from(worker_heartbeats)).scalar() == 0


def test_sigkill_mid_campaign_then_restart_never_sends_twice(engine, standin):
    cid = make_campaign(engine, range(1, 9), now=now())
    standin.script(4, ["slow:3"])
    url = url_for(engine)
    first = start_worker(url, standin, rate=5)
    wait_until(lambda: standin.messages_to(4))
    with engine.connect() as conn:
        in_flight = set(conn.execute(
            select(R.user_id).where(R.campaign_id == cid, R.status == "sending")).scalars())
    first.kill()
    first.wait(timeout=10)
    assert in_flight == {4}  # one message a claim at this rate: only the one on the wire

    # The dead worker's heartbeat is still fresh: nobody may call its rows dead yet.
    assert delivery.recover_stale(engine, now=now()) == 0
    with engine.begin() as conn:  # a minute later
        conn.execute(update(worker_heartbeats).values(seen_at=now() - timedelta(seconds=61)))
    code, output = finished(start_worker(url, standin, rate=50, once=True))

    assert code == 0, output
    rows = rows_of(engine, cid)
    assert {u for u, r in rows.items() if r["status"] == "unknown"} == in_flight
    assert {r["status"] for u, r in rows.items() if u not in in_flight} == {"sent"}
    counts = {chat: len(standin.messages_to(chat)) for chat in range(1, 9)}
    assert counts == {chat: 1 for chat in range(1, 9)}  # the unknown one was never resent
    assert campaign_of(engine, cid)["status"] == "done"


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_worker_processes_share_a_campaign_without_duplicates(engine, standin):
    cid = make_campaign(engine, range(1, 41), now=now())
    url = url_for(engine)
    workers = [start_worker(url, standin, rate=10, once=True) for _ in range(2)]
    results = [finished(worker) for worker in workers]

    assert [code for code, _ in results] == [0, 0], results
    counts = {}
    for message in standin.messages:
        counts[message.chat_id] = counts.get(message.chat_id, 0) + 1
    assert counts == {chat: 1 for chat in range(1, 41)}
    rows = rows_of(engine, cid)
    assert {r["status"] for r in rows.values()} == {"sent"}
    by_worker = {}
    for row in rows.values():
        by_worker[row["claimed_by"]] = by_worker.get(row["claimed_by"], 0) + 1
    assert len(by_worker) == 2 and min(by_worker.values()) >= 1, by_worker


# --- the token, and running without one -------------------------------------------------------


def test_the_token_is_in_no_log_line_output_or_row(engine, standin, transport, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    cid = make_campaign(engine, range(1, 7), now=now())
    for chat, step in zip(range(1, 6), ["403", "400", "500", "drop", "429:0"], strict=True):
        standin.script(chat, [step])
    settings = Settings(database_url=url_for(engine), is_demo=False,
                        telegram_token=STANDIN_TOKEN, telegram_api_url=standin.base_url)
    worker = real_worker(engine, transport, rate=100)
    worker.run_once()
    worker.run(once=True)

    wrong = TelegramTransport("123456789:" + "W" * 35, standin.base_url, timeout=2)
    make_campaign(engine, [7], now=now())
    with pytest.raises(FatalSendError) as refused:
        real_worker(engine, wrong, rate=100).run(once=True)
    wrong.close()

    out, err = capsys.readouterr()
    texts = [caplog.text, out, err, repr(settings), str(settings), repr(transport),
             str(refused.value)]
    texts += [str(r["error"]) for r in rows_of(engine, cid).values()]
    assert any("HSL_TELEGRAM_BOT_TOKEN" in t for t in texts)  # the refusal names the setting
    assert caplog.records  # there was logging to look at
    for text_ in texts:
        assert STANDIN_TOKEN not in text_
        assert STANDIN_TOKEN.split(":")[1] not in text_


def test_a_refused_token_stops_the_worker_and_fails_nobody(engine, standin):
    cid = make_campaign(engine, [1, 2, 3], now=now())
    with TelegramTransport("123456789:" + "W" * 35, standin.base_url, timeout=2) as wrong:
        worker = real_worker(engine, wrong, rate=100)
        with pytest.raises(FatalSendError, match="HSL_TELEGRAM_BOT_TOKEN"):
            worker.run(once=True)
    rows = rows_of(engine, cid)
    assert {(r["status"], r["attempts"]) for r in rows.values()} == {("pending", 0)}
    assert worker_seen(engine, now=now()) is None


def test_without_a_token_due_real_campaigns_stop_the_command(engine, standin):
    cid = make_campaign(engine, [1, 2], now=now())
    settings = Settings(database_url=url_for(engine), is_demo=False, telegram_token=None)
    with pytest.raises(FatalSendError) as refused:
        run_worker(argparse.Namespace(db=None, once=True), settings)
    assert str(refused.value) == MISSING_TOKEN and "HSL_TELEGRAM_BOT_TOKEN" in MISSING_TOKEN
    assert {r["status"] for r in rows_of(engine, cid).values()} == {"pending"}


def test_the_command_exits_2_with_one_sentence_without_a_token(engine, standin):
    make_campaign(engine, [1], now=now())
    code, output = finished(start_worker(url_for(engine), standin, rate=25, once=True,
                                         token=None))
    assert code == 2
    assert output.strip() == MISSING_TOKEN


@pytest.mark.parametrize(("token", "api_url", "names"), [
    ("not a token at all", "http://127.0.0.1:9", "token"),
    (STANDIN_TOKEN, "ftp://example.com", "HSL_TELEGRAM_API_URL"),
])
def test_a_malformed_token_or_api_address_is_refused_at_start(engine, token, api_url, names):
    make_campaign(engine, [1], now=now())
    settings = Settings(database_url=url_for(engine), is_demo=False, telegram_token=token,
                        telegram_api_url=api_url)
    with pytest.raises(ValidationError) as refused:
        run_worker(argparse.Namespace(db=None, once=True), settings)
    message = str(refused.value)
    assert names in message and message.endswith(".") and token not in message
    assert {r["status"] for r in rows_of(engine, 1).values()} == {"pending"}


def test_dry_run_campaigns_never_touch_telegram(engine, standin, transport):
    dry = make_campaign(engine, [1, 2], dry_run=True, now=now())
    # Even a transport_for that hands out the real transport: dry runs stay dry.
    assert Worker(engine, lambda dry_run: transport, rate=100).run(once=True) == 0
    assert standin.messages == []
    assert {r["status"] for r in rows_of(engine, dry).values()} == {"sent"}

    # And without a token, a real database still sends its dry runs.
    again = make_campaign(engine, [3], dry_run=True, now=now())
    settings = Settings(database_url=url_for(engine), is_demo=False, telegram_token=None)
    assert run_worker(argparse.Namespace(db=None, once=True), settings) == 0
    assert rows_of(engine, again)[3]["status"] == "sent" and standin.messages == []


def test_run_worker_sends_with_the_settings_and_cleans_up(engine, standin):
    cid = make_campaign(engine, [1, 2, 3], now=now())
    settings = Settings(database_url=url_for(engine), is_demo=False,
                        telegram_token=STANDIN_TOKEN, telegram_api_url=standin.base_url,
                        telegram_rate=100)
    assert run_worker(argparse.Namespace(db=None, once=True), settings) == 0
    assert sorted(m.chat_id for m in standin.messages) == [1, 2, 3]
    assert campaign_of(engine, cid)["status"] == "done"
    assert worker_seen(engine, now=now()) is None
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_worker_seen_is_the_latest_heartbeat_of_the_last_minute(engine, transport):
    moment = now()
    worker = real_worker(engine, transport, rate=10, clock=lambda: moment)
    assert worker_seen(engine, now=moment) is None
    worker.run_once()
    assert worker_seen(engine, now=moment + timedelta(seconds=59)) == moment
    assert worker_seen(engine, now=moment + timedelta(seconds=61)) is None
    with engine.connect() as conn:
        assert worker_seen(conn, now=moment) == moment
    worker.close()
    assert worker_seen(engine, now=moment) is None


def test_a_database_outage_is_waited_out_and_nothing_is_lost_or_resent(
        engine, standin, transport, monkeypatch):
    cid = make_campaign(engine, [1, 2, 3, 4], now=now())
    real_record, failures = delivery.record_many, []

    def flaky(*args, **kwargs):
        if len(failures) < 2:
            failures.append(1)
            raise DatabaseUnavailable("The database cannot be reached right now.")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(delivery, "record_many", flaky)
    pauses = []
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if seconds == 1.5:  # idle: everything is done
            stop.set()

    worker = real_worker(engine, transport, rate=1000, batch=4, sleep=sleep, stop_event=stop,
                         poll_s=1.5)
    assert worker.run() == 0
    assert pauses[:2] == [1.0, 2.0]  # the outage backoff, then it went on
    assert {r["status"] for r in rows_of(engine, cid).values()} == {"sent"}
    assert sorted(m.chat_id for m in standin.messages) == [1, 2, 3, 4]  # none twice


def test_a_transport_that_raises_leaves_its_message_unknown_and_gives_back_the_rest(
        engine, standin, transport):
    cid = make_campaign(engine, [1, 2, 3, 4], now=now())

    class Breaks:
        name, dry_run = "breaks", False

        def send(self, chat_id, text):
            if chat_id == 2:
                raise RuntimeError("boom")
            return transport.send(chat_id, text)

    worker = Worker(engine, lambda dry: DryRunTransport() if dry else Breaks(), rate=1000,
                    batch=4)
    with pytest.raises(RuntimeError):
        worker.run(once=True)
    rows = rows_of(engine, cid)
    assert [rows[u]["status"] for u in (1, 2, 3, 4)] == ["sent", "unknown", "pending", "pending"]
    assert (rows[3]["attempts"], rows[4]["attempts"]) == (0, 0)
    assert worker_seen(engine, now=now()) is None


def test_claims_are_small_batches():
    assert [batch_size(r) for r in (0.5, 5, 10, 25, 100, 100_000)] == [1, 1, 2, 5, 20, 100]


# --- settings ---------------------------------------------------------------------------------


@pytest.fixture
def telegram_env(monkeypatch):
    for name in ("HSL_TELEGRAM_BOT_TOKEN", "HSL_TELEGRAM_API_URL", "HSL_TELEGRAM_RATE",
                 "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_telegram_settings_defaults_secrets_and_environment(telegram_env):
    plain = load_settings(secrets={})
    assert (plain.telegram_token, plain.telegram_api_url, plain.telegram_rate) == (
        None, "https://api.telegram.org", 25.0)
    secrets = {"telegram": {"bot_token": " from-secrets "}}
    assert load_settings(secrets=secrets).telegram_token == "from-secrets"
    telegram_env.setenv("HSL_TELEGRAM_BOT_TOKEN", STANDIN_TOKEN)
    telegram_env.setenv("HSL_TELEGRAM_API_URL", "http://127.0.0.1:9")
    telegram_env.setenv("HSL_TELEGRAM_RATE", "12.5")
    settings = load_settings(secrets=secrets)
    assert settings.telegram_token == STANDIN_TOKEN
    assert (settings.telegram_api_url, settings.telegram_rate) == ("http://127.0.0.1:9", 12.5)
    assert STANDIN_TOKEN not in repr(settings)


@pytest.mark.parametrize("rate", ["0", "-3", "fast", "nan", "inf", ""])
def test_a_bad_rate_is_one_sentence(telegram_env, rate):
    if rate:
        telegram_env.setenv("HSL_TELEGRAM_RATE", rate)
        with pytest.raises(ValidationError) as caught:
            load_settings(secrets={})
        message = str(caught.value)
        assert "HSL_TELEGRAM_RATE" in message and message.endswith(".")
        assert ". " not in message
    else:  # empty: the default
        telegram_env.setenv("HSL_TELEGRAM_RATE", rate)
        assert load_settings(secrets={}).telegram_rate == 25.0
