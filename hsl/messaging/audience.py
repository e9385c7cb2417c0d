"""Who a campaign goes to (SPEC §8): an Audience query, a stream, pasted ids or one test chat.

Every kind becomes the audience builder's own selection of distinct user ids
(`hsl.audience._matching`): a stream is the filter "a booking in that stream" (the
roster's people), pasted ids the filter "these ids". One statement then adds the names a
message uses (the users row, else the newest registration: `latest_names`) and each
person's latest delivery, so people who blocked the bot are known before anything is
queued. Nothing is queried per person.

A person's *latest delivery* is their campaign_recipients row with a final delivery
status (sent, failed or blocked) that is newest by the time it happened (`sent_at`, else
`next_attempt_at`, the moment of the last attempt), then by campaign id. `skipped`,
`unknown`, `pending` and `sending` rows say nothing about whether the bot is blocked and
are passed over, so someone skipped as blocked stays skipped until a later delivery works.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy import BigInteger, exists, func, literal, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Select

from hsl.audience import AudienceFilter, _clock, _matching
from hsl.db import reading, utc
from hsl.errors import ValidationError
from hsl.metrics.common import fetch, latest_names
from hsl.metrics.users import known_user_ids, parse_user_ids, validate_user_ids
from hsl.schema import bookings, campaign_recipients
from hsl.subscriptions import chat_id

ONE_CHAT = ("test", "digest", "alert")  # one chat, never skipped: a test, a digest, an alert
KINDS = ("audience", "stream", "ids", *ONE_CHAT)
FINAL_STATUSES = ("sent", "failed", "blocked")
RECIPIENT_COLUMNS = ["user_id", "first_name", "username"]

cr = campaign_recipients.c


@dataclass(frozen=True)
class Resolved:
    """The people a campaign would go to now, and what was left out or will be skipped.

    `recipients`: RECIPIENT_COLUMNS, one row per distinct user, by user_id (blocked people
    included: they get a `skipped` row). `malformed` / `unknown`: pasted tokens left out.
    `blocked`: recipients whose latest delivery said they blocked the bot (by user_id);
    `blocked_in` maps each to the campaign of that delivery.
    """

    recipients: pd.DataFrame
    malformed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    blocked: list[int] = field(default_factory=list)
    blocked_in: dict[int, int] = field(default_factory=dict)

    @property
    def sendable(self) -> int:
        """How many recipients would get the message (everyone not blocked)."""
        return len(self.recipients) - len(self.blocked)


def check_spec(bind: Engine | Connection, kind: str, spec: str) -> str:
    """The spec as it is stored for `kind`; ValidationError (one sentence) when it is unusable.

    An audience query is stored in the page's own spelling (`to_query`), a stream as
    written (it must be a known stream), pasted ids as pasted, a test chat as its id.
    """
    if kind not in KINDS:
        raise ValidationError(f"{kind!r} is not an audience kind; use one of {', '.join(KINDS)}.")
    if not isinstance(spec, str):
        raise ValidationError("The audience must be given as text.")
    if "\x00" in spec:
        raise ValidationError("The audience holds a NUL character.")
    if kind == "audience":
        return AudienceFilter.from_query(spec).to_query()
    if kind == "stream":
        if not spec or not _fetch_flag(bind, exists().where(bookings.c.course_stream == spec)):
            raise ValidationError(f"{spec!r} is not a known course stream.")
        return spec
    if kind == "ids":
        if not spec.strip():
            raise ValidationError("Paste at least one user id.")
        return spec
    if kind == "test":
        return str(chat_id_of(spec))
    return str(chat_id(spec))  # digest, alert: a person or a group (checked when subscribed)


def chat_id_of(spec: str | int) -> int:
    """The one Telegram chat id of a test message; ValidationError when it is not one."""
    ids, malformed = parse_user_ids(spec if isinstance(spec, str) else [spec])
    if malformed or len(ids) != 1:
        raise ValidationError(f"{str(spec)[:40]!r} is not one Telegram user id.")
    return ids[0]


def _fetch_flag(bind: Engine | Connection, condition) -> bool:
    if isinstance(bind, Engine):
        with reading(bind) as conn:
            return _fetch_flag(conn, condition)
    return bool(bind.execute(select(condition)).scalar())


def _latest_blocked(people: Select) -> Select:
    """(user_id, campaign_id) of the people among `people` whose latest delivery is blocked."""
    when = utc(func.coalesce(cr.sent_at, cr.next_attempt_at))
    ranked = (
        select(
            cr.user_id,
            cr.campaign_id,
            cr.status,
            func.row_number().over(
                partition_by=cr.user_id,
                order_by=(when.desc().nulls_last(), cr.campaign_id.desc()),
            ).label("n"),
        )
        .where(cr.status.in_(FINAL_STATUSES), cr.user_id.in_(people))
        .subquery("deliveries")
    )
    return select(ranked.c.user_id, ranked.c.campaign_id).where(
        ranked.c.n == 1, ranked.c.status == "blocked"
    )


def _with_names(matched: Select) -> Select:
    """user_id, first_name, username, blocked_in (campaign id or NULL) of `matched`, by id."""
    people = matched.cte("recipients")
    uid = people.c.user_id
    blocked = _latest_blocked(select(uid)).subquery("blocked")
    return (
        select(uid, *latest_names(uid), blocked.c.campaign_id.label("blocked_in"))
        .select_from(people.outerjoin(blocked, blocked.c.user_id == uid))
        .order_by(uid)
    )


def selection(
    conn: Connection, kind: str, spec: str, *, tz: str, now: datetime | None
) -> tuple[Select, list[str], list[str]]:
    """SELECT user_id, first_name, username, blocked_in (the campaign whose delivery said
    blocked, else NULL) of everyone the spec reaches, by user_id; and the malformed and
    unknown tokens left out. ValidationError for an unusable spec."""
    stored = check_spec(conn, kind, spec)
    if kind in ONE_CHAT:
        chat = literal(int(stored), BigInteger)
        return select(chat.label("user_id"), *latest_names(chat),
                      literal(None, BigInteger).label("blocked_in")), [], []
    malformed: list[str] = []
    unknown: list[str] = []
    if kind == "audience":
        flt = AudienceFilter.from_query(stored)
        if flt.user_ids:
            known = known_user_ids(conn, flt.user_ids)
            unknown = [str(i) for i in flt.user_ids if i not in known]
    elif kind == "stream":
        flt = AudienceFilter(streams=(stored,))
    else:
        check = validate_user_ids(conn, stored)
        flt = AudienceFilter(user_ids=check.valid)
        malformed, unknown = list(check.malformed), [str(i) for i in check.unknown]
    return _with_names(_matching(flt, _clock(tz, now))), malformed, unknown


def resolve(
    bind: Engine | Connection, kind: str, spec: str, *, tz: str, now: datetime | None
) -> Resolved:
    """Everyone the spec reaches now (see Resolved); ValidationError for an unusable spec.

    kind "audience": spec is the Audience page's query string; "stream": a stream name
    (unknown → ValidationError); "ids": pasted text (malformed and unknown tokens are
    listed and left out); "test": one chat id, never skipped.
    """
    if isinstance(bind, Engine):
        with reading(bind) as conn:
            return resolve(conn, kind, spec, tz=tz, now=now)
    stmt, malformed, unknown = selection(bind, kind, spec, tz=tz, now=now)
    frame = fetch(bind, stmt)
    frame["user_id"] = frame["user_id"].astype("int64")
    blocked = frame.dropna(subset=["blocked_in"])
    return Resolved(
        recipients=frame[RECIPIENT_COLUMNS].reset_index(drop=True),
        malformed=malformed,
        unknown=unknown,
        blocked=[int(u) for u in blocked["user_id"]],
        blocked_in={int(u): int(c) for u, c in zip(blocked["user_id"], blocked["blocked_in"],
                                                    strict=True)},
    )


def sample(
    bind: Engine | Connection, kind: str, spec: str, *, tz: str, now: datetime | None, n: int = 3
) -> pd.DataFrame:
    """RECIPIENT_COLUMNS of the first `n` recipients (by user_id) who are not blocked."""
    if isinstance(bind, Engine):
        with reading(bind) as conn:
            return sample(conn, kind, spec, tz=tz, now=now, n=n)
    stmt, _, _ = selection(bind, kind, spec, tz=tz, now=now)
    rows = stmt.subquery("sendable")
    frame = fetch(bind, select(*(rows.c[c] for c in RECIPIENT_COLUMNS))
                  .where(rows.c.blocked_in.is_(None)).order_by(rows.c.user_id).limit(n))
    frame["user_id"] = frame["user_id"].astype("int64")
    return frame
