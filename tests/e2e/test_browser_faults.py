"""Faults a person can meet, in a real headless Chromium (issue 8, the hostile-input suite).

- The database stops and comes back: this module owns a second PostgreSQL cluster that
  it stops and starts for real; the page shows one banner and heals by itself.
- A statement timeout: a held lock on `events` makes the Activity page's queries run into
  HSL_STATEMENT_TIMEOUT_MS; the page says so in one sentence and works again once the lock
  is gone, on the next ordinary rerun.
- Two admins move the same booking at the same moment: both changes are serialised by the
  row lock, each page shows one plain sentence, and the audit log loses no update.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select, text

from hsl import demo, migrate
from hsl.admin import CHANGE_STREAM
from hsl.auth import hash_password
from hsl.db import QUERY_TIMEOUT, make_engine, normalize_url
from hsl.schema import audit_log, bookings
from hsl_ui import format as fmt
from tests.conftest import _pg_required
from tests.e2e.support import LOAD_MS, LOADED, choose, new_page, no_traceback

pytestmark = pytest.mark.browser

TZ = "Europe/Moscow"
DOWN = "The database cannot be reached right now; retrying…"
RECOVERY_MS = 20_000  # the banner checks every 5 s; a restarted cluster answers within ~1 s
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # Debian
ADMINS = {"alice": "alice's password", "boris": "boris's password"}
MOVED = re.compile(r"^Moved booking #(\d+) of user (\d+) from (.+) to (.+)\.$")
INVISIBLE = re.compile("[\u2060\u2066-\u2069]")
LOCK_WAIT_SECONDS = 10
SMALL = demo.DemoSize(users=200, events=3000, seed=8)


# ---------------------------------------------------------------- a cluster of our own


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_tool(name: str) -> str | None:
    for folder in PG_BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


@dataclass
class Cluster:
    """A throw-away PostgreSQL cluster (trust auth) on 127.0.0.1:`port`."""

    pg_ctl: str
    home: Path  # holds the data directory, the socket and the server log
    port: int
    as_postgres: list[str]  # the command prefix that runs a tool as the cluster's owner

    @property
    def data(self) -> Path:
        return self.home / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        done = subprocess.run([*self.as_postgres, self.pg_ctl, "-D", str(self.data), *args],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        self._ctl("-l", str(self.home / "server.log"), "-w", "-t", "30", "-o",
                  f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "-t", "30", "stop")

    def running(self) -> bool:
        done = subprocess.run([*self.as_postgres, self.pg_ctl, "-D", str(self.data), "status"],
                              capture_output=True, timeout=30)
        return done.returncode == 0


def _unavailable(message: str) -> None:
    if _pg_required():
        pytest.fail(message + " (required because CI=true or HSL_REQUIRE_PG=1)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    """A second PostgreSQL cluster this module may stop and start; removed at the end."""
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    if not initdb or not pg_ctl:
        _unavailable("initdb/pg_ctl are not installed; install postgresql to run this test.")
    prefix: list[str] = []
    owner = None
    if os.geteuid() == 0:  # initdb refuses to run as root: the cluster belongs to `postgres`
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("Running as root without a `postgres` OS user to own a cluster.")
        prefix = ["runuser", "-u", "postgres", "--"]
    home = Path(tempfile.mkdtemp(prefix="hsl_pg_"))  # short: the socket path has a limit
    if owner is not None:
        os.chown(home, owner.pw_uid, owner.pw_gid)
    cluster = Cluster(pg_ctl, home, _free_port(), prefix)
    try:
        done = subprocess.run(
            [*prefix, initdb, "-D", str(cluster.data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--no-sync"], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            _unavailable(f"initdb failed: {done.stdout}{done.stderr}")
        cluster.start()
        yield cluster
    finally:
        if cluster.data.exists() and cluster.running():
            cluster.stop()
        shutil.rmtree(home, ignore_errors=True)


# ---------------------------------------------------------------- helpers


def loaded_database(url: str) -> str:
    """Migrate the (empty) database at `url` and fill it with a small demo; return `url`."""
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        demo.load(engine, SMALL)
    finally:
        engine.dispose()
    return url


def days_with_data(back: int) -> tuple[date, date]:
    """The `back` local days up to yesterday: the demo's events end at today's midnight."""
    today = datetime.now(ZoneInfo(TZ)).date()
    return today - timedelta(days=back), today - timedelta(days=1)


def wait_for_overview(page) -> None:
    page.get_by_test_id("stMetricLabel").get_by_text("Known users", exact=True).wait_for(
        timeout=LOAD_MS)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)


def alerts(page) -> list[tuple[str, str]]:
    """(kind, text) of each banner in the main area ("error", "success"...), the text as one
    reads it (without the invisible isolates and word joiners fmt.md puts around data)."""
    found = page.get_by_test_id("stMain").locator("[data-testid^=stAlertContent]").evaluate_all(
        "boxes => boxes.map(b => [b.dataset.testid.slice('stAlertContent'.length).toLowerCase(),"
        " b.querySelector('[data-testid=stMarkdownContainer]').innerText])")
    return [(kind, INVISIBLE.sub("", words).strip()) for kind, words in found]


# ---------------------------------------------------------------- 1. database stopped


def test_database_stopped_and_started_again_heals_the_page_by_itself(
        own_cluster, serve, page):
    admin = create_engine(normalize_url(own_cluster.url()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "hsl"'))
    admin.dispose()
    url = loaded_database(own_cluster.url("hsl"))
    base = serve(DATABASE_URL=url, HSL_AUTH_DISABLED="1", HSL_AUTH_DISABLED_ROLE="admin",
                 HSL_TIMEZONE=TZ)
    page.goto(base)
    wait_for_overview(page)
    no_traceback(page)

    own_cluster.stop()
    try:
        # Other dates than the default ones: nothing cached, the page must ask the database.
        start, end = days_with_data(45)
        page.goto(f"{base}/?start={start}&end={end}")
        page.get_by_text(DOWN, exact=True).wait_for(timeout=LOAD_MS)
        assert alerts(page) == [("error", DOWN)]
        assert page.get_by_test_id("stMetricLabel").count() == 0
        no_traceback(page)
        page.wait_for_timeout(6000)  # one retry of the banner's timer, still down
        assert alerts(page) == [("error", DOWN)]
        no_traceback(page)
    finally:
        own_cluster.start()
    # No reload, no click: the banner's own timer notices the database and reruns the page.
    page.get_by_test_id("stMetricLabel").get_by_text("Known users", exact=True).wait_for(
        timeout=RECOVERY_MS)
    page.get_by_text(LOADED).wait_for(timeout=RECOVERY_MS)
    page.get_by_text(DOWN, exact=True).wait_for(state="detached", timeout=RECOVERY_MS)
    assert f"start={start}&end={end}" in page.url
    assert alerts(page) == []
    no_traceback(page)


# ---------------------------------------------------------------- 2. statement timeout


def test_a_held_lock_times_out_in_one_sentence_and_the_next_rerun_shows_data(
        serve, database_factory, page):
    url = loaded_database(database_factory("postgresql"))
    base = serve(DATABASE_URL=url, HSL_AUTH_DISABLED="1", HSL_AUTH_DISABLED_ROLE="admin",
                 HSL_TIMEZONE=TZ, HSL_STATEMENT_TIMEOUT_MS="1500")
    page.goto(base)
    wait_for_overview(page)  # the server knows its pages and its engine before the lock

    start, end = days_with_data(20)
    locker = create_engine(normalize_url(url))
    conn = locker.connect()
    try:
        tx = conn.begin()
        conn.execute(text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))
        page.goto(f"{base}/activity?start={start}&end={end}")
        page.get_by_role("heading", name="Activity", exact=True).wait_for(timeout=LOAD_MS)
        page.get_by_text(QUERY_TIMEOUT, exact=True).wait_for(timeout=LOAD_MS)
        assert alerts(page) == [("error", QUERY_TIMEOUT)]
        assert page.get_by_test_id("stVegaLiteChart").count() == 0
        no_traceback(page)
        tx.rollback()
    finally:
        conn.close()
        locker.dispose()

    # A person's next step: open Activity again from the sidebar (no Refresh, no reload).
    page.get_by_test_id("stSidebar").get_by_role("link", name="Activity", exact=True).click()
    page.get_by_text(QUERY_TIMEOUT, exact=True).wait_for(state="detached", timeout=LOAD_MS)
    page.get_by_test_id("stMetricValue").nth(3).wait_for(timeout=LOAD_MS)
    page.get_by_test_id("stVegaLiteChart").first.wait_for(timeout=LOAD_MS)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    assert f"start={start}&end={end}" in page.url
    assert alerts(page) == []
    no_traceback(page)


# ---------------------------------------------------------------- 3. two admins at once


@pytest.fixture
def two_admins_app(serve, database_factory, tmp_path_factory) -> tuple[str, str]:
    """(base URL, database URL): the app on its own demo database with two admin users."""
    url = loaded_database(database_factory("postgresql"))
    secrets = tmp_path_factory.mktemp("secrets") / "secrets.toml"
    secrets.write_text("".join(
        f'[auth.users.{name}]\npassword_hash = "{hash_password(pw, 4)}"\nrole = "admin"\n\n'
        for name, pw in ADMINS.items()
    ), encoding="utf-8")
    return serve(DATABASE_URL=url, STREAMLIT_SECRETS_FILES=str(secrets), HSL_TIMEZONE=TZ), url


def a_booking_and_two_other_streams(db_url: str) -> tuple[int, int, str, str, str]:
    """(user, booking, its stream, two other streams): a user's newest active booking."""
    engine = make_engine(db_url)
    b = bookings.c
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(b.user_id, b.id, b.course_stream)
                .where(b.confirmed != -1, b.course_stream.is_not(None))
                .order_by(b.user_id, b.created_at.desc(), b.id.desc()).limit(1)
            ).one()
            others = conn.execute(
                select(b.course_stream).where(b.course_stream.not_in([row.course_stream]))
                .distinct().order_by(b.course_stream).limit(2)
            ).scalars().all()
    finally:
        engine.dispose()
    return row.user_id, row.id, row.course_stream, others[0], others[1]


