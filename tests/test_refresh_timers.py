"""Summaries kept fresh (SPEC §9, issue 10 point 2): the refresh timer of the app and of
the send-worker, `report` refreshing before it reads, the demo built with its summaries,
the sidebar saying how fresh they are, and the interval setting.

Real databases (SQLite and PostgreSQL) and real processes and threads; the expected
numbers are counted by hand from the few rows each test writes.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, inspect, select

from hsl import bootstrap, demo
from hsl.config import load_settings
from hsl.db import make_engine
from hsl.errors import ValidationError
from hsl.schema import events, summary_days, users
from hsl.summaries import read_state
from hsl.summaries.refresh import refresh
from hsl.worker import RefreshTimer
from tests.conftest import url_of
from tests.fixtures.foundation import PROJECT, run_hsl
from tests.fixtures.replicas import read_only_url
from tests.pages_support import (  # noqa: F401 - autouse fixtures for the page test
    NOW,
    captions,
    clean_env,
    demo_database,
    errors,
    navigation_as_served,
    open_page,
)

TZ = "Europe/Moscow"  # UTC+3: 21:30 UTC is 00:30 the next local day
ACTIVITY = ("report", "activity", "--start", "2026-11-02", "--end", "2026-11-04")
WORKER = PROJECT / "tests" / "worker_process.py"
BAD_INTERVAL = ("The summary refresh interval (HSL_REFRESH_SECONDS or refresh_seconds) must "
                "be a whole number of seconds from 0 (off) to 86400.")
SUMMARIES_AS_OF = re.compile(r"^Summaries as of (?:(\d{1,2} \w{3} \d{4}) )?(\d\d:\d\d:\d\d)$")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def event(event_id: int, user_id: int, when: datetime) -> dict:
    return {"id": event_id, "user_id": user_id, "event_type": "menu_opened",
            "created_at": when, "details": None}


def add_events(engine, *rows: dict) -> None:
    with engine.begin() as conn:
        conn.execute(insert(events), list(rows))


def days(engine) -> dict[str, tuple[int, int]]:
    """summary_days as {ISO day: (events, active users)}."""
    d = summary_days.c
    with engine.connect() as conn:
        return {str(day): (n, people) for day, n, people in conn.execute(
            select(d.day, d.events, d.active_users).order_by(d.day))}


def max_id(engine) -> int | None:
    state = read_state(engine)
    return None if state is None else state.events_max_id


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


@pytest.fixture
def db(engine):
    """Two people and three events; in Moscow two on 2 Nov and one on 4 Nov (00:30)."""
    with engine.begin() as conn:
        conn.execute(insert(users), [{"user_id": 1, "first_seen_at": at(1, 9)},
                                     {"user_id": 2, "first_seen_at": at(1, 10)}])
    add_events(engine, event(1, 1, at(2, 9)), event(2, 2, at(2, 10)),
               event(3, 1, at(3, 21, 30)))
    return engine


def worker_logs(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "hsl.worker"]


# ---------------------------------------------------------------- one turn of the timer


def test_a_turn_refreshes_and_a_turn_soon_after_any_refresh_is_skipped(db):
    timer = RefreshTimer(db, TZ, 60)
    done = timer.run_once()
    assert done is not None and done.full
    assert days(db) == {"2026-11-02": (2, 2), "2026-11-04": (1, 1)}
    add_events(db, event(4, 2, at(4, 8)))  # 11:00 on 4 Nov in Moscow
    assert timer.run_once() is None  # refreshed less than a minute ago
    assert max_id(db) == 3
    a_minute_on = RefreshTimer(db, TZ, 60, clock=lambda: datetime.now(UTC) + timedelta(minutes=1))
    done = a_minute_on.run_once()
    assert done is not None and not done.full
    assert (max_id(db), days(db)) == (4, {"2026-11-02": (2, 2), "2026-11-04": (2, 2)})


def test_a_refresh_by_another_process_counts_as_this_turn(db):
    refresh(db, TZ)  # as `python -m hsl refresh` or another app process would
    add_events(db, event(4, 2, at(4, 8)))
    assert RefreshTimer(db, TZ, 60).run_once() is None
    assert max_id(db) == 3


def test_without_summary_tables_a_turn_does_nothing(empty_engine, caplog):
    assert RefreshTimer(empty_engine, TZ, 60).run_once() is None
    assert inspect(empty_engine).get_table_names() == []
    assert worker_logs(caplog) == []


def test_a_turn_that_finds_another_refresh_running_is_skipped(db, caplog):
    refresh(db, TZ)
    add_events(db, event(4, 2, at(4, 8)))
    inside, release = threading.Event(), threading.Event()

    def held_clock() -> datetime:  # called inside the other refresh's transaction
        inside.set()
        release.wait(30)
        return datetime.now(UTC)

    other = threading.Thread(target=refresh, args=(db, TZ), kwargs={"clock": held_clock})
    other.start()
    try:
        assert inside.wait(30)
        later = RefreshTimer(db, TZ, 60, clock=lambda: datetime.now(UTC) + timedelta(hours=1))
        assert later.run_once() is None
    finally:
        release.set()
        other.join(30)
    assert max_id(db) == 4  # the other one went on and finished
    assert worker_logs(caplog) == []  # skipping is not a failure


def test_a_failing_turn_is_logged_once_and_the_timer_goes_on(db, caplog):
    refresh(db, TZ)
    add_events(db, event(4, 2, at(4, 8)))
    with read_only_url(db.url.render_as_string(hide_password=False)) as url:
        reader = make_engine(url)
        try:
            timer = RefreshTimer(reader, TZ, 60,
                                 clock=lambda: datetime.now(UTC) + timedelta(hours=1))
            with caplog.at_level(logging.INFO, logger="hsl.worker"):
                assert [timer.run_once(), timer.run_once()] == [None, None]
        finally:
            reader.dispose()
    logged = worker_logs(caplog)
    assert len(logged) == 1 and logged[0].levelno == logging.WARNING
    assert logged[0].getMessage().startswith("The summary refresh failed (")
    assert not logged[0].exc_info  # a database's refusal: one line, no traceback
    assert max_id(db) == 3
    timer.engine = db  # the same timer, once the database takes writes again
    with caplog.at_level(logging.INFO, logger="hsl.worker"):
        assert timer.run_once() is not None
    assert worker_logs(caplog)[-1].getMessage() == "The summary refresh works again."
    assert max_id(db) == 4


def test_the_timer_thread_refreshes_every_interval_until_stopped(db):
    refresh(db, TZ)
    timer = RefreshTimer(db, TZ, 0.3).start()
    try:
        add_events(db, event(4, 2, at(4, 8)))
        wait_until(lambda: max_id(db) == 4)
        add_events(db, event(5, 2, at(2, 23)))  # 02:00 on 3 Nov in Moscow
        wait_until(lambda: max_id(db) == 5)
    finally:
        timer.stop(timeout=30)
    assert not timer.thread.is_alive()
    assert days(db) == {"2026-11-02": (2, 2), "2026-11-03": (1, 1), "2026-11-04": (2, 2)}


# ---------------------------------------------------------------- the app process


def summaries_caption(at) -> datetime:
    """The time the sidebar's "Summaries as of" caption shows, as an aware Moscow time."""
    found = [m for c in captions(at) if (m := SUMMARIES_AS_OF.match(c))]
    assert len(found) == 1, captions(at)
    day, clock = found[0].groups()
    shown = datetime.strptime(f"{day} {clock}", "%d %b %Y %H:%M:%S") if day else None
    assert shown is not None, "the refresh was today in real time, not on the pages' clock"
    return shown.replace(tzinfo=ZoneInfo(TZ))


