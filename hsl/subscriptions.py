"""Digest subscriptions (issue 12, item 2): a saved view sent to a Telegram chat on a schedule.

Who may subscribe what: anyone who may open a view may subscribe to it. A chat is a
person's own Telegram id (a positive number) or a group chat (negative) that an admin has
allowed (`allowed_chats`). Viewers and analysts subscribe only themselves: a person's
Telegram id is the one of their first subscription, and an id another person already uses
is refused; admins may send to any chat and manage everyone's subscriptions.

Exactly once: a worker that finds a subscription due (`due`) claims its run with a row in
`digest_runs`, unique per subscription and period (`claim`); a second worker's claim of
the same period fails and it moves on. A run missed because no worker ran is owed once,
the latest one, and marked late (hsl.schedules.latest_due, is_late).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from hsl import schedules, views
from hsl.auth import Actor
from hsl.db import reading
from hsl.errors import NotFoundError, PermissionDenied, ValidationError
from hsl.filters import utc_now
from hsl.schedules import Schedule
from hsl.schema import (
    allowed_chats,
    campaign_recipients,
    digest_runs,
    saved_views,
    subscriptions,
)

MAX_CHAT_ID = 10**15  # Telegram chat ids fit in 52 bits


@dataclass(frozen=True)
class Subscription:
    id: int
    view_id: int
    view_name: str
    owner: str
    chat_id: int
    schedule: Schedule
    paused: bool
    created_at: datetime
    last_due_at: datetime | None
    last_run_at: datetime | None
    last_outcome: str | None

    def next_run(self, now: datetime) -> datetime | None:
        """The next scheduled instant after `now` (None while paused)."""
        return None if self.paused else schedules.next_run(self.schedule, now)


@dataclass(frozen=True)
class Due:
    """A run a worker owes: the subscription, the scheduled instant, its period, late or not."""

    subscription: Subscription
    due_at: datetime
    period_key: str
    late: bool


def _row(row) -> Subscription:
    at = time.fromisoformat(row.at_time)
    return Subscription(int(row.id), int(row.view_id), row.view_name, row.owner,
                        int(row.chat_id),
                        Schedule(row.every, at, row.weekday, row.day, tz=row.tz),
                        bool(row.paused), row.created_at, row.last_due_at, row.last_run_at,
                        row.last_outcome)


def _select():
    s = subscriptions.c
    return (select(*s, saved_views.c.name.label("view_name"))
            .join(saved_views, saved_views.c.id == s.view_id))


def chat_id(text: object) -> int:
    """A Telegram chat id from a form or the command line; one sentence when it is not one."""
    value = str(text).strip()
    digits = value.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()) or not 0 < int(digits) < MAX_CHAT_ID:
        raise ValidationError(f"“{value[:20]}” is not a Telegram chat id: use the number of "
                              "a person (e.g. 123456789) or of a group (e.g. -1001234567890).")
    return int(value)


def _check_chat(conn, actor: Actor, chat: int) -> None:
    if chat < 0:
        allowed = conn.execute(select(allowed_chats.c.chat_id)
                               .where(allowed_chats.c.chat_id == chat)).first()
        if allowed is None:
            raise PermissionDenied(f"The group chat {chat} is not one an admin has allowed "
                                   "for digests.")
        return
    if actor.role == "admin":
        return
    s = subscriptions.c
    others = conn.execute(select(s.owner).where(s.chat_id == chat, s.owner != actor.name)
                          .limit(1)).first()
    if others is not None:
        raise PermissionDenied("That Telegram id belongs to someone else's subscriptions; "
                               "subscribe your own.")
    mine = conn.execute(select(s.chat_id).where(s.owner == actor.name, s.chat_id > 0)
                        .limit(1)).scalar()
    if mine is not None and mine != chat:
        raise PermissionDenied(f"Your digests go to your Telegram id {mine}; only an admin "
                               "may send them to another person.")


def subscribe(engine: Engine, actor: Actor, *, view_id: int, chat: int, schedule: Schedule,
              owner: str | None = None, now: datetime | None = None) -> int:
    """Subscribe `chat` to the view's digest on `schedule`; return the subscription's id.

    `owner` (default: the actor) may name someone else only for an admin.
    """
    view = views.get(engine, actor, view_id)  # NotFoundError unless the actor may open it
    who = owner or actor.name
    if who != actor.name and actor.role != "admin":
        raise PermissionDenied("Only an admin may subscribe someone else.")
    with engine.begin() as conn:
        _check_chat(conn, actor, chat)
        result = conn.execute(insert(subscriptions).values(
            view_id=view.id, owner=who, chat_id=chat, every=schedule.every,
            at_time=schedule.at.strftime("%H:%M"), weekday=schedule.weekday, day=schedule.day,
            tz=schedule.tz, paused=False, created_at=now or utc_now(),
        ).returning(subscriptions.c.id))
        return int(result.scalar_one())


_DELIVERY = {"sent": "Sent", "pending": "Sending", "sending": "Sending",
             "failed": "Failed", "blocked": "Not delivered: the chat blocked the bot",
             "unknown": "Unknown: the worker stopped while sending it", "skipped": "Skipped"}


def _delivered(status: str | None, error: str | None, late: bool, outcome: str | None) -> str:
    """How the last run ended, as a person reads it: its message's delivery when it was
    queued ("Sent (late)", "Failed: chat not found"), else the run's own sentence."""
    if status is None:
        return outcome or ""
    words = _DELIVERY.get(status, status)
    if status == "failed" and error:
        words = f"Failed: {error}"
    return f"{words} (late)" if late and status == "sent" else words


