"""Delivery (SPEC §8): claim due recipients, record what happened, recover after a crash.

The send-worker (hsl.worker) drives these steps; each is one short transaction:

1. `claim` picks a small batch of due `pending` rows of due campaigns and marks them
   `sending` (+ `claimed_by`, attempts + 1), committed BEFORE anything is sent. On
   PostgreSQL the rows are chosen with ``SELECT ... FOR UPDATE SKIP LOCKED``, so several
   workers share one campaign and never claim a row twice; SQLite has one writer at a
   time (``BEGIN IMMEDIATE``).
2. The worker renders each message (`message_for`) and sends it, paced by a `Pacer`.
3. `record` / `record_many` write each outcome: `sent`, `blocked`, `failed`, or back to
   `pending` with `next_attempt_at` pushed (429: Telegram's retry_after; network errors
   and 5xx: exponential backoff) until the attempts run out.
4. `recover_stale` marks `sending` rows of workers without a recent heartbeat `unknown`:
   the message may or may not have arrived, so it is never resent automatically.
5. `finish_done_campaigns` marks campaigns with nothing `pending` or `sending` `done`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import and_, bindparam, case, exists, func, or_, select, true, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Update
from sqlalchemy.sql.expression import ColumnElement

from hsl.db import reading, writing
from hsl.errors import ValidationError
from hsl.messaging.template import MAX_LENGTH, Template, parse, render, too_long
from hsl.messaging.transports import Outcome
from hsl.schema import UTCDateTime, campaign_recipients, campaigns, worker_heartbeats

MAX_ATTEMPTS = 5  # network errors and 5xx: the fifth failed attempt is final
MAX_THROTTLED_ATTEMPTS = 10  # 429s are Telegram asking to wait, so they get more room
BACKOFF_FIRST_S = 1.0  # 1, 2, 4, 8 seconds after the 1st, 2nd, 3rd, 4th failure
BACKOFF_MAX_S = 300.0
STALE_AFTER_S = 60  # a worker without a heartbeat for this long is presumed dead

TOO_LONG = f"Too long: over {MAX_LENGTH} characters once the placeholders are filled in."
STALE = "The worker stopped while sending this message, so it may or may not have arrived."
RAISED = "Sending stopped with an unexpected error ({}), so it may or may not have arrived."

_R = campaign_recipients.c
_C = campaigns.c


@dataclass(frozen=True)
class Claimed:
    """One recipient row this worker holds (`sending`), with what it needs to send it."""

    campaign_id: int
    user_id: int  # also the chat id: a private chat with the bot has the person's id
    attempts: int  # including the attempt this claim is for
    worker_id: str
    dry_run: bool
    template: str = field(repr=False)  # the campaign's text as written
    first_name: str | None = field(default=None, repr=False)  # frozen with the list
    username: str | None = field(default=None, repr=False)
    photo: bytes | None = field(default=None, repr=False)  # a digest's chart (PNG)


@lru_cache(maxsize=64)
def _parsed(text: str) -> Template:
    return parse(text)


def message_for(claimed: Claimed) -> tuple[str | None, str | None]:
    """(the Telegram HTML to send, None) or (None, why it cannot be sent: "too long" ...)."""
    try:
        rendered = render(_parsed(claimed.template), claimed.first_name, claimed.username)
    except ValidationError as err:  # a text that was valid when queued always parses
        return None, str(err)
    if too_long(rendered):
        return None, TOO_LONG
    return rendered, None


# --- which campaigns and rows are due ----------------------------------------------------


def _due_campaign(now: datetime) -> ColumnElement[bool]:
    """`sending`, or `scheduled` with no time or a time that has come."""
    return or_(
        _C.status == "sending",
        and_(_C.status == "scheduled", or_(_C.scheduled_at.is_(None), _C.scheduled_at <= now)),
    )


def _due_row(now: datetime) -> ColumnElement[bool]:
    return and_(
        _R.status == "pending", or_(_R.next_attempt_at.is_(None), _R.next_attempt_at <= now)
    )


def _kind(dry_run: bool | None) -> ColumnElement[bool]:
    if dry_run is None:
        return true()
    return _C.dry_run.is_(True) if dry_run else _C.dry_run.is_(False)


def has_due(engine: Engine, *, now: datetime, dry_run: bool | None = None) -> bool:
    """True when some recipient could be claimed now (of dry-run or real campaigns only)."""
    query = select(
        exists().where(
            _R.campaign_id == _C.id, _due_row(now), _due_campaign(now), _kind(dry_run)
        )
    )
    with reading(engine) as conn:
        return bool(conn.execute(query).scalar())


# --- claiming ---------------------------------------------------------------------------


def claim(
    engine: Engine, worker_id: str, *, now: datetime, limit: int, dry_run_only: bool = False
) -> list[Claimed]:
    """Mark up to `limit` due recipients `sending` for `worker_id` and return them.

    Committed before returning: the caller may send as soon as it has the list. Rows come
    from the oldest due campaign first, longest due first (each batch in user order); a
    `scheduled` campaign the batch takes from becomes `sending` with `started_at`.
    `dry_run_only` leaves real campaigns alone (a worker without a bot token).
    """
    if limit < 1:
        return []
    claimed: list[Claimed] = []
    with writing(engine) as conn:
        due = conn.execute(
            select(_C.id, _C.status, _C.text, _C.dry_run, _C.photo)
            .where(_due_campaign(now), _kind(True if dry_run_only else None))
            .order_by(_C.id)
        ).all()
        for campaign in due:
            rows = conn.execute(
                select(_R.user_id, _R.attempts, _R.first_name, _R.username)
                .where(_R.campaign_id == campaign.id, _due_row(now))
                # The (campaign_id, status, next_attempt_at) index's own order: no scan
                # past the rows already sent, however large the campaign.
                .order_by(_R.next_attempt_at)
                .limit(limit - len(claimed))
                .with_for_update(skip_locked=True)  # SQLite: nothing (one writer anyway)
            ).all()
            if not rows:
                continue
            conn.execute(
                update(campaign_recipients)
                .where(
                    _R.campaign_id == campaign.id,
                    _R.user_id.in_([row.user_id for row in rows]),
                )
                .values(status="sending", claimed_by=worker_id, attempts=_R.attempts + 1)
            )
            if campaign.status == "scheduled":
                conn.execute(
                    update(campaigns)
                    .where(_C.id == campaign.id, _C.status == "scheduled")
                    .values(status="sending", started_at=now)
                )
            claimed += sorted((
                Claimed(
                    campaign_id=campaign.id,
                    user_id=row.user_id,
                    attempts=row.attempts + 1,
                    worker_id=worker_id,
                    dry_run=bool(campaign.dry_run),
                    template=campaign.text,
                    first_name=row.first_name,
                    username=row.username,
                    photo=campaign.photo,
                )
                for row in rows
            ), key=lambda c: c.user_id)
            if len(claimed) >= limit:
                break
    return claimed


def _update_held(**values) -> Update:
    """UPDATE of one row a worker claimed, for executemany with `_held_row(claimed)` params.

    It matches the row only while that worker still holds it: `claimed_by` is the worker,
    and the status is `sending` or `unknown` (another worker gave up on it while it was in
    flight; this one knows better). Anything else (an admin retried it, another worker
    holds it now) is left alone.
    """
    return (
        update(campaign_recipients)
        .where(
            _R.campaign_id == bindparam("b_campaign"),
            _R.user_id == bindparam("b_user"),
            _R.claimed_by == bindparam("b_worker"),
            or_(_R.status == "sending", _R.status == "unknown"),
        )
        .values(**values)
    )


def _held_row(claimed: Claimed) -> dict:
    """The parameters that pick `claimed`'s row in an `_update_held` statement."""
    return {"b_campaign": claimed.campaign_id, "b_user": claimed.user_id,
            "b_worker": claimed.worker_id}