def events_card(at) -> int:
    return int(at.metric[0].value.replace(",", ""))


def test_the_app_refreshes_on_a_timer_and_the_sidebar_says_how_fresh(
        monkeypatch, backend, database_factory):
    url = demo_database(backend, database_factory, anchor=NOW.date())
    engine = make_engine(url)
    refresh(engine, TZ)
    before = read_state(engine)
    monkeypatch.setenv("HSL_REFRESH_SECONDS", "1")
    at = open_page(monkeypatch, url, "pages/activity.py")
    try:
        assert not at.exception and not at.error
        shown = summaries_caption(at)
        assert shown == before.refreshed_at.replace(microsecond=0)
        assert any(re.fullmatch(r"Data loaded at \d\d:\d\d:\d\d", c) for c in captions(at))
        count = events_card(at)
        with engine.begin() as conn:
            newest = conn.execute(select(func.max(events.c.id))).scalar()
            person = conn.execute(select(func.min(users.c.user_id))).scalar()
            conn.execute(insert(events), [event(newest + 1, person, NOW - timedelta(hours=1))])
        wait_until(lambda: max_id(engine) == newest + 1)  # the app's timer, on its thread
        refreshed = read_state(engine).refreshed_at.replace(microsecond=0)
        at.run()  # a rerun within the 5 cached minutes: the new refresh is a new cache key
        assert events_card(at) == count + 1
        assert summaries_caption(at) >= refreshed > shown
    finally:
        monkeypatch.setenv("HSL_REFRESH_SECONDS", "0")  # turns the process's timer off
        at.run()
    stopped = max_id(engine)
    with engine.begin() as conn:
        conn.execute(insert(events), [event(newest + 2, person, NOW - timedelta(hours=1))])
    time.sleep(2.5)
    assert max_id(engine) == stopped
    engine.dispose()


