"""Summaries kept fresh by the app's own timer, and app replicas reading a separate URL
(SPEC §9, issue 10 points 2 and 7), in real `streamlit run` processes and a real Chromium.

- One app on a SQLite demo with HSL_REFRESH_SECONDS=1: a new event reaches the summaries
  through the app's timer, and after Refresh the page shows it with the new "Summaries as
  of" time.
- Two app processes on one PostgreSQL database, reading through HSL_READ_DATABASE_URL, a
  login that may only SELECT (so any write sent there would fail): one refreshes on its
  timer, both show the refreshed numbers, and sign-ins and a stream change land in the
  database through DATABASE_URL.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from hsl import demo, migrate
from hsl.auth import hash_password
from hsl.db import make_engine
from hsl.schema import audit_log, bookings, events, users
from hsl.summaries import read_state
from hsl.summaries.refresh import refresh
from hsl_ui import format as fmt
from tests.e2e.support import LOAD_MS, LOADED, card_values, choose, new_page
from tests.e2e.test_browser_people import a_user_to_move
from tests.fixtures.replicas import read_only_url

pytestmark = pytest.mark.browser

TZ = "Europe/Moscow"
SUMMARIES_AS_OF = re.compile(r"^Summaries as of (\d\d:\d\d:\d\d)$")
ADMIN, PASSWORD = "alice", "correct horse battery"


def demo_db(url: str) -> None:
    """A small demo whose activity ends today in Moscow, with its summaries built."""
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        today = datetime.now(ZoneInfo(TZ)).date()
        demo.load(engine, demo.DemoSize(users=300, events=4000, seed=13, anchor=today))
        refresh(engine, TZ)
    finally:
        engine.dispose()


def add_events(url: str, count: int) -> int:
    """Write `count` events a minute ago for one known person; return the newest id."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            top = conn.execute(select(func.max(events.c.id))).scalar()
            person = conn.execute(select(func.min(users.c.user_id))).scalar()
            moment = datetime.now(UTC) - timedelta(minutes=1)
            conn.execute(insert(events), [
                {"id": top + i, "user_id": person, "event_type": "menu_opened",
                 "created_at": moment, "details": None} for i in range(1, count + 1)])
        return top + count
    finally:
        engine.dispose()


def summaries_max_id_reaches(url: str, newest: int, timeout: float = 60.0) -> datetime:
    """Wait until a refresh has read event `newest`; return when that refresh was."""
    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            state = read_state(engine)
            if state is not None and state.events_max_id >= newest:
                return state.refreshed_at
            assert time.monotonic() < deadline, "no refresh read the new events"
            time.sleep(0.2)
    finally:
        engine.dispose()


def summaries_shown(page) -> datetime:
    """The sidebar's "Summaries as of HH:MM:SS" as an aware time today in Moscow."""
    caption = page.get_by_text(SUMMARIES_AS_OF)
    caption.wait_for(timeout=LOAD_MS)
    clock = SUMMARIES_AS_OF.match(caption.inner_text().strip()).group(1)
    today = datetime.now(ZoneInfo(TZ)).date()
    return datetime.combine(today, datetime.strptime(clock, "%H:%M:%S").time(), ZoneInfo(TZ))


def summaries_shown_after(page, old: datetime) -> datetime:
    """The "Summaries as of" time once the rerun has redrawn it (the caption is drawn at
    the end of a run, so until then the previous run's stays on screen)."""
    deadline = time.monotonic() + LOAD_MS / 1000
    while (shown := summaries_shown(page)) == old:
        assert time.monotonic() < deadline, "the caption still shows the earlier refresh"
        time.sleep(0.2)
    return shown


def events_card(page) -> int:
    return int(card_values(page, 4)[0].replace(",", ""))


def refreshed_page_shows(page, events_now: int) -> None:
    """Press Refresh; wait until the Events card shows `events_now`."""
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_test_id("stMetricValue").first).to_have_text(
        fmt.count(events_now), timeout=LOAD_MS)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)


def test_the_app_refreshes_its_summaries_on_a_timer_and_says_how_fresh(
        serve, browser, tmp_path):
    path = tmp_path / "demo.sqlite"
    demo_db(f"sqlite:///{path}")
    base = serve(HSL_DEMO_DB=str(path), HSL_TIMEZONE=TZ, HSL_REFRESH_SECONDS="1")
    page = new_page(browser, f"{base}/activity")
    try:
        before = events_card(page)
        first = summaries_shown(page)
        assert page.get_by_text(LOADED).count() == 1  # its own caption, unchanged
        newest = add_events(f"sqlite:///{path}", 3)
        refreshed = summaries_max_id_reaches(f"sqlite:///{path}", newest)
        refreshed_page_shows(page, before + 3)
        assert summaries_shown_after(page, first) >= refreshed.replace(microsecond=0) > first
    finally:
        page.context.close()


