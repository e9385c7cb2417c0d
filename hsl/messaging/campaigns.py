"""Message campaigns (SPEC §8): drafts, queueing, pause, resume, cancel, retry, and the reads.

Analysts compose and save drafts; admins queue, pause, resume, cancel and retry. The role
is checked here, so no caller can skip it. Every change to a campaign commits in one
transaction with its row locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite's write lock
is taken up front), and queueing, pausing, resuming, cancelling and retrying write their
`audit_log` row (entity "campaign") in that same transaction, or nothing is written.

The status contract shared with hsl.messaging.delivery and the send-worker:

- `draft`: composed, no recipients. `queue` freezes the recipient list and makes it
  `scheduled` (`queued_at` set; `scheduled_at` NULL means as soon as a worker sees it,
  else not before that UTC moment). The worker makes it `sending` (+ `started_at`) when
  it starts it, and `done` (+ `finished_at`) once no recipient is `pending` or `sending`.
- `paused` (from scheduled or sending): the worker claims nothing from it; `resume` makes
  it `sending` again if it had started, else `scheduled`.
- `cancelled` (from draft, scheduled, sending or paused; `finished_at` set): every
  recipient still `pending` becomes `skipped` with "Campaign cancelled."; rows already
  `sending` or `sent` stay as they are.
- Recipient rows, one per distinct person, are created `pending` with `next_attempt_at`
  = the scheduled time (or the queue time) and attempts 0, names frozen; people whose
  latest delivery said they blocked the bot get a `skipped` row instead
  ("Blocked the bot (campaign N).", see hsl.messaging.audience). `retry` puts `failed`
  (or `unknown`) rows back to `pending`, due at once, keeping their attempts and last
  error until the next attempt, and a `done` campaign back to `sending`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import BigInteger, Text, case, cast, func, literal, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.row import Row
from sqlalchemy.sql import Select

from hsl.auth import Actor, Permission, require
from hsl.config import check_timezone
from hsl.db import reading, utc, writing
from hsl.errors import ConflictError, NotFoundError, ValidationError
from hsl.messaging import template
from hsl.messaging.audience import chat_id_of, check_spec, sample, selection
from hsl.metrics.common import fetch, local_times
from hsl.metrics.users import MAX_USER_ID
from hsl.schema import CAMPAIGN_STATUSES, UTCDateTime, audit_log, campaign_recipients, campaigns

DRAFT, SCHEDULED, SENDING, PAUSED, DONE, CANCELLED = CAMPAIGN_STATUSES
COMPOSED_KINDS = ("audience", "stream", "ids")  # a "test" campaign comes from send_test only
RETRYABLE = ("failed", "unknown")
LIST_COLUMNS = [
    "id", "status", "created_at", "created_by", "scheduled_at",
    "recipients", "sent", "failed", "blocked", "skipped", "unknown",
]
OVERVIEW_COLUMNS = [*LIST_COLUMNS, "pending", "sending", "dry_run", "audience_kind", "audience",
                    "text"]
STATUS_COLUMNS = ["user_id", "status", "attempts", "error", "telegram_message_id", "sent_at"]
CANCELLED_ERROR = "Campaign cancelled."

c = campaigns.c
r = campaign_recipients.c


@dataclass(frozen=True)
class Campaign:
    """One `campaigns` row; times aware UTC."""

    id: int
    status: str
    text: str
    audience_kind: str
    audience: str
    created_at: datetime
    created_by: str
    scheduled_at: datetime | None
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    dry_run: bool
    photo: bytes | None = field(default=None, repr=False)  # a digest's chart (PNG)


@dataclass(frozen=True)
class QueueResult:
    """What queueing froze: rows to send, people skipped (blocked), ids left out."""

    recipients: int  # pending rows: people who will get the message
    skipped: list[int]  # user ids with a `skipped` row (blocked the bot)
    malformed: list[str]  # pasted tokens that are not user ids (left out)
    unknown: list[str]  # well-formed ids nobody knows (left out)
    campaign_id: int


# ---------------------------------------------------------------- checks


def _moment(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC (SPEC §1)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _shown_time(moment: datetime, tz: str = "UTC") -> str:
    return f"{moment.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} ({tz})"


def _not_past(scheduled_at: datetime | None, now: datetime, tz: str = "UTC") -> datetime | None:
    """`scheduled_at` in UTC; ValidationError when it lies before `now`."""
    if scheduled_at is None:
        return None
    when = _moment(scheduled_at)
    if when < _moment(now):
        raise ValidationError(
            f"The scheduled time {_shown_time(when, tz)} has already passed; choose a later "
            "time, or send now."
        )
    return when


def local_to_utc(local: datetime, tz: str) -> datetime:
    """A wall-clock time in `tz` as aware UTC; an aware `local` keeps its own offset.

    A time the clocks skip (spring forward) or show twice (fall back) is refused with one
    sentence, rather than guessed.
    """
    zone = ZoneInfo(check_timezone(tz))
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    early, late = local.replace(tzinfo=zone, fold=0), local.replace(tzinfo=zone, fold=1)
    shown = f"{local:%Y-%m-%d %H:%M}"
    if early.utcoffset() != late.utcoffset():
        back = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if back != local:
            raise ValidationError(
                f"{shown} does not exist in {tz} (the clocks skip it); choose another time."
            )
        raise ValidationError(
            f"{shown} happens twice in {tz} (the clocks go back); give the UTC offset too, "
            f"like {local:%Y-%m-%dT%H:%M}{_offset(early)}."
        )
    return early.astimezone(UTC)


def _offset(moment: datetime) -> str:
    minutes = int(moment.utcoffset() / timedelta(minutes=1))
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _campaign_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_USER_ID:
        raise ValidationError(f"{value!r} is not a campaign id.")
    return value


def _checked_text(text: str) -> str:
    """`text` when it is a valid template (hsl.messaging.template); else ValidationError."""
    if not isinstance(text, str):
        raise ValidationError("The message must be text.")
    if "\x00" in text:
        raise ValidationError("The message holds a NUL character; remove it.")
    template.parse(text)
    return text


def _composed_kind(kind: str) -> str:
    if kind not in COMPOSED_KINDS:
        raise ValidationError(
            f"{kind!r} is not an audience kind; use one of {', '.join(COMPOSED_KINDS)}."
        )
    return kind


def _locked(conn: Connection, campaign_id: int) -> Row:
    """The campaign's row, locked for the rest of the transaction; NotFoundError if none."""
    row = conn.execute(select(campaigns).where(c.id == campaign_id).with_for_update()).first()
    if row is None:
        raise NotFoundError(f"No campaign with id {campaign_id} exists.")
    return row