def test_the_sidebar_says_nothing_of_summaries_the_pages_do_not_read(
        monkeypatch, backend, database_factory):
    url = demo_database(backend, database_factory, anchor=NOW.date())
    engine = make_engine(url)
    refresh(engine, "UTC")  # another timezone than the app's: the pages read the raw tables
    engine.dispose()
    monkeypatch.setenv("HSL_REFRESH_SECONDS", "0")
    at = open_page(monkeypatch, url, "pages/activity.py")
    assert not at.exception and not at.error
    assert not [c for c in captions(at) if c.startswith("Summaries")]
    assert any(c.startswith("Data loaded at ") for c in captions(at))


# ---------------------------------------------------------------- the send-worker


def test_the_send_worker_refreshes_on_its_timer(db):
    refresh(db, TZ)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HSL_TELEGRAM") and k != "DATABASE_URL"}
    env.update(HSL_REFRESH_SECONDS="1", HSL_TIMEZONE=TZ, PYTHONUNBUFFERED="1")
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), "--db", db.url.render_as_string(hide_password=False)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=PROJECT)
    try:
        add_events(db, event(4, 2, at(4, 8)))
        wait_until(lambda: max_id(db) == 4 or worker.poll() is not None)
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "Send-worker" in err and "failed" not in err
    assert days(db) == {"2026-11-02": (2, 2), "2026-11-04": (2, 2)}


# ---------------------------------------------------------------- the command line


def test_report_refreshes_before_it_reads(db):
    url = url_of(db)
    first = run_hsl(*ACTIVITY, "--db", url, env={"HSL_TIMEZONE": TZ})
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout == ("day,events,active_users\n"
                            "2026-11-02,2,2\n2026-11-03,0,0\n2026-11-04,1,1\n")
    assert max_id(db) == 3  # the report built the summaries before reading them
    add_events(db, event(4, 2, at(4, 8)), event(5, 2, at(2, 23)))  # 4 Nov 11:00, 3 Nov 02:00
    second = run_hsl(*ACTIVITY, "--db", url, env={"HSL_TIMEZONE": TZ})
    assert (second.returncode, second.stderr) == (0, "")
    assert second.stdout == ("day,events,active_users\n"
                             "2026-11-02,2,2\n2026-11-03,1,1\n2026-11-04,2,2\n")
    assert max_id(db) == 5


def test_report_in_another_timezone_leaves_the_summaries_as_they_are(db):
    refresh(db, TZ)
    add_events(db, event(4, 2, at(4, 8)))
    result = run_hsl(*ACTIVITY, "--db", url_of(db), "--tz", "UTC")
    assert (result.returncode, result.stderr) == (0, "")
    # UTC days, from the bot's tables: event 3 (21:30 UTC) is on 3 Nov.
    assert result.stdout == ("day,events,active_users\n"
                             "2026-11-02,2,2\n2026-11-03,1,1\n2026-11-04,1,1\n")
    state = read_state(db)
    assert (state.tz, state.events_max_id) == (TZ, 3)  # not rebuilt in UTC


