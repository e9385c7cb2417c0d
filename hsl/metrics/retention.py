"""Weekly cohort retention (SPEC §3, §7): who of each first-seen week came back in later weeks.

Weeks are ISO weeks (Monday start) of the reporting timezone. A cohort is the users first
seen in one week whose Monday falls in the range; a cohort with no users has no rows.
Week offsets run from 0 up to the week containing the range's end (that whole week counts).

With the summaries (SPEC §9) cohorts come from summary_users.first_seen_at and the weeks
each user was active from summary_user_days; without them, from the bot's tables.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import Integer, case, exists, func, literal, or_, select, union_all
from sqlalchemy.engine import Engine
from sqlalchemy.sql.selectable import CTE

from hsl.db import bucket_of, utc
from hsl.filters import Period
from hsl.metrics.common import SEEN_AT, fetch, rate
from hsl.schema import events, summary_user_days, summary_users
from hsl.summaries import current

RETENTION_COLUMNS = ["cohort_week", "week_offset", "cohort_size", "active_users", "retention"]
WEEK = timedelta(days=7)


def monday(day: date) -> date:
    """The Monday of the ISO week that contains `day`."""
    return day - timedelta(days=day.weekday())


def retention(engine: Engine, period: Period) -> pd.DataFrame:
    """Per cohort week and week offset: cohort size, users with any event that week, share.

    Every offset up to the week containing `period.end` appears, 0 when nobody came back.
    """
    first_cohort = monday(period.start + timedelta(days=6))  # the first Monday >= start
    last_week = monday(period.end)  # the last Monday <= end, and the last week counted
    if first_cohort > period.end:
        return pd.DataFrame(columns=RETENTION_COLUMNS)
    mondays = [first_cohort + k * WEEK for k in range((last_week - first_cohort).days // 7 + 1)]
    # Week n (1-based) runs from the local midnight starting mondays[n-1] to the next one.
    edges = [period.local_midnight_utc(day) for day in [*mondays, last_week + WEEK]]

    state = current(engine, period.tz)
    if state is None:
        # Distinct (user, week) pairs of events in the window: a hash aggregate, used both
        # to place event-first users in their cohort and to count who came back each week.
        event_week = bucket_of(events.c.created_at, edges).label("week")
        user_weeks = (
            select(events.c.user_id, event_week)
            .where(utc(events.c.created_at) >= edges[0], utc(events.c.created_at) < edges[-1])
            .group_by(events.c.user_id, event_week)
            .cte("user_weeks")
        )
        cohort = _cohort(user_weeks, edges)
    else:
        user_weeks, cohort = _summarised(mondays, edges)
    sizes = select(
        cohort.c.cohort_week, literal(None, Integer).label("week"), func.count().label("users")
    ).group_by(cohort.c.cohort_week)
    active = (
        select(cohort.c.cohort_week, user_weeks.c.week, func.count().label("users"))
        .select_from(cohort.join(user_weeks, user_weeks.c.user_id == cohort.c.user_id))
        .group_by(cohort.c.cohort_week, user_weeks.c.week)
    )
    return _triangle(fetch(engine, union_all(sizes, active)), mondays)


def _cohort(user_weeks: CTE, edges: list[datetime]) -> CTE:
    """CTE (user_id, cohort_week number) of the users first seen in [edges[0], edges[-1]).

    First seen in the window ⟺ some timestamp in it and none before it, in any of the four
    tables: index probes per candidate instead of `first_seen()`'s all-history minimum.
    """
    since, until = edges[0], edges[-1]
    seen = [select(user_weeks.c.user_id, user_weeks.c.week)]
    seen += [
        select(uid, bucket_of(ts, edges)).where(utc(ts) >= since, utc(ts) < until)
        for uid, ts in SEEN_AT
        if ts is not events.c.created_at  # events are in user_weeks already
    ]
    weeks = union_all(*seen).subquery("seen_in_window")
    first = (
        select(weeks.c.user_id, func.min(weeks.c.week).label("cohort_week"))
        .group_by(weeks.c.user_id)
        .subquery("first_in_window")
    )
    earlier = [exists().where(uid == first.c.user_id, utc(ts) < since) for uid, ts in SEEN_AT]
    return select(first.c.user_id, first.c.cohort_week).where(~or_(*earlier)).cte("cohort")


def _summarised(mondays: list[date], edges: list[datetime]) -> tuple[CTE, CTE]:
    """CTEs user_weeks (user_id, week) and cohort (user_id, cohort_week) from the summaries.

    A user's day lies in one week: the week of its events.
    """
    ud, s = summary_user_days.c, summary_users.c
    cohort = (
        select(s.user_id, bucket_of(s.first_seen_at, edges).label("cohort_week"))
        .where(utc(s.first_seen_at) >= edges[0], utc(s.first_seen_at) < edges[-1])
        .cte("cohort")
    )
    # The week of a local day, by comparing dates: the (user_id, day) key alone, so the
    # rows are read from the primary key's index, never the table.
    whens = [(ud.day < monday + WEEK, n) for n, monday in enumerate(mondays[:-1], 1)]
    week = (case(*whens, else_=len(mondays)) if whens else literal(1)).label("week")
    user_weeks = (  # only the cohorts' users: the newcomers, a few of everyone active
        select(ud.user_id, week)
        .where(ud.day >= mondays[0], ud.day < mondays[-1] + WEEK)
        .where(ud.user_id.in_(select(cohort.c.user_id)))
        .group_by(ud.user_id, week)
        .cte("user_weeks")
    )
    return user_weeks, cohort


def _triangle(counts: pd.DataFrame, mondays: list[date]) -> pd.DataFrame:
    """Expand (cohort week n, week n, users) counts into every cohort × offset, with dates."""
    sizes: dict[int, int] = {}
    active: dict[tuple[int, int], int] = {}
    for cohort, week, users in counts.itertuples(index=False):
        if pd.isna(week):
            sizes[int(cohort)] = int(users)
        else:
            active[int(cohort), int(week)] = int(users)
    rows = [
        (mondays[cohort - 1], k, size, active.get((cohort, cohort + k), 0))
        for cohort, size in sorted(sizes.items())
        for k in range(len(mondays) - cohort + 1)
    ]
    frame = pd.DataFrame(rows, columns=RETENTION_COLUMNS[:-1])
    frame[RETENTION_COLUMNS[1:-1]] = frame[RETENTION_COLUMNS[1:-1]].astype("int64")
    frame["retention"] = rate(frame["active_users"], frame["cohort_size"])
    return frame[RETENTION_COLUMNS]
