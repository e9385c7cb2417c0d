"""Headline numbers and user growth (SPEC §3: known users, new users, KPIs, growth)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import case, distinct, func, select
from sqlalchemy.engine import Engine

from hsl.db import day_of, reading, utc
from hsl.filters import Period
from hsl.metrics.common import (
    day_spine,
    fetch,
    fetch_scalar,
    first_seen,
    in_period,
    on_spine,
)
from hsl.schema import bookings, free_lesson_registrations

KPI_COLUMNS = [
    "known_users", "new_users", "registrations", "registrants",
    "active_bookings", "active_booking_users", "confirmed_payments", "paying_users",
]


def _count_if(condition, value=None):
    """count(value) over the rows where `condition` holds (count(*) when value is None)."""
    return func.count(case((condition, 1 if value is None else value)))


def kpis(engine: Engine, period: Period) -> pd.DataFrame:
    """One row of headline counts; known_users is all time, the rest within the period."""
    fs = first_seen()
    people = select(
        func.count().label("known_users"),
        _count_if(in_period(fs.c.first_seen, period)).label("new_users"),
    ).select_from(fs)
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
    row: dict[str, int] = {}
    with reading(engine) as conn:
        for stmt in (people, registrations, booking_counts):
            row.update({k: int(v or 0) for k, v in conn.execute(stmt).one()._mapping.items()})
    return pd.DataFrame([row], columns=KPI_COLUMNS)


def growth(engine: Engine, period: Period) -> pd.DataFrame:
    """Per local day: users first seen that day and the running total of known users."""
    fs = first_seen()
    day = day_of(fs.c.first_seen, period.tz).label("day")
    per_day = (
        select(day, func.count().label("new_users"))
        .where(in_period(fs.c.first_seen, period))
        .group_by(day)
    )
    before = select(func.count()).select_from(fs).where(utc(fs.c.first_seen) < period.utc_start)
    with reading(engine) as conn:
        base = fetch_scalar(conn, before)
        counts = fetch(conn, per_day)
    frame = on_spine(day_spine(period.start, period.end), counts)
    frame["total_users"] = base + frame["new_users"].cumsum()
    return frame[["day", "new_users", "total_users"]]