_RELEASE = _update_held(
    status="pending", attempts=_R.attempts - 1,
    error=case((_R.status == "unknown", None), else_=_R.error),
)


def release(engine: Engine, claimed: Sequence[Claimed]) -> int:
    """Give back rows claimed but never sent (a clean stop): `pending`, the attempt undone.

    Also when another worker has meanwhile called them `unknown` (this one looked dead):
    it knows they never went out.
    """
    if not claimed:
        return 0
    with writing(engine) as conn:
        return conn.execute(_RELEASE, [_held_row(c) for c in claimed]).rowcount


# --- recording outcomes -----------------------------------------------------------------


def backoff(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: 1, 2, 4, 8 ... (capped)."""
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** max(0, attempts - 1))


def _values(claimed: Claimed, outcome: Outcome | None, at: datetime) -> dict:
    """The row's new columns for one outcome (None: the send raised, result unknown).

    A final `blocked` or `failed` row keeps the moment of its last attempt in
    `next_attempt_at` (hsl.messaging.audience reads it so when it looks for blocked people).
    """
    values = {"b_status": None, "b_error": None, "b_message": None, "b_sent": None,
              "b_next": at}
    if outcome is None:
        values.update(b_status="unknown", b_error=STALE)
    elif outcome.kind == "sent":
        values.update(b_status="sent", b_message=outcome.message_id, b_sent=at, b_next=None)
    elif outcome.kind == "blocked":
        values.update(b_status="blocked", b_error=outcome.error or "Blocked.")
    elif outcome.kind == "retry":
        throttled = outcome.retry_after is not None
        limit = MAX_THROTTLED_ATTEMPTS if throttled else MAX_ATTEMPTS
        error = outcome.error or "Telegram could not take the message right now."
        if claimed.attempts >= limit:  # a retried row (attempts kept) gets one more try
            values.update(b_status="failed", b_error=error)
        else:
            wait = max(0.0, outcome.retry_after) if throttled else backoff(claimed.attempts)
            values.update(b_status="pending", b_error=error, b_next=at + timedelta(seconds=wait))
    else:
        values.update(b_status="failed", b_error=outcome.error or "Telegram refused it.")
    return values


# `unknown` rows too: what actually happened is better than "unknown".
_RECORD = _update_held(
    status=bindparam("b_status"),
    error=bindparam("b_error"),
    telegram_message_id=bindparam("b_message"),
    sent_at=bindparam("b_sent", type_=UTCDateTime()),
    next_attempt_at=bindparam("b_next", type_=UTCDateTime()),
)


def record_many(
    engine: Engine, results: Iterable[tuple[Claimed, Outcome | None, datetime]]
) -> int:
    """Write several outcomes in one transaction; each with the moment it happened.

    An outcome of None means the send raised: the row becomes `unknown`.
    """
    params = [_held_row(c) | _values(c, outcome, at) for c, outcome, at in results]
    if not params:
        return 0
    with writing(engine) as conn:
        return conn.execute(_RECORD, params).rowcount


def record(engine: Engine, claimed: Claimed, outcome: Outcome | None, *, now: datetime) -> int:
    """Write one outcome (see `record_many`)."""
    return record_many(engine, [(claimed, outcome, now)])


# --- after a crash, and at the end -------------------------------------------------------


def live_workers(within: float = STALE_AFTER_S, *, now: datetime):
    """SELECT of the ids of workers with a heartbeat in the last `within` seconds."""
    return select(worker_heartbeats.c.worker_id).where(
        worker_heartbeats.c.seen_at >= now - timedelta(seconds=within)
    )


def recover_stale(
    engine: Engine, *, now: datetime, within: float = STALE_AFTER_S,
    restarted: str | None = None,
) -> int:
    """Mark `sending` rows of dead workers `unknown`; return how many. Never resends them.

    A worker is dead when it has no heartbeat in the last `within` seconds (or no
    heartbeat row at all). `restarted`: this worker's own id, when it may be reused from
    a previous run: rows it held before it started are stale too, heartbeat or not.
    """
    dead = or_(_R.claimed_by.is_(None), _R.claimed_by.not_in(live_workers(within, now=now)))
    if restarted is not None:
        dead = or_(dead, _R.claimed_by == restarted)
    with writing(engine) as conn:
        return conn.execute(
            update(campaign_recipients)
            .where(_R.status == "sending", dead)
            .values(status="unknown", error=STALE)
        ).rowcount


def finish_done_campaigns(engine: Engine, *, now: datetime) -> list[int]:
    """Mark `done` each campaign under way with no recipient `pending` or `sending`.

    "Under way": `sending`, or `scheduled` and due (every recipient was skipped). Returns
    the ids of the campaigns it finished.
    """
    open_rows = exists().where(
        _R.campaign_id == _C.id, or_(_R.status == "pending", _R.status == "sending")
    )
    finished = and_(_due_campaign(now), ~open_rows)
    with writing(engine) as conn:
        ids = conn.execute(select(_C.id).where(finished)).scalars().all()
        if ids:
            # The condition again: a row made pending since the SELECT keeps it open.
            conn.execute(
                update(campaigns)
                .where(_C.id.in_(ids), finished)
                .values(status="done", finished_at=now,
                        started_at=func.coalesce(_C.started_at, now))
            )
            ids = conn.execute(
                select(_C.id).where(_C.id.in_(ids), _C.status == "done")
            ).scalars().all()
    return list(ids)


# --- pacing -----------------------------------------------------------------------------


class Pacer:
    """At most `rate` messages in any one-second window, and one a second per chat.

    Measured, not assumed: a send counts from its start (`begin`) to its end (`end`),
    and the next one may start only when

    - `1 / rate` seconds have passed since the previous start (an even pace, no bursts);
    - the message `floor(rate)` sends ago *ended* at least one second ago, so however the
      network delays each request, no second holds more than `rate` arrivals at Telegram;
    - the last message to the same chat ended at least `per_chat` seconds ago.

    Below one message a second the window is `1 / rate` seconds holding one message.
    `clock` (monotonic seconds) and `sleep` are injectable for tests.
    """

    def __init__(
        self, rate: float, *, per_chat: float = 1.0,
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.per_chat = per_chat
        self.clock = clock
        self._sleep = sleep
        self._last_start = -math.inf
        self._chats: dict[int, float] = {}
        self._ends: deque[float] = deque()
        self.set_rate(rate)

    def set_rate(self, rate: float) -> None:
        """Change the pace (several workers share one rate); what was sent still counts."""
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError("rate must be a positive number")
        self.rate = rate
        self._gap = 1.0 / rate
        self._span = max(1.0, 1.0 / rate)
        self._ends = deque(self._ends, maxlen=max(1, math.floor(rate)))

    def delay(self, chat_id: int) -> float:
        """Seconds to wait before a message to `chat_id` may start (0: go now)."""
        ready = self._last_start + self._gap
        if len(self._ends) == self._ends.maxlen:
            ready = max(ready, self._ends[0] + self._span)
        last = self._chats.get(chat_id)
        if last is not None:
            ready = max(ready, last + self.per_chat)
        return max(0.0, ready - self.clock())

    def wait(self, chat_id: int) -> None:
        """Sleep until a message to `chat_id` may start."""
        while (pause := self.delay(chat_id)) > 0:
            self._sleep(pause)

    def begin(self, chat_id: int) -> None:
        """A message to `chat_id` starts now."""
        self._last_start = self.clock()

    def end(self, chat_id: int) -> None:
        """The message to `chat_id` has been answered (or has failed) now."""
        now = self.clock()
        self._ends.append(now)
        self._chats[chat_id] = now
        if len(self._chats) > 4096:  # forget chats that are free again
            self._chats = {c: t for c, t in self._chats.items() if t + self.per_chat > now}
