"""`python -m hsl bench`: the project's reports next to straightforward SQL, and page loads.

SPEC §9 sets the targets on the PostgreSQL demo (100k users, 2M events): every report in
at most 0.3× the time of a straightforward SQL over the raw tables, timed side by side in
one run; every page's first load under 0.5 s and a cached rerun under 50 ms; the app
process under 500 MB after every page; a CSV of 100k rows under 2 s; a summary refresh
after 10k new events under 1 s. This module measures each of them and prints the numbers.

- Reports: for each one a plain SQL statement that computes the same rows the naive way
  (first seen by UNION ALL of the four tables and GROUP BY, per-user aggregates over all
  events, no summary tables), written for PostgreSQL; the bench refuses SQLite. Baseline
  and ours (`hsl.reports.run_report`, no cache) run interleaved, the order alternating
  run by run, and the median of `--repeat` runs of each is printed with their ratio
  (ours / baseline) and whether both gave the same rows.
- Pages: every page of app.py through Streamlit's AppTest, in a fresh child process (so
  its memory is the app's, not the bench's): the first load with empty data caches (the
  engine, imports and one warm-up run already done, as on a running server) and a
  cached rerun, each the median of PAGE_ROUNDS rounds (a single load varied by a factor
  of two on a shared machine); then that process's resident memory.
- CSV: the Audience export of everyone (analyst's download), query and CSV text timed.
- Summaries: `hsl.summaries.refresh(engine, tz=...)` when that package exists: one
  refresh, then one after 10,000 new events (written and deleted again only on a
  database the bench filled itself in this run).

With `--users/--events` and an empty database the demo is loaded first (timed); an empty
database without them is refused, and a database with data is benchmarked as it is.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from hsl import bootstrap, demo, export, migrate
from hsl.config import check_timezone, load_settings
from hsl.db import check_connection, make_engine, normalize_url, reading, safe_url
from hsl.errors import QueryTimeout, ValidationError
from hsl.filters import DEFAULT_RANGE_DAYS, Period
from hsl.metrics.common import plain_rows
from hsl.metrics.leads import DEFAULT_RULES
from hsl.metrics.retention import monday
from hsl.reports import run_report
from hsl.schema import bookings, events, status_word
from hsl.summaries import raw_path
from hsl.summaries.refresh import refresh

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP = PROJECT_DIR / "app.py"
# The SPEC §9 demo, loaded when the database is empty and no size is given.
DEFAULT_USERS = 100_000
DEFAULT_EVENTS = 2_000_000
REFRESH_EVENTS = 10_000
PAGE_ROUNDS = 3  # first load and rerun of each page: the median of this many rounds
# SPEC §9's targets.
MAX_RATIO = 0.30
MAX_FIRST_LOAD_MS = 500
MAX_RERUN_MS = 50
MAX_RSS_MB = 500
MAX_CSV_MS = 2000
MAX_REFRESH_MS = 1000

# ---------------------------------------------------------------- the baseline SQL

# Every known user and the earliest timestamp in any of the four tables.
_FIRST_SEEN = """
    seen AS (
        SELECT user_id, min(ts) AS first_seen
        FROM (
            SELECT user_id, first_seen_at AS ts FROM users
            UNION ALL SELECT user_id, created_at FROM bookings
            UNION ALL SELECT user_id, created_at FROM events
            UNION ALL SELECT user_id, registered_at FROM free_lesson_registrations
        ) AS every_timestamp
        GROUP BY user_id
    )"""

# The user's name: their users row, else their newest registration.
_NAMES = """
    coalesce(u.username, (SELECT r.username FROM free_lesson_registrations r
                          WHERE r.user_id = {uid}
                          ORDER BY r.registered_at DESC, r.id DESC LIMIT 1)) AS username,
    coalesce(u.first_name, (SELECT r.first_name FROM free_lesson_registrations r
                            WHERE r.user_id = {uid}
                            ORDER BY r.registered_at DESC, r.id DESC LIMIT 1)) AS first_name"""

_ATTENDED = """EXISTS (
            SELECT 1 FROM events e
            WHERE e.user_id = r.user_id AND e.event_type = 'lesson_link_clicked'
              AND e.details ->> 'lesson_type' = r.lesson_type)"""

BASELINE_SQL: dict[str, str] = {
    "kpis": f"""
