"""The campaign lifecycle: who may do what, every transition and refusal, audit rows, reads.

The people (NOW is 2026-11-25 12:00 UTC):

| user | users row  | bookings      | earlier delivery (campaign 1, created 11-01) |
|------|------------|---------------|----------------------------------------------|
| 501  | ana, Ana   | 5th_stream    | sent 11-01                                   |
| 502  | ben, Ben   | 5th_stream    | failed 11-01                                 |
| 503  | cat, Cat   | 5th_stream    | blocked 11-01: skipped in new campaigns      |
| 505  | -, -       | 5th_stream    | -                                            |
| 506  | dee, Dee   | 5th_stream    | -                                            |
| 507  | eli, Eli   | 6th_stream    | -                                            |

So a campaign to 5th_stream has 5 rows: 4 pending (501, 502, 505, 506), 503 skipped.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from hsl.auth import Actor
from hsl.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from hsl.messaging import campaigns as cmp
from hsl.messaging.campaigns import (
    LIST_COLUMNS,
    OVERVIEW_COLUMNS,
    STATUS_COLUMNS,
    QueueResult,
    campaign,
    campaign_list,
    campaign_overview,
    campaign_status,
    cancel,
    create_and_queue,
    create_draft,
    local_to_utc,
    pause,
    preview,
    queue,
    resume,
    retry,
    send_test,
    update_draft,
)
from hsl.schema import audit_log, campaign_recipients, campaigns, users
from tests.conftest import loaded_engine
from tests.fixtures import utc
from tests.fixtures.messaging import campaign_row, delivery, load_history
from tests.fixtures.people import NOW, booking, rows, user

ADMIN = Actor("alice", "admin")
ANALYST = Actor("ann", "analyst")
VIEWER = Actor("vic", "viewer")
LATER = NOW + timedelta(hours=1)
MOSCOW = "Europe/Moscow"
TEXT = "Hi {first_name|friend}!"

ROWS = {
    "users": [user(501, "ana", "Ana"), user(502, "ben", "Ben"), user(503, "cat", "Cat"),
              user(506, "dee", "Dee"), user(507, "eli", "Eli")],
    "bookings": [
        *(booking(i + 1, uid, "5th_stream", 0, "2026-10-01 10:00")
          for i, uid in enumerate((501, 502, 503, 505, 506))),
        booking(6, 507, "6th_stream", 0, "2026-10-01 10:00"),
    ],
}
HISTORY = {
    "campaigns": [campaign_row(1, "2026-11-01 09:00")],
    "campaign_recipients": [
        delivery(1, 501, "sent", sent="2026-11-01 10:00"),
        delivery(1, 502, "failed", due="2026-11-01 10:00"),
        delivery(1, 503, "blocked", due="2026-11-01 10:00"),
    ],
}


@pytest.fixture
def db(backend, database_factory):
    """A fresh database per test: these tests write."""
    engine = loaded_engine(backend, database_factory, ROWS)
    load_history(engine, HISTORY)
    yield engine
    engine.dispose()


def draft(db, spec="5th_stream", kind="stream", actor=ANALYST, **kwargs) -> int:
    return create_draft(db, actor, TEXT, kind, spec, now=NOW, dry_run=False, **kwargs)


def queued(db, **kwargs) -> int:
    cid = draft(db)
    queue(db, ADMIN, cid, now=NOW, tz="UTC", **kwargs)
    return cid


def recipients(db, cid: int) -> list[tuple]:
    with db.connect() as conn:
        stmt = (select(campaign_recipients.c.user_id, campaign_recipients.c.status,
                       campaign_recipients.c.first_name, campaign_recipients.c.username,
                       campaign_recipients.c.attempts, campaign_recipients.c.error,
                       campaign_recipients.c.next_attempt_at)
                .where(campaign_recipients.c.campaign_id == cid)
                .order_by(campaign_recipients.c.user_id))
        return [tuple(r) for r in conn.execute(stmt)]


def statuses(db, cid: int) -> dict[int, str]:
    return {uid: status for uid, status, *_ in recipients(db, cid)}


def audits(db) -> list[dict]:
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]


def set_rows(db, cid: int, **by_user: dict) -> None:
    """Play the worker: change recipient rows of campaign `cid` (user id → values)."""
    with db.begin() as conn:
        for uid, values in by_user.items():
            conn.execute(update(campaign_recipients).where(
                campaign_recipients.c.campaign_id == cid,
                campaign_recipients.c.user_id == int(uid.removeprefix("u"))).values(**values))


def set_campaign(db, cid: int, **values) -> None:
    with db.begin() as conn:
        conn.execute(update(campaigns).where(campaigns.c.id == cid).values(**values))


def reason_of(err) -> str:
    return str(err.value)


# ---------------------------------------------------------------- drafts


def test_an_analyst_saves_a_draft_without_recipients(db):
    cid = draft(db)
    assert cid == 2
    found = campaign(db, cid)
    assert (found.status, found.text, found.audience_kind, found.audience) == (
        "draft", TEXT, "stream", "5th_stream")
    assert (found.created_at, found.created_by, found.dry_run) == (NOW, "ann", False)
    assert (found.scheduled_at, found.queued_at, found.started_at, found.finished_at) == (
        None, None, None, None)
    assert recipients(db, cid) == []
    assert audits(db) == []  # drafts are not audited


def test_a_draft_on_the_demo_database_is_a_dry_run_and_keeps_its_intended_time(db):
    cid = create_draft(db, ANALYST, TEXT, "audience", "?page=2&stream=5th_stream&attended=",
                       now=NOW, dry_run=True, scheduled_at=LATER)
    found = campaign(db, cid)
    assert (found.dry_run, found.scheduled_at, found.audience) == (True, LATER, "stream=5th_stream")


def test_a_viewer_cannot_create_a_draft(db):
    with pytest.raises(PermissionDenied) as err:
        draft(db, actor=VIEWER)
    assert reason_of(err) == ("Your role (viewer) may not compose messages; it takes the "
                              "analyst role.")
    assert campaign_list(db)["id"].tolist() == [1]


@pytest.mark.parametrize("text, kind, spec, at, sentence", [
    ("Hi {last_name}", "stream", "5th_stream", None,
     "The text uses the unknown placeholder {last_name} at character 4; use {first_name} or "
     "{username}."),
    ("   ", "stream", "5th_stream", None, "The message is empty; write some text."),
    ("Hi\x00", "stream", "5th_stream", None, "The message holds a NUL character; remove it."),
    (TEXT, "stream", "7th_stream", None, "'7th_stream' is not a known course stream."),
    (TEXT, "test", "501", None,
     "'test' is not an audience kind; use one of audience, stream, ids."),
    (TEXT, "audience", "booked=maybe", None,
     "In the audience query, booked='maybe' is not yes or no."),
    (TEXT, "ids", "", None, "Paste at least one user id."),
    (TEXT, "stream", "5th_stream", NOW - timedelta(minutes=1),
     "The scheduled time 2026-11-25 11:59 (UTC) has already passed; choose a later time, or "
     "send now."),
])
def test_create_draft_refuses_with_one_sentence(db, text, kind, spec, at, sentence):
    with pytest.raises(ValidationError) as err:
        create_draft(db, ANALYST, text, kind, spec, now=NOW, dry_run=False, scheduled_at=at)
    assert reason_of(err) == sentence
    assert campaign_list(db)["id"].tolist() == [1]


def test_a_draft_that_reaches_nobody_is_saved_but_not_queued(db):
    cid = draft(db, kind="ids", spec="999 abc")
    with pytest.raises(ValidationError) as err:
        queue(db, ADMIN, cid, now=NOW, tz="UTC")
    assert reason_of(err) == ("No recipient is left to send to: the audience reaches 0 people, "
                              "2 pasted ids were left out.")
    assert campaign(db, cid).status == "draft"
    assert (recipients(db, cid), audits(db)) == ([], [])


def test_update_draft_replaces_it_and_only_a_draft(db):
    cid = draft(db)
    update_draft(db, ANALYST, cid, "Bye {username}", "ids", "507", now=NOW, scheduled_at=LATER)
    found = campaign(db, cid)
    assert (found.text, found.audience_kind, found.audience, found.scheduled_at) == (
        "Bye {username}", "ids", "507", LATER)
    queue(db, ADMIN, cid, now=NOW, tz="UTC")
    with pytest.raises(ConflictError) as err:
        update_draft(db, ANALYST, cid, TEXT, "stream", "5th_stream", now=NOW)
    assert reason_of(err) == f"Campaign {cid} is scheduled; only a draft campaign can be edited."
    with pytest.raises(PermissionDenied):
        update_draft(db, VIEWER, cid, TEXT, "stream", "5th_stream", now=NOW)


# ---------------------------------------------------------------- queue


def test_queue_freezes_one_row_per_person_and_skips_who_blocked_the_bot(db):
    cid = draft(db)
    result = queue(db, ADMIN, cid, now=NOW, tz="UTC")
    assert result == QueueResult(recipients=4, skipped=[503], malformed=[], unknown=[],
                                 campaign_id=cid)
    assert recipients(db, cid) == [
        (501, "pending", "Ana", "ana", 0, None, NOW),
        (502, "pending", "Ben", "ben", 0, None, NOW),
        (503, "skipped", "Cat", "cat", 0, "Blocked the bot (campaign 1).", None),
        (505, "pending", None, None, 0, None, NOW),
        (506, "pending", "Dee", "dee", 0, None, NOW),
    ]
    found = campaign(db, cid)
    assert (found.status, found.queued_at, found.scheduled_at) == ("scheduled", NOW, None)
    [entry] = audits(db)
    assert (entry["actor"], entry["action"], entry["entity"], entry["entity_id"]) == (
        "alice", "queue_campaign", "campaign", str(cid))
    assert entry["occurred_at"] == NOW
    assert entry["before"] == {"status": "draft"}
    assert entry["after"] == {"status": "scheduled", "recipients": 5, "pending": 4, "skipped": 1,
                              "scheduled_at": None}
    assert entry["reason"] == ("Queued for 4 recipients (1 skipped: blocked the bot), to send "
                               "now.")


def test_the_frozen_names_do_not_follow_later_changes(db):
    cid = queued(db)
    with db.begin() as conn:
        conn.execute(update(users).where(users.c.user_id == 501).values(first_name="Anastasia"))
    assert recipients(db, cid)[0][2] == "Ana"


def test_a_scheduled_campaign_is_due_at_its_time(db):
    at = local_to_utc(datetime(2026, 11, 26, 9, 30), MOSCOW)
    assert at == utc("2026-11-26 06:30")
    cid = draft(db)
    queue(db, ADMIN, cid, now=NOW, tz=MOSCOW, scheduled_at=at)
    assert {row[6] for row in recipients(db, cid) if row[1] == "pending"} == {at}
    assert campaign(db, cid).scheduled_at == at
    [entry] = audits(db)
    assert entry["after"]["scheduled_at"] == "2026-11-26T06:30:00+00:00"
    assert entry["reason"].endswith("to send at 2026-11-26 09:30 (Europe/Moscow).")


def test_the_drafts_intended_time_is_used_unless_queue_gives_one(db):
    cid = draft(db, scheduled_at=LATER)
    queue(db, ADMIN, cid, now=NOW, tz="UTC")
    assert campaign(db, cid).scheduled_at == LATER


def test_a_scheduled_time_in_the_past_is_refused_and_nothing_is_written(db):
    cid = draft(db, scheduled_at=LATER)
    with pytest.raises(ValidationError) as err:
        queue(db, ADMIN, cid, now=LATER + timedelta(seconds=1), tz=MOSCOW)
    assert reason_of(err) == ("The scheduled time 2026-11-25 16:00 (Europe/Moscow) has already "
                              "passed; choose a later time, or send now.")
    with pytest.raises(ValidationError):
        queue(db, ADMIN, cid, now=NOW, tz="UTC", scheduled_at=NOW - timedelta(seconds=1))
    assert campaign(db, cid).status == "draft"
    assert (recipients(db, cid), audits(db)) == ([], [])


def test_only_a_draft_can_be_queued(db):
    cid = queued(db)
    with pytest.raises(ConflictError) as err:
        queue(db, ADMIN, cid, now=NOW, tz="UTC")
    assert reason_of(err) == f"Campaign {cid} is scheduled; only a draft campaign can be queued."
    with pytest.raises(NotFoundError) as err:
        queue(db, ADMIN, 99, now=NOW, tz="UTC")
    assert reason_of(err) == "No campaign with id 99 exists."
    with pytest.raises(ValidationError, match="is not a campaign id"):
        queue(db, ADMIN, 0, now=NOW, tz="UTC")
    assert len(audits(db)) == 1


def test_everyone_blocked_leaves_no_recipient(db):
    cid = draft(db, kind="ids", spec="503 abc")
    with pytest.raises(ValidationError) as err:
        queue(db, ADMIN, cid, now=NOW, tz="UTC")
    assert reason_of(err) == ("No recipient is left to send to: the audience reaches 1 person, "
                              "1 blocked the bot, 1 pasted id was left out.")


def test_queue_lists_left_out_ids(db):
    cid = draft(db, kind="ids", spec="506 x 999 503 501 506")
    result = queue(db, ADMIN, cid, now=NOW, tz="UTC")
    assert result == QueueResult(2, [503], ["x"], ["999"], cid)
    assert statuses(db, cid) == {501: "pending", 503: "skipped", 506: "pending"}


def test_create_and_queue_is_all_or_nothing(db):
    result = create_and_queue(db, ADMIN, TEXT, "ids", "507", now=NOW, tz="UTC", dry_run=True)
    assert (result.recipients, campaign(db, result.campaign_id).status) == (1, "scheduled")
    assert campaign(db, result.campaign_id).dry_run is True
    with pytest.raises(ValidationError, match="No recipient is left"):
        create_and_queue(db, ADMIN, TEXT, "ids", "503", now=NOW, tz="UTC", dry_run=False)
    with pytest.raises(PermissionDenied):
        create_and_queue(db, ANALYST, TEXT, "ids", "507", now=NOW, tz="UTC", dry_run=False)
    assert campaign_list(db)["id"].tolist() == [result.campaign_id, 1]


# ---------------------------------------------------------------- permissions


ADMIN_ONLY = {
    "queue": lambda db, a, cid: queue(db, a, cid, now=NOW, tz="UTC"),
    "pause": lambda db, a, cid: pause(db, a, cid, now=NOW),
    "resume": lambda db, a, cid: resume(db, a, cid, now=NOW),
    "cancel": lambda db, a, cid: cancel(db, a, cid, now=NOW),
    "retry": lambda db, a, cid: retry(db, a, cid, now=NOW),
    "send_test": lambda db, a, cid: send_test(db, a, TEXT, 501, now=NOW, dry_run=False),
}


@pytest.mark.parametrize("what", list(ADMIN_ONLY))
@pytest.mark.parametrize("actor", [VIEWER, ANALYST], ids=["viewer", "analyst"])
def test_viewers_and_analysts_cannot_send(db, what, actor):
    cid = draft(db)
    with pytest.raises(PermissionDenied) as err:
        ADMIN_ONLY[what](db, actor, cid)
    assert reason_of(err) == (f"Your role ({actor.role}) may not send messages; it takes the "
                              "admin role.")
    assert (campaign(db, cid).status, recipients(db, cid), audits(db)) == ("draft", [], [])


# ---------------------------------------------------------------- pause and resume


def test_pause_and_resume_before_and_after_the_start(db):
    cid = queued(db)
    pause(db, ADMIN, cid, now=NOW)
    assert campaign(db, cid).status == "paused"
    assert resume(db, ADMIN, cid, now=NOW) == "scheduled"  # not started yet
    set_campaign(db, cid, status="sending", started_at=NOW)  # the worker started it
    pause(db, ADMIN, cid, now=LATER, reason="Typo in the link.")
    assert resume(db, ADMIN, cid, now=LATER) == "sending"
    trail = [(a["action"], a["before"], a["after"], a["reason"]) for a in audits(db)[1:]]
    assert trail == [
        ("pause_campaign", {"status": "scheduled"}, {"status": "paused"},
         "Paused: no more messages until it is resumed."),
        ("resume_campaign", {"status": "paused"}, {"status": "scheduled"}, "Resumed."),
        ("pause_campaign", {"status": "sending"}, {"status": "paused"}, "Typo in the link."),
        ("resume_campaign", {"status": "paused"}, {"status": "sending"}, "Resumed."),
    ]


@pytest.mark.parametrize("status", ["draft", "paused", "done", "cancelled"])
def test_pause_refused_unless_scheduled_or_sending(db, status):
    cid = draft(db)
    set_campaign(db, cid, status=status)
    with pytest.raises(ConflictError) as err:
        pause(db, ADMIN, cid, now=NOW)
    assert reason_of(err) == (f"Campaign {cid} is {status}; only a scheduled or sending "
                              "campaign can be paused.")


@pytest.mark.parametrize("status", ["draft", "scheduled", "sending", "done", "cancelled"])
def test_resume_refused_unless_paused(db, status):
    cid = draft(db)
    set_campaign(db, cid, status=status)
    with pytest.raises(ConflictError) as err:
        resume(db, ADMIN, cid, now=NOW)
    assert reason_of(err) == f"Campaign {cid} is {status}; only a paused campaign can be resumed."
    assert audits(db) == []


# ---------------------------------------------------------------- cancel


def test_cancel_skips_pending_rows_only(db):
    cid = queued(db)
    set_campaign(db, cid, status="sending", started_at=NOW)
    set_rows(db, cid, u501={"status": "sent", "sent_at": NOW, "telegram_message_id": 77},
             u502={"status": "sending", "claimed_by": "w1"})
    assert cancel(db, ADMIN, cid, now=LATER) == 2
    assert [(u, s, e) for u, s, _, _, _, e, _ in recipients(db, cid)] == [
        (501, "sent", None),
        (502, "sending", None),
        (503, "skipped", "Blocked the bot (campaign 1)."),
        (505, "skipped", "Campaign cancelled."),
        (506, "skipped", "Campaign cancelled."),
    ]
    found = campaign(db, cid)
    assert (found.status, found.finished_at) == ("cancelled", LATER)
    entry = audits(db)[-1]
    assert (entry["action"], entry["before"], entry["after"], entry["reason"]) == (
        "cancel_campaign", {"status": "sending"}, {"status": "cancelled", "skipped": 2},
        "Cancelled; 2 pending recipients skipped.")


@pytest.mark.parametrize("status", ["draft", "scheduled", "paused"])
def test_cancel_before_the_start(db, status):
    cid = queued(db) if status != "draft" else draft(db)
    if status == "paused":
        pause(db, ADMIN, cid, now=NOW)
    expected = 0 if status == "draft" else 4
    assert cancel(db, ADMIN, cid, now=NOW) == expected
    assert campaign(db, cid).status == "cancelled"
    assert audits(db)[-1]["before"] == {"status": status}


@pytest.mark.parametrize("status", ["done", "cancelled"])
def test_cancel_refused_once_finished(db, status):
    cid = queued(db)
    set_campaign(db, cid, status=status)
    with pytest.raises(ConflictError) as err:
        cancel(db, ADMIN, cid, now=NOW)
    assert reason_of(err) == (f"Campaign {cid} is {status}; only a draft, scheduled, sending or "
                              "paused campaign can be cancelled.")
    assert set(statuses(db, cid).values()) == {"pending", "skipped"}


# ---------------------------------------------------------------- retry


@pytest.fixture
def finished(db):
    """Campaign 2, done: 501 sent, 502 failed (5 attempts), 505 unknown, 506 blocked."""
    cid = queued(db)
    set_campaign(db, cid, status="done", started_at=NOW, finished_at=NOW)
    set_rows(db, cid,
             u501={"status": "sent", "attempts": 1, "sent_at": NOW},
             u502={"status": "failed", "attempts": 5, "error": "Telegram is down (502)."},
             u505={"status": "unknown", "attempts": 1, "claimed_by": "w1",
                   "error": "The worker stopped while sending."},
             u506={"status": "blocked", "attempts": 1, "error": "Forbidden."})
    return cid


def test_retry_failed_then_unknown(db, finished):
    cid = finished
    assert retry(db, ADMIN, cid, now=LATER) == 1
    rows_now = {row[0]: row for row in recipients(db, cid)}
    assert rows_now[502][1:] == ("pending", "Ben", "ben", 5, "Telegram is down (502).", LATER)
    assert rows_now[505][1] == "unknown"
    found = campaign(db, cid)
    assert (found.status, found.finished_at) == ("sending", None)
    entry = audits(db)[-1]
    assert (entry["action"], entry["before"], entry["after"], entry["reason"]) == (
        "retry_campaign", {"status": "done", "failed": 1},
        {"status": "sending", "failed": 0, "pending": 1}, "Retrying 1 failed recipient.")

    assert retry(db, ADMIN, cid, now=LATER, which="unknown") == 1
    assert statuses(db, cid) == {501: "sent", 502: "pending", 503: "skipped", 505: "pending",
                                 506: "blocked"}
    with db.connect() as conn:
        claimed = conn.execute(select(campaign_recipients.c.claimed_by).where(
            campaign_recipients.c.campaign_id == cid,
            campaign_recipients.c.user_id == 505)).scalar()
    assert claimed is None
    assert audits(db)[-1]["before"] == {"status": "sending", "unknown": 1}


def test_retry_refusals(db, finished):
    retry(db, ADMIN, finished, now=LATER)
    with pytest.raises(ConflictError) as err:
        retry(db, ADMIN, finished, now=LATER)
    assert reason_of(err) == f"Campaign {finished} has no failed recipient to retry."
    with pytest.raises(ValidationError) as err:
        retry(db, ADMIN, finished, now=LATER, which="blocked")
    assert reason_of(err) == "'blocked' cannot be retried; retry failed or unknown recipients."
    cid = draft(db)
    with pytest.raises(ConflictError) as err:
        retry(db, ADMIN, cid, now=LATER)
    assert reason_of(err) == (f"Campaign {cid} is draft; only a scheduled, sending, paused or "
                              "done campaign can be retried.")


# ---------------------------------------------------------------- send a test


def test_send_me_a_test_queues_one_recipient_at_once(db):
    cid = send_test(db, ADMIN, "Test for {first_name}", "503", now=NOW, dry_run=True)
    found = campaign(db, cid)
    assert (found.status, found.audience_kind, found.audience, found.dry_run,
            found.queued_at, found.scheduled_at) == ("scheduled", "test", "503", True, NOW, None)
    # 503 blocked the bot last time, but a test is never skipped.
    assert recipients(db, cid) == [(503, "pending", "Cat", "cat", 0, None, NOW)]
    [entry] = audits(db)
    assert (entry["action"], entry["reason"]) == ("queue_campaign", "Test message to chat 503.")
    with pytest.raises(ValidationError) as err:
        send_test(db, ADMIN, TEXT, "me", now=NOW, dry_run=True)
    assert reason_of(err) == "'me' is not one Telegram user id."


# ---------------------------------------------------------------- reads


def test_campaign_list_counts_by_hand(db, finished):
    second = draft(db)  # campaign 3: a draft, no rows
    frame = campaign_list(db, tz=MOSCOW)
    assert list(frame.columns) == LIST_COLUMNS
    assert rows(frame, "id", "status", "created_by", "recipients", "sent", "failed", "blocked",
                "skipped", "unknown") == [
        (second, "draft", "ann", 0, 0, 0, 0, 0, 0),
        (finished, "done", "ann", 5, 1, 1, 1, 1, 1),
        (1, "done", "alice", 3, 1, 1, 1, 0, 0),
    ]
    assert frame["created_at"].iloc[2].isoformat() == "2026-11-01T12:00:00+03:00"
    overview = campaign_overview(db)
    assert list(overview.columns) == OVERVIEW_COLUMNS
    assert rows(overview, "id", "pending", "sending", "dry_run", "audience_kind", "text")[1] == (
        finished, 0, 0, False, "stream", TEXT)


def test_campaign_status_rows_by_user(db, finished):
    set_rows(db, finished, u501={"telegram_message_id": 9_007_199_254_740_993})
    frame = campaign_status(db, finished, tz=MOSCOW)
    assert list(frame.columns) == STATUS_COLUMNS
    assert rows(frame, "user_id", "status", "attempts", "error", "telegram_message_id") == [
        (501, "sent", 1, None, 9_007_199_254_740_993),
        (502, "failed", 5, "Telegram is down (502).", None),
        (503, "skipped", 0, "Blocked the bot (campaign 1).", None),
        (505, "unknown", 1, "The worker stopped while sending.", None),
        (506, "blocked", 1, "Forbidden.", None),
    ]
    assert frame["sent_at"].iloc[0].isoformat() == "2026-11-25T15:00:00+03:00"
    with pytest.raises(NotFoundError, match="No campaign with id 42 exists."):
        campaign_status(db, 42)


def test_preview_renders_for_three_real_recipients(db):
    shown = preview(db, "<b>Hi {first_name|friend}</b>, @{username}", "stream", "5th_stream",
                    tz="UTC", now=NOW)
    assert shown == [
        (501, "Ana", "ana", "<b>Hi Ana</b>, @ana"),
        (502, "Ben", "ben", "<b>Hi Ben</b>, @ben"),
        (505, None, None, "<b>Hi friend</b>, @"),
    ]
    with pytest.raises(ValidationError, match="unknown placeholder"):
        preview(db, "{nope}", "stream", "5th_stream", tz="UTC", now=NOW)


# ---------------------------------------------------------------- local times


def test_local_times_that_the_clocks_skip_or_repeat_are_refused():
    berlin = "Europe/Berlin"
    assert local_to_utc(datetime(2026, 7, 1, 9, 0), berlin) == utc("2026-07-01 07:00")
    with pytest.raises(ValidationError) as err:
        local_to_utc(datetime(2026, 3, 29, 2, 30), berlin)
    assert reason_of(err) == ("2026-03-29 02:30 does not exist in Europe/Berlin (the clocks skip "
                              "it); choose another time.")
    with pytest.raises(ValidationError) as err:
        local_to_utc(datetime(2026, 10, 25, 2, 30), berlin)
    assert reason_of(err) == ("2026-10-25 02:30 happens twice in Europe/Berlin (the clocks go "
                              "back); give the UTC offset too, like 2026-10-25T02:30+02:00.")
    aware = datetime.fromisoformat("2026-10-25T02:30+01:00")
    assert local_to_utc(aware, berlin) == utc("2026-10-25 01:30")


# ---------------------------------------------------------------- two admins at once


def test_two_admins_queueing_one_draft_at_once_one_wins(db, monkeypatch):
    cid = draft(db)
    real_selection = cmp.selection

    def slow_selection(*args, **kwargs):
        time.sleep(0.3)  # inside the transaction, with the row locked: the other one waits
        return real_selection(*args, **kwargs)

    monkeypatch.setattr(cmp, "selection", slow_selection)
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = queue(db, Actor(f"admin{i}", "admin"), cid, now=NOW, tz="UTC")
        except ConflictError as err:
            outcomes[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    wins = [o for o in outcomes if isinstance(o, QueueResult)]
    losses = [o for o in outcomes if isinstance(o, ConflictError)]
    assert (len(wins), len(losses)) == (1, 1), outcomes
    assert str(losses[0]) == f"Campaign {cid} is scheduled; only a draft campaign can be queued."
    assert len(recipients(db, cid)) == 5
    assert [a["action"] for a in audits(db)] == ["queue_campaign"]