def _expect(row: Row, allowed: tuple[str, ...], doing: str) -> None:
    """ConflictError unless the campaign's status is one of `allowed`."""
    if row.status not in allowed:
        names = ", ".join(allowed[:-1]) + (" or " if len(allowed) > 1 else "") + allowed[-1]
        raise ConflictError(
            f"Campaign {row.id} is {row.status}; only a {names} campaign can be {doing}."
        )


def _audit(conn: Connection, actor: Actor, action: str, campaign_id: int, before: dict,
           after: dict, reason: str | None, default: str, now: datetime) -> None:
    conn.execute(audit_log.insert().values(
        occurred_at=_moment(now), actor=actor.name, action=action, entity="campaign",
        entity_id=str(campaign_id), before=before, after=after,
        reason=(reason or "").strip() or default,
    ))


def _set_status(conn: Connection, campaign_id: int, **values: object) -> None:
    conn.execute(update(campaigns).where(c.id == campaign_id).values(**values))


# ---------------------------------------------------------------- drafts


def _insert(conn: Connection, actor: Actor, text: str, kind: str, spec: str, *, now: datetime,
            dry_run: bool, scheduled_at: datetime | None) -> int:
    values = dict(status=DRAFT, text=text, audience_kind=kind, audience=spec,
                  created_at=_moment(now), created_by=actor.name, scheduled_at=scheduled_at,
                  dry_run=bool(dry_run))
    return int(conn.execute(campaigns.insert().values(**values)).inserted_primary_key[0])