WITH {_FIRST_SEEN}
SELECT
    (SELECT count(*) FROM seen) AS known_users,
    (SELECT count(*) FROM seen WHERE first_seen >= :utc_start AND first_seen < :utc_end)
        AS new_users,
    (SELECT count(*) FROM free_lesson_registrations
     WHERE registered_at >= :utc_start AND registered_at < :utc_end) AS registrations,
    (SELECT count(DISTINCT user_id) FROM free_lesson_registrations
     WHERE registered_at >= :utc_start AND registered_at < :utc_end) AS registrants,
    (SELECT count(*) FROM bookings
     WHERE confirmed <> -1 AND created_at >= :utc_start AND created_at < :utc_end)
        AS active_bookings,
    (SELECT count(DISTINCT user_id) FROM bookings
     WHERE confirmed <> -1 AND created_at >= :utc_start AND created_at < :utc_end)
        AS active_booking_users,
    (SELECT count(*) FROM bookings
     WHERE confirmed = 2 AND created_at >= :utc_start AND created_at < :utc_end)
        AS confirmed_payments,
    (SELECT count(DISTINCT user_id) FROM bookings
     WHERE confirmed = 2 AND created_at >= :utc_start AND created_at < :utc_end)
        AS paying_users
""",
    "growth": f"""
WITH {_FIRST_SEEN},
    per_day AS (
        SELECT (first_seen AT TIME ZONE :tz)::date AS day, count(*) AS users
        FROM seen WHERE first_seen IS NOT NULL GROUP BY 1
    ),
    spine AS (SELECT generate_series(:start_date, :end_date, interval '1 day')::date AS day)
SELECT s.day,
       coalesce(p.users, 0) AS new_users,
       (SELECT coalesce(sum(q.users), 0) FROM per_day q WHERE q.day <= s.day) AS total_users
FROM spine s LEFT JOIN per_day p ON p.day = s.day
ORDER BY s.day
""",
    "attendance": f"""
SELECT r.lesson_type,
       count(DISTINCT r.user_id) AS registrants,
       count(DISTINCT r.user_id) FILTER (WHERE {_ATTENDED}) AS attended
FROM free_lesson_registrations r
WHERE r.registered_at >= :utc_start AND r.registered_at < :utc_end
GROUP BY r.lesson_type
ORDER BY r.lesson_type
""",
    "funnel": f"""
WITH cohort AS (
        SELECT r.user_id, bool_or({_ATTENDED}) AS attended
        FROM free_lesson_registrations r
        WHERE r.registered_at >= :utc_start AND r.registered_at < :utc_end
        GROUP BY r.user_id
    ),
    people AS (
        SELECT c.attended,
               EXISTS (SELECT 1 FROM bookings b
                       WHERE b.user_id = c.user_id AND b.confirmed <> -1) AS booked,
               EXISTS (SELECT 1 FROM bookings b
                       WHERE b.user_id = c.user_id AND b.confirmed = 2) AS paid
        FROM cohort c
    )
SELECT count(*) AS registered,
       count(*) FILTER (WHERE attended) AS attended,
       count(*) FILTER (WHERE attended AND booked) AS booked,
       count(*) FILTER (WHERE attended AND booked AND paid) AS paid,
       count(*) FILTER (WHERE booked) AS open_booked,
       count(*) FILTER (WHERE paid) AS open_paid
FROM people
""",
    "activity": """
WITH per_day AS (
        SELECT (created_at AT TIME ZONE :tz)::date AS day,
               count(*) AS events, count(DISTINCT user_id) AS active_users
        FROM events
        WHERE created_at >= :utc_start AND created_at < :utc_end
        GROUP BY 1
    )
SELECT d.day::date AS day, coalesce(p.events, 0) AS events,
       coalesce(p.active_users, 0) AS active_users
FROM generate_series(:start_date, :end_date, interval '1 day') AS d(day)
LEFT JOIN per_day p ON p.day = d.day::date
ORDER BY 1
""",
    "event-types": """
SELECT event_type, count(*) AS events,
       count(*)::float8 / sum(count(*)) OVER () AS share
FROM events
WHERE created_at >= :utc_start AND created_at < :utc_end
GROUP BY event_type
ORDER BY events DESC, event_type
""",
    "streams": """
SELECT course_stream,
       count(*) AS bookings,
       count(*) FILTER (WHERE confirmed = 0) AS new,
       count(*) FILTER (WHERE confirmed = 1) AS pending,
       count(*) FILTER (WHERE confirmed = 2) AS confirmed,
       count(*) FILTER (WHERE confirmed = -1) AS cancelled,
       count(DISTINCT user_id) AS students,
       count(*) FILTER (WHERE confirmed = 2)::float8 / count(*) AS paid_rate,
       count(*) FILTER (WHERE confirmed = -1)::float8 / count(*) AS cancel_rate
