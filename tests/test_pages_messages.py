"""The Messages page through AppTest: compose for pasted ids, the count and the preview, send
(admins) or save a draft (analysts), the campaign list and one campaign, on SQLite and
PostgreSQL. Delivery itself is the worker's (tests/test_worker.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from hsl.db import make_engine
from hsl.messaging.campaigns import queue_one
from hsl.schema import campaign_recipients, campaigns
from tests.conftest import loaded_engine, url_of
from tests.fixtures import utc
from tests.pages_support import (  # noqa: F401 - clean_env and navigation_as_served are autouse
    clean_env,
    errors,
    navigation_as_served,
    open_page,
    shown,
)

MESSAGES = "pages/messages.py"
TOKEN = "123456:page-test-token-never-shown"


def _user(user_id: int, first: str | None, username: str | None) -> dict:
    return {"user_id": user_id, "username": username, "first_name": first, "last_name": None,
            "language_code": "ru", "first_seen_at": utc("2026-03-01 10:00"),
            "updated_at": utc("2026-03-01 10:00")}


ROWS = {
    "users": [_user(701, "Анна", "anna_k"), _user(702, "<b>Bob</b>", None),
              _user(703, None, "carol")],
    "free_lesson_registrations": [{
        "user_id": 703, "username": "carol", "first_name": "Carol", "email": "c@example.org",
        "registered_at": utc("2026-03-02 10:00"), "notification_sent": True,
        "lesson_type": "python_basics", "lesson_date": date(2026, 3, 5)}],
}


@pytest.fixture
def db_url(backend, database_factory) -> str:
    return url_of(loaded_engine(backend, database_factory, ROWS))


def compose(monkeypatch, url: str, role: str, text: str, ids: str):
    monkeypatch.setenv("HSL_TELEGRAM_BOT_TOKEN", TOKEN)
    at = open_page(monkeypatch, url, MESSAGES, role=role)
    next(r for r in at.radio if r.label == "Send to").set_value("ids").run()
    next(t for t in at.text_area if t.label == "User IDs").input(ids).run()
    return next(t for t in at.text_area if t.label == "Message").input(text).run()


def rows(url: str) -> list[tuple]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = conn.execute(
            select(campaigns.c.id, campaigns.c.status, campaign_recipients.c.user_id,
                   campaign_recipients.c.status)
            .select_from(campaigns.outerjoin(campaign_recipients))
            .order_by(campaigns.c.id, campaign_recipients.c.user_id)).all()
    engine.dispose()
    return [tuple(r) for r in found]


def test_an_admin_sees_the_count_and_previews_and_sends(monkeypatch, db_url):
    at = compose(monkeypatch, db_url, "admin", "Hi {first_name|friend}!", "701 702 abc 999 703")
    assert not at.exception and errors(at) == []
    count = next(m.value for m in at.markdown if "will get it" in m.value)
    assert shown(count) == ("**3 people** will get it; left out, not user IDs: `abc`; "
                            "left out, unknown IDs: `999`.")
    # Three real recipients, names escaped as Telegram HTML and shown as text here.
    assert [t.value for t in at.text] == ["Hi Анна!", "Hi <b>Bob</b>!", "Hi Carol!"]
    assert TOKEN not in str(at._tree)
    next(c for c in at.checkbox if c.label == "I confirm sending to 3 people").check().run()
    next(b for b in at.button if b.label == "Send to 3 people").click().run()
    assert not at.exception and errors(at) == []
    assert "Queued campaign #1; the worker sends it." in [s.value for s in at.success]
    assert rows(db_url) == [(1, "scheduled", 701, "pending"), (1, "scheduled", 702, "pending"),
                            (1, "scheduled", 703, "pending")]


def test_an_analyst_saves_a_draft_and_cannot_send(monkeypatch, db_url):
    at = compose(monkeypatch, db_url, "analyst", "Hello {username|there}", "701")
    assert not [b for b in at.button if b.label.startswith("Send to")]
    assert "Your role (analyst) saves drafts; an admin sends them." in [
        c.value for c in at.caption]
    next(b for b in at.button if b.label == "Save draft").click().run()
    assert "Saved draft #1." in [s.value for s in at.success]
    assert rows(db_url) == [(1, "draft", None, None)]


def test_a_broken_template_is_one_sentence(monkeypatch, db_url):
    at = compose(monkeypatch, db_url, "admin", "Hi {last_name}", "701")
    assert not at.exception
    assert len(errors(at)) == 1 and "{last_name}" in errors(at)[0]
    assert not [b for b in at.button if b.label.startswith("Send to")]


def test_viewers_have_no_messages_page(monkeypatch, db_url):
    at = open_page(monkeypatch, db_url, "pages/overview.py", role="viewer")
    assert "Messages" not in str(at.sidebar)


def test_a_done_campaign_offers_a_retry_only_for_what_failed(monkeypatch, db_url):
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(campaigns.insert().values(
            id=1, status="done", text="Hi {first_name|friend}", audience_kind="ids",
            audience="701 702", created_at=utc("2026-03-10 10:00"), created_by="alice",
            queued_at=utc("2026-03-10 10:00"), dry_run=False))
        conn.execute(campaign_recipients.insert(), [
            {"campaign_id": 1, "user_id": 701, "status": "sent", "attempts": 1,
             "error": None, "telegram_message_id": 11, "sent_at": utc("2026-03-10 10:01")},
            {"campaign_id": 1, "user_id": 702, "status": "failed", "attempts": 1,
             "error": "Telegram rejected the message (Chat not found).",
             "telegram_message_id": None, "sent_at": None}])
    engine.dispose()
    monkeypatch.setenv("HSL_TELEGRAM_BOT_TOKEN", TOKEN)
    at = open_page(monkeypatch, db_url, MESSAGES, role="admin", campaign="1")
    assert not at.exception and errors(at) == []
    assert [m.value for m in at.metric][:3] == ["Done", "1", "1"]  # status, sent, failed
    labels = [b.label for b in at.button]
    assert "Retry failed" in labels and "Retry unknown" not in labels
    next(b for b in at.button if b.label == "Retry failed").click().run()
    assert not at.exception and errors(at) == []
    assert rows(db_url) == [(1, "sending", 701, "sent"), (1, "sending", 702, "pending")]
    viewer_like = open_page(monkeypatch, db_url, MESSAGES, role="analyst", campaign="1")
    assert not [b for b in viewer_like.button if b.label.startswith("Retry")]


def test_a_later_time_starts_at_the_next_whole_hour_in_the_reporting_timezone(monkeypatch,
                                                                               db_url):
    # 23:37 UTC on 24 Nov is 02:37 on 25 Nov in Moscow: the next whole hour is 03:00 there.
    monkeypatch.setattr("hsl_ui.messaging.utc_now", lambda: utc("2026-11-24 23:37"))
    at = compose(monkeypatch, db_url, "admin", "Hi {first_name|friend}!", "701")
    next(t for t in at.toggle if t.label == "Send at a later time").set_value(True).run()
    assert not at.exception and errors(at) == []
    assert next(d for d in at.date_input if d.label == "Day").value == date(2026, 11, 25)
    picked = next(t for t in at.time_input if t.label.startswith("Time"))
    assert picked.value.strftime("%H:%M") == "03:00"


def test_digests_and_alerts_are_in_the_history_like_any_campaign(monkeypatch, db_url):
    engine = make_engine(db_url)
    try:
        for kind, chat in (("digest", 701), ("alert", -1001234567890)):
            queue_one(engine, kind=kind, text=f"<b>{kind} {{x}}</b>", chat=chat,
                      created_by="ann", now=datetime.now(UTC), dry_run=True,
                      reason=f"A {kind}.")
    finally:
        engine.dispose()
    at = open_page(monkeypatch, db_url, MESSAGES, role="admin")
    assert not at.exception
    history = at.dataframe[0].value
    # Newest first; a brace of the text (kept literal in its template) reads as one.
    assert history[["Kind", "Recipients", "Message"]].values.tolist() == [
        ["Alert", 1, "alert {x}"], ["Digest", 1, "digest {x}"]]
