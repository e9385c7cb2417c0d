"""Reads through HSL_READ_DATABASE_URL, writes through DATABASE_URL (issue 10 point 7).

The replica here is a copy of the database taken at one moment (tests/fixtures/replicas):
a replica that has replayed up to then and lags afterwards. Whatever the app or the
command line shows comes from the copy; whatever they write (the summary refresh, a
stream change) lands in the primary and not in the copy. Both databases, real processes
for the command line; the expected numbers are counted by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select

from hsl.config import load_settings
from hsl.db import make_engine
from hsl.errors import DatabaseUnavailable, ValidationError
from hsl.schema import audit_log, bookings, events, users
from hsl.summaries import read_state
from hsl.summaries.refresh import refresh
from tests.fixtures.foundation import run_hsl
from tests.fixtures.replicas import snapshot_url
from tests.pages_support import (  # noqa: F401 - autouse fixtures for the page tests
    captions,
    clean_env,
    navigation_as_served,
    open_page,
    shown,
)

TZ = "Europe/Moscow"
ACTIVITY = ("report", "activity", "--start", "2026-11-02", "--end", "2026-11-04", "--tz", TZ)
BEFORE = "day,events,active_users\n2026-11-02,2,2\n2026-11-03,0,0\n2026-11-04,1,1\n"


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def event(event_id: int, user_id: int, when: datetime) -> dict:
    return {"id": event_id, "user_id": user_id, "event_type": "menu_opened",
            "created_at": when, "details": None}


@pytest.fixture
def primary(engine):
    """Two people, a booking each, three events (two on 2 Nov, one on 4 Nov in Moscow),
    and the summaries built; the engine's pool is emptied so the database can be copied."""
    with engine.begin() as conn:
        conn.execute(insert(users), [{"user_id": 1, "first_seen_at": at(1, 9)},
                                     {"user_id": 2, "first_seen_at": at(1, 10)}])
        conn.execute(insert(bookings), [
            {"id": 1, "user_id": 1, "course_stream": "1st_stream", "confirmed": 1,
             "created_at": at(1, 12)},
            {"id": 2, "user_id": 2, "course_stream": "2nd_stream", "confirmed": 2,
             "created_at": at(1, 13)}])
        conn.execute(insert(events), [event(1, 1, at(2, 9)), event(2, 2, at(2, 10)),
                                      event(3, 1, at(3, 22))])
    refresh(engine, TZ)
    engine.dispose()
    return engine


@pytest.fixture
def replica(primary, tmp_path):
    """(URL of the primary, URL of its copy as of now); the primary then gets event 4."""
    url = primary.url.render_as_string(hide_password=False)
    with snapshot_url(url, tmp_path) as copy:
        with primary.begin() as conn:
            conn.execute(insert(events), [event(4, 2, at(4, 8))])  # 4 Nov, 11:00 in Moscow
        yield url, copy


