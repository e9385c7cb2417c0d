"""Lead scoring (SPEC §3, §7): free-lesson registrants tiered by their recent activity.

The window is the last `window_days` days before the period's clock: (now − N days, now].
`events` counts the events in it, `active_days` the distinct local dates (period.tz) with
events; `last_activity` is the latest event up to now, whatever the window.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta

import pandas as pd
from sqlalchemy import and_, case, distinct, exists, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.selectable import Subquery

from hsl.db import day_of, utc
from hsl.errors import ValidationError
from hsl.filters import Period
from hsl.metrics.common import fetch, latest_names, local_times
from hsl.schema import bookings, events, free_lesson_registrations

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


def _candidates(include_paying: bool) -> Subquery:
    """Distinct free-lesson registrants (all time), without payers unless asked."""
    regs = free_lesson_registrations.c
    stmt = select(regs.user_id).distinct()
    if not include_paying:
        paid = exists().where(bookings.c.user_id == regs.user_id, bookings.c.confirmed == 2)
        stmt = stmt.where(~paid)
    return stmt.subquery("candidates")


def lead_scores(
    period: Period, rules: LeadRules = DEFAULT_RULES, include_paying: bool = False
) -> Subquery:
    """Subquery, one row per candidate: user_id, events, active_days, last_activity, tier."""
    people = _candidates(include_paying)
    e = events.c
    since = period.now - timedelta(days=rules.window_days)
    window = (
        select(
            e.user_id,
            func.count().label("events"),
            func.count(distinct(day_of(e.created_at, period.tz))).label("active_days"),
        )
        .where(utc(e.created_at) > since, utc(e.created_at) <= period.now)
        .where(e.user_id.in_(select(people.c.user_id)))
        .group_by(e.user_id)
        .subquery("window_events")
    )
    last = (
        select(func.max(utc(e.created_at)))
        .where(e.user_id == people.c.user_id, utc(e.created_at) <= period.now)
        .scalar_subquery()
    )
    counts = (
        select(
            people.c.user_id,
            func.coalesce(window.c.events, 0).label("events"),
            func.coalesce(window.c.active_days, 0).label("active_days"),
            last.label("last_activity"),
        )
        .select_from(people.outerjoin(window, window.c.user_id == people.c.user_id))
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
    scores = lead_scores(period, _rules(window_days, rules), include_paying)
    s = scores.c
    tier_rank = case({tier: i for i, tier in enumerate(TIERS)}, value=s.tier)
    stmt = select(
        s.user_id, *latest_names(s.user_id), s.events, s.active_days, s.last_activity, s.tier
    ).order_by(tier_rank, s.events.desc(), s.last_activity.desc().nulls_last(), s.user_id)
    frame = fetch(engine, stmt)
    frame[["events", "active_days"]] = frame[["events", "active_days"]].astype("int64")
    frame["last_activity"] = local_times(frame["last_activity"], period.tz)
    return frame[LEAD_COLUMNS]


def tier_counts(
    engine: Engine, period: Period, rules: LeadRules = DEFAULT_RULES, include_paying: bool = False
) -> pd.DataFrame:
    """Candidates per tier, every tier present (0 when empty), in TIERS order."""
    s = lead_scores(period, rules, include_paying).c
    counts = fetch(engine, select(s.tier, func.count().label("users")).group_by(s.tier))
    by_tier = dict(zip(counts["tier"], counts["users"], strict=True))
    return pd.DataFrame(
        {"tier": list(TIERS), "users": [int(by_tier.get(t, 0)) for t in TIERS]},
        columns=TIER_COUNT_COLUMNS,
    )