FROM bookings
GROUP BY course_stream
""",
    "roster": f"""
SELECT b.user_id, {_NAMES.format(uid="b.user_id")},
       b.confirmed AS status,
       (SELECT count(*) FROM events e WHERE e.user_id = b.user_id) AS events,
       (SELECT max(e.created_at) FROM events e WHERE e.user_id = b.user_id) AS last_activity
FROM (SELECT DISTINCT ON (user_id) user_id, confirmed
      FROM bookings WHERE course_stream = :stream
      ORDER BY user_id, created_at DESC, id DESC) AS b
LEFT JOIN users u ON u.user_id = b.user_id
ORDER BY b.user_id
""",
    "leads": f"""
WITH candidates AS (
        SELECT DISTINCT r.user_id FROM free_lesson_registrations r
        WHERE NOT EXISTS (SELECT 1 FROM bookings b
                          WHERE b.user_id = r.user_id AND b.confirmed = 2)
    ),
    in_window AS (
        SELECT user_id, count(*) AS events,
               count(DISTINCT (created_at AT TIME ZONE :tz)::date) AS active_days
        FROM events WHERE created_at > :since AND created_at <= :now
        GROUP BY user_id
    ),
    latest AS (
        SELECT user_id, max(created_at) AS last_activity
        FROM events WHERE created_at <= :now GROUP BY user_id
    ),
    scored AS (
        SELECT c.user_id, coalesce(w.events, 0) AS events,
               coalesce(w.active_days, 0) AS active_days, l.last_activity,
               CASE WHEN coalesce(w.events, 0) >= :hot_events
                         AND coalesce(w.active_days, 0) >= :hot_days THEN 'hot'
                    WHEN coalesce(w.events, 0) >= :warm_events
                         AND coalesce(w.active_days, 0) >= :warm_days THEN 'warm'
                    WHEN coalesce(w.events, 0) >= :cool_events THEN 'cool'
                    ELSE 'cold' END AS tier
        FROM candidates c
        LEFT JOIN in_window w ON w.user_id = c.user_id
        LEFT JOIN latest l ON l.user_id = c.user_id
    )
SELECT s.user_id, {_NAMES.format(uid="s.user_id")},
       s.events, s.active_days, s.last_activity, s.tier
FROM scored s LEFT JOIN users u ON u.user_id = s.user_id
ORDER BY CASE s.tier WHEN 'hot' THEN 0 WHEN 'warm' THEN 1 WHEN 'cool' THEN 2 ELSE 3 END,
         s.events DESC, s.last_activity DESC NULLS LAST, s.user_id
""",
    "retention": f"""
WITH {_FIRST_SEEN},
    cohort AS (
        SELECT user_id, date_trunc('week', first_seen AT TIME ZONE :tz)::date AS cohort_week
        FROM seen
        WHERE date_trunc('week', first_seen AT TIME ZONE :tz)::date
              BETWEEN :start_date AND :end_date
    ),
    weekly AS (
        SELECT DISTINCT user_id, date_trunc('week', created_at AT TIME ZONE :tz)::date AS week
        FROM events
        WHERE created_at >= (:first_cohort)::timestamp AT TIME ZONE :tz
          AND created_at < (:after_last_week)::timestamp AT TIME ZONE :tz
    ),
    sizes AS (SELECT cohort_week, count(*) AS cohort_size FROM cohort GROUP BY cohort_week),
    came_back AS (
        SELECT c.cohort_week, w.week, count(*) AS users
        FROM cohort c JOIN weekly w ON w.user_id = c.user_id
        GROUP BY c.cohort_week, w.week
    ),
    weeks AS (
        SELECT generate_series(:first_cohort, :last_week, interval '7 days')::date AS week
    )
SELECT s.cohort_week, (k.week - s.cohort_week) / 7 AS week_offset, s.cohort_size,
       coalesce(b.users, 0) AS active_users,
       coalesce(b.users, 0)::float8 / s.cohort_size AS retention
