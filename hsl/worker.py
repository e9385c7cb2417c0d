"""The send-worker (SPEC §8): `python -m hsl send-worker [--db URL] [--once]`, and the
summary refresh timer it shares with the app (SPEC §9).

`Worker.run_once()` is one small step: heartbeat, recover stale rows (first turn, then
now and then), claim a small batch, send each message paced through its transport,
record the outcomes, finish campaigns with nothing left. `Worker.run()` repeats it until
the stop event is set (SIGTERM / SIGINT via `run_worker`) or, with `once`, until nothing
is due. State that must survive a crash lives in the database (hsl.messaging.delivery).

`RefreshTimer` keeps the summary tables fresh on a thread of its own beside the deliveries
(and beside the page runs in the app process): one refresh every `refresh_seconds`.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, inspect, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from hsl.config import Settings
from hsl.db import check_connection, make_engine, reading, safe_url, writing
from hsl.errors import ConflictError, DatabaseUnavailable, HslError, QueryTimeout
from hsl.filters import utc_now  # HSL_CLOCK moves it (demos, tests)
from hsl.messaging import delivery
from hsl.messaging.delivery import Claimed, Pacer
from hsl.messaging.transports import (
    MISSING_TOKEN,
    DryRunTransport,
    Outcome,
    Transport,
    transport_from_settings,
)
from hsl.schema import worker_heartbeats
from hsl.summaries import has_tables, read_state

if TYPE_CHECKING:
    from hsl.summaries.refresh import RefreshResult

log = logging.getLogger("hsl.worker")

BATCH_SECONDS = 0.2  # a claim holds about this much sending: a crash strands little
MAX_BATCH = 100
POLL_S = 1.0  # idle: look for due work this often
RECOVER_EVERY_S = 30.0  # look for dead workers' rows this often (and on the first turn)
NOTIFY_EVERY_S = 60.0  # look for due digests and check the alert rules this often (and first)
PEERS_EVERY_S = 1.0  # recount the live workers sharing the rate this often
FLUSH_IF_IDLE_S = 0.005  # a pause this long is worth a write (one costs about a ms)
FLUSH_AFTER_S = 0.25  # outcomes wait at most this long to be written (unless a send is slow)
SEEN_WITHIN_S = 60
LOG_EVERY_S = 10.0
MAX_OUTAGE_WAIT_S = 30.0
DATABASE_DOWN = (DatabaseUnavailable, QueryTimeout, OperationalError, InterfaceError)
REFRESH_STOP_WAIT_S = 10.0  # at exit, a refresh in flight gets this long to commit


def batch_size(rate: float) -> int:
    """Rows one claim takes: about BATCH_SECONDS of sending at `rate`, 1 to MAX_BATCH."""
    return max(1, min(MAX_BATCH, math.ceil(rate * BATCH_SECONDS)))


class FatalSendError(HslError):
    """Sending cannot go on (the bot token was refused); the worker stops."""


class Worker:
    """Delivers due campaigns. `transport_for(dry_run)` gives the transport for a campaign.

    `rate` is shared by all live workers (each paces at rate / live workers). `clock`
    gives the aware UTC time written to the database; `monotonic` and `sleep` drive the
    pacing (`sleep` defaults to waiting on the stop event, so a stop cuts waits short).
    """

    def __init__(
        self,
        engine: Engine,
        transport_for: Callable[[bool], Transport],
        *,
        rate: float,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        stop_event: threading.Event | None = None,
        batch: int | None = None,
        poll_s: float = POLL_S,
        notify: Callable[[datetime], object] | None = None,
    ) -> None:
        self.engine = engine
        # The digest and alert turn (hsl.notify.turn): on the first turn, then every
        # NOTIFY_EVERY_S; what it queues is delivered by this worker like any campaign.
        self.notify = notify
        self._last_notify = -math.inf
        self.transport_for = transport_for
        self.rate = float(rate)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._reused_id = worker_id is not None
        self.clock = clock
        self.monotonic = monotonic
        self.stop_event = stop_event or threading.Event()
        self.sleep = sleep or self.stop_event.wait
        self.batch = batch
        self.poll_s = poll_s
        self.pacer = Pacer(self.rate, clock=monotonic, sleep=self.sleep)
        self.started_at = clock()
        self.turns = 0
        self._last_recovery = -math.inf
        self._recovered = False
        self._last_peers = -math.inf
        self._dry: Transport | None = None
        self._real: Transport | None = None
        self._no_real: str | None = None  # why there is no real transport (no token)
        self._warned_no_real = False
        self._pending: list[tuple[Claimed, Outcome | None, datetime]] = []
        self._pending_since = 0.0
        self._unsent: list[Claimed] = []
        self._counts: dict[str, int] = {}
        self._last_log = monotonic()

    # --- one step ---------------------------------------------------------------------

    def run_once(self) -> int:
        """One turn; returns how many messages it handled (sent, refused or rescheduled)."""
        now = self.clock()
        self.turns += 1
        self._beat(now)
        self.settle()  # what an earlier turn could not write
        if self.monotonic() - self._last_recovery >= RECOVER_EVERY_S:  # first turn, then now
            # and then. A reused worker id: its rows from before this process are stale too.
            restarted = self.worker_id if self._reused_id and not self._recovered else None
            stale = delivery.recover_stale(self.engine, now=now, restarted=restarted)
            self._recovered = True
            self._last_recovery = self.monotonic()
            if stale:
                log.warning("Marked %d message(s) of stopped workers unknown (not resent).",
                            stale)
        self._notify(now)
        self._share_rate(now)
        self._resolve_transports()
        batch = delivery.claim(
            self.engine, self.worker_id, now=now, limit=self.batch or batch_size(self.rate),
            dry_run_only=self._real is None,
        )
        if not batch and self._real is None and not self._warned_no_real and delivery.has_due(
            self.engine, now=now, dry_run=False
        ):
            self._warned_no_real = True
            log.warning("%s", self._no_real)
        handled = self._deliver(batch)
        self._report_progress()
        for campaign_id in delivery.finish_done_campaigns(self.engine, now=self.clock()):
            log.info("Campaign %d is done.", campaign_id)
        return handled

    def _notify(self, now: datetime) -> None:
        """Queue the digests owed and the alerts that fired (when it is time for a turn).
        A failure is logged and tried again next time: it never stops the deliveries."""
        if self.notify is None or self.monotonic() - self._last_notify < NOTIFY_EVERY_S:
            return
        self._last_notify = self.monotonic()
        try:
            self.notify(now)
        except Exception as err:  # noqa: BLE001 - logged; deliveries go on
            log.warning("The digest and alert turn failed (%s); trying again in %g s.",
                        type(err).__name__, NOTIFY_EVERY_S, exc_info=True)

    def _deliver(self, batch: list[Claimed]) -> int:
        handled = 0
        rest = list(batch)  # claimed and surely not sent: given back if the turn ends early
        try:
            while rest:
                item = rest[0]
                text, refusal = delivery.message_for(item)
                if refusal is not None:
                    rest.pop(0)
                    self._note(item, Outcome("failed", error=refusal))
                    handled += 1
                    continue
                if not self._wait_turn(item.user_id):
                    break  # stopped: the rest goes back to `pending`
                transport = self._dry if item.dry_run else self._real
                rest.pop(0)  # from here on it may go out, so it is never given back
                self.pacer.begin(item.user_id)
                try:
                    outcome = (transport.send(item.user_id, text) if item.photo is None
                               else transport.send(item.user_id, text, photo=item.photo))
                except Exception as err:
                    self.pacer.end(item.user_id)
                    self._note(item, None)  # may have gone out: unknown, never resent
                    log.error("Campaign %d: the transport failed (%s); stopping.",
                              item.campaign_id, type(err).__name__)
                    raise
                self.pacer.end(item.user_id)
                if _token_refused(outcome):  # every message would fail the same way
                    rest.insert(0, item)
                    raise FatalSendError(outcome.error)
                self._note(item, outcome)
                handled += 1
        finally:
            self._unsent += rest
            self.settle()
        return handled

    def _report_progress(self, *, final: bool = False) -> None:
        """One log line every LOG_EVERY_S seconds (and at the end) with what was done."""
        if not self._counts or not (final or self.monotonic() - self._last_log >= LOG_EVERY_S):
            return
        self._last_log = self.monotonic()
        done = ", ".join(f"{n} {kind}" for kind, n in sorted(self._counts.items()))
        self._counts.clear()
        log.info("Messages handled: %s.", done)

    def _wait_turn(self, chat_id: int) -> bool:
        """Wait until the pacer lets a message to `chat_id` go; False when stopped first."""
        while not self.stop_event.is_set():
            pause = self.pacer.delay(chat_id)
            if pause <= 0:
                return True
            if self._pending and pause >= FLUSH_IF_IDLE_S:  # idle anyway: write first
                self.flush()
                continue
            self.sleep(pause)
        return False

    def _note(self, item: Claimed, outcome: Outcome | None) -> None:
        kind = "unknown" if outcome is None else outcome.kind
        self._counts[kind] = self._counts.get(kind, 0) + 1
        if not self._pending:
            self._pending_since = self.monotonic()
        self._pending.append((item, outcome, self.clock()))
        if self.monotonic() - self._pending_since >= FLUSH_AFTER_S:
            self.flush()

    def flush(self) -> None:
        """Write the outcomes not yet written (one transaction); kept if that fails."""
        if self._pending:
            delivery.record_many(self.engine, self._pending)
            self._pending = []

    def settle(self) -> None:
        """Write the outcomes held and give back the rows claimed but never sent.

        After a failed write (the database went away) both wait here for the next turn:
        the worker is alive, so no one else will mark its `sending` rows unknown.
        """
        self.flush()
        if self._unsent:
            delivery.release(self.engine, self._unsent)
            self._unsent = []

    # --- the loop ---------------------------------------------------------------------

    def run(self, once: bool = False) -> int:
        """Turn until stopped (or, with `once`, until nothing is due); returns 0.

        Polling, a database that went away is waited for (1, 2, 4 ... 30 s) rather than
        ending the worker; with `once` it is an error like any other.
        """
        outage = 0
        try:
            while not self.stop_event.is_set():
                try:
                    handled = self.run_once()
                except DATABASE_DOWN as err:
                    if once:
                        raise
                    outage += 1
                    pause = min(MAX_OUTAGE_WAIT_S, 2.0 ** (outage - 1))
                    log.warning("The database failed (%s); trying again in %g s.",
                                type(err).__name__, pause)
                    self.sleep(pause)
                    continue
                outage = 0
                if handled == 0:
                    if once:
                        break
                    self.sleep(self.poll_s)
        finally:
            self.close()
        return 0

    def close(self) -> None:
        """Write what is left and remove this worker's heartbeat (a clean exit)."""
        self.settle()
        self._report_progress(final=True)
        with writing(self.engine) as conn:
            conn.execute(
                delete(worker_heartbeats).where(worker_heartbeats.c.worker_id == self.worker_id)
            )

    # --- helpers ----------------------------------------------------------------------

    def _beat(self, now: datetime) -> None:
        with writing(self.engine) as conn:
            seen = conn.execute(
                update(worker_heartbeats)
                .where(worker_heartbeats.c.worker_id == self.worker_id)
                .values(seen_at=now)
            ).rowcount
            if not seen:
                conn.execute(
                    worker_heartbeats.insert().values(
                        worker_id=self.worker_id, host=socket.gethostname()[:200],
                        pid=os.getpid(), started_at=self.started_at, seen_at=now,
                    )
                )

    def _share_rate(self, now: datetime) -> None:
        """Pace at rate / (live workers): `rate` is what the bot may send overall."""
        if self.monotonic() - self._last_peers < PEERS_EVERY_S:
            return
        self._last_peers = self.monotonic()
        with reading(self.engine) as conn:
            peers = conn.execute(
                select(func.count()).select_from(
                    delivery.live_workers(delivery.STALE_AFTER_S, now=now).subquery()
                )
            ).scalar() or 1
        share = self.rate / max(1, peers)
        if share != self.pacer.rate:
            self.pacer.set_rate(share)
            log.info("Pacing at %g message(s) a second (%d worker(s) share %g).",
                     share, peers, self.rate)

    def _resolve_transports(self) -> None:
        if self._dry is None:
            dry = self.transport_for(True)
            self._dry = dry if getattr(dry, "dry_run", False) else DryRunTransport()
        if self._real is None and self._no_real is None:
            try:
                self._real = self.transport_for(False)
            except HslError as err:  # no token: only dry-run campaigns can go out
                self._no_real = str(err)


