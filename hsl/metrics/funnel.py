"""The closed free-lesson funnel: registered → attended → booked → paid (SPEC §3, §7)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.engine import Engine

from hsl.filters import Period
from hsl.metrics.common import fetch, rate
from hsl.metrics.lessons import registrations_in
from hsl.schema import bookings

STEPS = ["registered", "attended", "booked", "paid"]
FUNNEL_COLUMNS = ["step", "users", "pct_of_first", "pct_of_previous", "open_users"]


def _flag(condition):
    """1 when the user (correlated) has a booking matching `condition`, else 0."""
    return case((exists().where(condition), 1), else_=0)


def funnel(engine: Engine, period: Period, lesson_type: str | None = None) -> pd.DataFrame:
    """Four rows, one per step: closed counts, % of first and of previous step, open counts."""
    r = registrations_in(period, lesson_type)
    cohort = (
        select(r.c.user_id, func.max(r.c.attended).label("attended"))
        .group_by(r.c.user_id)
        .subquery("cohort")
    )
    mine = bookings.c.user_id == cohort.c.user_id
    people = select(
        cohort.c.attended,
        _flag(and_(mine, bookings.c.confirmed != -1)).label("booked"),
        _flag(and_(mine, bookings.c.confirmed == 2)).label("paid"),
    ).subquery("people")
    att, booked, paid = (people.c[k] == 1 for k in ("attended", "booked", "paid"))
    counts = select(
        func.count().label("registered"),
        func.count(case((att, 1))).label("attended"),
        func.count(case((and_(att, booked), 1))).label("booked"),
        func.count(case((and_(att, booked, paid), 1))).label("paid"),
        func.count(case((booked, 1))).label("open_booked"),
        func.count(case((paid, 1))).label("open_paid"),
    ).select_from(people)
    row = fetch(engine, counts).iloc[0]
    closed = [int(row[step]) for step in STEPS]
    previous = [closed[0], *closed[:-1]]
    return pd.DataFrame(
        {
            "step": STEPS,
            "users": closed,
            "pct_of_first": [rate(n, closed[0]) for n in closed],
            "pct_of_previous": [rate(n, p) for n, p in zip(closed, previous, strict=True)],
            "open_users": [closed[0], closed[1], int(row["open_booked"]), int(row["open_paid"])],
        },
        columns=FUNNEL_COLUMNS,
    )
