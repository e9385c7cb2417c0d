"""The named reports of SPEC §7: one registry shared by the CLI, the pages and the tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pandas as pd
from sqlalchemy.engine import Engine

from hsl.errors import ValidationError
from hsl.filters import Period
from hsl.metrics import activity, funnel, leads, lessons, overview, retention, streams, users


@dataclass(frozen=True)
class Report:
    """A report: the function that computes it, its columns, and its extra options."""

    run: Callable[..., pd.DataFrame]
    columns: tuple[str, ...]
    options: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    reads_clock: bool = False  # its rows depend on period.now, not only on the dates


REPORTS: dict[str, Report] = {
    "kpis": Report(overview.kpis, tuple(overview.KPI_COLUMNS)),
    "growth": Report(overview.growth, ("day", "new_users", "total_users")),
    "attendance": Report(
        lessons.attendance, ("lesson_type", "registrants", "attended", "attendance_rate")
    ),
    "attendance-by-date": Report(
        lessons.attendance_by_date,
        ("lesson_type", "lesson_date", "registrants", "attended", "attendance_rate"),
    ),
    "funnel": Report(funnel.funnel, tuple(funnel.FUNNEL_COLUMNS), ("lesson_type",)),
    "activity": Report(activity.activity_by_day, tuple(activity.ACTIVITY_COLUMNS)),
    "event-types": Report(activity.event_types, tuple(activity.EVENT_TYPE_COLUMNS)),
    "streams": Report(streams.stream_summary, tuple(streams.SUMMARY_COLUMNS)),
    "roster": Report(
        streams.stream_roster, tuple(streams.ROSTER_COLUMNS), ("stream",), required=("stream",)
    ),
    "leads": Report(leads.leads, tuple(leads.LEAD_COLUMNS), ("window_days", "include_paying"),
                    reads_clock=True),
    "retention": Report(retention.retention, tuple(retention.RETENTION_COLUMNS)),
    "users": Report(users.users_report, tuple(users.USER_COLUMNS), ("search",)),
}


def report_options(name: str, **options: object) -> dict[str, object]:
    """Return the options given (not None) for report `name`; raise if one is stray or missing."""
    report = REPORTS.get(name)
    if report is None:
        known = ", ".join(sorted(REPORTS))
        raise ValidationError(f"Unknown report {name!r}; choose one of: {known}.")
    given = {k: v for k, v in options.items() if v is not None}
    stray = sorted(set(given) - set(report.options))
    if stray:
        flag = "--" + stray[0].replace("_", "-")
        raise ValidationError(f"The option {flag} does not apply to the {name} report.")
    missing = [k for k in report.required if k not in given]
    if missing:
        flag = "--" + missing[0].replace("_", "-")
        raise ValidationError(f"The {name} report needs {flag}.")
    return given


def clock_free(name: str, period: Period) -> Period:
    """`period` as report `name` reads it: a report that ignores the clock gets one fixed
    `now` (the end of the dates), so a cache keyed by the period never misses on the clock."""
    report = REPORTS.get(name)
    if report is None or report.reads_clock:
        return period
    return replace(period, now=period.utc_end)


def run_report(engine: Engine, name: str, period: Period, **options: object) -> pd.DataFrame:
    """Compute report `name` for the period; options not given stay at their defaults."""
    given = report_options(name, **options)
    frame = REPORTS[name].run(engine, period, **given)
    columns = list(REPORTS[name].columns)
    # Most reports build their columns in order: picking them again costs ~0.5 ms.
    return frame if frame.columns.tolist() == columns else frame[columns]
