"""attendance, attendance-by-date and the funnel against the hand-counted foundation dataset."""

from __future__ import annotations

from datetime import date

import pytest

from hsl.filters import Period
from hsl.metrics.funnel import FUNNEL_COLUMNS, funnel
from hsl.metrics.lessons import attendance, attendance_by_date
from hsl.reports import run_report
from tests.fixtures.foundation import (
    DATA,
    NOW,
    PY,
    ROWS,
    WEB,
    moscow_period,
    records,
    utc_period,
)

ATTENDANCE_COLUMNS = ["lesson_type", "registrants", "attended", "attendance_rate"]
BY_DATE_COLUMNS = ["lesson_type", "lesson_date", "registrants", "attended", "attendance_rate"]


@pytest.fixture(scope="module")
def db(module_engine):
    return module_engine(ROWS)


# ------------------------------------------------------------------ attendance


def test_attendance_utc(db):
    frame = attendance(db, utc_period())
    assert list(frame.columns) == ATTENDANCE_COLUMNS
    assert records(frame) == [
        # B and G registered; B clicked data_analytics, G's click has no lesson_type.
        (DATA, 2, 1, 0.5),
        # A B F H L registered; only A clicked a python link (twice: still one person).
        # B clicked data only, F's click has NULL details, H's details are not objects.
        (PY, 5, 1, 0.2),
        # I never clicked.
        (WEB, 1, 0, 0.0),
    ]


def test_attendance_moscow(db):
    # L registered at 2026-11-06 01:00 Moscow: outside the range, so python has 4.
    assert records(attendance(db, moscow_period())) == [
        (DATA, 2, 1, 0.5),
        (PY, 4, 1, 0.25),
        (WEB, 1, 0, 0.0),
    ]


def test_attendance_by_date_utc(db):
    frame = attendance_by_date(db, utc_period())
    assert list(frame.columns) == BY_DATE_COLUMNS
    assert records(frame) == [
        (DATA, date(2026, 11, 6), 2, 1, 0.5),
        (PY, date(2026, 11, 4), 4, 1, 0.25),   # A B F H; A clicked twice
        (PY, date(2026, 11, 11), 1, 0, 0.0),   # L
        (WEB, date(2026, 11, 7), 1, 0, 0.0),
    ]
    assert all(type(d) is date for d in frame["lesson_date"])


def test_attendance_by_date_moscow(db):
    assert records(attendance_by_date(db, moscow_period())) == [
        (DATA, date(2026, 11, 6), 2, 1, 0.5),
        (PY, date(2026, 11, 4), 4, 1, 0.25),
        (WEB, date(2026, 11, 7), 1, 0, 0.0),
    ]


def test_registration_before_the_range_is_not_counted(db):
    # Only J registered in October (python, clicked): 1 of 1.
    period = Period(date(2026, 10, 1), date(2026, 10, 31), "UTC", NOW)
    assert records(attendance(db, period)) == [(PY, 1, 1, 1.0)]
    assert records(attendance_by_date(db, period)) == [(PY, date(2026, 10, 28), 1, 1, 1.0)]


def test_double_click_keeps_attendance_at_most_one(db):
    # On 11-01 A and B registered python; A clicked it twice, B never: 1 of 2 people
    # (counting clicks would say 2 of 2).
    period = Period(date(2026, 11, 1), date(2026, 11, 1), "UTC", NOW)
    assert records(attendance(db, period)) == [(PY, 2, 1, 0.5)]
    assert (attendance_by_date(db, utc_period())["attendance_rate"] <= 1).all()


# ---------------------------------------------------------------------- funnel


def test_funnel_utc(db):
    frame = funnel(db, utc_period())
    assert list(frame.columns) == FUNNEL_COLUMNS
    # Cohort: A B F G H I L. Attended: A (python), B (data). Booked (not cancelled, any
    # time): A F G I; of the attended only A (B's one booking is cancelled). Paid: A F I.
    assert records(frame) == [
        ("registered", 7, 1.0, 1.0, 7),
        ("attended", 2, pytest.approx(2 / 7), pytest.approx(2 / 7), 2),
        ("booked", 1, pytest.approx(1 / 7), 0.5, 4),
        ("paid", 1, pytest.approx(1 / 7), 1.0, 3),
    ]


def test_funnel_moscow(db):
    # L drops out of the cohort; G's booking time does not matter (any time).
    assert records(funnel(db, moscow_period())) == [
        ("registered", 6, 1.0, 1.0, 6),
        ("attended", 2, pytest.approx(2 / 6), pytest.approx(2 / 6), 2),
        ("booked", 1, pytest.approx(1 / 6), 0.5, 4),
        ("paid", 1, pytest.approx(1 / 6), 1.0, 3),
    ]


def test_funnel_for_one_lesson_type(db):
    # python cohort: A B F H L. B clicked data, not python: not attended here.
    # Booked: A, F (B cancelled; H, L none). Paid: A, F.
    assert records(funnel(db, utc_period(), lesson_type=PY)) == [
        ("registered", 5, 1.0, 1.0, 5),
        ("attended", 1, 0.2, 0.2, 1),
        ("booked", 1, 0.2, 1.0, 2),
        ("paid", 1, 0.2, 1.0, 2),
    ]


def test_funnel_zero_step_gives_zero_not_nan(db):
    # web_design cohort: I alone, who never clicked but booked and paid.
    frame = funnel(db, utc_period(), lesson_type=WEB)
    assert records(frame) == [
        ("registered", 1, 1.0, 1.0, 1),
        ("attended", 0, 0.0, 0.0, 0),
        ("booked", 0, 0.0, 0.0, 1),  # 0 of 0 attended is 0, and I booked anyway (open)
        ("paid", 0, 0.0, 0.0, 1),
    ]
    assert frame[["pct_of_first", "pct_of_previous"]].notna().all().all()


def test_funnel_empty_cohort(db):
    frame = funnel(db, utc_period(), lesson_type="no_such_lesson")
    assert records(frame) == [
        ("registered", 0, 0.0, 0.0, 0),
        ("attended", 0, 0.0, 0.0, 0),
        ("booked", 0, 0.0, 0.0, 0),
        ("paid", 0, 0.0, 0.0, 0),
    ]


def test_funnel_counts_never_rise(db):
    for period in (utc_period(), moscow_period()):
        users = funnel(db, period)["users"].tolist()
        assert users == sorted(users, reverse=True)


def test_funnel_through_the_registry_takes_lesson_type(db):
    frame = run_report(db, "funnel", utc_period(), lesson_type=DATA)
    # data cohort: B G. Attended: B. Booked: G only (B's booking is cancelled). Paid: none.
    assert records(frame) == [
        ("registered", 2, 1.0, 1.0, 2),
        ("attended", 1, 0.5, 0.5, 1),
        ("booked", 0, 0.0, 0.0, 1),
        ("paid", 0, 0.0, 0.0, 0),
    ]


# -------------------------------------------------------------- empty database


def test_reports_on_empty_database(empty_db):
    period = utc_period()
    frame = attendance(empty_db, period)
    assert list(frame.columns) == ATTENDANCE_COLUMNS and frame.empty
    frame = attendance_by_date(empty_db, period)
    assert list(frame.columns) == BY_DATE_COLUMNS and frame.empty
    assert records(funnel(empty_db, period)) == [
        ("registered", 0, 0.0, 0.0, 0),
        ("attended", 0, 0.0, 0.0, 0),
        ("booked", 0, 0.0, 0.0, 0),
        ("paid", 0, 0.0, 0.0, 0),
    ]
