"""Sign-in throttling by user name (hsl.signin) on SQLite and PostgreSQL, with a fixed clock.

Hand-counted rule: 5 wrong passwords are free; then a try waits 30 s after the last wrong
one, 60 s after the 6th, 120 s after the 7th, … at most 900 s; a right password clears it.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import select

from hsl import migrate, signin
from hsl.auth import hash_password, verify_password
from hsl.db import make_engine
from hsl.errors import ConflictError, DatabaseUnavailable
from hsl.schema import audit_log, sign_in_attempts
from tests.fixtures import utc

T0 = utc("2026-12-01 10:00")
PASSWORD = "hunter2-secret"
RIGHT, WRONG = "the actor", None


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def try_once(engine, name: str, seconds: float, result: object = WRONG) -> object:
    """One sign-in try at T0 + `seconds` whose password check gives `result`."""
    return signin.attempt(engine, name, lambda: result, now=at(seconds))


def waits(engine, name: str, seconds: float) -> int | None:
    """The wait a try at T0 + `seconds` is told (None: its password was checked)."""
    checked = []
    try:
        signin.attempt(engine, name, lambda: checked.append(1), now=at(seconds))
    except signin.TooManyAttempts as err:
        assert checked == []  # never checked while waiting
        return err.seconds
    return None


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(sign_in_attempts.c.user_name,
                                        sign_in_attempts.c.failures)).all())


def audit_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).mappings().all()
    return [dict(r) for r in rows]


def test_the_wait_grows_from_30_seconds_to_15_minutes():
    assert [signin.wait_after(n) for n in range(12)] == [
        0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]
    assert signin.wait_after(10**9) == 900


def test_five_wrong_passwords_are_free_then_each_try_waits(engine):
    for second in range(5):  # T0 .. T0+4 s: five wrong passwords, all checked
        assert try_once(engine, "alice", second) is None
    assert waits(engine, "alice", 14) == 20  # 30 s after the 5th (at 4 s)
    assert waits(engine, "alice", 33.5) == 1  # 0.5 s left, rounded up
    assert waits(engine, "alice", 34) is None  # checked, wrong: 6th, at 34 s
    assert waits(engine, "alice", 34 + 59.2) == 1  # 60 s after the 6th
    assert waits(engine, "alice", 94) is None  # 7th at 94 s → the next waits 120 s
    assert waits(engine, "alice", 94) == 120
    assert counts(engine) == {"alice": 7}


def test_a_right_password_clears_the_count_but_not_while_waiting(engine):
    for second in range(5):
        try_once(engine, "alice", second)
    assert waits(engine, "alice", 10) == 24  # even the right password is not checked
    assert try_once(engine, "alice", 34, RIGHT) == RIGHT
    assert counts(engine) == {}
    for second in range(35, 40):  # free again: five more wrong ones before a wait
        assert try_once(engine, "alice", second) is None
    assert waits(engine, "alice", 40) == 29


def test_names_are_trimmed_case_sensitive_and_capped(engine):
    for second in range(5):
        try_once(engine, " alice ", second)
    assert waits(engine, "alice", 5) == 29  # trimmed: the same name
    assert waits(engine, "Alice", 5) is None  # login names are case-sensitive
    long_name = "x" * 500
    for second in range(5):
        try_once(engine, long_name, second)
    assert waits(engine, "x" * 200 + "y", 5) == 29  # only the first 200 characters count
    assert counts(engine) == {"alice": 5, "Alice": 1, "x" * 200: 5}


def test_a_nul_character_in_the_name_is_counted_too(engine):
    try_once(engine, "al\x00ice", 0)
    assert counts(engine) == {"al\ufffdice": 1}


def test_counts_survive_a_restart(engine):
    for second in range(5):
        try_once(engine, "alice", second)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    restarted = make_engine(url)  # another app process, or the same one after a restart
    try:
        assert waits(restarted, "alice", 10) == 24
    finally:
        restarted.dispose()


def _race(engine, name: str, tries: int) -> tuple[int, int]:
    """`tries` browsers send a wrong password for `name` at once; (checked, told to wait)."""
    barrier = threading.Barrier(tries)
    checked: list[int] = []
    waited: list[int] = []

    def slow_wrong_password() -> None:
        time.sleep(0.2)  # bcrypt's time: the other tries arrive meanwhile
        checked.append(1)

    def run() -> None:
        barrier.wait()
        try:
            signin.attempt(engine, name, slow_wrong_password, now=at(0))
        except signin.TooManyAttempts:
            waited.append(1)

    threads = [threading.Thread(target=run) for _ in range(tries)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return len(checked), len(waited)


def test_two_browsers_guessing_at_once_both_count(engine):
    assert _race(engine, "alice", 2) == (2, 0)
    assert counts(engine) == {"alice": 2}
    assert [r["action"] for r in audit_rows(engine)] == [signin.SIGN_IN_FAILED] * 2


def test_a_burst_of_guesses_gets_no_more_than_the_free_five(engine):
    # Each try is counted before its password is checked, so 8 at once: 5 checked, 3 wait.
    assert _race(engine, "alice", 8) == (5, 3)
    assert counts(engine) == {"alice": 5}


def test_every_try_is_audited_without_the_password(engine):
    try_once(engine, "alice", 0)
    for second in range(1, 5):
        try_once(engine, " alice", second)
    waits(engine, "alice", 10)
    try_once(engine, "alice", 40, RIGHT)
    rows = audit_rows(engine)
    assert [(r["occurred_at"], r["actor"], r["action"], r["entity"], r["entity_id"],
             r["before"], r["after"], r["reason"]) for r in rows] == [
        *[(at(s), "alice", "sign_in_failed", "user_name", "alice", {"wrong_passwords": s},
           {"wrong_passwords": s + 1}, "Wrong user name or password.") for s in range(5)],
        (at(10), "alice", "sign_in_throttled", "user_name", "alice", {"wrong_passwords": 5},
         {"wrong_passwords": 5}, "Too many wrong attempts; the password was not checked."),
        (at(40), "alice", "sign_in", "user_name", "alice", {"wrong_passwords": 5},
         {"wrong_passwords": 0}, "Signed in with the right password."),
    ]


def test_the_password_is_in_no_column(engine):
    secrets = {"auth": {"users": {"alice": {"password_hash": hash_password(PASSWORD, 4)}}}}
    typed = [PASSWORD.upper(), PASSWORD + "!", "", PASSWORD[:-1], "x" + PASSWORD,
             PASSWORD + "?", PASSWORD]  # the 6th waits, the 7th (right) waits too
    for second, password in enumerate(typed):
        try:
            signin.attempt(engine, "alice", partial(verify_password, secrets, "alice", password),
                           now=at(second))
        except signin.TooManyAttempts:
            pass
    rows = audit_rows(engine)
    assert [r["action"] for r in rows] == ["sign_in_failed"] * 5 + ["sign_in_throttled"] * 2
    text = json.dumps(rows, default=str)
    assert all(password not in text for password in typed if password)


def test_a_naive_clock_is_utc(engine):
    for second in range(5):
        try_once(engine, "alice", second)
    naive = at(14).replace(tzinfo=None)
    with pytest.raises(signin.TooManyAttempts, match="try again in 20 seconds"):
        signin.attempt(engine, "alice", lambda: None, now=naive)


def test_the_sentence_is_the_same_for_every_name(engine):
    for name in ("alice", "nobody-knows-me"):
        for second in range(5):
            try_once(engine, name, second)
        with pytest.raises(signin.TooManyAttempts) as caught:
            try_once(engine, name, 5)
        assert str(caught.value) == (
            "Too many wrong attempts for this user name; try again in 29 seconds.")


# ---------------------------------------------------------------- a database not ready


def test_a_database_before_init_db_is_one_sentence(empty_engine):
    migrate.upgrade(empty_engine, "0001")  # the baseline only: no sign_in_attempts yet
    with pytest.raises(ConflictError) as caught:
        try_once(empty_engine, "alice", 0)
    assert str(caught.value) == (
        "The database lacks the app's sign-in tables; run `python -m hsl init-db` against it.")


def test_a_database_that_is_down_is_one_sentence():
    engine = make_engine("postgresql://nobody@127.0.0.1:1/x")
    with pytest.raises(DatabaseUnavailable, match="cannot be reached"):
        try_once(engine, "alice", 0)