FROM sizes s
JOIN weeks k ON k.week >= s.cohort_week
LEFT JOIN came_back b ON b.cohort_week = s.cohort_week AND b.week = k.week
ORDER BY s.cohort_week, week_offset
""",
}


def _params(period: Period, stream: str | None) -> dict[str, object]:
    """The bound values of the baseline SQL for `period`."""
    rules = DEFAULT_RULES
    first_cohort = monday(period.start + timedelta(days=6))
    last_week = monday(period.end)
    return {
        "tz": period.tz, "utc_start": period.utc_start, "utc_end": period.utc_end,
        "start_date": period.start, "end_date": period.end, "now": period.now,
        "since": period.now - timedelta(days=rules.window_days), "stream": stream,
        "first_cohort": first_cohort, "last_week": last_week,
        "after_last_week": last_week + timedelta(days=7),
        "hot_events": rules.hot_events, "hot_days": rules.hot_days,
        "warm_events": rules.warm_events, "warm_days": rules.warm_days,
        "cool_events": rules.cool_events,
    }


def _rate(num: pd.Series, den: pd.Series) -> pd.Series:
    den = den.astype("float64")
    return (num.astype("float64") / den.where(den != 0)).fillna(0.0)


def _shape(name: str, frame: pd.DataFrame, period: Period) -> pd.DataFrame:
    """The baseline's rows in the report's columns (for the 'same rows' check; not timed)."""
    if name == "attendance":
        frame["attendance_rate"] = _rate(frame["attended"], frame["registrants"])
    elif name == "funnel":
        row = frame.iloc[0]
        closed = [int(row[s]) for s in ("registered", "attended", "booked", "paid")]
        frame = pd.DataFrame({
            "step": ["registered", "attended", "booked", "paid"], "users": closed,
            "pct_of_first": [n / closed[0] if closed[0] else 0.0 for n in closed],
            "pct_of_previous": [n / p if p else 0.0
                                for n, p in zip(closed, [closed[0], *closed[:-1]], strict=True)],
            "open_users": [closed[0], closed[1], int(row["open_booked"]), int(row["open_paid"])],
        })
    elif name == "roster":
        frame["status"] = [status_word(int(c)) for c in frame["status"]]
    if "last_activity" in frame:
        frame["last_activity"] = pd.to_datetime(frame["last_activity"], utc=True)
    return frame


def _canon(frame: pd.DataFrame) -> list[tuple]:
    """Rows as sortable text: floats to 9 places, instants in UTC, nulls as ''."""
    columns = []
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_float_dtype(col):
            columns.append([f"{v:.9f}" for v in col.fillna(0.0)])
        elif name in ("last_activity",):
            stamps = pd.to_datetime(col, utc=True)
            columns.append(["" if pd.isna(v) else v.isoformat() for v in stamps])
        else:
            columns.append(["" if v is None or (not isinstance(v, str) and pd.isna(v))
                            else str(v.isoformat() if isinstance(v, date) else int(v)
                                     if isinstance(v, np.integer) else v) for v in col])
    return sorted(zip(*columns, strict=True)) if columns else []


def same_rows(ours: pd.DataFrame, baseline: pd.DataFrame) -> bool:
    """True when both frames hold the same rows in the report's columns (order aside)."""
    cols = list(ours.columns)
    if any(c not in baseline.columns for c in cols):
        return False
    return _canon(ours[cols].reset_index(drop=True)) == _canon(
        baseline[cols].reset_index(drop=True))


# ---------------------------------------------------------------- timing


@dataclass
class ReportTiming:
    name: str
    baseline_ms: float | None
    ours_ms: float | None
    same: bool | None
    note: str = ""
    raw_ms: float | None = None  # ours inside hsl.summaries.raw_path() (no summaries)

    @property
    def ratio(self) -> float | None:
        if self.baseline_ms and self.ours_ms is not None:
            return self.ours_ms / self.baseline_ms
        return None


@dataclass
class BenchResult:
    reports: list[ReportTiming] = field(default_factory=list)
    pages: list[dict] = field(default_factory=list)
    rss_mb: float | None = None
    peak_rss_mb: float | None = None
    csv: dict | None = None
    refresh: dict | None = None