@contextmanager
def holding_booking(db_url: str, booking_id: int) -> Iterator[Callable[[int], bool]]:
    """Lock the booking row (FOR UPDATE) in a connection of the test's; yield waiting(n):
    True once n of the app's sessions wait for a lock, within a few seconds."""
    engine = create_engine(normalize_url(db_url))
    watch = create_engine(normalize_url(db_url), isolation_level="AUTOCOMMIT")
    database = engine.url.database

    def waiting(count: int) -> bool:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        with watch.connect() as conn:
            while time.monotonic() < deadline:
                stuck = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
                    "AND application_name = 'hsl-analytics' AND wait_event_type = 'Lock'"
                ), {"db": database}).scalar_one()
                if stuck >= count:
                    return True
                time.sleep(0.1)
        return False

    try:
        with engine.connect() as conn, conn.begin() as tx:
            conn.execute(select(bookings.c.id).where(bookings.c.id == booking_id)
                         .with_for_update())
            try:
                yield waiting
            finally:
                tx.rollback()
    finally:
        engine.dispose()
        watch.dispose()


def open_profile_as(page, base: str, name: str, user_id: int) -> None:
    page.goto(f"{base}/users?user={user_id}")
    page.get_by_role("button", name="Sign in").wait_for(timeout=LOAD_MS)
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(ADMINS[name])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Change stream").wait_for(timeout=LOAD_MS)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)


