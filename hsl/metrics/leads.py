"""Lead scoring (SPEC §3, §7): free-lesson registrants tiered by their recent activity.

The window is the last `window_days` days before the period's clock: (now − N days, now].
`events` counts the events in it, `active_days` the distinct local dates (period.tz) with
events; `last_activity` is the latest event up to now, whatever the window.

With the summaries (SPEC §9) a default window (7 days) ending on the local day of the
last refresh reads one summary_user_recent row a person: the whole local days inside the
window added up, and each edge day's summary_user_days row, all as that refresh wrote
them. Any other window joins each edge day's summary_user_days row and adds up the days
between. An edge day's row is used whole when it lies inside the window, else that
person's events on that day are read from the events themselves (a row that straddles
the window's edge); `last_activity` is summary_users.last_event_at, or the latest raw
event up to now when that is later than now (a clock in the past), or a later edge event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
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
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.selectable import FromClause, Select, Subquery

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
    summary_state,
    summary_user_days,
    summary_user_recent,
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


def _candidates(include_paying: bool, among: Sequence[int] | None = None,
                summarised: bool = False) -> Subquery:
    """Distinct free-lesson registrants (all time), without payers unless asked.

    `among`: only these user ids (a page of people), so nothing else is scored.
    `summarised`: the registrants summary_users knows (as of the last refresh), with their
    `last_event_at` alongside; else read from the registrations.
    """
    if summarised:
        s = summary_users.c
        uid, stmt = s.user_id, select(s.user_id, s.last_event_at).where(s.registered == true())
    else:
        uid = free_lesson_registrations.c.user_id
        stmt = select(uid).distinct()
    if among is not None:
        stmt = stmt.where(uid.in_(list(among)))
    if not include_paying:
        paid = exists().where(bookings.c.user_id == uid, bookings.c.confirmed == 2)
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


def edge_days(now: datetime, window_days: int, tz: str) -> tuple[date, date]:
    """The local days (in `tz`) of a lead window's two ends: (now − window_days, now]."""
    zone = ZoneInfo(tz)
    return ((now - timedelta(days=window_days)).astimezone(zone).date(),
            now.astimezone(zone).date())


def recent_days(now: datetime, tz: str) -> tuple[date, date] | None:
    """The whole local days a default lead window ending at `now` spans between its edge
    days (what summary_user_recent adds up); None when the edges are next to each other."""
    first_day, last_day = edge_days(now, DEFAULT_RULES.window_days, tz)
    if (last_day - first_day).days < 2:
        return None
    return first_day + timedelta(days=1), last_day - timedelta(days=1)


def _whole_days(first: date, last: date, people: Subquery) -> Subquery:
    """Per person of `people`: events and active_days of their summary_user_days rows on
    the local days first .. last."""
    ud = summary_user_days.c
    return (
        select(ud.user_id, cast(func.sum(ud.events), BigInteger).label("events"),
               cast(func.count(), BigInteger).label("active_days"))
        .where(ud.day >= first, ud.day <= last, ud.user_id.in_(select(people.c.user_id)))
        .group_by(ud.user_id)
        .subquery("whole_days")
    )


def _edge_events(start: datetime, end: datetime, who: Select | None, name: str) -> Subquery:
    """Per user of `who` (everyone when None): their events in [start, end), read from
    events, and the latest of them. The caller's [start, end) lies inside one local day
    and inside the window."""
    e = events.c
    ts = utc(e.created_at)
    stmt = (
        select(e.user_id, func.count().label("events"), func.max(ts).label("last_at"))
        .where(ts >= start, ts < end)
        .group_by(e.user_id)
    )
    return (stmt if who is None else stmt.where(e.user_id.in_(who))).subquery(name)


@dataclass(frozen=True)
class _Days:
    """A window's days as the summaries hold them, per person of `joined`: each edge day's
    summary_user_days row (events, first and last event; NULL without one) and the whole
    days between the two added up (events and days; NULL: none)."""

    joined: FromClause
    low_events: ColumnElement
    low_first: ColumnElement
    low_last: ColumnElement
    high_events: ColumnElement
    high_last: ColumnElement
    whole_events: ColumnElement | None  # None: the edge days are next to each other
    whole_days: ColumnElement | None
    low_straddlers: Select  # user_id: whose first edge day's row straddles `since`
    high_straddlers: Select  # user_id: whose last edge day's row goes past `now`