def listed(engine: Engine, actor: Actor) -> list[Subscription]:
    """The actor's subscriptions (an admin's: everyone's), by owner, view name and id; the
    last outcome is the delivery of the last run's message once it has one."""
    stmt = _select().order_by(subscriptions.c.owner, saved_views.c.name, subscriptions.c.id)
    if actor.role != "admin":
        stmt = stmt.where(subscriptions.c.owner == actor.name)
    r, cr = digest_runs.c, campaign_recipients.c
    newest = (select(r.subscription_id, func.max(r.id).label("run_id"))
              .group_by(r.subscription_id).subquery("newest"))
    runs = (select(r.subscription_id, r.late, r.outcome, cr.status, cr.error)
            .join(newest, newest.c.run_id == r.id)
            .outerjoin(campaign_recipients, cr.campaign_id == r.campaign_id))
    with reading(engine) as conn:
        found = [_row(row) for row in conn.execute(stmt)]
        last = {row.subscription_id: row for row in conn.execute(runs)}
    return [replace(sub, last_outcome=_delivered(last[sub.id].status, last[sub.id].error,
                                                 last[sub.id].late, sub.last_outcome))
            if sub.id in last else sub for sub in found]


def get(engine: Engine, actor: Actor, subscription_id: int) -> Subscription:
    """One subscription the actor may manage; the same sentence whether missing or not theirs."""
    stmt = _select().where(subscriptions.c.id == subscription_id)
    if actor.role != "admin":
        stmt = stmt.where(subscriptions.c.owner == actor.name)
    with reading(engine) as conn:
        row = conn.execute(stmt).first()
    if row is None:
        raise NotFoundError(f"There is no subscription #{subscription_id} of yours.")
    return _row(row)


def set_paused(engine: Engine, actor: Actor, subscription_id: int, paused: bool) -> Subscription:
    """Pause or resume a subscription (its owner or an admin). A resumed one owes no run
    from while it was paused: its next run is the next scheduled one."""
    found = get(engine, actor, subscription_id)
    values: dict[str, object] = {"paused": paused}
    if not paused:
        values["last_due_at"] = utc_now()  # nothing is owed for the paused time
    with engine.begin() as conn:
        conn.execute(update(subscriptions).where(subscriptions.c.id == found.id).values(**values))
    return get(engine, actor, subscription_id)


def unsubscribe(engine: Engine, actor: Actor, subscription_id: int) -> Subscription:
    """Delete a subscription (its owner or an admin); return what was deleted."""
    found = get(engine, actor, subscription_id)
    with engine.begin() as conn:
        conn.execute(delete(subscriptions).where(subscriptions.c.id == found.id))
    return found


def allow_chat(engine: Engine, actor: Actor, chat: int, title: str,
               now: datetime | None = None) -> None:
    """Allow a group chat for digests and alerts (admins only)."""
    if actor.role != "admin":
        raise PermissionDenied("Only an admin may allow a group chat.")
    if chat >= 0:
        raise ValidationError("A group chat's id is negative, e.g. -1001234567890.")
    name = " ".join(str(title).split())[:100]
    if not name:
        raise ValidationError("Give the group chat a name, so people know where digests go.")
    try:
        with engine.begin() as conn:
            conn.execute(insert(allowed_chats).values(chat_id=chat, title=name,
                                                      added_by=actor.name,
                                                      added_at=now or utc_now()))
    except IntegrityError:
        raise ValidationError(f"The group chat {chat} is allowed already.") from None


def due(engine: Engine, now: datetime) -> list[Due]:
    """Every run owed at `now`: per subscription not paused, the latest scheduled instant
    after its last handled one (and after it was made), late when past the grace time."""
    stmt = _select().where(~subscriptions.c.paused).order_by(subscriptions.c.id)
    with reading(engine) as conn:
        found = [_row(r) for r in conn.execute(stmt)]
    owed = []
    for sub in found:
        at = schedules.latest_due(sub.schedule, now, sub.last_due_at, sub.created_at)
        if at is not None:
            owed.append(Due(sub, at, schedules.period_key(sub.schedule, at),
                            schedules.is_late(at, now)))
    return owed


def claim(engine: Engine, run: Due, now: datetime) -> int | None:
    """Claim the run: its `digest_runs` row and the subscription's last handled instant, in
    one transaction. None when another worker claimed this period first."""
    try:
        with engine.begin() as conn:
            result = conn.execute(insert(digest_runs).values(
                subscription_id=run.subscription.id, period_key=run.period_key,
                due_at=run.due_at, late=run.late, created_at=now,
            ).returning(digest_runs.c.id))
            run_id = int(result.scalar_one())
            conn.execute(update(subscriptions)
                         .where(subscriptions.c.id == run.subscription.id,
                                or_(subscriptions.c.last_due_at.is_(None),
                                    subscriptions.c.last_due_at < run.due_at))
                         .values(last_due_at=run.due_at))
            return run_id
    except IntegrityError:
        return None


def finish(engine: Engine, run_id: int, *, outcome: str, campaign_id: int | None,
           now: datetime) -> None:
    """Record how a claimed run ended, on the run and on its subscription."""
    with engine.begin() as conn:
        sub_id = conn.execute(update(digest_runs).where(digest_runs.c.id == run_id)
                              .values(outcome=outcome, campaign_id=campaign_id)
                              .returning(digest_runs.c.subscription_id)).scalar_one()
        conn.execute(update(subscriptions).where(subscriptions.c.id == sub_id)
                     .values(last_run_at=now, last_outcome=outcome))