def create_draft(engine: Engine, actor: Actor, text: str, kind: str, spec: str, *,
                 now: datetime, dry_run: bool, scheduled_at: datetime | None = None) -> int:
    """Save a draft (analysts and up); return its id.

    The text must be a valid template and the audience spec usable (see
    hsl.messaging.audience.check_spec); a spec that reaches nobody is allowed, `queue`
    refuses it. `scheduled_at` (aware, or naive UTC) is the intended time; not in the past.
    """
    require(actor, Permission.COMPOSE_MESSAGES)
    text, kind = _checked_text(text), _composed_kind(kind)
    when = _not_past(scheduled_at, now)
    with writing(engine) as conn:
        stored = check_spec(conn, kind, spec)
        return _insert(conn, actor, text, kind, stored, now=now, dry_run=dry_run,
                       scheduled_at=when)


def update_draft(engine: Engine, actor: Actor, campaign_id: int, text: str, kind: str, spec: str,
                 *, now: datetime, scheduled_at: datetime | None = None) -> None:
    """Replace a draft's text, audience and intended time (analysts and up); drafts only."""
    require(actor, Permission.COMPOSE_MESSAGES)
    campaign_id = _campaign_id(campaign_id)
    text, kind = _checked_text(text), _composed_kind(kind)
    when = _not_past(scheduled_at, now)
    with writing(engine) as conn:
        _expect(_locked(conn, campaign_id), (DRAFT,), "edited")
        stored = check_spec(conn, kind, spec)
        _set_status(conn, campaign_id, text=text, audience_kind=kind, audience=stored,
                    scheduled_at=when)


# ---------------------------------------------------------------- queueing


def _freeze(conn: Connection, campaign_id: int, frozen: Select, due: datetime) -> None:
    """Insert one recipient row per person of `frozen` (a `selection`) in one statement."""
    people = frozen.subquery("frozen")
    sendable = people.c.blocked_in.is_(None)
    blocked = literal("Blocked the bot (campaign ") + cast(people.c.blocked_in, Text) + ")."
    conn.execute(campaign_recipients.insert().from_select(
        ["campaign_id", "user_id", "status", "first_name", "username", "attempts", "error",
         "next_attempt_at"],
        select(
            literal(campaign_id, BigInteger), people.c.user_id,
            case((sendable, "pending"), else_="skipped"), people.c.first_name,
            people.c.username, literal(0), case((sendable, None), else_=blocked),
            case((sendable, literal(due, UTCDateTime)), else_=None),
        ),
    ))


def _frozen_counts(conn: Connection, campaign_id: int) -> tuple[int, list[int]]:
    """How many rows the campaign has, and the user ids of its skipped rows (by user_id)."""
    mine = r.campaign_id == campaign_id
    total = conn.execute(select(func.count()).where(mine)).scalar()
    skipped = conn.execute(select(r.user_id).where(mine, r.status == "skipped")
                           .order_by(r.user_id)).scalars()
    return int(total), [int(u) for u in skipped]


def _nobody_left(found: int, blocked: int, left_out: int) -> ValidationError:
    parts = [f"the audience reaches {found} {'person' if found == 1 else 'people'}"]
    if blocked:
        parts.append(f"{blocked} blocked the bot")
    if left_out:
        parts.append(f"{left_out} pasted {'id was' if left_out == 1 else 'ids were'} left out")
    return ValidationError(f"No recipient is left to send to: {', '.join(parts)}.")


def _queue(conn: Connection, actor: Actor, row: Row, *, now: datetime, tz: str,
           scheduled_at: datetime | None, reason: str | None = None) -> QueueResult:
    """Freeze the recipients of the locked draft `row` and make it scheduled (+ audit row)."""
    _checked_text(row.text)
    when = _not_past(scheduled_at, now, tz)
    now = _moment(now)
    frozen, malformed, unknown = selection(conn, row.audience_kind, row.audience, tz=tz,
                                           now=now)
    _freeze(conn, row.id, frozen, when or now)
    total, skipped = _frozen_counts(conn, row.id)
    sendable = total - len(skipped)
    if sendable == 0:  # the transaction rolls the rows back
        raise _nobody_left(total, len(skipped), len(malformed) + len(unknown))
    _set_status(conn, row.id, status=SCHEDULED, queued_at=now, scheduled_at=when)
    after = {"status": SCHEDULED, "recipients": total, "pending": sendable,
             "skipped": len(skipped), "scheduled_at": when.isoformat() if when else None}
    because = f" ({len(skipped)} skipped: blocked the bot)" if skipped else ""
    start = f"to send at {_shown_time(when, tz)}" if when else "to send now"
    default = f"Queued for {sendable} recipients{because}, {start}."
    _audit(conn, actor, "queue_campaign", row.id, {"status": row.status}, after, reason,
           default, now)
    return QueueResult(sendable, skipped, malformed, unknown, row.id)