def _ms(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return (time.perf_counter() - started) * 1000, value


def _baseline(engine: Engine, sql: str, params: dict) -> pd.DataFrame:
    stmt = text(sql)
    used = {k: v for k, v in params.items() if f":{k}" in sql}
    with reading(engine) as conn:
        result = conn.execute(stmt, used)  # fetched as ours are (hsl.metrics.common)
        return pd.DataFrame(plain_rows(result), columns=list(result.keys()))


REPORT_ORDER = ("kpis", "growth", "attendance", "leads", "activity",
                "funnel", "event-types", "retention", "streams", "roster")


def biggest_stream(engine: Engine) -> str | None:
    """The stream with the most bookings (the roster report's --stream)."""
    b = bookings.c
    stmt = (select(b.course_stream).where(b.course_stream.is_not(None))
            .group_by(b.course_stream).order_by(func.count().desc(), b.course_stream).limit(1))
    with reading(engine) as conn:
        return conn.execute(stmt).scalar()


def time_reports(engine: Engine, period: Period, repeat: int, progress: Callable[[str], None],
                 raw_path: Callable | None = None) -> list[ReportTiming]:
    """Baseline and ours per report, interleaved (order alternating), medians of `repeat`.

    With `raw_path` (hsl.summaries.raw_path) ours is also timed without the summaries.
    """
    stream = biggest_stream(engine)
    params = _params(period, stream)
    out = []
    for name in REPORT_ORDER:
        options = {"stream": stream} if name == "roster" else {}
        if name == "roster" and stream is None:
            out.append(ReportTiming(name, None, None, None, "no stream to show"))
            continue
        sql = BASELINE_SQL[name]
        times: dict[str, list[float]] = {"baseline": [], "ours": [], "raw": []}
        last: dict[str, pd.DataFrame] = {}
        note = ""
        runs = {
            "baseline": lambda sql=sql: _baseline(engine, sql, params),
            "ours": lambda name=name, options=options: run_report(
                engine, name, period, **options),
        }
        if raw_path is not None:
            runs["raw"] = lambda name=name, options=options: _raw(
                raw_path, engine, name, period, options)
        for i in range(repeat):
            order = list(runs) if i % 2 == 0 else list(reversed(runs))
            for which in order:
                try:
                    took, frame = _ms(runs[which])
                except QueryTimeout:
                    note = f"{which} hit the statement timeout"
                    continue
                times[which].append(took)
                last[which] = frame
        same = None
        if "ours" in last and "baseline" in last:
            same = same_rows(last["ours"], _shape(name, last["baseline"].copy(), period))
            if "raw" in last and not same_rows(last["ours"], last["raw"]):
                note = "ours differs from its own raw path"
        medians = {k: statistics.median(v) if v else None for k, v in times.items()}
        timing = ReportTiming(name, medians["baseline"], medians["ours"], same, note,
                              medians["raw"])
        progress(f"{name}: baseline {_fmt(timing.baseline_ms)} ms, ours "
                 f"{_fmt(timing.ours_ms)} ms")
        out.append(timing)
    return out


def _raw(raw_path: Callable, engine: Engine, name: str, period: Period,
         options: dict) -> pd.DataFrame:
    with raw_path():
        return run_report(engine, name, period, **options)


# ---------------------------------------------------------------- pages (child process)


def page_scripts() -> list[str]:
    """Every page of app.py, as listed in its PAGES (relative paths such as pages/funnel.py)."""
    return sorted(str(p.relative_to(PROJECT_DIR)) for p in (PROJECT_DIR / "pages").glob("*.py"))


def _pages_child(url: str, tz: str, scripts: list[str], queue) -> None:
    """In a fresh process: first load and cached rerun of every page, then the RSS."""
    try:
        queue.put(_measure_pages(url, tz, scripts))
    except BaseException as err:  # noqa: BLE001 - reported as one sentence by the parent
        queue.put({"error": f"{type(err).__name__}: {err}"})


def _measure_pages(url: str, tz: str, scripts: list[str]) -> dict:
    os.environ.update({"DATABASE_URL": url, "HSL_AUTH_DISABLED": "1",
                       "HSL_AUTH_DISABLED_ROLE": "admin", "HSL_TIMEZONE": tz,
                       "HSL_REFRESH_SECONDS": "0"})  # no refresh while pages are timed
    os.chdir(PROJECT_DIR)
    # AppTest's bare mode warns "missing ScriptRunContext" at every page; errors still show.
    logging.disable(logging.WARNING)
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest
    from streamlit.testing.v1 import app_test as app_test_module

    class ServedPagesManager(PagesManager):
        """Run app.py on every rerun, as `streamlit run` does (see tests/pages_support.py)."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    app_test_module.PagesManager = ServedPagesManager

    def shown(at) -> str:
        if at.exception:
            return "exception: " + str(at.exception[0].value).splitlines()[0][:60]
        if at.error:
            return "error: " + str(at.error[0].value).splitlines()[0][:60]
        return "ok"

    # Warm-up: imports, the engine and the schema check, as on a server already running.
    AppTest.from_file(str(APP), default_timeout=300).switch_page(scripts[0]).run()
    rows = []
    for script in scripts:
        firsts, reruns = [], []
        for _ in range(PAGE_ROUNDS):
            st.cache_data.clear()
            at = AppTest.from_file(str(APP), default_timeout=300).switch_page(script)
            first, at = _ms(at.run)
            rerun, at = _ms(at.run)
            firsts.append(first)
            reruns.append(rerun)
        rows.append({"page": Path(script).stem, "first_ms": statistics.median(firsts),
                     "rerun_ms": statistics.median(reruns), "shown": shown(at)})
    return {"pages": rows, "rss_mb": current_rss_mb(), "peak_rss_mb": peak_rss_mb()}


def _proc_status_mb(key: str) -> float | None:
    """A memory line of /proc/self/status (Linux) in MB, None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, IndexError, ValueError):
        pass
    return None


