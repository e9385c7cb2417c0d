"""Delivery (SPEC §8): claiming, outcomes, retries, schedules, stale rows and the pacer.

End to end through the real TelegramTransport against the local stand-in Bot API, on
SQLite and PostgreSQL, with an injected clock (the worker's `run_once` is the step).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import insert, select, text, update

from hsl.messaging import delivery
from hsl.messaging.delivery import Claimed, Pacer, claim, recover_stale
from hsl.messaging.transports import DryRunTransport, Outcome, TelegramTransport
from hsl.schema import campaign_recipients, campaigns, users, worker_heartbeats
from hsl.worker import Worker
from tests.fixtures.messaging import T0, campaign_of, make_campaign, rows_of
from tests.telegram_standin import standin_fixture  # noqa: F401 - the `standin` fixture

R = campaign_recipients.c


class FakeTime:
    """The worker's clocks: UTC time for the database, monotonic for pacing; sleep advances."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self.mono = 1000.0

    def clock(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds

    def to(self, moment: datetime) -> None:
        self.advance((moment - self.now).total_seconds())


@pytest.fixture
def transport(standin) -> Iterator[TelegramTransport]:
    with TelegramTransport(standin.token, standin.base_url, timeout=2.0) as real:
        yield real


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def worker(engine, transport, fake) -> Worker:
    """A worker on the injected clock, fast enough that pacing never matters here."""
    return Worker(engine, lambda dry: DryRunTransport() if dry else transport, rate=1000,
                  worker_id="w-test", clock=fake.clock, monotonic=fake.monotonic,
                  sleep=fake.sleep)


# --- outcomes -----------------------------------------------------------------------------


def test_every_outcome_maps_to_its_status_and_retries_as_told(engine, standin, worker, fake):
    standin.script(1, ["429:3"])
    standin.script(2, ["500", "ok"])
    standin.script(3, ["403"])
    standin.script(4, ["400"])
    standin.script(5, ["drop"] * 5)
    cid = make_campaign(engine, [1, 2, 3, 4, 5, 6])

    assert worker.run_once() == 6
    rows = rows_of(engine, cid)
    assert rows[6]["status"] == "sent" and rows[6]["telegram_message_id"] is not None
    assert rows[6]["sent_at"] >= T0
    assert rows[3]["status"] == "blocked" and "blocked by the user" in rows[3]["error"].lower()
    assert rows[4]["status"] == "failed" and "chat not found" in rows[4]["error"].lower()
    assert rows[3]["next_attempt_at"] >= T0 and rows[6]["next_attempt_at"] is None
    assert rows[1]["status"] == "pending" and "wait 3 seconds" in rows[1]["error"]
    assert rows[1]["next_attempt_at"] >= T0 + timedelta(seconds=3)
    assert rows[2]["status"] == "pending"
    assert T0 + timedelta(seconds=1) <= rows[2]["next_attempt_at"] < T0 + timedelta(seconds=2)
    assert rows[5]["status"] == "pending" and "Could not reach Telegram" in rows[5]["error"]
    assert {u: r["attempts"] for u, r in rows.items()} == {u: 1 for u in range(1, 7)}
    assert campaign_of(engine, cid)["status"] == "sending"

    # 429 retry_after=3 is honoured: nothing to chat 1 at +1 s or +2.9 s, then it goes.
    for second in (1.0, 2.0, 2.9):
        fake.to(T0 + timedelta(seconds=second))
        worker.run_once()
        assert len(standin.messages_to(1)) == 1
    rows = rows_of(engine, cid)
    assert rows[2]["status"] == "sent" and rows[2]["attempts"] == 2 and rows[2]["error"] is None
    fake.to(T0 + timedelta(seconds=3.01))
    worker.run_once()
    rows = rows_of(engine, cid)
    assert len(standin.messages_to(1)) == 2
    assert rows[1]["status"] == "sent" and rows[1]["attempts"] == 2

    # Five network errors, backing off 1, 2, 4, 8 s: then failed with the last error.
    arrivals = [m.at for m in standin.messages_to(5)]
    while rows_of(engine, cid)[5]["status"] == "pending" and fake.now < T0 + timedelta(minutes=1):
        fake.advance(0.5)
        worker.run_once()
    rows = rows_of(engine, cid)
    assert rows[5]["status"] == "failed" and rows[5]["attempts"] == 5
    assert "Could not reach Telegram" in rows[5]["error"]
    assert len(standin.messages_to(5)) == 5 and len(arrivals) == 2
    assert fake.now >= T0 + timedelta(seconds=1 + 2 + 4 + 8)

    # Blocked and failed were never tried again; the campaign is done.
    assert len(standin.messages_to(3)) == len(standin.messages_to(4)) == 1
    assert len(standin.messages_to(6)) == 1
    campaign = campaign_of(engine, cid)
    assert campaign["status"] == "done" and campaign["finished_at"] is not None
    assert campaign["started_at"] == T0


def test_backoff_and_the_attempt_limits():
    assert [delivery.backoff(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    row = Claimed(1, 2, attempts=5, worker_id="w", dry_run=False, template="x")
    at = T0
    net = delivery._values(row, Outcome("retry", error="Could not reach Telegram."), at)
    assert net["b_status"] == "failed" and net["b_error"] == "Could not reach Telegram."
    slow_down = Outcome("retry", retry_after=7, error="Wait.")
    assert delivery._values(row, slow_down, at)["b_next"] == at + timedelta(seconds=7)
    last = Claimed(1, 2, attempts=delivery.MAX_THROTTLED_ATTEMPTS, worker_id="w",
                   dry_run=False, template="x")
    assert delivery._values(last, slow_down, at)["b_status"] == "failed"


# --- the text --------------------------------------------------------------------------------


def test_rendering_uses_the_frozen_names_escaped(engine, standin, worker):
    template = "<b>Hi {first_name|friend}</b> (@{username}) {{ok}}"
    cid = make_campaign(engine, [(10, "<Anna & Co>", "anna_b"), (11, None, None),
                                 (12, "  Ёжик ", "ezh")], template=template)
    with engine.begin() as conn:  # the person renamed themselves after the list was frozen
        conn.execute(insert(users).values(user_id=10, first_name="Changed", username="new"))

    assert worker.run_once() == 3
    got = {m.chat_id: m for m in standin.messages}
    assert got[10].text == "<b>Hi &lt;Anna &amp; Co&gt;</b> (@anna_b) {ok}"
    assert got[11].text == "<b>Hi friend</b> (@) {ok}"
    assert got[12].text == "<b>Hi Ёжик</b> (@ezh) {ok}"
    assert all(m.parse_mode == "HTML" for m in got.values())
    assert {r["status"] for r in rows_of(engine, cid).values()} == {"sent"}


def test_a_message_too_long_for_one_person_fails_for_that_person_only(engine, standin, worker):
    template = "x" * 4090 + " {first_name}"
    cid = make_campaign(engine, [(1, "Al", None), (2, "Bartholomew", None)], template=template)

    assert worker.run_once() == 2
    rows = rows_of(engine, cid)
    assert rows[1]["status"] == "sent"
    assert rows[2]["status"] == "failed" and rows[2]["error"] == delivery.TOO_LONG
    assert "too long" in rows[2]["error"].lower()
    assert [m.chat_id for m in standin.messages] == [1]


# --- when, and which campaigns ----------------------------------------------------------------


def test_a_scheduled_campaign_is_not_sent_before_its_time(engine, standin, worker, fake):
    at = T0 + timedelta(hours=1)
    cid = make_campaign(engine, [1, 2], scheduled_at=at)

    for moment in (T0, at - timedelta(seconds=1), at - timedelta(microseconds=1)):
        fake.to(moment)
        assert worker.run_once() == 0
    assert standin.messages == []
    assert campaign_of(engine, cid)["status"] == "scheduled"

    fake.to(at)
    assert worker.run_once() == 2
    campaign = campaign_of(engine, cid)
    assert campaign["status"] == "done" and campaign["started_at"] == at
    assert all(m.at for m in standin.messages) and len(standin.messages) == 2


@pytest.mark.parametrize("status", ["paused", "cancelled", "draft", "done"])
def test_campaigns_not_under_way_claim_nothing(engine, standin, worker, status):
    cid = make_campaign(engine, [1, 2, 3], status=status)
    assert claim(engine, "w", now=T0 + timedelta(days=1), limit=10) == []
    assert worker.run_once() == 0
    assert standin.messages == []
    assert {r["status"] for r in rows_of(engine, cid).values()} == {"pending"}
    assert campaign_of(engine, cid)["status"] == status


def test_a_paused_campaign_resumes_where_it_stopped(engine, standin, worker, fake):
    cid = make_campaign(engine, [1, 2, 3, 4])
    sent = claim(engine, "w-test", now=T0, limit=2)
    delivery.record_many(engine, [(c, Outcome("sent", message_id=9), T0) for c in sent])
    with engine.begin() as conn:
        conn.execute(update(campaigns).where(campaigns.c.id == cid).values(status="paused"))
    assert worker.run_once() == 0
    with engine.begin() as conn:
        conn.execute(update(campaigns).where(campaigns.c.id == cid).values(status="sending"))
    assert worker.run_once() == 2
    assert sorted(m.chat_id for m in standin.messages) == [3, 4]
    assert campaign_of(engine, cid)["status"] == "done"


def test_done_only_when_nothing_is_pending_or_sending(engine):
    cid = make_campaign(engine, [1, 2, 3], status="sending")
    first, second, third = claim(engine, "w", now=T0, limit=3)
    delivery.record(engine, first, Outcome("sent", message_id=1), now=T0)
    delivery.record(engine, second, Outcome("retry", error="Telegram answered 500."), now=T0)
    assert delivery.finish_done_campaigns(engine, now=T0) == []  # 2 pending, 3 sending

    delivery.record(engine, third, Outcome("blocked", error="Blocked."), now=T0)
    assert delivery.finish_done_campaigns(engine, now=T0) == []  # 2 waits for its retry
    [again] = claim(engine, "w", now=T0 + timedelta(seconds=1), limit=3)
    assert again.user_id == 2 and again.attempts == 2
    delivery.record(engine, again, Outcome("sent", message_id=2), now=T0)

    assert delivery.finish_done_campaigns(engine, now=T0 + timedelta(seconds=2)) == [cid]
    campaign = campaign_of(engine, cid)
    assert campaign["status"] == "done"
    assert campaign["finished_at"] == T0 + timedelta(seconds=2)


def test_release_gives_rows_back_untouched(engine):
    cid = make_campaign(engine, [1, 2])
    held = claim(engine, "w", now=T0, limit=5)
    assert campaign_of(engine, cid)["status"] == "sending"
    assert delivery.release(engine, held) == 2
    rows = rows_of(engine, cid)
    assert {(r["status"], r["attempts"]) for r in rows.values()} == {("pending", 0)}


def test_dry_run_only_leaves_real_campaigns_alone(engine):
    real = make_campaign(engine, [1])
    dry = make_campaign(engine, [2], dry_run=True)
    assert delivery.has_due(engine, now=T0, dry_run=False)
    [only] = claim(engine, "w", now=T0, limit=5, dry_run_only=True)
    assert (only.campaign_id, only.dry_run) == (dry, True)
    assert rows_of(engine, real)[1]["status"] == "pending"


# --- crashes: stale rows ----------------------------------------------------------------------


def test_recover_stale_marks_only_dead_workers_rows_unknown(engine):
    cid = make_campaign(engine, range(1, 9))
    now = T0 + timedelta(minutes=5)
    with engine.begin() as conn:
        conn.execute(insert(worker_heartbeats), [
            {"worker_id": "alive", "host": "h", "pid": 1, "started_at": T0,
             "seen_at": now - timedelta(seconds=59)},
            {"worker_id": "dead", "host": "h", "pid": 2, "started_at": T0,
             "seen_at": now - timedelta(seconds=61)},
        ])
    for worker_id, limit in (("alive", 2), ("dead", 2), ("ghost", 2)):  # ghost: no heartbeat
        claim(engine, worker_id, now=T0, limit=limit)
    with engine.begin() as conn:  # a row marked sending by nobody in particular
        conn.execute(update(campaign_recipients).where(R.user_id == 7)
                     .values(status="sending", claimed_by=None))

    assert recover_stale(engine, now=now) == 5
    rows = rows_of(engine, cid)
    status = {u: (r["status"], r["claimed_by"]) for u, r in rows.items()}
    assert status == {1: ("sending", "alive"), 2: ("sending", "alive"),
                      3: ("unknown", "dead"), 4: ("unknown", "dead"),
                      5: ("unknown", "ghost"), 6: ("unknown", "ghost"),
                      7: ("unknown", None), 8: ("pending", None)}
    assert rows[3]["error"] == delivery.STALE
    assert recover_stale(engine, now=now) == 0

    # Unknown rows are never claimed again by a worker; the rest still is.
    assert [c.user_id for c in claim(engine, "w2", now=now, limit=10)] == [8]


def test_a_worker_reusing_its_id_recovers_its_own_earlier_rows(engine, transport, fake):
    cid = make_campaign(engine, [1, 2])
    claim(engine, "fixed", now=T0, limit=1)  # then the process died
    with engine.begin() as conn:
        conn.execute(insert(worker_heartbeats).values(
            worker_id="fixed", host="h", pid=1, started_at=T0, seen_at=T0))
    worker = Worker(engine, lambda dry: transport, rate=1000, worker_id="fixed",
                    clock=fake.clock, monotonic=fake.monotonic, sleep=fake.sleep)
    assert worker.run_once() == 1
    rows = rows_of(engine, cid)
    assert rows[1]["status"] == "unknown" and rows[2]["status"] == "sent"


def test_a_late_outcome_replaces_unknown_but_not_a_retry_by_someone_else(engine):
    cid = make_campaign(engine, [1, 2])
    first, second = claim(engine, "slow", now=T0, limit=2)
    assert recover_stale(engine, now=T0 + timedelta(minutes=2)) == 2  # "slow" looked dead
    with engine.begin() as conn:  # an admin retried 2 and another worker holds it now
        conn.execute(update(campaign_recipients).where(R.user_id == 2)
                     .values(status="sending", claimed_by="other"))
    delivery.record(engine, first, Outcome("sent", message_id=5), now=T0)
    delivery.record(engine, second, Outcome("sent", message_id=6), now=T0)
    rows = rows_of(engine, cid)
    assert (rows[1]["status"], rows[1]["telegram_message_id"]) == ("sent", 5)
    assert (rows[2]["status"], rows[2]["claimed_by"]) == ("sending", "other")


# --- several claimers at once -----------------------------------------------------------------


def test_concurrent_claims_never_return_a_row_twice(engine):
    cid = make_campaign(engine, range(1, 301))
    got: dict[str, list[int]] = {}
    start = threading.Barrier(6)

    def drain(name: str) -> None:
        start.wait()
        mine = got.setdefault(name, [])
        while batch := claim(engine, name, now=T0, limit=7):
            mine += [c.user_id for c in batch]

    threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everyone = [u for ids in got.values() for u in ids]
    assert sorted(everyone) == list(range(1, 301))  # each exactly once
    rows = rows_of(engine, cid)
    assert all(rows[u]["claimed_by"] == name for name, ids in got.items() for u in ids)
    assert {r["attempts"] for r in rows.values()} == {1}
    if engine.dialect.name == "postgresql":
        assert sum(1 for ids in got.values() if ids) >= 2  # they really shared the work


@pytest.mark.parametrize("backend", ["postgresql"])  # row locks are PostgreSQL's
def test_postgres_claim_skips_rows_another_transaction_holds(engine):
    make_campaign(engine, range(1, 11))
    with engine.connect() as other:
        other.begin()
        other.execute(text("SET LOCAL statement_timeout = 5000"))
        held = claim_in(other, "a", limit=4)  # not committed yet: the rows stay locked
        assert held == [1, 2, 3, 4]
        # A second connection at the same time neither waits nor takes the same rows.
        assert [c.user_id for c in claim(engine, "b", now=T0, limit=4)] == [5, 6, 7, 8]
        other.commit()
    assert [c.user_id for c in claim(engine, "c", now=T0, limit=4)] == [9, 10]


def claim_in(conn, worker_id: str, limit: int) -> list[int]:
    """The claim's own SELECT ... FOR UPDATE SKIP LOCKED and mark, on an open connection."""
    ids = conn.execute(
        select(R.user_id).where(delivery._due_row(T0)).order_by(R.user_id).limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars().all()
    conn.execute(update(campaign_recipients).where(R.user_id.in_(ids))
                 .values(status="sending", claimed_by=worker_id))
    return list(ids)


# --- the pacer (injected clock) ---------------------------------------------------------------


class PacedClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def paced_run(pacer: Pacer, clock: PacedClock, chats, took: float = 0.003) -> list[tuple]:
    """Send to each chat in turn; each send takes `took` seconds. [(chat, start, end)]."""
    log = []
    for chat in chats:
        pacer.wait(chat)
        pacer.begin(chat)
        start = clock.t
        clock.t += took
        pacer.end(chat)
        log.append((chat, start, clock.t))
    return log


def most_in_a_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t <= start + 1.0) for start in times)


@pytest.mark.parametrize("rate", [1, 2.5, 10, 25, 40])
def test_pacer_keeps_every_one_second_window_within_the_rate(rate):
    clock = PacedClock()
    pacer = Pacer(rate, clock=clock, sleep=clock.sleep)
    log = paced_run(pacer, clock, range(200))
    starts, ends = [s for _, s, _ in log], [e for _, _, e in log]
    assert most_in_a_second(starts) <= rate and most_in_a_second(ends) <= rate
    # Not slower than it must be: a window holds whole messages, so floor(rate) a second.
    assert len(log) / (ends[-1] - starts[0]) > 0.95 * math.floor(rate)


def test_pacer_waits_a_second_between_messages_to_one_chat():
    clock = PacedClock()
    pacer = Pacer(1000, clock=clock, sleep=clock.sleep)
    log = paced_run(pacer, clock, [1, 2, 1, 1, 3, 2])
    for chat in (1, 2):
        mine = [(s, e) for c, s, e in log if c == chat]
        assert all(later[0] - earlier[1] >= 1.0 - 1e-9 for earlier, later in pairwise(mine))
    assert log[1][1] < 0.01  # another chat does not wait for chat 1


def test_pacer_below_one_a_second_and_a_new_rate():
    clock = PacedClock()
    pacer = Pacer(0.5, clock=clock, sleep=clock.sleep)
    starts = [s for _, s, _ in paced_run(pacer, clock, range(4))]
    assert all(b - a >= 2.0 for a, b in pairwise(starts))
    clock.t += 2.0
    pacer.set_rate(100)
    assert pacer.delay(99) == 0 and pacer.rate == 100
    with pytest.raises(ValueError):
        pacer.set_rate(0)