def test_report_on_a_database_that_refuses_writes_reads_the_summaries_as_they_are(db):
    refresh(db, TZ)
    state = read_state(db)
    add_events(db, event(4, 2, at(4, 8)))  # after the last refresh: not in the summaries
    with read_only_url(db.url.render_as_string(hide_password=False)) as url:
        result = run_hsl(*ACTIVITY, "--db", url, env={"HSL_TIMEZONE": TZ})
    assert result.returncode == 0
    assert result.stdout == ("day,events,active_users\n"
                             "2026-11-02,2,2\n2026-11-03,0,0\n2026-11-04,1,1\n")
    assert result.stderr == (
        "The database refuses writes, so the summaries were not refreshed; this report reads "
        f"them as of {state.refreshed_at:%Y-%m-%d %H:%M:%S} UTC.\n")
    assert max_id(db) == 3


def test_the_demo_command_builds_the_summaries(backend, database_factory):
    url = database_factory(backend)
    result = run_hsl("demo", "--db", url, "--users", "50", "--events", "500", "--seed", "3",
                     "--anchor", "2026-11-25", env={"HSL_TIMEZONE": TZ})
    assert result.returncode == 0, result.stderr
    loaded, built = result.stdout.splitlines()
    assert loaded.startswith("Loaded demo data (")
    assert re.fullmatch(r"Built the summaries \(days in Europe/Moscow\) in \d+\.\d s\.", built)
    engine = make_engine(url)
    try:
        state = read_state(engine)
        with engine.connect() as conn:
            top = conn.execute(select(func.max(events.c.id))).scalar()
            summed = conn.execute(select(func.sum(summary_days.c.events))).scalar()
        assert (state.tz, state.events_max_id, summed) == (TZ, top, 500)
    finally:
        engine.dispose()


def test_the_embedded_demo_is_prepared_with_its_summaries(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    size = demo.DemoSize(users=20, events=200, seed=5)
    try:
        bootstrap.prepare(engine, is_demo=True, size=size, tz=TZ)
        first = read_state(engine)
        assert (first.tz, sum(n for n, _ in days(engine).values())) == (TZ, 200)
        bootstrap.prepare(engine, is_demo=True, size=size, tz=TZ)  # the next process
        assert read_state(engine) == first  # summaries already in this timezone: left alone
        bootstrap.prepare(engine, is_demo=True, size=size, tz="UTC")
        assert read_state(engine).tz == "UTC"
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the setting


@pytest.fixture
def no_env(monkeypatch):
    for name in ("HSL_REFRESH_SECONDS", "DATABASE_URL", "HSL_READ_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_refresh_interval_setting(no_env):
    assert load_settings(secrets={}).refresh_seconds == 60
    assert load_settings(secrets={"refresh_seconds": 15}).refresh_seconds == 15
    no_env.setenv("HSL_REFRESH_SECONDS", "0")
    assert load_settings(secrets={"refresh_seconds": 15}).refresh_seconds == 0
    no_env.setenv("HSL_REFRESH_SECONDS", " 300 ")
    assert load_settings(secrets={}).refresh_seconds == 300


@pytest.mark.parametrize("value", ["-1", "1.5", "soon", "86401", "٣", "99999999999"])
def test_a_bad_refresh_interval_is_one_sentence(no_env, value):
    no_env.setenv("HSL_REFRESH_SECONDS", value)
    with pytest.raises(ValidationError) as caught:
        load_settings(secrets={})
    assert str(caught.value) == BAD_INTERVAL


def test_a_bad_refresh_interval_stops_the_command_with_that_sentence(db):
    result = run_hsl(*ACTIVITY, "--db", url_of(db), env={"HSL_REFRESH_SECONDS": "often"})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == BAD_INTERVAL + "\n"


def test_a_bad_refresh_interval_is_one_sentence_on_the_page(monkeypatch, tmp_path):
    monkeypatch.setenv("HSL_REFRESH_SECONDS", "every minute")
    at = open_page(monkeypatch, f"sqlite:///{tmp_path / 'bot.sqlite'}", "pages/overview.py")
    assert not at.exception
    assert errors(at) == [BAD_INTERVAL]
