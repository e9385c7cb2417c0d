"""The demo generator: deterministic, realistic, loaded in bulk, never over real data."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
import pytest
from sqlalchemy import distinct, func, select, union
from sqlalchemy.engine import Engine

from hsl import demo, migrate
from hsl.db import day_of, json_field, make_engine
from hsl.filters import Period
from hsl.reports import run_report
from hsl.schema import bookings, events, free_lesson_registrations, metadata, users
from tests.fixtures.foundation import run_hsl

ANCHOR = date(2026, 11, 25)
SIZE = demo.DemoSize(users=3000, events=60_000, seed=42, anchor=ANCHOR)
FOUNDATION_REPORTS = ["kpis", "growth", "attendance", "attendance-by-date", "funnel"]


def fresh(backend: str, database_factory) -> Engine:
    """A migrated database, as `python -m hsl init-db` leaves it (foreign keys included)."""
    engine = make_engine(database_factory(backend))
    migrate.upgrade(engine)
    return engine


def table_hash(engine: Engine) -> str:
    """SHA-256 over every row of the four bot tables, read back in primary-key order."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for name in ("users", "free_lesson_registrations", "bookings", "events"):
            table = metadata.tables[name]
            for row in conn.execute(select(table).order_by(*table.primary_key.columns)):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def scalar(engine: Engine, stmt):
    with engine.connect() as conn:
        return conn.execute(stmt).scalar()


def values(engine: Engine, stmt) -> set:
    with engine.connect() as conn:
        return set(conn.execute(stmt).scalars())


@pytest.fixture(scope="module")
def demo_db(backend, database_factory):
    engine = fresh(backend, database_factory)
    demo.load(engine, SIZE)
    yield engine
    engine.dispose()


# ------------------------------------------------------------------ determinism


def test_same_seed_and_anchor_build_identical_rows():
    small = demo.DemoSize(users=200, events=3000, seed=7, anchor=ANCHOR)
    first, second = demo.build(small), demo.build(small)
    assert list(first) == ["users", "free_lesson_registrations", "bookings", "events"]
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name])


def test_different_seed_or_anchor_builds_different_rows():
    base = demo.build(demo.DemoSize(users=200, events=3000, seed=7, anchor=ANCHOR))
    other_seed = demo.build(demo.DemoSize(users=200, events=3000, seed=8, anchor=ANCHOR))
    later = demo.build(demo.DemoSize(users=200, events=3000, seed=7,
                                     anchor=ANCHOR + timedelta(days=1)))
    assert not base["events"].equals(other_seed["events"])
    assert not base["users"]["user_id"].equals(other_seed["users"]["user_id"])
    assert base["events"]["created_at"].max() < later["events"]["created_at"].max()


def test_same_seed_loads_identical_tables(backend, database_factory):
    small = demo.DemoSize(users=300, events=5000, seed=7, anchor=ANCHOR)
    engines = [fresh(backend, database_factory) for _ in range(3)]
    for engine, size in zip(engines, [small, small, replace(small, seed=8)], strict=True):
        demo.load(engine, size)
    first, twin, other = (table_hash(e) for e in engines)
    assert first == twin
    assert first != other
    for engine in engines:
        engine.dispose()


def test_load_reports_row_counts(demo_db):
    # Every event requested is written (start commands and clicks included).
    assert scalar(demo_db, select(func.count()).select_from(events)) == SIZE.events


# ---------------------------------------------------------------------- content


def test_several_lesson_types(demo_db):
    lessons = values(demo_db, select(free_lesson_registrations.c.lesson_type).distinct())
    assert len(lessons) >= 3


def test_streams_include_one_and_two_digit_numbers(demo_db):
    streams = values(demo_db, select(bookings.c.course_stream).distinct())
    assert {"2nd_stream", "10th_stream"} <= streams


