"""The SPEC §8 command line as an operator runs it: `python -m hsl message …` and
`python -m hsl send-worker --once` in real processes, on a SQLite file and on PostgreSQL,
sending to the local Telegram stand-in (tests/telegram_standin.py).

tests/test_message_cli.py checks every message and refusal in process; this file checks the
wiring around them: the module entry point, DATABASE_URL / --db, HSL_TIMEZONE, the
HSL_TELEGRAM_* settings, exit codes, what stdout and stderr show, and that the worker
process delivers each message exactly once and never prints the bot token.

The people (all in users; bookings in 7th_stream unless said):

| user | name | earlier delivery (campaign 1) | stand-in answers      |
|------|------|-------------------------------|-----------------------|
| 601  | Ola  | blocked: skipped              | -                     |
| 602  | Pim  | -                             | ok                    |
| 603  | Rex  | -                             | 400 (chat not found), then ok |
| 604  | Sue  | -                             | ok                    |
| 605  | Tom  | - (8th_stream)                | -                     |
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hsl.config import read_secrets
from hsl.db import make_engine
from hsl.messaging.campaigns import LIST_COLUMNS, STATUS_COLUMNS
from hsl.messaging.transports import MISSING_TOKEN
from tests.fixtures import load_rows
from tests.fixtures.messaging import campaign_row, delivery, load_history
from tests.fixtures.people import booking, user
from tests.telegram_standin import (
    STANDIN_TOKEN,
    TelegramStandin,
    standin_fixture,  # noqa: F401 - the `standin` fixture
)

ROOT = Path(__file__).resolve().parent.parent
NAMES = {601: "Ola", 602: "Pim", 603: "Rex", 604: "Sue", 605: "Tom"}
ROWS = {
    "users": [user(uid, name.lower(), name) for uid, name in NAMES.items()],
    "bookings": [
        *(booking(i + 1, uid, "7th_stream", 0, "2026-10-01 10:00")
          for i, uid in enumerate((601, 602, 603, 604))),
        booking(5, 605, "8th_stream", 0, "2026-10-01 10:00"),
    ],
}
HISTORY = {
    "campaigns": [campaign_row(1, "2026-11-01 09:00")],
    "campaign_recipients": [delivery(1, 601, "blocked", due="2026-11-01 10:00")],
}
TEXT = "Hi {first_name|there}! <b>News</b> &amp; more"


class Shell:
    """Runs `python -m hsl …` as an operator's shell would, with only the settings given.

    Every run's stdout and stderr are checked for the bot token (whole, and its secret
    half after the colon).
    """

    def __init__(self, url: str, standin: TelegramStandin, demo_file: Path) -> None:
        self.url = url
        self.standin = standin
        self.demo_file = demo_file

    def __call__(self, *args: str, token: bool = True, url_in_env: bool = True,
                 ) -> tuple[int, str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HSL_") and k != "DATABASE_URL"}
        env.update(
            HSL_TIMEZONE="Europe/Moscow",
            HSL_DEMO_DB=str(self.demo_file),  # a mistake never touches the real demo file
            HSL_TELEGRAM_API_URL=self.standin.base_url,
            HSL_TELEGRAM_RATE="50",
        )
        if url_in_env:
            env["DATABASE_URL"] = self.url
        if token:
            env["HSL_TELEGRAM_BOT_TOKEN"] = STANDIN_TOKEN
        done = subprocess.run([sys.executable, "-m", "hsl", *args], cwd=ROOT, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=120)
        for secret in (STANDIN_TOKEN, STANDIN_TOKEN.split(":", 1)[1]):
            assert secret not in done.stdout + done.stderr
        return done.returncode, done.stdout, done.stderr


@pytest.fixture
def db_url(backend, database_factory) -> str:
    """A database made by `python -m hsl init-db --db URL`, then the people above."""
    url = database_factory(backend)
    made = subprocess.run([sys.executable, "-m", "hsl", "init-db", "--db", url], cwd=ROOT,
                          env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
                          capture_output=True, text=True, timeout=120)
    assert (made.returncode, made.stderr) == (0, "")
    assert made.stdout.startswith("Schema is up to date at ")
    engine = make_engine(url)
    load_rows(engine, ROWS)
    load_history(engine, HISTORY)
    engine.dispose()
    return url


@pytest.fixture
def hsl(db_url, standin, tmp_path) -> Shell:
    return Shell(db_url, standin, tmp_path / "demo.sqlite")


def table(out: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(out)))


def delivered(standin: TelegramStandin) -> dict[int, list[str]]:
    """Per chat, the answers the stand-in gave, in order ("ok", "400")."""
    found: dict[int, list[str]] = {}
    for message in standin.messages:
        found.setdefault(message.chat_id, []).append(message.answer)
    return found


def test_an_operator_creates_sends_inspects_retries_and_cancels(hsl, standin, tmp_path):
    standin.script(603, ["400"])

    # A campaign to a stream, to send now: the id alone on stdout, the summary on stderr.
    assert hsl("message", "create", "--text", TEXT, "--stream", "7th_stream") == (
        0, "2\n", "Campaign 2 is queued for 3 recipients, to send now.\n"
                  "Skipped, blocked the bot: 601.\n")

    # A campaign from files, for a local time in HSL_TIMEZONE: never sent early.
    (tmp_path / "text.html").write_text("Later, {first_name}.\n", encoding="utf-8")
    (tmp_path / "ids.txt").write_text("605\n604\nabc\n999\n", encoding="utf-8")
    assert hsl("message", "create", "--text-file", str(tmp_path / "text.html"),
               "--ids", str(tmp_path / "ids.txt"), "--at", "2099-01-01 10:00") == (
        0, "3\n", "Campaign 3 is queued for 2 recipients, to send at 2099-01-01 10:00 "
                  "(Europe/Moscow).\n"
                  "Left out, not user ids: 'abc'.\n"
                  "Left out, unknown ids: 999.\n")

    code, out, err = hsl("message", "list", "--db", hsl.url, url_in_env=False)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == ",".join(LIST_COLUMNS)
    assert [(r["id"], r["status"], r["created_by"], r["recipients"], r["skipped"])
            for r in table(out)] == [("3", "scheduled", "command line", "2", "0"),
                                     ("2", "scheduled", "command line", "4", "1"),
                                     ("1", "done", "alice", "1", "0")]
    assert table(out)[0]["scheduled_at"] == "2099-01-01T10:00:00+03:00"

    # The worker sends what is due now and exits 0; campaign 3 waits for 2099.
    code, out, err = hsl("send-worker", "--once")
    assert (code, out) == (0, "")
    assert "Messages handled: 1 failed, 2 sent." in err and "Campaign 2 is done." in err
    assert delivered(standin) == {602: ["ok"], 603: ["400"], 604: ["ok"]}
    assert {m.text for m in standin.messages_to(602)} == {"Hi Pim! <b>News</b> &amp; more"}
    assert {m.parse_mode for m in standin.messages} == {"HTML"}

    code, out, err = hsl("message", "status", "2")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == ",".join(STATUS_COLUMNS)
    rows = table(out)
    assert [(r["user_id"], r["status"], r["attempts"]) for r in rows] == [
        ("601", "skipped", "0"), ("602", "sent", "1"), ("603", "failed", "1"),
        ("604", "sent", "1")]
    assert rows[0]["error"] == "Blocked the bot (campaign 1)."
    assert "chat not found" in rows[2]["error"].lower()
    sent = [r for r in rows if r["status"] == "sent"]
    assert all(r["telegram_message_id"].isdigit() and r["sent_at"].endswith("+03:00")
               for r in sent)
    assert len({r["telegram_message_id"] for r in sent}) == 2

    code, out, _ = hsl("message", "list", "--format", "json")
    [second] = [c for c in json.loads(out) if c["id"] == 2]
    assert (code, second["status"], second["sent"], second["failed"]) == (0, "done", 2, 1)

    # Retry what failed; the next run sends only that one, and only once.
    assert hsl("message", "retry", "2") == (
        0, "Campaign 2: 1 failed recipient is pending again.\n", "")
    code, out, err = hsl("send-worker", "--once", "--db", hsl.url, url_in_env=False)
    assert (code, out) == (0, "")
    assert "Messages handled: 1 sent." in err
    assert delivered(standin) == {602: ["ok"], 603: ["400", "ok"], 604: ["ok"]}

    assert hsl("message", "cancel", "3") == (
        0, "Campaign 3 is cancelled; 2 pending recipients were skipped.\n", "")
    code, out, _ = hsl("message", "list", "--format", "json")
    assert code == 0
    assert [(c["id"], c["status"], c["recipients"], c["sent"], c["failed"], c["skipped"])
            for c in json.loads(out)] == [(3, "cancelled", 2, 0, 0, 2),
                                          (2, "done", 4, 3, 0, 1),
                                          (1, "done", 1, 0, 0, 0)]

    # Nothing is due any more: another run sends nothing, to nobody twice.
    assert hsl("send-worker", "--once")[0] == 0
    assert delivered(standin) == {602: ["ok"], 603: ["400", "ok"], 604: ["ok"]}


BAD_INPUT = [
    (["message", "status", "99"], "No campaign with id 99 exists."),
    (["message", "retry", "99"], "No campaign with id 99 exists."),
    (["message", "cancel", "abc"], "'abc' is not a campaign id; use a number from `message list`."),
    (["message", "create", "--text", "Hi", "--stream", "7th_stream", "--at", "tomorrow"],
     "--at 'tomorrow' is not a date and time; use YYYY-MM-DD HH:MM, a local time in "
     "Europe/Moscow."),
    (["message", "create", "--text", "Hi", "--stream", "7th_stream", "--at", "2020-01-01 10:00"],
     "The scheduled time 2020-01-01 10:00 (Europe/Moscow) has already passed; choose a later "
     "time, or send now."),
    (["message", "create", "--text", "Hi", "--stream", "9th_stream"],
     "'9th_stream' is not a known course stream."),
    (["message", "create", "--text", "Hi <i>", "--stream", "7th_stream"], None),
    (["message", "frobnicate"], None),
]


def test_bad_input_exits_2_with_one_sentence_and_changes_nothing(hsl, standin):
    for argv, sentence in BAD_INPUT:
        code, out, err = hsl(*argv)
        assert (code, out) == (2, ""), argv
        assert err.endswith(".\n") and err.count("\n") == 1 and "Traceback" not in err, err
        if sentence is not None:
            assert err == sentence + "\n"
    code, out, _ = hsl("message", "list", "--format", "json")
    assert (code, [c["id"] for c in json.loads(out)]) == (0, [1])
    assert standin.calls == []


def test_the_worker_without_a_token_says_how_to_set_one_and_sends_nothing(hsl, standin):
    if isinstance(read_secrets().get("telegram"), dict):
        pytest.skip("this checkout's .streamlit/secrets.toml has a [telegram] section")
    assert hsl("message", "create", "--text", TEXT, "--stream", "7th_stream")[0] == 0
    code, out, err = hsl("send-worker", "--once", token=False)
    assert (code, out, err) == (2, "", MISSING_TOKEN + "\n")
    assert "HSL_TELEGRAM_BOT_TOKEN" in err
    assert standin.calls == []
    code, out, _ = hsl("message", "status", "2", token=False)
    assert (code, [r["status"] for r in table(out)]) == (
        0, ["skipped", "pending", "pending", "pending"])