def fill_change(page, stream: str, reason: str) -> None:
    choose(page, "Move to stream", fmt.human(stream))
    page.get_by_role("textbox", name="Reason").fill(reason)
    page.get_by_text("I confirm this change").click()


def outcome(page) -> tuple[str, str]:
    """(kind, sentence): the one banner the page ends with after its submit."""
    sentence = page.get_by_test_id("stMain").get_by_test_id("stAlertContainer")
    sentence.first.wait_for(timeout=LOAD_MS)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    shown = alerts(page)
    assert len(shown) == 1, shown
    no_traceback(page)
    return shown[0]


def test_two_admins_change_the_same_stream_at_once_without_a_lost_update(
        two_admins_app, browser):
    base, db_url = two_admins_app
    user_id, booking_id, first, one, other = a_booking_and_two_other_streams(db_url)
    pages = {"alice": new_page(browser), "boris": new_page(browser)}
    targets = {"alice": one, "boris": other}
    try:
        for name, tab in pages.items():
            open_profile_as(tab, base, name, user_id)
        for name, tab in pages.items():
            fill_change(tab, targets[name], f"{name} moves the student")
        buttons = [tab.get_by_role("button", name="Change stream") for tab in pages.values()]
        # The test holds the booking's row while both people click, back to back, until both
        # saves wait for it: both have read the booking before either may write it, the race
        # a lost update needs. (A save that refuses at once instead need not wait.)
        with holding_booking(db_url, booking_id) as waiting:
            for button in buttons:
                button.click(no_wait_after=True)
            waiting(2)
        said = {name: outcome(tab) for name, tab in pages.items()}
    finally:
        for tab in pages.values():
            tab.context.close()

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            log = conn.execute(select(audit_log).where(audit_log.c.action == CHANGE_STREAM)
                               .order_by(audit_log.c.id)).mappings().all()
            stream = conn.execute(select(bookings.c.course_stream)
                                  .where(bookings.c.id == booking_id)).scalar_one()
    finally:
        engine.dispose()

    saved = [name for name, (kind, sentence) in said.items()
             if kind == "success" and MOVED.match(sentence)]
    assert len(log) == len(saved) >= 1, (said, log)
    assert stream in (one, other)
    assert sorted(row["actor"] for row in log) == sorted(saved)
    assert log[0]["before"]["course_stream"] == first
    for earlier, later in pairwise(log):
        assert later["before"] == earlier["after"]  # serialised: nobody's change is lost
    assert log[-1]["after"]["course_stream"] == stream
    for row in log:
        assert row["entity_id"] == str(booking_id)
        assert said[row["actor"]] == ("success",
            f"Moved booking #{booking_id} of user {user_id} from "
            f"{fmt.human(row['before']['course_stream'])} to "
            f"{fmt.human(row['after']['course_stream'])}.")
    for name, (kind, sentence) in said.items():
        if name not in saved:  # one plain sentence, never a traceback
            assert kind in ("error", "warning"), said
            assert "\n" not in sentence and sentence.endswith("."), sentence
