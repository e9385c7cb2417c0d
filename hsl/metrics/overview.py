"""Headline numbers and user growth (SPEC §3: known users, new users, KPIs, growth)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import case, distinct, func, select
from sqlalchemy.engine import Engine

from hsl.db import day_of, reading
from hsl.filters import Period
from hsl.metrics.common import day_spine, fetch, first_seen, in_period, on_spine
from hsl.schema import bookings, free_lesson_registrations
from hsl.summaries import current

KPI_COLUMNS = [
    "known_users", "new_users", "registrations", "registrants",
    "active_bookings", "active_booking_users", "confirmed_payments", "paying_users",
]


def _count_if(condition, value=None):
    """count(value) over the rows where `condition` holds (count(*) when value is None)."""
    return func.count(case((condition, 1 if value is None else value)))


def first_seen_by_day(engine: Engine, tz: str) -> pd.DataFrame:
    """All time: how many known users were first seen on each local day (`day`, `users`).

    Users with no timestamp at all (a bare `users` row) have an empty `day`. Read from
    summary_users (one row a person) when the summaries are there, else by one scan over
    the four tables; the new-user KPIs and growth of any range are cheap arithmetic on
    it, so a page can cache it once.
    """
    fs = first_seen(current(engine))
    day = day_of(fs.c.first_seen, tz).label("day")
    return fetch(engine, select(day, func.count().label("users")).group_by(day).order_by(day))


def _in_range(seen: pd.DataFrame, period: Period) -> pd.Series:
    days = seen["day"]
    return days.notna() & (days >= period.start) & (days <= period.end)


def kpis(engine: Engine, period: Period, seen: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row of headline counts; known_users is all time, the rest within the period.

    `seen` is `first_seen_by_day(engine, period.tz)` when the caller already has it.
    """
    seen = first_seen_by_day(engine, period.tz) if seen is None else seen
    row = {
        "known_users": int(seen["users"].sum()),
        "new_users": int(seen.loc[_in_range(seen, period), "users"].sum()),
    }
    regs = free_lesson_registrations.c
    registrations = select(
        func.count().label("registrations"),
        func.count(distinct(regs.user_id)).label("registrants"),
    ).where(in_period(regs.registered_at, period))
    b = bookings.c
    active, paid = b.confirmed != -1, b.confirmed == 2
    booking_counts = select(
        _count_if(active).label("active_bookings"),
        func.count(distinct(case((active, b.user_id)))).label("active_booking_users"),
        _count_if(paid).label("confirmed_payments"),
        func.count(distinct(case((paid, b.user_id)))).label("paying_users"),
    ).where(in_period(b.created_at, period))
    with reading(engine) as conn:
        for stmt in (registrations, booking_counts):
            row.update({k: int(v or 0) for k, v in conn.execute(stmt).one()._mapping.items()})
    return pd.DataFrame([row], columns=KPI_COLUMNS)


def growth(engine: Engine, period: Period, seen: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per local day: users first seen that day and the running total of known users.

    `seen` is `first_seen_by_day(engine, period.tz)` when the caller already has it.
    """
    seen = first_seen_by_day(engine, period.tz) if seen is None else seen
    dated = seen[seen["day"].notna()]
    base = int(dated.loc[dated["day"] < period.start, "users"].sum())
    per_day = dated.loc[_in_range(dated, period)].rename(columns={"users": "new_users"})
    frame = on_spine(day_spine(period.start, period.end), per_day)
    frame["total_users"] = base + frame["new_users"].cumsum()
    return frame[["day", "new_users", "total_users"]]