def current_rss_mb() -> float | None:
    """This process's resident memory now (Linux; None elsewhere)."""
    return _proc_status_mb("VmRSS")


def peak_rss_mb() -> float:
    """This process's highest resident memory so far.

    VmHWM, not getrusage's ru_maxrss: a spawned child inherits the parent's ru_maxrss.
    """
    peak = _proc_status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def time_pages(url: str, tz: str) -> dict:
    """Run `_measure_pages` in a fresh spawned process and return what it measured."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_pages_child, args=(url, tz, page_scripts(), queue))
    child.start()
    try:
        result = queue.get(timeout=1800)
    finally:
        child.join(timeout=60)
    return result


# ---------------------------------------------------------------- CSV and summaries


def time_csv(engine: Engine, tz: str) -> dict:
    """The Audience page's CSV of everyone, as an analyst downloads it: query, then CSV."""
    from hsl import audience
    from hsl.auth import Actor

    actor = Actor("bench", "analyst")
    query_ms, rows = _ms(lambda: audience.export_audience(
        engine, actor, audience.AudienceFilter(), tz))
    csv_ms, body = _ms(lambda: export.to_csv_bytes(rows))
    return {"rows": len(rows), "query_ms": query_ms, "csv_ms": csv_ms,
            "total_ms": query_ms + csv_ms, "mb": len(body) / 2**20}


def time_refresh(engine: Engine, tz: str, refresh: Callable, may_write: bool) -> dict:
    """One refresh; then, on a database the bench filled, one after 10k new events."""
    out: dict = {}
    out["first_ms"], _ = _ms(lambda: refresh(engine, tz=tz))
    out["again_ms"], _ = _ms(lambda: refresh(engine, tz=tz))
    if not may_write:
        out["note"] = ("10k new events not written: the bench writes only to a database it "
                       "filled itself")
        return out
    e = events.c
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        top = conn.execute(select(func.max(e.id))).scalar() or 0
        people = [r[0] for r in conn.execute(
            select(e.user_id).distinct().order_by(e.user_id).limit(2000))]
        now = datetime.now().astimezone()
        rng = np.random.default_rng(1)
        conn.execute(events.insert(), [
            {"user_id": int(people[i % len(people)]), "event_type": "menu_opened",
             "created_at": now - timedelta(seconds=int(s)), "details": None}
            for i, s in enumerate(rng.integers(0, 3600, REFRESH_EVENTS))])
    try:
        out["after_10k_ms"], _ = _ms(lambda: refresh(engine, tz=tz))
    finally:
        with engine.begin() as conn:
            conn.execute(events.delete().where(e.id > top))
        out["after_delete_ms"], _ = _ms(lambda: refresh(engine, tz=tz))
    return out


# ---------------------------------------------------------------- the command


def add_bench_parser(sub) -> None:
    """Add `bench` to the `python -m hsl` subcommands."""
    bench = sub.add_parser("bench", help="time the reports against plain SQL, and the pages")
    bench.add_argument("--db", help="a PostgreSQL database URL (default: DATABASE_URL, secrets)")
    bench.add_argument("--users", type=int, help="load a demo of this many people first when "
                       f"the database is empty (default with --events: {DEFAULT_USERS:,})")
    bench.add_argument("--events", type=int, help="load a demo of this many events first when "
                       f"the database is empty (default with --users: {DEFAULT_EVENTS:,})")
    bench.add_argument("--seed", type=int, default=demo.DemoSize.seed)
    bench.add_argument("--repeat", type=int, default=5, help="runs per report (median)")
    bench.add_argument("--tz", help="reporting timezone (default: the app setting)")
    bench.add_argument("--no-pages", action="store_true",
                       help="skip the page loads, memory and CSV")


