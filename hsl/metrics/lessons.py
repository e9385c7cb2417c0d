"""Free-lesson attendance (SPEC §3): people who clicked the link of a type they registered for.

Clicks are read from `summary_lesson_clicks` (the pairs as of the last refresh) when the
summaries are current for the period's timezone (`hsl.summaries.current`), else from
`events`; registrations are always read live.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import and_, case, distinct, exists, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from hsl.db import json_field
from hsl.errors import ValidationError
from hsl.filters import Period
from hsl.metrics.common import CLICK_EVENT, fetch, in_period, rate
from hsl.schema import events, free_lesson_registrations, summary_lesson_clicks
from hsl.summaries import SummaryState, current

regs = free_lesson_registrations.c


def _lesson_of_click() -> ColumnElement:
    """The lesson type a click's details name (NULL when none), as the refresh stores it."""
    return json_field(events.c.details, "lesson_type")


def clicked_lesson(user_id: ColumnElement, lesson_type: ColumnElement,
                   state: SummaryState | None = None) -> ColumnElement:
    """EXISTS: the user has a lesson-link click whose details name this lesson type.

    From `summary_lesson_clicks` when `state` is given (as of that refresh), else events.
    """
    if state is not None:
        c = summary_lesson_clicks.c
        return exists().where(and_(c.user_id == user_id, c.lesson_type == lesson_type))
    return exists().where(
        and_(
            events.c.user_id == user_id,
            events.c.event_type == CLICK_EVENT,
            _lesson_of_click() == lesson_type,
        )
    )


def lesson_clicks(state: SummaryState | None = None) -> Subquery:
    """Distinct (user_id, lesson_type) pairs of lesson-link clicks naming a type, all time.

    From `summary_lesson_clicks` when `state` is given (the pairs as of that refresh), else
    from events. Clicks that name no lesson type match no registration and are left out.
    """
    if state is not None:
        c = summary_lesson_clicks.c
        return select(c.user_id, c.lesson_type).subquery("lesson_clicks")
    lesson = _lesson_of_click()
    return (
        select(events.c.user_id, lesson.label("lesson_type"))
        .where(events.c.event_type == CLICK_EVENT, lesson.is_not(None))
        .distinct()
        .subquery("lesson_clicks")
    )


def registrations_in(period: Period, lesson_type: str | None = None,
                     state: SummaryState | None = None) -> Subquery:
    """Subquery of registrations in the period, each flagged `attended` (1/0).

    With `state`, the clicks come from the summaries (see `lesson_clicks`).
    """
    clicks = lesson_clicks(state)
    stmt = (
        select(
            regs.user_id,
            regs.lesson_type,
            regs.lesson_date,
            regs.notification_sent,
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


LESSON_KEYS = ("lesson_type", "lesson_date")
LESSON_COLUMNS = ["registrations", "registrants", "attended", "attendance_rate", "notified",
                  "notified_share"]


def lesson_registrations(engine: Engine, period: Period, by: tuple[str, ...] = ("lesson_type",),
                         lesson_type: str | None = None) -> pd.DataFrame:
    """Per group of `by` (lesson_type, lesson_date; none: one total row) of registrations in range.

    Columns: the `by` keys, then `registrations` (rows), `registrants` (distinct people),
    `attended` (people), `attendance_rate` (0..1, of registrants), `notified` (rows with
    the notification sent) and `notified_share` (0..1, of registrations).
    """
    unknown = [k for k in by if k not in LESSON_KEYS]
    if unknown:
        raise ValidationError(f"Registrations cannot be grouped by {unknown[0]!r}.")
    r = registrations_in(period, lesson_type, current(engine, period.tz))
    group = [r.c[k] for k in by]
    stmt = (
        select(
            *group,
            func.count().label("registrations"),
            func.count(distinct(r.c.user_id)).label("registrants"),
            func.count(distinct(case((r.c.attended == 1, r.c.user_id)))).label("attended"),
            func.count(case((r.c.notification_sent, 1))).label("notified"),
        )
        .group_by(*group)
    )
    frame = fetch(engine, stmt)
    if by:
        # Sorted here, not by the database: its collation would make the order differ per server.
        frame = frame.sort_values(list(by), kind="stable", ignore_index=True)
    frame["attendance_rate"] = rate(frame["attended"], frame["registrants"])
    frame["notified_share"] = rate(frame["notified"], frame["registrations"])
    return frame[[*by, *LESSON_COLUMNS]]


def attendance(engine: Engine, period: Period) -> pd.DataFrame:
    """Per lesson type: registrants in range, how many attended, and the rate (0..1)."""
    frame = lesson_registrations(engine, period, ("lesson_type",))
    return frame[["lesson_type", "registrants", "attended", "attendance_rate"]]


def attendance_by_date(engine: Engine, period: Period) -> pd.DataFrame:
    """Per (lesson type, lesson date): registrants in range, attended, and the rate (0..1)."""
    frame = lesson_registrations(engine, period, LESSON_KEYS)
    return frame[["lesson_type", "lesson_date", "registrants", "attended", "attendance_rate"]]