@pytest.fixture
def replicated(serve, database_factory, pg_admin, tmp_path):
    """(primary URL, [app A, app B], reader's user name): two apps on one PostgreSQL database.

    Both write to DATABASE_URL and read through HSL_READ_DATABASE_URL, a login with SELECT
    only; A refreshes the summaries every second, B never does.
    """
    url = database_factory("postgresql")
    demo_db(url)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[auth.users.{ADMIN}]\npassword_hash = "{hash_password(PASSWORD, 4)}"\n'
                       'role = "admin"\n', encoding="utf-8")
    with read_only_url(url) as reader:
        common = {"DATABASE_URL": url, "HSL_READ_DATABASE_URL": reader, "HSL_TIMEZONE": TZ,
                  "STREAMLIT_SECRETS_FILES": str(secrets)}
        apps = [serve(**common, HSL_REFRESH_SECONDS="1"),
                serve(**common, HSL_REFRESH_SECONDS="0")]
        yield url, apps, make_url(reader).username
    # The servers live on until the session ends: take the database away from A's timer.
    with pg_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)'))


def signed_in(browser, base: str, path: str):
    page = new_page(browser, base + path)
    page.get_by_role("button", name="Sign in").wait_for(timeout=LOAD_MS)
    page.get_by_role("textbox", name="User name").fill(ADMIN)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    return page


def test_two_apps_read_a_separate_url_and_write_to_the_database(replicated, browser):
    url, apps, reader = replicated
    pages = [signed_in(browser, base, "/activity") for base in apps]
    try:
        before = [events_card(page) for page in pages]
        first = [summaries_shown(page) for page in pages]
        assert before[0] == before[1]

        newest = add_events(url, 5)
        refreshed = summaries_max_id_reaches(url, newest)  # app A's timer, via DATABASE_URL
        for page, shown in zip(pages, first, strict=True):
            refreshed_page_shows(page, before[0] + 5)
            assert summaries_shown_after(page, shown) >= refreshed.replace(microsecond=0) > shown

        user_id, booking_id, _, target = a_user_to_move(url)
        move_stream(pages[1], user_id, target)
        check = make_engine(url)
        try:
            with check.connect() as conn:
                stream = conn.execute(select(bookings.c.course_stream)
                                      .where(bookings.c.id == booking_id)).scalar_one()
                audited = conn.execute(select(audit_log.c.action, func.count())
                                       .where(audit_log.c.actor == ADMIN)
                                       .group_by(audit_log.c.action)).all()
                readers = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = :reader "
                    "AND datname = current_database()"), {"reader": reader}).scalar()
        finally:
            check.dispose()
        assert stream == target
        assert dict(audited) == {"sign_in": 2, "change_stream": 1}  # one sign-in an app
        assert readers >= 2  # both apps hold connections through the read URL
    finally:
        for page in pages:
            page.context.close()


def move_stream(page, user_id: int, target: str) -> None:
    """As the signed-in admin: find the user on the Users page, change their stream."""
    page.get_by_test_id("stSidebar").get_by_role("link", name="Users", exact=True).click()
    box = page.get_by_role("textbox", name="Search")
    box.fill(str(user_id))
    box.press("Enter")
    page.get_by_text(f"1 person match “{user_id}”.").wait_for(timeout=LOAD_MS)
    chosen = re.compile(rf"[?&]user={user_id}(&|$)")
    for _ in range(10):  # a click before the grid has drawn its rows does nothing: again
        if chosen.search(page.url):
            break
        grid = page.get_by_test_id("stDataFrame").first.bounding_box()
        page.mouse.click(grid["x"] + 18, grid["y"] + 52)  # the row's checkbox: the profile
        try:
            page.wait_for_url(chosen, timeout=5000)
        except PlaywrightTimeout:
            continue
    page.get_by_role("heading", name="Change stream").wait_for(timeout=LOAD_MS)
    choose(page, "Move to stream", fmt.human(target))
    page.get_by_role("textbox", name="Reason").fill("Moved by the replica test")
    page.get_by_text("I confirm this change").click()
    page.get_by_role("button", name="Change stream").click()
    page.get_by_text(re.compile(rf"^Moved booking #\d+ of user {user_id} from ")).wait_for(
        timeout=LOAD_MS)
