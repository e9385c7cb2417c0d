"""Free-lesson attendance (SPEC §3): people who clicked the link of a type they registered for."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import and_, case, distinct, exists, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.selectable import Subquery

from hsl.db import json_field
from hsl.filters import Period
from hsl.metrics.common import CLICK_EVENT, fetch, in_period, rate
from hsl.schema import events, free_lesson_registrations

regs = free_lesson_registrations.c


def clicked_lesson(user_id, lesson_type):
    """EXISTS: the user has a lesson-link click whose details name this lesson type."""
    return exists().where(
        and_(
            events.c.user_id == user_id,
            events.c.event_type == CLICK_EVENT,
            json_field(events.c.details, "lesson_type") == lesson_type,
        )
    )


def lesson_clicks() -> Subquery:
    """Distinct (user_id, lesson_type) pairs of lesson-link clicks, all time."""
    return (
        select(events.c.user_id, json_field(events.c.details, "lesson_type").label("lesson_type"))
        .where(events.c.event_type == CLICK_EVENT)
        .distinct()
        .subquery("lesson_clicks")
    )


def registrations_in(period: Period, lesson_type: str | None = None) -> Subquery:
    """Subquery of registrations in the period, each flagged `attended` (1/0)."""
    clicks = lesson_clicks()
    stmt = (
        select(
            regs.user_id,
            regs.lesson_type,
            regs.lesson_date,
            case((clicks.c.user_id.is_not(None), 1), else_=0).label("attended"),
        )
        .select_from(
            free_lesson_registrations.outerjoin(
                clicks,
                and_(clicks.c.user_id == regs.user_id, clicks.c.lesson_type == regs.lesson_type),
            )
        )
        .where(in_period(regs.registered_at, period))
    )
    if lesson_type is not None:
        stmt = stmt.where(regs.lesson_type == lesson_type)
    return stmt.subquery("registrations_in_range")


def _attendance(engine: Engine, period: Period, keys: list[str]) -> pd.DataFrame:
    r = registrations_in(period)
    group = [r.c[k] for k in keys]
    stmt = (
        select(
            *group,
            func.count(distinct(r.c.user_id)).label("registrants"),
            func.count(distinct(case((r.c.attended == 1, r.c.user_id)))).label("attended"),
        )
        .group_by(*group)
    )
    # Sorted here, not by the database: its collation would make the order differ per server.
    frame = fetch(engine, stmt).sort_values(keys, kind="stable", ignore_index=True)
    frame["attendance_rate"] = rate(frame["attended"], frame["registrants"])
    return frame[[*keys, "registrants", "attended", "attendance_rate"]]


def attendance(engine: Engine, period: Period) -> pd.DataFrame:
    """Per lesson type: registrants in range, how many attended, and the rate (0..1)."""
    return _attendance(engine, period, ["lesson_type"])


def attendance_by_date(engine: Engine, period: Period) -> pd.DataFrame:
    """Per (lesson type, lesson date): registrants in range, attended, and the rate (0..1)."""
    return _attendance(engine, period, ["lesson_type", "lesson_date"])
