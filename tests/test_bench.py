"""`python -m hsl bench` (SPEC §9) and the demo load it starts, which no statement timeout binds."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from sqlalchemy import func, select

from hsl import bench, demo, migrate
from hsl.db import make_engine
from hsl.schema import events
from tests.fixtures.foundation import run_hsl

NUMBER = r"[\d,]+\.\d"


def table(out: str, first_header: str) -> dict[str, str]:
    """The rows of the printed table whose header starts with `first_header`, by first cell."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [first_header])
    rows = {}
    for line in lines[start + 1:]:
        if not line.strip() or line.startswith("("):
            break
        rows[line.split()[0]] = line
    return rows


@pytest.fixture
def pg_url(database_factory) -> str:
    """A new, empty PostgreSQL database (dropped after the session)."""
    return database_factory("postgresql")


def test_demo_load_is_not_bound_by_the_page_statement_timeout(pg_url):
    # The pages' timeout (HSL_STATEMENT_TIMEOUT_MS, 30 s by default) once cancelled the
    # COPY and VACUUM of a large demo; 1 ms cancels any statement of even a small one.
    migrate.upgrade(make_engine(pg_url))
    engine = make_engine(pg_url, statement_timeout_ms=1)
    counts = demo.load(engine, demo.DemoSize(users=300, events=5000, seed=7))
    assert counts["events"] == 5000
    assert engine.pool.checkedin() == 0  # the load used an engine of its own
    engine.dispose()
    check = make_engine(pg_url)
    with check.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar() == 5000
    check.dispose()


def test_demo_writes_events_in_chunks_the_same_rows():
    size = demo.DemoSize(users=200, events=3000, seed=7)
    whole = demo.build(size)["events"]
    _, compact = demo.build_compact(size)
    parts = list(compact.chunks(rows=700))
    assert [len(p) for p in parts] == [700, 700, 700, 700, 200]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)


def test_bench_prints_a_row_per_report_with_numbers_and_a_ratio(pg_url):
    result = run_hsl("bench", "--db", pg_url, "--users", "60", "--events", "600",
                     "--repeat", "1", "--tz", "Europe/Moscow")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"Demo load: \d+\.\d s \(", out), out
    reports, pages = table(out, "report"), table(out, "page")
    for name in bench.REPORT_ORDER:
        row = reports.get(name, "")
        assert re.match(rf"{re.escape(name)}\s+{NUMBER}\s+{NUMBER}\s+\d+\.\d\d\s", row), (
            name, out)
        assert row.rstrip().endswith("yes"), row  # the baseline gave the same rows
    for script in bench.page_scripts():  # every page: first load, cached rerun, drawn fine
        page = script.removeprefix("pages/").removesuffix(".py")
        assert re.match(rf"{page}\s+{NUMBER}\s+{NUMBER}\s+ok$", pages.get(page, "")), out
    assert re.search(r"App process after all pages: [\d,]+ MB resident", out), out
    assert "Targets (SPEC §9):" in out


@pytest.mark.parametrize("url", [
    "postgresql://nobody@127.0.0.1:1/none",
    "sqlite:////tmp/hsl-bench-no-such-file.sqlite",
])
def test_bench_on_a_bad_database_exits_2_with_one_sentence(url):
    result = run_hsl("bench", "--db", url, "--no-pages")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].endswith("."), result.stderr


def test_bench_never_fills_an_empty_database_unasked(pg_url):
    result = run_hsl("bench", "--db", pg_url, "--no-pages")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("The database is empty; give --users and --events")
    assert len(result.stderr.splitlines()) == 1
