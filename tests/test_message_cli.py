"""`python -m hsl message …` through a parser built with `add_message_parser` and `run_message`.

The people (the clock is NOW, 2026-11-25 12:00 UTC = 15:00 in Moscow):

| user | users row | bookings   | earlier delivery (campaign 1)  |
|------|-----------|------------|--------------------------------|
| 601  | ola, Ola  | 7th_stream | blocked 11-01: skipped          |
| 602  | pim, Pim  | 7th_stream | -                              |
| 603  | -, -      | 7th_stream | -                              |
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hsl.cli import UsageError, _Parser
from hsl.config import Settings
from hsl.messaging import commands
from hsl.messaging.campaigns import LIST_COLUMNS, STATUS_COLUMNS, campaign
from hsl.schema import audit_log, campaign_recipients, campaigns
from tests.conftest import loaded_engine
from tests.fixtures import utc
from tests.fixtures.messaging import campaign_row, delivery, load_history
from tests.fixtures.people import NOW, booking, user

ROWS = {
    "users": [user(601, "ola", "Ola"), user(602, "pim", "Pim")],
    "bookings": [booking(i + 1, uid, "7th_stream", 0, "2026-10-01 10:00")
                 for i, uid in enumerate((601, 602, 603))],
}
HISTORY = {
    "campaigns": [campaign_row(1, "2026-11-01 09:00")],
    "campaign_recipients": [delivery(1, 601, "blocked", due="2026-11-01 10:00")],
}
TEXT = "Hi {first_name|there}"


@pytest.fixture
def db(backend, database_factory, monkeypatch):
    engine = loaded_engine(backend, database_factory, ROWS)
    load_history(engine, HISTORY)
    monkeypatch.setattr(commands, "utc_now", lambda: NOW)
    yield engine
    engine.dispose()


@pytest.fixture
def cli(db, capsys):
    """Run `message …` like `python -m hsl`: (exit status, stdout, stderr)."""

    def run(*argv: str, tz: str = "Europe/Moscow", demo: bool = False):
        parser = _Parser(prog="python -m hsl")
        sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
        commands.add_message_parser(sub)
        settings = Settings(database_url=str(db.url), timezone=tz, is_demo=demo)
        try:
            args = parser.parse_args(["message", *argv])
        except UsageError as err:
            print(err, file=sys.stderr)
            code = 2
        else:
            code = commands.run_message(args, db, settings)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def recipient_statuses(db, cid: int) -> dict[int, str]:
    with db.connect() as conn:
        stmt = select(campaign_recipients.c.user_id, campaign_recipients.c.status).where(
            campaign_recipients.c.campaign_id == cid)
        return dict(conn.execute(stmt).all())


def campaign_ids(db) -> list[int]:
    with db.connect() as conn:
        return [r[0] for r in conn.execute(select(campaigns.c.id).order_by(campaigns.c.id))]


def audits(db) -> list[dict]:
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]


# ---------------------------------------------------------------- create


def test_create_prints_the_id_alone_and_lists_the_skipped_on_stderr(db, cli):
    code, out, err = cli("create", "--text", TEXT, "--stream", "7th_stream")
    assert (code, out) == (0, "2\n")
    assert err.splitlines() == [
        "Campaign 2 is queued for 2 recipients, to send now.",
        "Skipped, blocked the bot: 601.",
    ]
    found = campaign(db, 2)
    assert (found.status, found.created_by, found.queued_at, found.dry_run) == (
        "scheduled", "command line", NOW, False)
    assert recipient_statuses(db, 2) == {601: "skipped", 602: "pending", 603: "pending"}
    [entry] = audits(db)
    assert (entry["actor"], entry["action"], entry["entity_id"]) == (
        "command line", "queue_campaign", "2")


def test_create_from_files_lists_left_out_ids(db, cli, tmp_path):
    (tmp_path / "text.html").write_text("<b>Hello</b> {first_name}\n", encoding="utf-8")
    (tmp_path / "ids.txt").write_text("602\nabc\n999, 603\n", encoding="utf-8")
    code, out, err = cli("create", "--text-file", str(tmp_path / "text.html"),
                         "--ids", str(tmp_path / "ids.txt"), "--actor", "ops", demo=True)
    assert (code, out) == (0, "2\n")
    assert err.splitlines() == [
        "Campaign 2 is queued for 2 recipients, to send now (dry run: nothing leaves the "
        "machine).",
        "Left out, not user ids: 'abc'.",
        "Left out, unknown ids: 999.",
    ]
    found = campaign(db, 2)
    assert (found.text, found.created_by, found.dry_run, found.audience_kind) == (
        "<b>Hello</b> {first_name}", "ops", True, "ids")


def test_create_at_a_local_time(db, cli):
    code, out, err = cli("create", "--text", TEXT, "--audience", "stream=7th_stream&page=2",
                         "--at", "2026-11-26 09:30")
    assert (code, out) == (0, "2\n")
    assert err.splitlines()[0] == ("Campaign 2 is queued for 2 recipients, to send at "
                                   "2026-11-26 09:30 (Europe/Moscow).")
    found = campaign(db, 2)
    assert (found.scheduled_at, found.audience) == (utc("2026-11-26 06:30"), "stream=7th_stream")


@pytest.mark.parametrize("argv, tz, sentence", [
    (["--at", "2026-11-25 14:59"], "Europe/Moscow",
     "The scheduled time 2026-11-25 14:59 (Europe/Moscow) has already passed; choose a later "
     "time, or send now."),
    (["--at", "tomorrow"], "Europe/Moscow",
     "--at 'tomorrow' is not a date and time; use YYYY-MM-DD HH:MM, a local time in "
     "Europe/Moscow."),
    (["--at", "9999-01-01 10:00"], "UTC",
     "--at '9999-01-01 10:00' is out of range; use a time from 1970-01-01 to 9000-12-31."),
    (["--at", "2027-03-28 02:30"], "Europe/Berlin",
     "2027-03-28 02:30 does not exist in Europe/Berlin (the clocks skip it); choose another "
     "time."),
    (["--at", "2027-10-31 02:30"], "Europe/Berlin",
     "2027-10-31 02:30 happens twice in Europe/Berlin (the clocks go back); give the UTC offset "
     "too, like 2027-10-31T02:30+02:00."),
    (["--actor", "  "], "UTC", "--actor must name who is acting; it goes into the audit log."),
])
def test_create_refuses_a_bad_time_or_actor(db, cli, argv, tz, sentence):
    code, out, err = cli("create", "--text", TEXT, "--stream", "7th_stream", *argv, tz=tz)
    assert (code, out, err) == (2, "", sentence + "\n")
    assert campaign_ids(db) == [1]


@pytest.mark.parametrize("argv, sentence", [
    (["--ids", "IDS"], "No recipient is left to send to: the audience reaches 1 person, 1 "
                       "blocked the bot, 1 pasted id was left out."),
    (["--stream", "nope"], "'nope' is not a known course stream."),
    (["--audience", "booked=perhaps"], "In the audience query, booked='perhaps' is not yes or no."),
    (["--ids", "missing.txt"], "--ids: there is no file 'missing.txt'."),
])
def test_create_refuses_an_audience_with_one_sentence(db, cli, tmp_path, argv, sentence):
    ids = tmp_path / "ids.txt"
    ids.write_text("601 998", encoding="utf-8")
    argv = [str(ids) if a == "IDS" else a for a in argv]
    code, out, err = cli("create", "--text", TEXT, *argv)
    assert (code, out, err) == (2, "", sentence + "\n")
    assert (campaign_ids(db), audits(db)) == ([1], [])


@pytest.mark.parametrize("argv, sentence", [
    (["--stream", "7th_stream"], "One of the arguments --text --text-file is required."),
    (["--text", "x"], "One of the arguments --ids --stream --audience is required."),
    (["--text", "x", "--stream", "7th_stream", "--ids", "f"],
     "Argument --ids: not allowed with argument --stream."),
    (["--text", "Hi {name}", "--stream", "7th_stream"],
     "The text uses the unknown placeholder {name} at character 4; use {first_name} or "
     "{username}."),
    (["--text", "a\x00b", "--stream", "7th_stream"],
     "--text holds a NUL character, which no option may contain."),
    (["--text-file", "none.html", "--stream", "7th_stream"],
     "--text-file: there is no file 'none.html'."),
])
def test_create_refuses_bad_arguments_with_one_sentence(db, cli, argv, sentence):
    code, out, err = cli("create", *argv)
    assert (code, out, err) == (2, "", sentence + "\n")
    assert campaign_ids(db) == [1]


# ---------------------------------------------------------------- list and status


def test_list_as_csv_and_json(db, cli):
    cli("create", "--text", TEXT, "--stream", "7th_stream", "--at", "2026-11-26 09:30")
    code, out, _ = cli("list")
    assert code == 0
    assert out.splitlines() == [
        ",".join(LIST_COLUMNS),
        "2,scheduled,2026-11-25T15:00:00+03:00,command line,2026-11-26T09:30:00+03:00,3,0,0,0,1,0",
        "1,done,2026-11-01T12:00:00+03:00,alice,,1,0,0,1,0,0",
    ]
    code, out, _ = cli("list", "--format", "json", tz="UTC")
    assert json.loads(out)[0] == {
        "id": 2, "status": "scheduled", "created_at": "2026-11-25T12:00:00+00:00",
        "created_by": "command line", "scheduled_at": "2026-11-26T06:30:00+00:00",
        "recipients": 3, "sent": 0, "failed": 0, "blocked": 0, "skipped": 1, "unknown": 0,
    }


def test_status_as_csv_and_json(db, cli):
    cli("create", "--text", TEXT, "--stream", "7th_stream")
    with db.begin() as conn:
        conn.execute(update(campaign_recipients).where(
            campaign_recipients.c.campaign_id == 2, campaign_recipients.c.user_id == 602,
        ).values(status="sent", attempts=1, telegram_message_id=9_007_199_254_740_993,
                 sent_at=NOW + timedelta(minutes=1)))
    code, out, _ = cli("status", "2")
    assert code == 0
    assert out.splitlines() == [
        ",".join(STATUS_COLUMNS),
        "601,skipped,0,Blocked the bot (campaign 1).,,",
        "602,sent,1,,9007199254740993,2026-11-25T15:01:00+03:00",
        "603,pending,0,,,",
    ]
    code, out, _ = cli("status", "2", "--format", "json")
    assert json.loads(out)[1] == {"user_id": 602, "status": "sent", "attempts": 1, "error": None,
                                  "telegram_message_id": 9_007_199_254_740_993,
                                  "sent_at": "2026-11-25T15:01:00+03:00"}


@pytest.mark.parametrize("argv, sentence", [
    (["status", "99"], "No campaign with id 99 exists."),
    (["status", "abc"], "'abc' is not a campaign id; use a number from `message list`."),
    (["status", "-1"], "'-1' is not a campaign id; use a number from `message list`."),
    (["cancel", "99"], "No campaign with id 99 exists."),
    (["retry", "0"], "'0' is not a campaign id; use a number from `message list`."),
    (["list", "--format", "xml"],
     "Argument --format: invalid choice: 'xml' (choose from 'csv', 'json')."),
])
def test_bad_ids_and_options_exit_2(db, cli, argv, sentence):
    code, out, err = cli(*argv)
    assert (code, out, err) == (2, "", sentence + "\n")


# ---------------------------------------------------------------- cancel and retry


def test_cancel(db, cli):
    cli("create", "--text", TEXT, "--stream", "7th_stream")
    code, out, err = cli("cancel", "2", "--actor", "ops")
    assert (code, out, err) == (0, "Campaign 2 is cancelled; 2 pending recipients were "
                                   "skipped.\n", "")
    assert campaign(db, 2).status == "cancelled"
    entry = audits(db)[-1]
    assert (entry["actor"], entry["action"], entry["after"]) == (
        "ops", "cancel_campaign", {"status": "cancelled", "skipped": 2})
    code, out, err = cli("cancel", "2")
    assert (code, out, err) == (2, "", "Campaign 2 is cancelled; only a draft, scheduled, "
                                       "sending or paused campaign can be cancelled.\n")


def test_retry_failed_then_unknown(db, cli):
    cli("create", "--text", TEXT, "--stream", "7th_stream")
    code, out, err = cli("retry", "2")
    assert (code, out, err) == (2, "", "Campaign 2 has no failed recipient to retry.\n")
    with db.begin() as conn:
        conn.execute(update(campaigns).where(campaigns.c.id == 2).values(
            status="done", started_at=NOW, finished_at=NOW))
        for uid, status in ((602, "failed"), (603, "unknown")):
            conn.execute(update(campaign_recipients).where(
                campaign_recipients.c.campaign_id == 2, campaign_recipients.c.user_id == uid,
            ).values(status=status, attempts=1))
    code, out, err = cli("retry", "2")
    assert (code, out, err) == (0, "Campaign 2: 1 failed recipient is pending again.\n", "")
    assert campaign(db, 2).status == "sending"
    code, out, _ = cli("retry", "2", "--unknown")
    assert (code, out) == (0, "Campaign 2: 1 unknown recipient is pending again.\n")
    assert recipient_statuses(db, 2) == {601: "skipped", 602: "pending", 603: "pending"}
    assert [a["actor"] for a in audits(db)] == ["command line"] * 3