def test_all_four_statuses_and_an_unknown_one(demo_db):
    statuses = values(demo_db, select(bookings.c.confirmed).distinct())
    assert {-1, 0, 1, 2} <= statuses
    assert statuses - {-1, 0, 1, 2}, "no unknown status for the 'unknown (N)' label"


def test_messy_rows_exist(demo_db):
    assert scalar(demo_db, select(func.count()).where(users.c.username.is_(None))) > 0
    assert scalar(demo_db, select(func.count()).where(events.c.details.is_(None))) > 0
    clicks_without_type = select(func.count()).where(
        events.c.event_type == "lesson_link_clicked",
        events.c.details.is_not(None),
        json_field(events.c.details, "lesson_type").is_(None),
    )
    assert scalar(demo_db, clicks_without_type) > 0
    assert scalar(demo_db, select(func.max(users.c.user_id))) > 2**31


def test_events_only_users(demo_db, backend):
    others = union(select(users.c.user_id), select(bookings.c.user_id),
                   select(free_lesson_registrations.c.user_id)).subquery()
    orphans = scalar(demo_db, select(func.count(distinct(events.c.user_id))).where(
        events.c.user_id.not_in(select(others.c.user_id))))
    if backend == "sqlite":
        assert orphans > 0
    else:
        # Enforced foreign keys: each events-only person gets a bare users row instead.
        assert orphans == 0
        bare = select(func.count()).where(users.c.username.is_(None),
                                          users.c.first_name.is_(None),
                                          users.c.language_code.is_(None))
        assert scalar(demo_db, bare) > 0


def test_activity_spreads_over_months(demo_db):
    day = day_of(events.c.created_at, "UTC").label("day")
    with demo_db.connect() as conn:
        days = [r[0] for r in conn.execute(select(day).group_by(day))]
    months = {(d.year, d.month) for d in days}
    assert len(months) >= 5
    assert max(days) <= ANCHOR
    # Each of the last 60 days has activity: charts of a recent range have no holes.
    assert set(days) >= {ANCHOR - timedelta(days=i) for i in range(1, 61)}


def test_foundation_reports_have_shape_on_demo_data(demo_db):
    period = Period(ANCHOR - timedelta(days=29), ANCHOR, "Europe/Moscow")
    kpis = run_report(demo_db, "kpis", period).iloc[0]
    assert kpis["known_users"] >= kpis["new_users"] > 0
    assert kpis["registrations"] >= kpis["registrants"] > 0
    assert kpis["active_bookings"] >= kpis["confirmed_payments"] > 0
    attendance = run_report(demo_db, "attendance", period)
    assert len(attendance) >= 3
    assert ((attendance["attendance_rate"] > 0) & (attendance["attendance_rate"] <= 1)).all()
    funnel = run_report(demo_db, "funnel", period)
    assert (funnel["users"] > 0).all()
    for name in FOUNDATION_REPORTS:
        assert not run_report(demo_db, name, period).isna().any().any(), name


# ------------------------------------------------------------------------- CLI


def test_demo_refuses_a_database_with_data(demo_db):
    url = demo_db.url.render_as_string(hide_password=False)
    result = run_hsl("demo", "--db", url, "--users", "10", "--events", "10")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "The database already holds data; the demo only fills an empty one.\n"
    )


def test_demo_command_fills_an_empty_database(database_factory):
    url = database_factory("sqlite")
    result = run_hsl("demo", "--db", url, "--users", "50", "--events", "500",
                     "--seed", "3", "--anchor", "2026-11-25")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Loaded demo data (")
    engine = make_engine(url)
    assert scalar(engine, select(func.count()).select_from(events)) == 500
    assert migrate.is_current(engine)
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--users", "5"], "The demo needs at least 10 users and one event per user.\n"),
        (["--anchor", "tomorrow"], "--anchor 'tomorrow' is not a date; use YYYY-MM-DD.\n"),
    ],
)
def test_demo_bad_arguments(database_factory, args, sentence):
    result = run_hsl("demo", "--db", database_factory("sqlite"), *args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", sentence)
