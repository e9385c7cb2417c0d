"""The send-worker's digest and alert turn (issue 12): what is due becomes a one-chat campaign.

`turn()` runs in the send-worker (on its first turn, then every hsl.worker.NOTIFY_EVERY_S).
Each digest owed now is claimed once per period (hsl.subscriptions.claim: a second
worker's claim fails), built (hsl.digests) and queued as a "digest" campaign with its
chart, which the worker then delivers like any message: paced, retried, recorded, and
listed in the Messages history. A digest owed from while no worker ran is sent once,
marked late. Alert rules are checked the same turn (hsl.alerts.check); a rule that became
true is queued as an "alert" campaign. A digest or alert that cannot be built records its
one-sentence reason as the subscription's or rule's last outcome: never dropped silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from hsl import subscriptions, views
from hsl.auth import Actor
from hsl.errors import HslError
from hsl.messaging.campaigns import queue_one

log = logging.getLogger("hsl.worker")


@dataclass(frozen=True)
class TurnResult:
    """What one turn queued: campaign ids of digests and of alerts, and failures."""

    digests: list[int]
    alerts: list[int]
    failed: list[str]


def _late_note(due_at: datetime, now: datetime, tz: str) -> str:
    zone = ZoneInfo(tz)
    return (f"\n<i>Late: due {due_at.astimezone(zone):%d %b %H:%M}, sent "
            f"{now.astimezone(zone):%d %b %H:%M} (no send-worker was running).</i>")


def digest_turn(engine: Engine, *, now: datetime, tz: str, public_url: str,
                dry_run: bool) -> tuple[list[int], list[str]]:
    """Queue every digest owed at `now`; return the campaign ids and the failure sentences."""
    from hsl import digests  # pandas, the reports and the chart renderer: only when needed

    queued: list[int] = []
    failed: list[str] = []
    for run in subscriptions.due(engine, now):
        run_id = subscriptions.claim(engine, run, now)
        if run_id is None:
            continue  # another worker has this period
        sub = run.subscription
        try:
            view = views.get(engine, Actor(sub.owner, "admin"), sub.view_id)
            if view.owner != sub.owner and not view.shared:
                raise HslError(f"The view “{view.name}” is no longer shared with {sub.owner}.")
            digest = digests.build(engine, view, now=now, tz=tz, public_url=public_url)
            text = digest.text + (_late_note(run.due_at, now, tz) if run.late else "")
            campaign_id = queue_one(
                engine, kind="digest", text=text, chat=sub.chat_id, created_by=sub.owner,
                now=now, dry_run=dry_run, photo=digest.png,
                reason=f"Digest of “{view.name}” for {run.period_key}"
                       f"{' (late)' if run.late else ''}.")
        except (HslError, SQLAlchemyError) as err:
            sentence = " ".join(str(err).split())[:300] or type(err).__name__
            subscriptions.finish(engine, run_id, outcome=f"Not sent: {sentence}",
                                 campaign_id=None, now=now)
            failed.append(f"Subscription {sub.id}: {sentence}")
            log.warning("Digest of subscription %d not sent: %s", sub.id, sentence)
            continue
        subscriptions.finish(engine, run_id, campaign_id=campaign_id, now=now,
                             outcome=f"Queued as campaign {campaign_id}"
                                     f"{', late' if run.late else ''}.")
        queued.append(campaign_id)
    return queued, failed


def alert_turn(engine: Engine, *, now: datetime, tz: str, public_url: str,
               dry_run: bool) -> list[int]:
    """Check every alert rule; a rule that became true is queued as an "alert" campaign in
    the transaction that records its firing (so it fires, and is sent, once)."""
    from hsl import alerts  # the reports behind the numbers: only when needed

    queued: list[int] = []

    def send(conn: Connection, rule_id: int, chat: int, text: str) -> int:
        rule = alerts.get(engine, rule_id)
        campaign_id = queue_one(engine, kind="alert", text=text, chat=chat,
                                created_by=rule.owner, now=now, dry_run=dry_run, conn=conn,
                                reason=f"Alert “{rule.name}” became true.")
        queued.append(campaign_id)
        return campaign_id

    alerts.check(engine, now=now, tz=tz, dry_run=False, public_url=public_url, notify=send)
    return queued


def turn(engine: Engine, *, now: datetime, tz: str, public_url: str,
         dry_run: bool) -> TurnResult:
    """One turn: the digests owed now, then the alert rules."""
    digests_queued, failed = digest_turn(engine, now=now, tz=tz, public_url=public_url,
                                         dry_run=dry_run)
    try:
        alerts_queued = alert_turn(engine, now=now, tz=tz, public_url=public_url,
                                   dry_run=dry_run)
    except (HslError, SQLAlchemyError) as err:
        sentence = " ".join(str(err).split())[:300] or type(err).__name__
        log.warning("Checking the alert rules failed: %s", sentence)
        return TurnResult(digests_queued, [], [*failed, f"Alerts: {sentence}"])
    return TurnResult(digests_queued, alerts_queued, failed)