def _fmt(ms: float | None, digits: int = 1) -> str:
    return "—" if ms is None else f"{ms:,.{digits}f}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                       for i, (h, w) in enumerate(zip(headers, widths, strict=True)))]
    lines += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    return "\n".join(lines)


def _check_args(args: argparse.Namespace) -> None:
    limits = {"--users": (args.users, 1, 1_000_000), "--events": (args.events, 1, 10_000_000),
              "--repeat": (args.repeat, 1, 100)}
    for flag, (value, least, most) in limits.items():
        if value is not None and not least <= value <= most:
            raise ValidationError(f"{flag} must be a whole number from {least} to {most}.")
    if args.tz is not None:
        check_timezone(args.tz)


def run(args: argparse.Namespace, out=sys.stdout) -> int:
    """Run the bench for parsed `args`; print the tables; return the exit status."""
    _check_args(args)
    settings = load_settings(args.db)
    tz = args.tz or settings.timezone
    if normalize_url(settings.database_url).get_backend_name() != "postgresql":
        raise ValidationError("The bench's baseline SQL is written for PostgreSQL; give --db "
                              "(or DATABASE_URL) a postgresql:// database.")
    engine = make_engine(settings.database_url, settings.statement_timeout_ms)
    check_connection(engine)

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    empty = demo.is_empty(engine)
    if empty and args.users is None and args.events is None:
        raise ValidationError(
            "The database is empty; give --users and --events to load the demo first "
            f"(SPEC §9: --users {DEFAULT_USERS} --events {DEFAULT_EVENTS}).")
    with engine.connect() as conn:
        server = conn.exec_driver_sql("SHOW server_version").scalar()
    say(f"HSL bench on {safe_url(engine.url)} (PostgreSQL {server}), timezone {tz}")
    filled = False
    if empty:
        size = demo.DemoSize(args.users or DEFAULT_USERS, args.events or DEFAULT_EVENTS,
                             args.seed)
        migrate.upgrade(engine)
        say(f"Loading the demo ({size.users:,} users, {size.events:,} events)…")
        took, counts = _ms(lambda: demo.load(engine, size))
        rows = ", ".join(f"{n:,} {t}" for t, n in counts.items())
        say(f"Demo load: {took / 1000:.1f} s ({rows}); peak memory of the bench so far "
            f"{peak_rss_mb():,.0f} MB.")
        filled = True
    else:
        if args.users or args.events:
            say("The database already holds data: --users/--events ignored, benchmarking it "
                "as it is.")
        bootstrap.prepare(engine, is_demo=False)
    with reading(engine) as conn:
        n_events = conn.execute(select(func.count()).select_from(events)).scalar()
        n_users = conn.execute(text("SELECT count(*) FROM users")).scalar()
    say(f"Data: {n_users:,} users rows, {n_events:,} events.")

    result = BenchResult()
    try:
        result.refresh = time_refresh(engine, tz, refresh, may_write=filled)
    except Exception as err:  # noqa: BLE001 - the rest of the bench still runs
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0][:200]
        say(f"Summaries: the refresh failed ({type(err).__name__}: {reason}).")
    else:
        r = result.refresh
        say(f"Summaries: refresh {_fmt(r['first_ms'])} ms, again {_fmt(r['again_ms'])} ms"
            + (f", after {REFRESH_EVENTS:,} new events {_fmt(r['after_10k_ms'])} ms, "
               f"after deleting them {_fmt(r['after_delete_ms'])} ms"
               if "after_10k_ms" in r else f" ({r.get('note', '')})") + ".")

    period = Period.last_days(DEFAULT_RANGE_DAYS, tz)
    say(f"Reports: {period.start} to {period.end} ({tz}), medians of {args.repeat} run(s), "
        "baseline SQL and ours interleaved, no cache.")
    result.reports = time_reports(
        engine, period, args.repeat,
        lambda line: print(f"  {line}", file=sys.stderr, flush=True),
        raw_path if result.refresh is not None else None)
    say()
    raw = result.refresh is not None
    say(_table(["report", "baseline ms", "ours ms", "ratio", *(["ours raw ms"] if raw else []),
                "same rows"], [
        [t.name, _fmt(t.baseline_ms), _fmt(t.ours_ms),
         "—" if t.ratio is None else f"{t.ratio:.2f}", *([_fmt(t.raw_ms)] if raw else []),
         ("—" if t.same is None else "yes" if t.same else "NO") + (f" ({t.note})" if t.note
                                                                  else "")]
        for t in result.reports]))
    if raw:
        say("(ours raw: the same report inside hsl.summaries.raw_path(), without summaries)")

    if not args.no_pages:
        say()
        say(f"Pages (AppTest, a fresh process; first load with empty data caches after one "
            f"warm-up run, then a cached rerun; medians of {PAGE_ROUNDS} rounds):")
        pages = time_pages(engine.url.render_as_string(hide_password=False), tz)
        if "error" in pages:
            say(f"The page loads failed: {pages['error']}")
        else:
            result.pages = pages["pages"]
            result.rss_mb, result.peak_rss_mb = pages["rss_mb"], pages["peak_rss_mb"]
            say(_table(["page", "first ms", "rerun ms", "shown"], [
                [p["page"], _fmt(p["first_ms"]), _fmt(p["rerun_ms"]), p["shown"]]
                for p in result.pages]))
            say(f"App process after all pages: {_fmt(result.rss_mb, 0)} MB resident "
                f"(peak {_fmt(result.peak_rss_mb, 0)} MB).")
        result.csv = time_csv(engine, tz)
        c = result.csv
        say(f"Audience CSV of everyone: {c['rows']:,} rows ({c['mb']:.1f} MB): query "
            f"{_fmt(c['query_ms'])} ms + CSV {_fmt(c['csv_ms'])} ms = {_fmt(c['total_ms'])} ms.")
    say()
    say(_targets(result))
    engine.dispose()
    return 0


