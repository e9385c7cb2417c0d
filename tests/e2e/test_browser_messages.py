"""The Messages page in a real Chromium on the embedded demo database, with a real
`python -m hsl send-worker` beside the app: compose for pasted ids, confirm, the dry-run
delivery, progress to done, and the recipients' CSV."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import select

from hsl.db import make_engine
from hsl.schema import users
from tests.e2e.support import LOAD_MS, LOADED, ROOT, new_page, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def messaging_app(serve, tmp_path_factory):
    """(base URL, demo file): the app and a send-worker on one fresh demo database."""
    demo_file = tmp_path_factory.mktemp("messages") / "demo.sqlite"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HSL_DEMO_DB")}
    base = serve(HSL_DEMO_DB=str(demo_file), HSL_TIMEZONE="Europe/Moscow")
    worker = subprocess.Popen(
        [sys.executable, "-m", "hsl", "send-worker"], cwd=ROOT,
        env={**env, "HSL_DEMO_DB": str(demo_file)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        yield base, demo_file
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def test_compose_confirm_deliver_and_download(messaging_app, browser):
    base, demo_file = messaging_app
    page = new_page(browser, base)
    page.get_by_text(LOADED).wait_for(timeout=LOAD_MS)  # the demo is made on the first run
    engine = make_engine(f"sqlite:///{demo_file}")
    with engine.connect() as conn:
        ids = conn.execute(select(users.c.user_id).order_by(users.c.user_id).limit(3)
                           ).scalars().all()
    engine.dispose()

    page.goto(f"{base}/messages")
    page.get_by_role("heading", name="Messages").wait_for(timeout=LOAD_MS)
    page.get_by_text("Pasted IDs").click()
    page.get_by_role("textbox", name="User IDs").fill(" ".join(map(str, ids)) + " nope")
    message = page.get_by_role("textbox", name="Message")
    message.fill("Hi {first_name|there}, the <b>lesson</b> starts at 19:00.")
    message.press("Control+Enter")
    page.get_by_text("3 people").first.wait_for(timeout=LOAD_MS)
    page.get_by_text("left out, not user IDs").wait_for(timeout=LOAD_MS)
    page.get_by_text("I confirm sending to 3 people").click()
    page.get_by_role("button", name="Send to 3 people").click()
    page.get_by_text("Queued campaign #4; the worker sends it.").wait_for(timeout=LOAD_MS)
    screenshot(page, "messages.png")

    page.goto(f"{base}/messages?campaign=4")
    # The worker (dry run) delivers; the fragment redraws the progress by itself.
    page.get_by_text("3 of 3 people sent").wait_for(timeout=60_000)
    cards = page.get_by_test_id("stMetricValue").all_text_contents()
    assert cards[:2] == ["Done", "3"]
    # The line above the text is redrawn with the progress: it ends as "sent <when>".
    about = page.get_by_text(re.compile(r"^Written by Demo visitor on .* · to pasted IDs · sent "))
    about.wait_for(timeout=LOAD_MS)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    body = download.value.path().read_text(encoding="utf-8-sig")
    got = list(csv.reader(io.StringIO(body)))
    assert got[0] == ["User ID", "Status", "Attempts", "Error", "Telegram message",
                      "Sent at (Europe/Moscow)"]  # the page's labels and words
    assert [(int(r[0]), r[1], r[2]) for r in got[1:]] == [(i, "Sent", "1") for i in ids]
    screenshot(page, "campaign.png")
    page.context.close()