def queue(engine: Engine, actor: Actor, campaign_id: int, *, now: datetime, tz: str,
          scheduled_at: datetime | None = None, reason: str | None = None) -> QueueResult:
    """Freeze a draft's recipients and schedule it (admins); only a draft can be queued.

    `scheduled_at` replaces the draft's intended time when given (None keeps the draft's,
    which may be None: send as soon as a worker sees it). A time in the past, or no
    recipient left after skipping blocked people, is a ValidationError; a campaign that
    is no longer a draft (another admin queued it first) a ConflictError.
    """
    require(actor, Permission.SEND_MESSAGES)
    campaign_id = _campaign_id(campaign_id)
    check_timezone(tz)
    with writing(engine) as conn:
        row = _locked(conn, campaign_id)
        _expect(row, (DRAFT,), "queued")
        return _queue(conn, actor, row, now=now, tz=tz,
                      scheduled_at=scheduled_at or row.scheduled_at, reason=reason)


def create_and_queue(engine: Engine, actor: Actor, text: str, kind: str, spec: str, *,
                     now: datetime, tz: str, dry_run: bool,
                     scheduled_at: datetime | None = None) -> QueueResult:
    """Create a campaign and queue it in one transaction (admins): the command line's create.

    Refused as a whole (nothing saved) for the same reasons as create_draft and queue.
    """
    require(actor, Permission.SEND_MESSAGES)
    text, kind = _checked_text(text), _composed_kind(kind)
    check_timezone(tz)
    when = _not_past(scheduled_at, now, tz)
    with writing(engine) as conn:
        stored = check_spec(conn, kind, spec)
        new_id = _insert(conn, actor, text, kind, stored, now=now, dry_run=dry_run,
                         scheduled_at=when)
        return _queue(conn, actor, _locked(conn, new_id), now=now, tz=tz, scheduled_at=when)


def send_test(engine: Engine, actor: Actor, text: str, chat_id: int | str, *, now: datetime,
              dry_run: bool) -> int:
    """Create and queue at once a one-recipient "test" campaign to `chat_id` (admins); its id.

    The chat is never skipped, whatever its last delivery said.
    """
    require(actor, Permission.SEND_MESSAGES)
    text = _checked_text(text)
    chat = chat_id_of(chat_id)
    with writing(engine) as conn:
        new_id = _insert(conn, actor, text, "test", str(chat), now=now, dry_run=dry_run,
                         scheduled_at=None)
        _queue(conn, actor, _locked(conn, new_id), now=now, tz="UTC", scheduled_at=None,
               reason=f"Test message to chat {chat}.")
        return new_id


def queue_one(engine: Engine, *, kind: str, text: str, chat: int, created_by: str,
              now: datetime, dry_run: bool, reason: str, photo: bytes | None = None,
              conn: Connection | None = None) -> int:
    """Create and queue at once a one-chat "digest" or "alert" campaign; return its id.

    The send-worker makes these for the person who subscribed or set the alert
    (`created_by`), so they show in the Messages history like any campaign. `text` is the
    finished Telegram HTML (its braces are made literal here: it has no placeholders);
    `photo` (PNG) goes out with the text as its caption. With `conn` (an open write
    transaction, e.g. an alert's firing) it is queued in that transaction.
    """
    if kind not in ("digest", "alert"):
        raise ValidationError(f"{kind!r} is not a digest or an alert.")
    if conn is None:
        with writing(engine) as own:
            return queue_one(engine, kind=kind, text=text, chat=chat, created_by=created_by,
                             now=now, dry_run=dry_run, reason=reason, photo=photo, conn=own)
    text = _checked_text(text.replace("{", "{{").replace("}", "}}"))
    actor = Actor(created_by, "admin")
    stored = check_spec(conn, kind, str(chat))
    new_id = _insert(conn, actor, text, kind, stored, now=now, dry_run=dry_run,
                     scheduled_at=None)
    if photo is not None:
        conn.execute(update(campaigns).where(campaigns.c.id == new_id).values(photo=photo))
    _queue(conn, actor, _locked(conn, new_id), now=now, tz="UTC", scheduled_at=None,
           reason=reason)
    return new_id