def _days_joined(period: Period, since: datetime, first_day: date, last_day: date,
                 people: Subquery) -> _Days:
    """The window's days read from summary_user_days: its two edge days' rows joined, the
    whole days between them added up."""
    uid, ud = people.c.user_id, summary_user_days.c
    low, high = summary_user_days.alias("low_day"), summary_user_days.alias("high_day")
    joined = (
        people
        .outerjoin(low, and_(low.c.user_id == uid, low.c.day == first_day))
        .outerjoin(high, and_(high.c.user_id == uid, high.c.day == last_day))
    )
    whole_events = whole_days = None
    if (last_day - first_day).days > 1:
        whole = _whole_days(first_day + timedelta(days=1), last_day - timedelta(days=1),
                            people)
        joined = joined.outerjoin(whole, whole.c.user_id == uid)
        whole_events, whole_days = whole.c.events, whole.c.active_days
    return _Days(
        joined, low.c.events, low.c.first_at, low.c.last_at, high.c.events, high.c.last_at,
        whole_events, whole_days,
        select(ud.user_id).where(ud.day == first_day, utc(ud.first_at) <= since,
                                 utc(ud.last_at) > since),
        select(ud.user_id).where(ud.day == last_day, utc(ud.last_at) > period.now))


def _days_ahead(period: Period, since: datetime, people: Subquery) -> _Days:
    """The default window's days from summary_user_recent: one row a person, as the last
    refresh added them up (for a window whose days are the ones the state names)."""
    r = summary_user_recent.c
    return _Days(
        people.outerjoin(summary_user_recent, r.user_id == people.c.user_id),
        r.low_events, r.low_first_at, r.low_last_at, r.high_events, r.high_last_at,
        r.events, r.active_days,
        select(r.user_id).where(utc(r.low_first_at) <= since, utc(r.low_last_at) > since),
        select(r.user_id).where(utc(r.high_last_at) > period.now))


def _window_summarised(period: Period, since: datetime, edges: tuple[date, date],
                       people: Subquery, days: _Days
                       ) -> tuple[FromClause, ColumnElement, ColumnElement, ColumnElement]:
    """`days.joined` joined to what the summaries say of each person's window (since, now]:
    the FROM, and the columns events, active_days and the latest raw event read (or NULL).

    Each part has one row per person, so the parts are joined, never added up in a group:
    the whole local days between the two edge days; each edge day's summary_user_days row,
    whole when it lies inside the window (its first event after `since`; its last one at
    or before `now`), else that person's events on that day read from events (a person
    whose row straddles `since`: the shorter side of `since` on that day, the part before
    it subtracted from the row; past `now` when the clock is in the past).
    """
    uid, (first_day, last_day) = people.c.user_id, edges
    after_now = period.now + timedelta(microseconds=1)
    day_starts = period.local_midnight_utc(first_day)
    day_ends = period.local_midnight_utc(first_day + timedelta(days=1))
    # A person whose first edge day straddles `since`: read the shorter part of that day
    # from events. After `since` as it is; before it (up to `since`), taken from the day's
    # total (never below 0: between refreshes events may have come in late).
    read_before = since - day_starts < day_ends - since
    just_after = since + timedelta(microseconds=1)
    x_low = _edge_events(*((day_starts, just_after) if read_before else (just_after, day_ends)),
                         days.low_straddlers, "low_events")
    x_high = _edge_events(period.local_midnight_utc(last_day), after_now,
                          days.high_straddlers, "high_events")
    joined = (days.joined.outerjoin(x_low, x_low.c.user_id == uid)
              .outerjoin(x_high, x_high.c.user_id == uid))
    low_whole = utc(days.low_first) > since
    high_whole = utc(days.high_last) <= period.now
    if read_before:
        before = func.coalesce(x_low.c.events, 0)
        after_since = utc(days.low_last) > since  # the whole row, or a straddler's part
        counted = and_(after_since, before < days.low_events)
        low_n = case((low_whole, days.low_events), (counted, days.low_events - before),
                     else_=0)
        low_day, low_last = case((or_(low_whole, counted), 1), else_=0), None
    else:
        low_n = case((low_whole, days.low_events), else_=func.coalesce(x_low.c.events, 0))
        low_day = case((or_(low_whole, x_low.c.events > 0), 1), else_=0)
        low_last = x_low.c.last_at
    n = low_n + case((high_whole, days.high_events), else_=func.coalesce(x_high.c.events, 0))
    active = low_day + case((or_(high_whole, x_high.c.events > 0), 1), else_=0)
    if days.whole_events is not None:
        n = func.coalesce(days.whole_events, 0) + n
        active = func.coalesce(days.whole_days, 0) + active
    # Summary rows are never later than summary_users.last_event_at; raw rows may be.
    raw_last = x_high.c.last_at if low_last is None else _latest(low_last, x_high.c.last_at)
    return joined, n, active, raw_last


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
    people = _candidates(include_paying, among, summarised=state is not None)
    since = period.now - timedelta(days=rules.window_days)
    if state is None:
        window = _window_raw(period, since, people)
        counts = _counts(people, people.outerjoin(window, window.c.user_id == people.c.user_id),
                         func.coalesce(window.c.events, 0),
                         func.coalesce(window.c.active_days, 0),
                         _raw_last(period, people)).subquery("lead_counts")
    else:
        counts = _counts_summarised(period, rules.window_days, since, people)
    n, days = counts.c.events, counts.c.active_days
    tier = case(
        (and_(n >= rules.hot_events, days >= rules.hot_days), "hot"),
        (and_(n >= rules.warm_events, days >= rules.warm_days), "warm"),
        (n >= rules.cool_events, "cool"),
        else_="cold",
    )
    return select(*counts.c, tier.label("tier")).subquery("lead_scores")


