"""The audited writes (SPEC §4): moving a student to another course stream, and the audit log.

A change and its `audit_log` row commit in one transaction with the booking row locked,
or neither does. Only admins may change a stream or read the audit log; the checks live
here, so no caller can skip them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import exists, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.row import Row

from hsl.auth import Actor, Permission, require
from hsl.db import json_field, utc, writing
from hsl.errors import ConflictError, NotFoundError, ValidationError
from hsl.filters import Period, utc_now
from hsl.metrics.common import fetch, in_period, local_times
from hsl.metrics.users import MAX_USER_ID, known_user_ids
from hsl.schema import audit_log, bookings
from hsl.summaries.refresh import streams_after_change

CHANGE_STREAM = "change_stream"
AUDIT_COLUMNS = [
    "id", "occurred_at", "actor", "action", "entity", "entity_id", "user_id",
    "before", "after", "reason",
]

b = bookings.c
log = audit_log.c


@dataclass(frozen=True)
class AuditEntry:
    """One row of `audit_log`, as written."""

    id: int
    occurred_at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict
    after: dict
    reason: str


def _newest_active_booking(conn: Connection, user_id: int) -> Row | None:
    """The user's newest booking that is not cancelled (created_at DESC, id DESC)."""
    stmt = (
        select(b.id, b.course_stream)
        .where(b.user_id == user_id, b.confirmed != -1)
        .order_by(utc(b.created_at).desc(), b.id.desc())
        .limit(1)
    )
    return conn.execute(stmt).first()


def _as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC (SPEC §1)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _record(conn: Connection, entry: dict) -> AuditEntry:
    """Insert one audit_log row inside the caller's transaction and return it."""
    new_id = conn.execute(audit_log.insert().values(**entry)).inserted_primary_key[0]
    return AuditEntry(id=int(new_id), **entry)


def change_stream(
    engine: Engine,
    actor: Actor,
    user_id: int,
    target_stream: str,
    reason: str,
    now: datetime | None = None,
) -> AuditEntry:
    """Move the user's newest active booking to `target_stream`; return the audit entry.

    Raises PermissionDenied (not an admin), ValidationError (blank reason, unknown stream),
    NotFoundError (unknown user, no active booking) or ConflictError (already in that
    stream, or the bookings changed while saving). Nothing is written unless all is well.
    """
    require(actor, Permission.CHANGE_STREAM)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Give a reason for the stream change; it goes into the audit log.")
    if isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 < user_id <= MAX_USER_ID:
        raise ValidationError(f"{user_id!r} is not a user id.")
    with writing(engine) as conn:
        known = conn.execute(select(exists().where(b.course_stream == target_stream))).scalar()
        if not target_stream or not known:
            raise ValidationError(f"{target_stream!r} is not a known course stream.")
        chosen = _newest_active_booking(conn, user_id)
        if chosen is None:
            if not known_user_ids(conn, [user_id]):
                raise NotFoundError(f"No user with id {user_id} is known.")
            raise NotFoundError(f"User {user_id} has no active booking to move.")
        # Lock the row, then make sure it is still the one to change: a concurrent change
        # may have cancelled it or added a newer booking while we waited for the lock.
        locked = conn.execute(
            select(b.id, b.course_stream)
            .where(b.id == chosen.id, b.confirmed != -1)
            .with_for_update()
        ).first()
        current = _newest_active_booking(conn, user_id)
        if locked is None or current is None or current.id != locked.id:
            raise ConflictError(
                f"The bookings of user {user_id} changed while saving; look again and retry."
            )
        if locked.course_stream == target_stream:
            raise ConflictError(f"User {user_id} is already in {target_stream}.")
        conn.execute(update(bookings).where(b.id == locked.id).values(course_stream=target_stream))
        streams_after_change(conn)  # the Streams page agrees with the roster at once
        facts = {"user_id": user_id, "booking_id": int(locked.id)}
        return _record(conn, {
            "occurred_at": _as_utc(now or utc_now()),
            "actor": actor.name,
            "action": CHANGE_STREAM,
            "entity": "booking",
            "entity_id": str(locked.id),
            "before": {**facts, "course_stream": locked.course_stream},
            "after": {**facts, "course_stream": target_stream},
            "reason": reason,
        })


def _json_text(value: object) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def audit_entries(
    bind: Engine | Connection,
    actor: Actor,
    period: Period | None = None,
    user_id: int | None = None,
    actor_name: str | None = None,
    tz: str | None = None,
) -> pd.DataFrame:
    """AUDIT_COLUMNS of the audit log, newest first; admins only.

    Filters: entries on the period's local dates, about one user (the `user_id` a stream
    change carries in `after`; sign-in entries (hsl.signin) carry none, so they are never
    about a user), or by one actor (exact name). Times are in `tz`, else the period's
    timezone, else UTC; `before` and `after` are JSON text.
    """
    require(actor, Permission.VIEW_AUDIT_LOG)
    about = json_field(log.after, "user_id")
    stmt = select(*log, about.label("user_id")).order_by(utc(log.occurred_at).desc(), log.id.desc())
    if period is not None:
        stmt = stmt.where(in_period(log.occurred_at, period))
    if user_id is not None:
        stmt = stmt.where(about == str(user_id))
    if actor_name:
        stmt = stmt.where(log.actor == actor_name)
    frame = fetch(bind, stmt)
    frame["occurred_at"] = local_times(frame["occurred_at"], tz or (period.tz if period else "UTC"))
    frame["user_id"] = pd.array(
        [int(v) if isinstance(v, str) and v.isdigit() else None for v in frame["user_id"]],
        dtype="Int64",
    )
    for column in ("before", "after"):
        frame[column] = [_json_text(v) for v in frame[column]]
    return frame[AUDIT_COLUMNS]
