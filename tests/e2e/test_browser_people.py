"""Login, the Users, Audience and Audit log pages in a real headless Chromium.

The app runs on a real PostgreSQL database (demo rows, so login is required) with password
users in a temporary secrets file, as an operator would set it up.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from hsl import demo, migrate
from hsl.auth import hash_password
from hsl.db import make_engine
from hsl.schema import audit_log, bookings, users
from hsl_ui import format as fmt
from tests.e2e.support import (
    LOAD_MS,
    LOADED,
    choose,
    new_page,
    options_of,
    screenshot,
    settled,
)

pytestmark = pytest.mark.browser

WRONG = "Wrong user name or password."
USERS = {"alice": ("correct horse battery", "admin"), "vera": ("vera's password", "viewer")}


@pytest.fixture(scope="module")
def people_app(serve, database_factory, tmp_path_factory) -> tuple[str, str]:
    """(base URL, database URL): the app on a demo-filled PostgreSQL with password users."""
    url = database_factory("postgresql")
    engine = make_engine(url)
    migrate.upgrade(engine)
    demo.load(engine, demo.DemoSize(users=400, events=6000, seed=11))
    engine.dispose()
    secrets = tmp_path_factory.mktemp("secrets") / "secrets.toml"
    secrets.write_text("".join(
        f'[auth.users.{name}]\npassword_hash = "{hash_password(pw, 4)}"\nrole = "{role}"\n\n'
        for name, (pw, role) in USERS.items()
    ), encoding="utf-8")
    base = serve(DATABASE_URL=url, STREAMLIT_SECRETS_FILES=str(secrets),
                 HSL_TIMEZONE="Europe/Moscow")
    return base, url


def submit_sign_in(page, name: str, password: str) -> None:
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in(page, base: str, name: str, path: str = "") -> None:
    """Open `base/path` and sign in as `name`; wait until the page has drawn."""
    page.goto(base + path)
    page.get_by_role("button", name="Sign in").wait_for(timeout=LOAD_MS)
    submit_sign_in(page, name, USERS[name][0])
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)


def a_user_to_move(db_url: str) -> tuple[int, int, str, str]:
    """(user id, booking id, its stream, another known stream): a user's newest active booking."""
    engine = make_engine(db_url)
    b = bookings.c
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(b.user_id, b.id, b.course_stream)
                .where(b.confirmed != -1, b.course_stream.is_not(None))
                .order_by(b.user_id, b.created_at.desc(), b.id.desc()).limit(1)
            ).one()
            other = conn.execute(
                select(b.course_stream).where(b.course_stream.not_in([row.course_stream]))
                .distinct().order_by(b.course_stream).limit(1)
            ).scalar_one()
    finally:
        engine.dispose()
    return row.user_id, row.id, row.course_stream, other


def test_wrong_password_is_one_sentence_and_the_right_one_opens_the_app(people_app, page):
    base, _ = people_app
    page.goto(base)
    page.get_by_role("button", name="Sign in").wait_for(timeout=LOAD_MS)
    assert page.get_by_role("heading", name="HSL Analytics").is_visible()
    assert page.get_by_text("Dates").count() == 0  # nothing of the app before signing in
    screenshot(page, "login.png")

    submit_sign_in(page, "alice", "not my password")
    page.get_by_text(WRONG, exact=True).wait_for(timeout=LOAD_MS)
    assert page.get_by_text(WRONG, exact=True).count() == 1
    assert page.get_by_test_id("stMetricLabel").count() == 0

    page.get_by_role("textbox", name="Password").fill(USERS["alice"][0])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("stMetricLabel").get_by_text("Known users", exact=True).wait_for(
        timeout=LOAD_MS)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    assert page.get_by_text(WRONG, exact=True).count() == 0
    assert page.get_by_text("alice · admin").is_visible()
    assert page.get_by_text("Demo data", exact=True).count() == 0  # a real database

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for(timeout=LOAD_MS)


def test_a_link_opens_its_page_after_signing_in(people_app, page):
    base, _ = people_app
    sign_in(page, base, "alice", "/users?q=anna")
    assert re.search(r"/users\?q=anna", page.url)
    assert page.get_by_role("textbox", name="Search").input_value() == "anna"
    page.get_by_text(re.compile(r"^[\d,]+ (people|person) match “anna”\.$")).wait_for(
        timeout=LOAD_MS)
    screenshot(page, "users.png")