def state_and_streams(url: str) -> tuple[int, list[str], int]:
    """(summaries' highest event id, the two bookings' streams, audit rows) of database `url`."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            streams = list(conn.execute(
                select(bookings.c.course_stream).order_by(bookings.c.id)).scalars())
            audited = conn.execute(select(func.count()).select_from(audit_log)).scalar()
        return read_state(engine).events_max_id, streams, audited
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the command line


def test_report_reads_the_replica_and_refreshes_the_primary(replica):
    url, copy = replica
    result = run_hsl(*ACTIVITY, env={"DATABASE_URL": url, "HSL_READ_DATABASE_URL": copy})
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == BEFORE  # the replica has not replayed event 4 yet
    assert state_and_streams(url)[0] == 4  # the refresh before the report: the primary
    assert state_and_streams(copy)[0] == 3


def test_db_flag_names_one_database_for_reading_and_writing(replica):
    url, copy = replica
    result = run_hsl(*ACTIVITY, "--db", url, env={"HSL_READ_DATABASE_URL": copy})
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == ("day,events,active_users\n"
                             "2026-11-02,2,2\n2026-11-03,0,0\n2026-11-04,2,2\n")


# ---------------------------------------------------------------- the pages


def widget(elements, label: str):
    return next(e for e in elements if e.label.removesuffix(" *") == label)  # " *": required


def test_pages_read_the_replica_and_a_stream_change_writes_the_primary(monkeypatch, replica):
    url, copy = replica
    monkeypatch.setenv("HSL_READ_DATABASE_URL", copy)
    monkeypatch.setenv("HSL_REFRESH_SECONDS", "0")
    monkeypatch.setattr("hsl_ui.sidebar.utc_now", lambda: datetime(2026, 11, 4, 18, tzinfo=UTC))
    refresh(primary_engine := make_engine(url), TZ)  # the primary's summaries: event 4 too
    primary_engine.dispose()
    activity = open_page(monkeypatch, url, "pages/activity.py", "admin",
                         start="2026-11-02", end="2026-11-04")
    assert not activity.exception and not activity.error
    assert activity.metric[0].value == "3"  # the replica's three events, not the primary's 4

    page = open_page(monkeypatch, url, "pages/users.py", "admin", user="1")
    assert not page.exception and not page.error
    widget(page.selectbox, "Move to stream").select("2nd_stream")  # the only other stream
    widget(page.text_input, "Reason").input("Moved in the replica test")
    widget(page.checkbox, "I confirm this change").check()
    widget(page.button, "Change stream").click().run()
    assert not page.exception
    assert [shown(s.value) for s in page.success] == [  # stream labels, as the form shows them
        "Moved booking #1 of user 1 from 1st stream to 2nd stream."]
    assert state_and_streams(url)[1:] == (["2nd_stream", "2nd_stream"], 1)
    assert state_and_streams(copy)[1:] == (["1st_stream", "2nd_stream"], 0)


# ---------------------------------------------------------------- the setting


@pytest.fixture
def no_env(monkeypatch):
    for name in ("DATABASE_URL", "HSL_READ_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_read_url_comes_from_the_environment_or_the_secrets(no_env):
    assert load_settings(secrets={}).read_database_url is None
    no_env.setenv("DATABASE_URL", "postgresql://app@db.internal/bot")
    secrets = {"read_database_url": "postgresql://app@replica-2.internal/bot"}
    assert load_settings(secrets=secrets).read_database_url == (
        "postgresql://app@replica-2.internal/bot")
    no_env.setenv("HSL_READ_DATABASE_URL", "postgresql://app@replica-1.internal/bot")
    settings = load_settings(secrets=secrets)
    assert (settings.database_url, settings.read_database_url) == (
        "postgresql://app@db.internal/bot", "postgresql://app@replica-1.internal/bot")
    # A database named on the command line is read and written as named.
    assert load_settings("postgresql://app@other/bot", secrets=secrets).read_database_url is None


def test_a_sqlite_read_url_is_opened_never_created(no_env, tmp_path):
    no_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'bot.sqlite'}")
    no_env.setenv("HSL_READ_DATABASE_URL", f"sqlite:///{tmp_path / 'typo.sqlite'}")
    with pytest.raises(DatabaseUnavailable) as caught:
        make_engine(load_settings(secrets={}).read_database_url)
    assert str(caught.value) == f"No SQLite database file at {tmp_path / 'typo.sqlite'}."
    assert not (tmp_path / "typo.sqlite").exists()


@pytest.mark.parametrize(("database_url", "read_url", "sentence"), [
    (None, "postgresql://app@replica/bot",
     "HSL_READ_DATABASE_URL (read_database_url) names a read replica of DATABASE_URL; set "
     "DATABASE_URL too."),
    ("postgresql://app@db/bot", "mysql://app@replica/bot",
     "HSL_READ_DATABASE_URL (read_database_url) cannot be used: unsupported database "
     "'mysql'; use PostgreSQL."),
    ("postgresql://app@db/bot", "postgresql://app:s3cret-pw@replica:99999/bot",
     "HSL_READ_DATABASE_URL (read_database_url) cannot be used: the port in the database URL "
     "is not a number from 1 to 65535."),
])
def test_a_bad_read_url_is_one_sentence(no_env, database_url, read_url, sentence):
    if database_url:
        no_env.setenv("DATABASE_URL", database_url)
    no_env.setenv("HSL_READ_DATABASE_URL", read_url)
    with pytest.raises(ValidationError) as caught:
        load_settings(secrets={})
    assert str(caught.value) == sentence
    assert "s3cret" not in str(caught.value)