def _raw_last(period: Period, people: Subquery) -> ColumnElement:
    """Each person's latest event up to now, read from events."""
    e = events.c
    return (
        select(func.max(utc(e.created_at)))
        .where(e.user_id == people.c.user_id, utc(e.created_at) <= period.now)
        .scalar_subquery()
    )


def _counts(people: Subquery, joined: FromClause, n: ColumnElement, days: ColumnElement,
            last: ColumnElement) -> Select:
    """One row per person: user_id, events, active_days, last_activity."""
    return select(people.c.user_id, cast(n, BigInteger).label("events"),
                  cast(days, BigInteger).label("active_days"),
                  last.label("last_activity")).select_from(joined)


def _counts_summarised(period: Period, window_days: int, since: datetime, people: Subquery
                       ) -> Subquery:
    """The candidates' counts from the summaries.

    A default window whose whole days the last refresh added up (checked in the
    statement, so both come from one snapshot) is read from summary_user_recent, else from
    summary_user_days; a window inside one local day from events. `last_activity` is
    summary_users.last_event_at, or the latest raw event up to now when that is later than
    now (a clock in the past), or a later edge event.
    """
    edges = edge_days(period.now, window_days, period.tz)
    known_last = people.c.last_event_at
    summarised_last = case((utc(known_last) > period.now, _raw_last(period, people)),
                           else_=known_last)
    if edges[0] == edges[1]:
        after_now = period.now + timedelta(microseconds=1)
        x = _edge_events(since + timedelta(microseconds=1), after_now, None, "window")
        return _counts(people, people.outerjoin(x, x.c.user_id == people.c.user_id),
                       func.coalesce(x.c.events, 0), case((x.c.events > 0, 1), else_=0),
                       _latest(summarised_last, x.c.last_at)).subquery("lead_counts")

    def counts(days: _Days) -> Select:
        joined, n, active, raw_last = _window_summarised(period, since, edges, people, days)
        return _counts(people, joined, n, active, _latest(summarised_last, raw_last))

    joined = counts(_days_joined(period, since, *edges, people))
    whole = recent_days(period.now, period.tz)
    if window_days != DEFAULT_RULES.window_days or whole is None:
        return joined.subquery("lead_counts")
    st = summary_state.c
    ready = exists().where(st.id == 1, st.recent_from == whole[0], st.recent_to == whole[1])
    return union_all(counts(_days_ahead(period, since, people)).where(ready),
                     joined.where(~ready)).subquery("lead_counts")


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
    stmt = (
        select(s.user_id, *latest_names(s.user_id, users_joined=True), s.events, s.active_days,
               s.last_activity, s.tier)
        .select_from(scores.outerjoin(users, users.c.user_id == s.user_id))
    )
    frame = fetch(engine, stmt, bulk=True)
    frame[["events", "active_days"]] = frame[["events", "active_days"]].astype("int64")
    frame["last_activity"] = local_times(frame["last_activity"], period.tz)
    # Sorted here, not in SQL: PostgreSQL would evaluate the window's expressions again
    # for the sort keys (a third of the query's time on 45,000 leads).
    stamps = frame["last_activity"]
    newest_first = np.where(stamps.isna(), np.iinfo(np.int64).max,
                            -stamps.to_numpy("datetime64[us]").view("int64"))
    order = np.lexsort((frame["user_id"].to_numpy(), newest_first,
                        -frame["events"].to_numpy(),
                        pd.Categorical(frame["tier"], categories=TIERS).codes))
    frame = frame.iloc[order].reset_index(drop=True)
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
