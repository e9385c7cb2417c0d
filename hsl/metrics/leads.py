"""Lead scoring (SPEC §3, §7): free-lesson registrants tiered by their recent activity.

The window is the last `window_days` days before the period's clock: (now − N days, now].
`events` counts the events in it, `active_days` the distinct local dates (period.tz) with
events; `last_activity` is the latest event up to now, whatever the window.

With the summaries (SPEC §9) the whole local days inside the window come from
summary_user_days and the two partial days at its edges from the events themselves (a day
or so of rows); `last_activity` is summary_users.last_event_at, or the latest raw event up
to now when that is later than now (a clock in the past), or a later edge event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import (
    BigInteger,
    and_,
    bindparam,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.selectable import Select, Subquery

from hsl.db import day_of, utc
from hsl.errors import ValidationError
from hsl.filters import Period
from hsl.metrics.common import (
    contact_details,
    fetch,
    latest_names,
    local_times,
)
from hsl.schema import (
    bookings,
    events,
    free_lesson_registrations,
    summary_user_days,
    summary_users,
    users,
)
from hsl.summaries import SummaryState, current

TIERS = ("hot", "warm", "cool", "cold")
LEAD_COLUMNS = [
    "user_id", "username", "first_name", "events", "active_days", "last_activity", "tier",
]
TIER_COUNT_COLUMNS = ["tier", "users"]


@dataclass(frozen=True)
class LeadRules:
    """The window (days before now) and the tier thresholds; defaults are the SPEC's."""

    window_days: int = 7
    hot_events: int = 20
    hot_days: int = 5
    warm_events: int = 10
    warm_days: int = 3
    cool_events: int = 5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            # A window of a century at most keeps `now − window` a valid date.
            least, most = (1, 36_500) if f.name == "window_days" else (0, 1_000_000_000)
            if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
                label = f.name.replace("_", " ")
                raise ValidationError(
                    f"The lead {label} must be a whole number from {least} to {most}, "
                    f"not {value!r}."
                )


DEFAULT_RULES = LeadRules()


def _candidates(include_paying: bool, among: Sequence[int] | None = None) -> Subquery:
    """Distinct free-lesson registrants (all time), without payers unless asked.

    `among`: only these user ids (a page of people), so nothing else is scored.
    """
    regs = free_lesson_registrations.c
    stmt = select(regs.user_id).distinct()
    if among is not None:
        stmt = stmt.where(regs.user_id.in_(list(among)))
    if not include_paying:
        paid = exists().where(bookings.c.user_id == regs.user_id, bookings.c.confirmed == 2)
        stmt = stmt.where(~paid)
    return stmt.subquery("candidates")


def _window_raw(period: Period, since: datetime, people: Subquery) -> Subquery:
    """Per candidate with events in (since, now]: events, active_days, last_at (raw)."""
    e = events.c
    return (
        select(
            e.user_id,
            func.count().label("events"),
            func.count(distinct(day_of(e.created_at, period.tz))).label("active_days"),
            func.max(utc(e.created_at)).label("last_at"),
        )
        .where(utc(e.created_at) > since, utc(e.created_at) <= period.now)
        .where(e.user_id.in_(select(people.c.user_id)))
        .group_by(e.user_id)
        .subquery("window_events")
    )


