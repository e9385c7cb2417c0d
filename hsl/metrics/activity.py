"""Bot activity (SPEC §3): events and active users per local day, event types and their shares.

A period is whole local days of `period.tz`, so when the summaries' days are in that
timezone (`hsl.summaries.current`) every report here reads `summary_days` /
`summary_day_types` (the numbers as of the last refresh); otherwise it counts the events.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from sqlalchemy import BigInteger, Table, cast, distinct, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.elements import Label

from hsl.db import bucket_of
from hsl.errors import ValidationError
from hsl.filters import Period
from hsl.metrics.common import day_spine, fetch, in_period, on_spine, rate
from hsl.schema import events, summary_day_types, summary_days
from hsl.summaries import current

OTHER = "other"
ACTIVITY_COLUMNS = ["day", "events", "active_users"]
EVENT_TYPE_COLUMNS = ["event_type", "events", "share"]
DAY_TYPE_COLUMNS = ["day", "event_type", "events"]


def _day_number(period: Period) -> ColumnElement:
    """SQL: 1 for an event on the range's first local day, 2 for the next, ... (see _to_day)."""
    midnights = [period.local_midnight_utc(period.start + timedelta(days=k))
                 for k in range(period.days + 1)]
    return bucket_of(events.c.created_at, midnights).label("day")


def _to_day(frame: pd.DataFrame, period: Period) -> pd.DataFrame:
    """Turn the `day` numbers of `_day_number` back into local dates."""
    days = [period.start + timedelta(days=int(n) - 1) for n in frame["day"]]
    return frame.assign(day=pd.Series(days, index=frame.index, dtype=object))


def _summarised(engine: Engine, period: Period) -> bool:
    """True when the summaries hold the period's local days (their timezone is the period's)."""
    return current(engine, period.tz) is not None


def _on_days(table: Table, period: Period) -> ColumnElement:
    """Predicate: the summary row's local `day` is one of the period's dates."""
    return table.c.day.between(period.start, period.end)


def _by_day(engine: Engine, period: Period, summary: Table, keys: tuple[str, ...],
            counts: list[Label]) -> pd.DataFrame:
    """Rows (day, *keys, *counts) for the (day, keys) of the range that had events.

    From the `summary` table (whose columns bear the same names) when it holds the period's
    days, else `counts` over the events grouped by local day and the events' `keys`.
    """
    if _summarised(engine, period):
        columns = [summary.c[name] for name in ("day", *keys, *(c.name for c in counts))]
        return fetch(engine, select(*columns).where(_on_days(summary, period)))
    group = [_day_number(period), *(events.c[k] for k in keys)]
    stmt = select(*group, *counts).where(in_period(events.c.created_at, period)).group_by(*group)
    return _to_day(fetch(engine, stmt), period)


def activity_by_day(engine: Engine, period: Period) -> pd.DataFrame:
    """Per local day of the range (every day present): events and distinct active users."""
    counts = _by_day(engine, period, summary_days, (), [
        func.count().label("events"),
        func.count(distinct(events.c.user_id)).label("active_users"),
    ])
    frame = on_spine(day_spine(period.start, period.end), counts)
    return frame[ACTIVITY_COLUMNS]


def _counts_by_type(engine: Engine, period: Period) -> pd.DataFrame:
    """Rows (event_type, events) over the range, one per type that occurred."""
    if _summarised(engine, period):
        t = summary_day_types.c
        stmt = (
            select(t.event_type, cast(func.sum(t.events), BigInteger).label("events"))
            .where(_on_days(summary_day_types, period))
            .group_by(t.event_type)
        )
    else:
        stmt = (
            select(events.c.event_type, func.count().label("events"))
            .where(in_period(events.c.created_at, period))
            .group_by(events.c.event_type)
        )
    return fetch(engine, stmt)


def event_types(engine: Engine, period: Period) -> pd.DataFrame:
    """Per event type in the range: events and share of all events (shares sum to 1).

    Ordered by events, most first, then by name; no rows when the range has no events.
    """
    frame = _counts_by_type(engine, period)
    frame = frame.sort_values(["events", "event_type"], ascending=[False, True], kind="stable")
    frame = frame.reset_index(drop=True)
    frame["events"] = frame["events"].astype("int64")
    frame["share"] = rate(frame["events"], pd.Series(frame["events"].sum(), index=frame.index))
    return frame[EVENT_TYPE_COLUMNS]


def events_by_day_and_type(engine: Engine, period: Period, top: int | None = None) -> pd.DataFrame:
    """Events per (local day, event type) for a stacked chart: every day × every type, 0-filled.

    With `top`, the `top` most frequent types in the range keep their names and the rest
    add up under "other" (last). Rows are ordered by day, then by the types' rank.
    """
    if top is not None and top < 1:
        raise ValidationError(f"Show at least one event type, not {top}.")
    counts = _by_day(engine, period, summary_day_types, ("event_type",),
                     [func.count().label("events")])
    if counts.empty:
        return pd.DataFrame(columns=DAY_TYPE_COLUMNS)
    totals = counts.groupby("event_type")["events"].sum().reset_index()
    ranked = totals.sort_values(["events", "event_type"], ascending=[False, True], kind="stable")
    names = list(ranked["event_type"])
    if top is not None and len(names) > top:
        keep = set(names[:top])
        counts["event_type"] = counts["event_type"].where(counts["event_type"].isin(keep), OTHER)
        names = [*names[:top], OTHER]
    counts = counts.groupby(["day", "event_type"], as_index=False)["events"].sum()
    order = pd.DataFrame({"event_type": list(dict.fromkeys(names))})
    spine = day_spine(period.start, period.end).merge(order, how="cross")
    frame = spine.merge(counts, on=["day", "event_type"], how="left")
    frame["events"] = frame["events"].fillna(0).astype("int64")
    return frame[DAY_TYPE_COLUMNS]


def averaged_days(daily: pd.DataFrame, today: date) -> pd.DataFrame:
    """The rows of `daily` (day, events, active_users) that "active users a day" averages:
    from the first day with any event (days before the data begins are not zeros) to the
    last, without today while it is not over unless it is the only day; none without events.
    """
    seen = daily.loc[daily["events"] > 0, "day"]
    if seen.empty:
        return daily.iloc[0:0]
    first, last = seen.min(), daily["day"].max()
    if last == today and first < today:
        last = today - timedelta(days=1)
    return daily[(daily["day"] >= first) & (daily["day"] <= last)]