def test_an_admin_changes_a_stream_and_finds_it_in_the_audit_log(people_app, page):
    base, db_url = people_app
    user_id, booking_id, before, after = a_user_to_move(db_url)
    sign_in(page, base, "alice", f"/users?q={user_id}")
    page.get_by_text(f"1 person match “{user_id}”.").wait_for(timeout=LOAD_MS)
    # A click on the row's checkbox opens the profile.
    grid = page.get_by_test_id("stDataFrame").bounding_box()
    page.mouse.click(grid["x"] + 18, grid["y"] + 52)
    page.get_by_role("heading", name="Change stream").wait_for(timeout=LOAD_MS)
    assert f"user={user_id}" in page.url

    # The booking's own stream is not offered; the required fields say so.
    offered = options_of(page, "Move to stream *")
    assert offered and fmt.human(before) not in offered
    choose(page, "Move to stream", fmt.human(after))
    page.get_by_role("textbox", name="Reason *").fill("Asked to move to another group")
    page.get_by_text("I confirm this change").click()
    page.get_by_role("button", name="Change stream").click()
    moved = (f"Moved booking #{booking_id} of user {user_id} from {fmt.human(before)} to "
             f"{fmt.human(after)}.")
    page.get_by_text(moved, exact=True).wait_for(timeout=LOAD_MS)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    screenshot(page, "profile.png")

    page.get_by_role("link", name="Audit log").click()
    change = f"Stream: {fmt.human(before)} → {fmt.human(after)}"
    # Sign-ins are audited too (under the name typed); the user box keeps this person's.
    box = page.get_by_role("textbox", name="User ID")
    box.fill(str(user_id))
    box.press("Enter")
    page.get_by_text("1 change.", exact=True).wait_for(timeout=LOAD_MS)
    cells = page.get_by_test_id("stTable")
    cells.get_by_text(change).wait_for(timeout=LOAD_MS)
    row = cells.inner_text()
    screenshot(page, "audit_log.png")
    link = cells.get_by_role("link", name=str(user_id), exact=True)
    assert link.get_attribute("href") == f"users?user={user_id}"  # the profile, new tab
    page.get_by_role("link", name=f"Open the profile of user {user_id}").click()
    page.get_by_role("heading", name="Change stream").wait_for(timeout=LOAD_MS)  # same tab
    assert f"user={user_id}" in page.url
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            logged = conn.execute(select(audit_log.c.actor, audit_log.c.reason)
                                  .where(audit_log.c.action == "change_stream")).all()
            stream = conn.execute(select(bookings.c.course_stream)
                                  .where(bookings.c.id == booking_id)).scalar_one()
            signed_in = conn.execute(select(func.count()).select_from(audit_log).where(
                audit_log.c.action == "sign_in", audit_log.c.actor == "alice")).scalar_one()
    finally:
        engine.dispose()
    assert logged == [("alice", "Asked to move to another group")]
    assert signed_in >= 1  # this test's own sign-in, at least
    assert stream == after
    for shown in ("alice", "Change stream", str(user_id), f"Booking #{booking_id}",
                  "Asked to move to another group"):
        assert shown in row


def a_person_with_a_cyrillic_full_name(db_url: str) -> tuple[int, str, str]:
    """(user id, first name, last name) of a demo user with both names in Cyrillic."""
    engine = make_engine(db_url)
    u = users.c
    try:
        with engine.connect() as conn:
            found = conn.execute(select(u.user_id, u.first_name, u.last_name)
                                 .where(u.first_name.is_not(None), u.last_name.is_not(None))
                                 .order_by(u.user_id)).all()
    finally:
        engine.dispose()
    cyrillic = re.compile(r"^[А-Яа-яЁё]+$")
    return next((i, f, la) for i, f, la in found if cyrillic.match(f) and cyrillic.match(la))


def test_a_full_name_search_and_a_click_on_a_cell_open_the_profile(people_app, page):
    base, db_url = people_app
    user_id, first, last = a_person_with_a_cyrillic_full_name(db_url)
    sign_in(page, base, "alice", "/users")
    page.get_by_text(re.compile(r"^Everyone the bot knows: [\d,]+ people\.$")).wait_for(
        timeout=LOAD_MS)
    settled(page)
    # A page of 50 people is drawn whole: header and 50 rows of 35 px, no inner scrolling.
    assert page.get_by_test_id("stDataFrame").bounding_box()["height"] >= 51 * 35
    assert page.get_by_text(re.compile(r"^1–50 of [\d,]+$")).is_visible()
    assert page.get_by_role("button", name="Next").is_enabled()

    box = page.get_by_role("textbox", name="Search")
    box.fill(f"  {last.upper()}   {first.lower()} ")  # other order, case and spacing
    box.press("Enter")
    page.get_by_text(re.compile(r"^[\d,]+ (people|person) match “")).wait_for(timeout=LOAD_MS)
    page.wait_for_url(re.compile(r"[?&]q="), timeout=LOAD_MS)
    settled(page)
    grid = page.get_by_test_id("stDataFrame").bounding_box()
    # The name cell of the first row (exact matches first), well away from the checkbox.
    page.mouse.click(grid["x"] + 350, grid["y"] + 35 + 17)
    page.get_by_role("button", name="Back to search").wait_for(timeout=LOAD_MS)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)
    settled(page)
    assert page.get_by_role("heading", level=1).inner_text().startswith(first)
    assert re.search(r"[?&]user=\d+", page.url)
    # Nothing of the search is left on screen, faded or not.
    assert page.get_by_role("textbox", name="Search").count() == 0
    assert page.get_by_text("Click a row to open the profile.").count() == 0
    assert page.locator("[data-stale=true]").count() == 0
    screenshot(page, "profile_from_search.png")


def test_the_audience_for_an_admin_and_for_a_viewer(people_app, page, browser):
    base, _ = people_app
    query = "/audience?lesson_type=python_basics&attended=yes&booked=no"
    sign_in(page, base, "alice", query)
    page.get_by_text(re.compile(r"^[\d,]+ (people match|person matches)$")).wait_for(
        timeout=LOAD_MS)
    page.get_by_role("button", name="Download CSV").wait_for(timeout=LOAD_MS)  # drawn after it
    screenshot(page, "audience.png")

    viewer = new_page(browser)
    try:
        sign_in(viewer, base, "vera", query)
        viewer.get_by_text("Contact details are hidden for your role (viewer).").wait_for(
            timeout=LOAD_MS)
        assert viewer.get_by_role("button", name="Download CSV").count() == 0
        # The page list is drawn by then (wait for it), and it has no Audit log for a viewer.
        viewer.get_by_role("link", name="Users").wait_for(timeout=LOAD_MS)
        assert viewer.get_by_role("link", name="Audit log").count() == 0
    finally:
        viewer.context.close()