def _window_summarised(period: Period, since: datetime, people: Subquery) -> Subquery:
    """The same as `_window_raw`, from summary_user_days wherever a day row answers it.

    Whole local days between `since`'s day and `now`'s come from their rows; on `since`'s
    day a row counts whole when its first event is after `since`, on `now`'s day when its
    last event is at or before `now` (so all of it, as of the last refresh). Only the
    people whose row straddles `since` (or runs past `now`, a clock in the past) have that
    day read from events. A window inside one local day is read from events.
    """
    zone = ZoneInfo(period.tz)
    first_day = since.astimezone(zone).date()
    last_day = period.now.astimezone(zone).date()
    cut_low = period.local_midnight_utc(first_day + timedelta(days=1))
    cut_high = period.local_midnight_utc(last_day)
    ud, e = summary_user_days.c, events.c
    ts, first_at, last_at = utc(e.created_at), utc(ud.first_at), utc(ud.last_at)
    candidate = select(people.c.user_id)

    def rows(*where: ColumnElement) -> Select:
        """Day rows counted whole: events, one active day, the last event."""
        return select(ud.user_id, ud.events, literal(1).label("active_days"),
                      ud.last_at).where(*where, ud.user_id.in_(candidate))

    def from_events(start: datetime, end: datetime, who: Select | None) -> Select:
        """Events in (since, now] ∩ [start, end), of `who` (everyone when None)."""
        stmt = (
            select(e.user_id, func.count().label("events"),
                   func.count(distinct(day_of(e.created_at, period.tz))).label("active_days"),
                   func.max(ts).label("last_at"))
            .where(ts > since, ts <= period.now, ts >= start, ts < end,
                   e.user_id.in_(candidate))
            .group_by(e.user_id)
        )
        return stmt if who is None else stmt.where(e.user_id.in_(who))

    if first_day == last_day:
        parts = [from_events(since, period.now + timedelta(microseconds=1), None)]
    else:
        # Each part a plain range of days: read from the covering index alone.
        parts = [
            rows(ud.day > first_day, ud.day < last_day),
            rows(ud.day == first_day, first_at > since),
            rows(ud.day == last_day, last_at <= period.now),
            from_events(since, cut_low, select(ud.user_id).where(
                ud.day == first_day, first_at <= since, last_at > since)),
            from_events(cut_high, period.now + timedelta(microseconds=1), select(
                ud.user_id).where(ud.day == last_day, last_at > period.now)),
        ]
    parts = union_all(*parts).subquery("window_parts")
    return (
        select(parts.c.user_id,
               cast(func.sum(parts.c.events), BigInteger).label("events"),
               cast(func.sum(parts.c.active_days), BigInteger).label("active_days"),
               func.max(parts.c.last_at).label("last_at"))
        .group_by(parts.c.user_id)
        .subquery("window_events")
    )


def _latest(a: ColumnElement, b: ColumnElement) -> ColumnElement:
    """The later of two instants, ignoring NULLs (portable `greatest`)."""
    return case((a.is_(None), b), (b.is_(None), a), (b > a, b), else_=a)


def lead_scores(
    period: Period,
    rules: LeadRules = DEFAULT_RULES,
    include_paying: bool = False,
    state: SummaryState | None = None,
    among: Sequence[int] | None = None,
) -> Subquery:
    """Subquery, one row per candidate: user_id, events, active_days, last_activity, tier.

    `state` (the summaries' state for days in period.tz) reads the summaries; None the
    bot's tables only. `among` limits the candidates to those user ids.
    """
    people = _candidates(include_paying, among)
    e = events.c
    since = period.now - timedelta(days=rules.window_days)
    window_of = _window_raw if state is None else _window_summarised
    window = window_of(period, since, people)
    raw_last = (
        select(func.max(utc(e.created_at)))
        .where(e.user_id == people.c.user_id, utc(e.created_at) <= period.now)
        .scalar_subquery()
    )
    joined = people.outerjoin(window, window.c.user_id == people.c.user_id)
    if state is None:
        last = raw_last
    else:
        s = summary_users.c
        joined = joined.outerjoin(summary_users, s.user_id == people.c.user_id)
        # A clock before the last summarised event: that user's latest event up to now.
        summarised = case((utc(s.last_event_at) > period.now, raw_last),
                          else_=s.last_event_at)
        last = _latest(summarised, window.c.last_at)
    counts = (
        select(
            people.c.user_id,
            func.coalesce(window.c.events, 0).label("events"),
            func.coalesce(window.c.active_days, 0).label("active_days"),
            last.label("last_activity"),
        )
        .select_from(joined)
        .subquery("lead_counts")
    )
    n, days = counts.c.events, counts.c.active_days
    tier = case(
        (and_(n >= rules.hot_events, days >= rules.hot_days), "hot"),
        (and_(n >= rules.warm_events, days >= rules.warm_days), "warm"),
        (n >= rules.cool_events, "cool"),
        else_="cold",
    )
    return select(*counts.c, tier.label("tier")).subquery("lead_scores")