def _targets(r: BenchResult) -> str:
    """SPEC §9's targets, met or not, in one block."""
    lines = ["Targets (SPEC §9):"]

    def line(label: str, ok: bool | None, detail: str) -> None:
        mark = "n/a " if ok is None else "met " if ok else "MISS"
        lines.append(f"  {mark}  {label}: {detail}")

    ratios = [t for t in r.reports if t.ratio is not None]
    slow = [f"{t.name} {t.ratio:.2f}" for t in ratios if t.ratio > MAX_RATIO]
    line(f"every ratio ≤ {MAX_RATIO:.2f}", not slow if ratios else None,
         f"{len(ratios) - len(slow)} of {len(ratios)}" + (f"; over: {', '.join(slow)}"
                                                          if slow else ""))
    wrong = [t.name for t in r.reports if t.same is False]
    line("same rows as the baseline", not wrong if r.reports else None,
         "all" if not wrong else "differ: " + ", ".join(wrong))
    if r.pages:
        slow_first = [f"{p['page']} {p['first_ms']:.0f}" for p in r.pages
                      if p["first_ms"] >= MAX_FIRST_LOAD_MS]
        line(f"first load < {MAX_FIRST_LOAD_MS} ms", not slow_first,
             "all pages" if not slow_first else "over: " + ", ".join(slow_first))
        slow_rerun = [f"{p['page']} {p['rerun_ms']:.0f}" for p in r.pages
                      if p["rerun_ms"] >= MAX_RERUN_MS]
        line(f"cached rerun < {MAX_RERUN_MS} ms", not slow_rerun,
             "all pages" if not slow_rerun else "over: " + ", ".join(slow_rerun))
        broken = [p["page"] for p in r.pages if p["shown"] != "ok"]
        line("every page drew without an error", not broken,
             "all pages" if not broken else ", ".join(broken))
    else:
        line("page loads", None, "not measured")
    if r.rss_mb is not None:
        line(f"app process < {MAX_RSS_MB} MB", r.rss_mb < MAX_RSS_MB, f"{r.rss_mb:.0f} MB")
    if r.csv is not None:
        line(f"CSV of 100k rows < {MAX_CSV_MS / 1000:.0f} s",
             r.csv["total_ms"] < MAX_CSV_MS if r.csv["rows"] >= 100_000 else None,
             f"{r.csv['total_ms']:,.0f} ms for {r.csv['rows']:,} rows")
    if r.refresh and "after_10k_ms" in r.refresh:
        ms = r.refresh["after_10k_ms"]
        line(f"refresh after 10k new events < {MAX_REFRESH_MS} ms", ms < MAX_REFRESH_MS,
             f"{ms:,.0f} ms")
    else:
        line("refresh after 10k new events", None,
             "not timed" if r.refresh is None else r.refresh.get("note", "not timed"))
    return "\n".join(lines)
