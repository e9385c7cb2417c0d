"""The closed free-lesson funnel: registered → attended → booked → paid (SPEC §3, §7)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement

from hsl.db import reading
from hsl.filters import Period
from hsl.metrics.common import plain_rows, rate
from hsl.metrics.lessons import registrations_in
from hsl.schema import bookings
from hsl.summaries import current

STEPS = ["registered", "attended", "booked", "paid"]
FUNNEL_COLUMNS = ["step", "users", "pct_of_first", "pct_of_previous", "open_users"]


def _has_booking(user_id: ColumnElement, condition: ColumnElement) -> ColumnElement:
    """1 when the user has a booking (any time) matching `condition`, else 0."""
    # Uncorrelated IN: PostgreSQL hashes the bookings once instead of probing per person.
    return case((user_id.in_(select(bookings.c.user_id).where(condition)), 1), else_=0)


def funnel(engine: Engine, period: Period, lesson_type: str | None = None) -> pd.DataFrame:
    """Four rows, one per step: closed counts, % of first and of previous step, open counts."""
    with reading(engine) as conn:  # the summaries' state and the counts: one transaction
        r = registrations_in(period, lesson_type, current(conn, period.tz))
        people = (
            select(
                func.max(r.c.attended).label("attended"),
                _has_booking(r.c.user_id, bookings.c.confirmed != -1).label("booked"),
                _has_booking(r.c.user_id, bookings.c.confirmed == 2).label("paid"),
            )
            .group_by(r.c.user_id)
            .subquery("people")
        )
        flags = [people.c.attended, people.c.booked, people.c.paid]
        # The cohort's people per combination of the three flags: at most eight rows.
        combos = plain_rows(conn.execute(
            select(*flags, func.count().label("users")).group_by(*flags)))
    closed, open_users = [0] * len(STEPS), [0] * len(STEPS)
    for attended, booked, paid, n in combos:
        did = (True, attended == 1, booked == 1, paid == 1)  # the steps these people did
        for k in range(len(STEPS)):
            open_users[k] += int(n) if did[k] else 0
            closed[k] += int(n) if all(did[:k + 1]) else 0
    previous = [closed[0], *closed[:-1]]
    return pd.DataFrame(
        {
            "step": STEPS,
            "users": closed,
            "pct_of_first": [rate(n, closed[0]) for n in closed],
            "pct_of_previous": [rate(n, p) for n, p in zip(closed, previous, strict=True)],
            "open_users": open_users,
        },
        columns=FUNNEL_COLUMNS,
    )