# ---------------------------------------------------------------- pause, resume, cancel, retry


@contextmanager
def _changing(engine: Engine, actor: Actor, campaign_id: int, allowed: tuple[str, ...],
              doing: str) -> Iterator[tuple[Connection, Row]]:
    """An admin's transaction on the campaign's locked row, whose status must be `allowed`."""
    require(actor, Permission.SEND_MESSAGES)
    campaign_id = _campaign_id(campaign_id)
    with writing(engine) as conn:
        row = _locked(conn, campaign_id)
        _expect(row, allowed, doing)
        yield conn, row


def pause(engine: Engine, actor: Actor, campaign_id: int, *, now: datetime,
          reason: str | None = None) -> None:
    """Stop a scheduled or sending campaign from being delivered until resumed (admins)."""
    with _changing(engine, actor, campaign_id, (SCHEDULED, SENDING), "paused") as (conn, row):
        _set_status(conn, row.id, status=PAUSED)
        _audit(conn, actor, "pause_campaign", row.id, {"status": row.status},
               {"status": PAUSED}, reason, "Paused: no more messages until it is resumed.", now)


def resume(engine: Engine, actor: Actor, campaign_id: int, *, now: datetime,
           reason: str | None = None) -> str:
    """Resume a paused campaign (admins): `sending` if it had started, else `scheduled`."""
    with _changing(engine, actor, campaign_id, (PAUSED,), "resumed") as (conn, row):
        status = SENDING if row.started_at is not None else SCHEDULED
        _set_status(conn, row.id, status=status)
        _audit(conn, actor, "resume_campaign", row.id, {"status": PAUSED},
               {"status": status}, reason, "Resumed.", now)
        return status


def cancel(engine: Engine, actor: Actor, campaign_id: int, *, now: datetime,
           reason: str | None = None) -> int:
    """Cancel a campaign (admins); return how many pending recipients became skipped.

    Allowed from draft, scheduled, sending and paused; rows already sending or sent stay.
    """
    allowed = (DRAFT, SCHEDULED, SENDING, PAUSED)
    with _changing(engine, actor, campaign_id, allowed, "cancelled") as (conn, row):
        skipped = conn.execute(
            update(campaign_recipients)
            .where(r.campaign_id == row.id, r.status == "pending")
            .values(status="skipped", error=CANCELLED_ERROR)
        ).rowcount
        _set_status(conn, row.id, status=CANCELLED, finished_at=_moment(now))
        _audit(conn, actor, "cancel_campaign", row.id, {"status": row.status},
               {"status": CANCELLED, "skipped": skipped}, reason,
               f"Cancelled; {skipped} pending {'recipient' if skipped == 1 else 'recipients'} "
               "skipped.", now)
        return skipped


def retry(engine: Engine, actor: Actor, campaign_id: int, *, now: datetime,
          which: str = "failed", reason: str | None = None) -> int:
    """Put the `failed` (or `unknown`) recipients back to pending, due now (admins); how many.

    Attempts and the last error stay until the next attempt. A done campaign goes back to
    sending; a draft or cancelled campaign, or one without such rows, is refused.
    """
    allowed = (SCHEDULED, SENDING, PAUSED, DONE)
    with _changing(engine, actor, campaign_id, allowed, "retried") as (conn, row):
        if which not in RETRYABLE:
            raise ValidationError(
                f"{which!r} cannot be retried; retry failed or unknown recipients."
            )
        count = conn.execute(
            update(campaign_recipients)
            .where(r.campaign_id == row.id, r.status == which)
            .values(status="pending", next_attempt_at=_moment(now), claimed_by=None)
        ).rowcount
        if count == 0:
            raise ConflictError(f"Campaign {row.id} has no {which} recipient to retry.")
        status = SENDING if row.status == DONE else row.status
        if status != row.status:
            _set_status(conn, row.id, status=status, finished_at=None)
        _audit(conn, actor, "retry_campaign", row.id, {"status": row.status, which: count},
               {"status": status, which: 0, "pending": count}, reason,
               f"Retrying {count} {which} {'recipient' if count == 1 else 'recipients'}.", now)
        return count


