"""kpis and growth against the hand-counted foundation dataset, in UTC and Europe/Moscow."""

from __future__ import annotations

from datetime import date

import pytest

from hsl.filters import Period
from hsl.metrics.overview import KPI_COLUMNS, growth, kpis
from hsl.reports import run_report
from tests.conftest import loaded_engine
from tests.fixtures import utc
from tests.fixtures.foundation import (
    MOSCOW,
    NOW,
    ROWS,
    moscow_period,
    records,
    utc_period,
)


@pytest.fixture(scope="module")
def db(module_engine):
    return module_engine(ROWS)


def test_kpis_utc(db):
    frame = kpis(db, utc_period())
    assert list(frame.columns) == KPI_COLUMNS
    # known: all 12 people (C events-only, D bookings-only, E users-only included).
    # new: B; D F G; C H I; E L = 9 (A, J, K were first seen before 2026-11-01 UTC).
    # registrations: A, B×2, F, G, H, I, L = 8 rows by 7 people (J's is in October).
    # bookings in range: A×2 (paid), B (cancelled), D (status 5), F (paid), G (pending),
    # I (paid): active = 6 by A D F G I; paid = 4 by A F I.
    assert records(frame) == [(12, 9, 8, 7, 6, 5, 4, 3)]


def test_kpis_moscow(db):
    frame = kpis(db, moscow_period())
    # new: K moves in (2026-11-01 00:30 local), so 10.
    # L's registration (11-06 01:00 local) and G's booking (11-06 00:15 local) move out:
    # registrations 7 by 6; active bookings A×2 D F I = 5 by 4; payments unchanged 4 by 3.
    assert records(frame) == [(12, 10, 7, 6, 5, 4, 4, 3)]


def test_kpis_known_users_is_all_time(db):
    frame = kpis(db, Period(date(2027, 1, 1), date(2027, 1, 31), "UTC", NOW))
    assert records(frame) == [(12, 0, 0, 0, 0, 0, 0, 0)]


def test_growth_utc_has_a_date_spine_and_counts_earlier_users(db):
    frame = growth(db, utc_period())
    assert list(frame.columns) == ["day", "new_users", "total_users"]
    # A, J, K were first seen before the range: the total starts at 3.
    assert records(frame) == [
        (date(2026, 11, 1), 1, 4),   # B
        (date(2026, 11, 2), 3, 7),   # D F G
        (date(2026, 11, 3), 3, 10),  # C (21:30 UTC) H I
        (date(2026, 11, 4), 0, 10),  # nobody: still a row
        (date(2026, 11, 5), 2, 12),  # E L
    ]
    assert all(type(d) is date for d in frame["day"])


def test_growth_moscow_moves_the_midnight_users(db):
    frame = growth(db, moscow_period())
    # Before the range only A and J; K joins on 11-01 and C on 11-04 in Moscow.
    assert records(frame) == [
        (date(2026, 11, 1), 2, 4),   # K B
        (date(2026, 11, 2), 3, 7),   # D F G
        (date(2026, 11, 3), 2, 9),   # H I
        (date(2026, 11, 4), 1, 10),  # C
        (date(2026, 11, 5), 2, 12),  # E L
    ]


def test_growth_after_the_last_user_is_flat(db):
    frame = growth(db, Period(date(2026, 11, 6), date(2026, 11, 8), "UTC", NOW))
    assert records(frame) == [
        (date(2026, 11, 6), 0, 12),
        (date(2026, 11, 7), 0, 12),
        (date(2026, 11, 8), 0, 12),
    ]


def test_growth_single_day(db):
    frame = growth(db, Period(date(2026, 11, 3), date(2026, 11, 3), "UTC", NOW))
    assert records(frame) == [(date(2026, 11, 3), 3, 10)]


def test_kpis_on_empty_database(empty_db):
    frame = kpis(empty_db, utc_period())
    assert list(frame.columns) == KPI_COLUMNS
    assert records(frame) == [(0, 0, 0, 0, 0, 0, 0, 0)]


def test_growth_on_empty_database(empty_db):
    frame = growth(empty_db, Period(date(2026, 11, 1), date(2026, 11, 3), MOSCOW, NOW))
    assert list(frame.columns) == ["day", "new_users", "total_users"]
    assert records(frame) == [
        (date(2026, 11, 1), 0, 0), (date(2026, 11, 2), 0, 0), (date(2026, 11, 3), 0, 0),
    ]


@pytest.mark.parametrize("name", ["kpis", "growth"])
def test_registry_gives_the_spec_columns(db, name):
    columns = {
        "kpis": KPI_COLUMNS,
        "growth": ["day", "new_users", "total_users"],
    }[name]
    assert list(run_report(db, name, utc_period()).columns) == columns


def test_user_without_any_timestamp_is_known_but_never_new(backend, database_factory):
    # 1: a bare users row (first_seen_at NULL, nothing else); 2: first seen 2026-11-02.
    rows = {"users": [{"user_id": 1, "first_seen_at": None},
                      {"user_id": 2, "first_seen_at": utc("2026-11-02 10:00")}]}
    engine = loaded_engine(backend, database_factory, rows)
    period = Period(date(2026, 11, 1), date(2026, 11, 3), "UTC", NOW)
    assert records(kpis(engine, period)) == [(2, 1, 0, 0, 0, 0, 0, 0)]
    assert records(growth(engine, period)) == [
        (date(2026, 11, 1), 0, 0), (date(2026, 11, 2), 1, 1), (date(2026, 11, 3), 0, 1),
    ]
    engine.dispose()