def _rules(window_days: int, rules: LeadRules | None) -> LeadRules:
    """The rules to apply: `rules` carries its own window; window_days may not contradict it."""
    if rules is None:
        return LeadRules(window_days=window_days)
    if window_days not in (LeadRules.window_days, rules.window_days):
        raise ValidationError(
            f"The lead window is given twice ({window_days} and {rules.window_days} days)."
        )
    return rules


def leads(
    engine: Engine,
    period: Period,
    window_days: int = 7,
    include_paying: bool = False,
    rules: LeadRules | None = None,
) -> pd.DataFrame:
    """One row per candidate with the latest known name, activity counts and tier.

    Ordered by tier (hot, warm, cool, cold), events DESC, last_activity DESC with empty
    last, user_id. `last_activity` is in the period's timezone. When `rules` is given it
    also sets the window.
    """
    scores = lead_scores(period, _rules(window_days, rules), include_paying,
                         current(engine, period.tz))
    s = scores.c
    tier_rank = case({tier: i for i, tier in enumerate(TIERS)}, value=s.tier)
    stmt = (
        select(s.user_id, *latest_names(s.user_id, users_joined=True), s.events, s.active_days,
               s.last_activity, s.tier)
        .select_from(scores.outerjoin(users, users.c.user_id == s.user_id))
        .order_by(tier_rank, s.events.desc(), s.last_activity.desc().nulls_last(), s.user_id)
    )
    frame = fetch(engine, stmt)
    frame[["events", "active_days"]] = frame[["events", "active_days"]].astype("int64")
    frame["last_activity"] = local_times(frame["last_activity"], period.tz)
    return frame[LEAD_COLUMNS]


LEAD_DETAIL_COLUMNS = ["user_id", "last_name", "email", "registered_at", "booked_at"]


def lead_details(bind: Engine | Connection, user_ids: Sequence[int], tz: str) -> pd.DataFrame:
    """Per registrant of `user_ids` (by user_id): what an analyst joins a lead list on.

    `last_name` (the users row), `email` (newest registration), `registered_at` (their
    newest free-lesson registration) and `booked_at` (their newest booking, any status;
    empty without one), times in `tz`. Ids without a registration are left out.
    """
    regs, b = free_lesson_registrations.c, bookings.c
    # Validated ints, rendered inline: a long list may exceed SQLite's bound-variable limit.
    ids = bindparam("lead_ids", [int(i) for i in user_ids], expanding=True, literal_execute=True)
    registrants = (
        select(regs.user_id, func.max(utc(regs.registered_at)).label("registered_at"))
        .where(regs.user_id.in_(ids))
        .group_by(regs.user_id)
        .subquery("registrants")
    )
    uid = registrants.c.user_id
    stmt = select(
        uid,
        *contact_details(uid),
        registrants.c.registered_at,
        select(func.max(utc(b.created_at))).where(b.user_id == uid).scalar_subquery()
        .label("booked_at"),
    ).order_by(uid)
    frame = fetch(bind, stmt)
    for column in ("registered_at", "booked_at"):
        frame[column] = local_times(frame[column], tz)
    return frame[LEAD_DETAIL_COLUMNS]


def tier_counts(
    engine: Engine, period: Period, rules: LeadRules = DEFAULT_RULES, include_paying: bool = False
) -> pd.DataFrame:
    """Candidates per tier, every tier present (0 when empty), in TIERS order."""
    s = lead_scores(period, rules, include_paying, current(engine, period.tz)).c
    counts = fetch(engine, select(s.tier, func.count().label("users")).group_by(s.tier))
    by_tier = dict(zip(counts["tier"], counts["users"], strict=True))
    return pd.DataFrame(
        {"tier": list(TIERS), "users": [int(by_tier.get(t, 0)) for t in TIERS]},
        columns=TIER_COUNT_COLUMNS,
    )