# ---------------------------------------------------------------- reads


def campaign(bind: Engine | Connection, campaign_id: int) -> Campaign:
    """The campaign's row; NotFoundError when there is none."""
    campaign_id = _campaign_id(campaign_id)
    if isinstance(bind, Engine):
        with reading(bind) as conn:
            return campaign(conn, campaign_id)
    row = bind.execute(select(campaigns).where(c.id == campaign_id)).first()
    if row is None:
        raise NotFoundError(f"No campaign with id {campaign_id} exists.")
    return Campaign(**row._mapping)


def campaign_overview(bind: Engine | Connection, tz: str = "UTC") -> pd.DataFrame:
    """OVERVIEW_COLUMNS of every campaign, newest first (created_at, id); times in `tz`.

    `recipients` counts every row of the frozen list (skipped ones included); the status
    columns count rows by recipient status, so they add up to `recipients`.
    """
    counted = ("sent", "failed", "blocked", "skipped", "unknown", "pending", "sending")
    counts = (
        select(r.campaign_id, func.count().label("recipients"),
               *(func.sum(case((r.status == s, 1), else_=0)).label(s) for s in counted))
        .group_by(r.campaign_id)
        .subquery("counts")
    )
    stmt = (
        select(c.id, c.status, c.created_at, c.created_by, c.scheduled_at,
               *(counts.c[k] for k in ("recipients", *counted)),
               c.dry_run, c.audience_kind, c.audience, c.text)
        .select_from(campaigns.outerjoin(counts, counts.c.campaign_id == c.id))
        .order_by(utc(c.created_at).desc(), c.id.desc())
    )
    frame = fetch(bind, stmt)
    for column in ("recipients", *counted):
        frame[column] = frame[column].fillna(0).astype("int64")
    frame["dry_run"] = frame["dry_run"].astype(bool)
    for column in ("created_at", "scheduled_at"):
        frame[column] = local_times(frame[column], tz)
    return frame[OVERVIEW_COLUMNS]


def campaign_list(bind: Engine | Connection, tz: str = "UTC") -> pd.DataFrame:
    """LIST_COLUMNS (SPEC §8 `message list`) of every campaign, newest first; times in `tz`."""
    return campaign_overview(bind, tz)[LIST_COLUMNS]


def campaign_status(bind: Engine | Connection, campaign_id: int, tz: str = "UTC") -> pd.DataFrame:
    """STATUS_COLUMNS of the campaign's recipients by user_id; NotFoundError if no campaign."""
    if isinstance(bind, Engine):
        with reading(bind) as conn:
            return campaign_status(conn, campaign_id, tz)
    campaign(bind, campaign_id)
    stmt = select(*(r[k] for k in STATUS_COLUMNS)).where(r.campaign_id == campaign_id)
    # object first: a column of ints and NULLs would become float64 and lose ids above 2^53.
    frame = pd.DataFrame(bind.execute(stmt.order_by(r.user_id)).fetchall(),
                         columns=STATUS_COLUMNS, dtype=object)
    frame = frame.astype({"user_id": "int64", "attempts": "int64"})
    frame["telegram_message_id"] = pd.array(list(frame["telegram_message_id"]), dtype="Int64")
    frame["sent_at"] = local_times(frame["sent_at"], tz)
    return frame[STATUS_COLUMNS]


def preview(bind: Engine | Connection, text: str, kind: str, spec: str, *, tz: str,
            now: datetime | None, n: int = 3) -> list[tuple[int, str | None, str | None, str]]:
    """(user_id, first_name, username, rendered Telegram HTML) for the first `n` recipients.

    The recipients are real: the first by user_id who would get the message (blocked
    people are left out). ValidationError for a bad template or spec.
    """
    parsed = template.parse(_checked_text(text))
    rows = sample(bind, kind, spec, tz=tz, now=now, n=n)
    out = []
    for user_id, first_name, username in rows.itertuples(index=False):
        first = None if pd.isna(first_name) else first_name
        user = None if pd.isna(username) else username
        out.append((int(user_id), first, user, template.render(parsed, first, user)))
    return out

