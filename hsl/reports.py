"""The named reports of SPEC §7: one registry shared by the CLI, the pages and the tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from hsl.errors import ValidationError
from hsl.filters import Period
from hsl.metrics import funnel, lessons, overview


@dataclass(frozen=True)
class Report:
    """A report: the function that computes it, its columns, and its extra options."""

    run: Callable[..., pd.DataFrame]
    columns: tuple[str, ...]
    options: tuple[str, ...] = ()


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
}


def run_report(engine: Engine, name: str, period: Period, **options: object) -> pd.DataFrame:
    """Compute report `name` for the period; options not given stay at their defaults."""
    report = REPORTS.get(name)
    if report is None:
        known = ", ".join(sorted(REPORTS))
        raise ValidationError(f"Unknown report {name!r}; choose one of: {known}.")
    given = {k: v for k, v in options.items() if v is not None}
    stray = sorted(set(given) - set(report.options))
    if stray:
        flag = "--" + stray[0].replace("_", "-")
        raise ValidationError(f"The option {flag} does not apply to the {name} report.")
    frame = report.run(engine, period, **given)
    return frame[list(report.columns)]