def _token_refused(outcome: Outcome) -> bool:
    """Telegram said the token is wrong (transports maps 401 to this failed sentence)."""
    return outcome.kind == "failed" and "HSL_TELEGRAM_BOT_TOKEN" in (outcome.error or "")


def worker_seen(bind: Engine | Connection, *, now: datetime,
                within: float = SEEN_WITHIN_S) -> datetime | None:
    """The latest heartbeat of any worker in the last `within` seconds, or None."""
    query = select(func.max(worker_heartbeats.c.seen_at)).where(
        worker_heartbeats.c.seen_at >= now - timedelta(seconds=within)
    )
    if isinstance(bind, Connection):
        return bind.execute(query).scalar()
    with reading(bind) as conn:
        return conn.execute(query).scalar()


# --- the summary refresh timer -----------------------------------------------------------


class RefreshTimer:
    """Refreshes the summary tables of `engine` (days in `tz`) every `seconds` (SPEC §9).

    `run_once()` is one turn: nothing without the summary tables; nothing when they were
    refreshed, by this process or any other, less than `seconds` ago (app replicas and
    workers on one database then take turns instead of each refreshing every interval);
    else one refresh that is skipped when another one is running. A failure is logged
    (once until it changes or passes) and the next turn tries again. `run()` turns every
    `seconds` until the stop event is set; `start()` does that on a daemon thread.
    """

    def __init__(self, engine: Engine, tz: str, seconds: float, *,
                 clock: Callable[[], datetime] = utc_now,
                 stop_event: threading.Event | None = None) -> None:
        self.engine = engine
        self.tz = tz
        self.seconds = seconds
        self.clock = clock
        self.stop_event = stop_event or threading.Event()
        self.thread: threading.Thread | None = None
        self._failing: str | None = None  # the last failure logged, until a turn succeeds

    def run_once(self) -> RefreshResult | None:
        """One turn; returns what the refresh did, or None when there was none."""
        from hsl.summaries.refresh import refresh  # pulls in pandas (hsl.metrics), hence here

        try:
            if not has_tables(self.engine) or self._recently_refreshed():
                done = None
            else:
                done = refresh(self.engine, self.tz, wait=False)
        except Exception as err:  # noqa: BLE001 - logged; a timer must outlive any failure
            self._failed(err)
            return None
        if self._failing is not None:
            log.info("The summary refresh works again.")
            self._failing = None
        return done

    def _recently_refreshed(self) -> bool:
        state = read_state(self.engine)
        return state is not None and state.tz == self.tz and (
            self.clock() - state.refreshed_at < timedelta(seconds=self.seconds))

    def _failed(self, err: Exception) -> None:
        expected = isinstance(err, HslError | SQLAlchemyError)
        text = str(getattr(err, "orig", None) or err).strip()
        reason = f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__
        if reason != self._failing:
            self._failing = reason
            log.warning("The summary refresh failed (%s); trying again every %g s.",
                        reason[:300], self.seconds, exc_info=not expected)

    def run(self) -> None:
        """Turn every `seconds` (the first turn one interval after the start) until stopped."""
        while not self.stop_event.wait(self.seconds):
            self.run_once()

    def start(self) -> RefreshTimer:
        """Run `run()` on a daemon thread (it never holds up the process's exit)."""
        self.thread = threading.Thread(target=self.run, name="hsl-summary-refresh", daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the turn in progress; wait up to `timeout` seconds for it (None: no wait)."""
        self.stop_event.set()
        if timeout is not None and self.thread is not None:
            self.thread.join(timeout)


# --- the command ------------------------------------------------------------------------


def add_worker_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `send-worker [--db URL] [--once]` to the subcommands of `python -m hsl`."""
    worker = sub.add_parser("send-worker", help="deliver due message campaigns (Telegram)")
    worker.add_argument("--db", help="database URL (default: DATABASE_URL, secrets, demo file)")
    worker.add_argument("--once", action="store_true",
                        help="send everything due now, then exit (default: run until stopped)")
    return worker


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run the send-worker; 0 on a clean exit. Errors are HslError (one sentence, exit 2).

    SIGTERM and SIGINT stop it after the message in flight has been recorded. Progress
    goes to the `hsl.worker` logger (stderr, when logging is not set up otherwise).
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = make_engine(settings.database_url, settings.statement_timeout_ms)
    try:
        if settings.is_demo:  # made and filled on first use; pulls in pandas, hence here
            from hsl import bootstrap

            bootstrap.prepare(engine, is_demo=True, tz=settings.timezone)
        else:
            check_connection(engine)
        if "campaign_recipients" not in inspect(engine).get_table_names():
            raise ConflictError(
                "The database lacks the messaging tables; run `python -m hsl init-db` "
                "against it."
            )
        token = (settings.telegram_token or "").strip()
        real: Transport | None = None
        if settings.is_demo or token:  # a malformed token or API address: refused now
            real = transport_from_settings(token, settings.telegram_api_url, settings.is_demo)
        elif delivery.has_due(engine, now=utc_now(), dry_run=False):
            raise FatalSendError(MISSING_TOKEN)
        dry = DryRunTransport()
        made = [t for t in (real, dry) if t is not None]

        def transport_for(dry_run: bool) -> Transport:
            if dry_run:
                return dry
            if real is None:  # the worker then sends dry runs only, and says so
                raise FatalSendError(MISSING_TOKEN)
            return real

        stop = threading.Event()
        from hsl import notify  # the reports behind digests: only in a worker process

        def notify_turn(now: datetime) -> None:
            done = notify.turn(engine, now=now, tz=settings.timezone,
                               public_url=settings.public_url, dry_run=settings.is_demo)
            if done.digests or done.alerts:
                log.info("Queued %d digest(s) and %d alert(s).", len(done.digests),
                         len(done.alerts))

        worker = Worker(engine, transport_for, rate=settings.telegram_rate, stop_event=stop,
                        notify=notify_turn)
        previous = _on_signals(stop)
        log.info("Send-worker %s started on %s (%g messages a second%s).", worker.worker_id,
                 safe_url(engine.url), settings.telegram_rate, ", once" if args.once else "")
        # A long-running worker also keeps the summaries fresh; `--once` only sends.
        timer = None if args.once or not settings.refresh_seconds else RefreshTimer(
            engine, settings.timezone, settings.refresh_seconds, stop_event=stop).start()
        try:
            return worker.run(once=args.once)
        finally:
            if timer is not None:
                timer.stop(timeout=REFRESH_STOP_WAIT_S)
            _restore_signals(previous)
            for transport in made:
                transport.close()
            log.info("Send-worker %s stopped.", worker.worker_id)
    finally:
        engine.dispose()


def _on_signals(stop: threading.Event) -> dict:
    """SIGTERM / SIGINT set `stop`; a second one interrupts even the message in flight."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(number: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # its row stays `sending`: unknown later, never resent
        log.info("Stopping after the message in flight (%s).", signal.Signals(number).name)
        stop.set()

    return {number: signal.signal(number, handler) for number in (signal.SIGTERM, signal.SIGINT)}


def _restore_signals(previous: dict) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler)
