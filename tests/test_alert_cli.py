"""`python -m hsl alerts check | create | list` (issue 12, item 5) on SQLite and PostgreSQL,
over the hand-counted data of tests/test_alerts.py (NOW: Friday 2026-11-20 12:00 UTC)."""

from __future__ import annotations

from hsl import alerts
from hsl.auth import Actor
from tests.conftest import url_of
from tests.fixtures.foundation import run_hsl
from tests.test_alerts import NOW, alert_db  # noqa: F401 - the `db` fixture: the same data

WHEN = "2026-11-20T12:00:00+00:00"


def test_create_list_and_a_dry_run_check_print_exact_lines_and_write_nothing(db):
    url = db.url.render_as_string(hide_password=False)
    made = [
        run_hsl("alerts", "create", "--db", url, "--name", "Hot, again", "--metric",
                "hot-leads", "--op", ">=", "--threshold", "1", "--chat", "123456789"),
        run_hsl("alerts", "create", "--db", url, "--name", "Payments down", "--metric",
                "confirmed-payments", "--op", "<", "--vs-before", "--chat", "123456789",
                "--owner", "ann"),
        run_hsl("alerts", "create", "--db", url, "--name", "Python attendance", "--metric",
                "attendance-rate", "--params", "lesson_type=python_basics&days=14", "--op",
                "<", "--threshold", "40", "--chat", "5"),
    ]
    assert [(m.returncode, m.stdout, m.stderr) for m in made] == [
        (0, "1\n", ""), (0, "2\n", ""), (0, "3\n", "")]
    alerts.pause(db, Actor("ada", "admin"), 3)
    made.append(run_hsl("alerts", "create", "--db", url, "--name", "Few new", "--metric",
                        "new-users", "--params", "dates=last-7-days", "--op", "<=",
                        "--threshold", "1.5", "--chat", "5", "--now", WHEN))
    assert made[-1].stdout == "4\n"

    checked = run_hsl("alerts", "check", "--db", url, "--dry-run", "--now", WHEN)
    assert (checked.returncode, checked.stderr) == (0, "")
    assert checked.stdout.splitlines() == [  # rule 3 is paused
        "rule_id,name,value,condition,would_fire",
        '1,"Hot, again",1,Hot leads ≥ 1,True',
        "2,Payments down,1,Confirmed payments (last 7 days) < the period before,True",
        "4,Few new,2,New users (last 7 days) ≤ 1.5,False",
    ]
    listing = run_hsl("alerts", "list", "--db", url)
    assert (listing.returncode, listing.stderr) == (0, "")
    assert listing.stdout.splitlines() == [  # by owner and name; nothing was checked
        "id,name,owner,condition,chat_id,paused,is_true,last_checked_at,last_value,"
        "last_fired_at",
        "2,Payments down,ann,Confirmed payments (last 7 days) < the period before,123456789,"
        "False,,,,",
        "4,Few new,command line,New users (last 7 days) ≤ 1.5,5,False,,,,",
        '1,"Hot, again",command line,Hot leads ≥ 1,123456789,False,,,,',
        "3,Python attendance,command line,Attendance rate of python_basics over the last 14 "
        "days < 40 %,5,True,,,,",
    ]
    assert all(r.last_checked_at is None for r in alerts.rules(db, Actor("ada", "admin")))
    # After a real check, the list shows it.
    alerts.check(db, now=NOW, tz="UTC", dry_run=False)
    assert run_hsl("alerts", "list", "--db", url).stdout.splitlines()[3] == (
        '1,"Hot, again",command line,Hot leads ≥ 1,123456789,False,True,'
        "2026-11-20T12:00:00+00:00,1,2026-11-20T12:00:00+00:00")


def test_check_reads_the_days_of_the_reporting_timezone(db):
    url = url_of(db)
    made = run_hsl("alerts", "create", "--db", url, "--name", "Today", "--metric",
                   "registrations", "--params", "dates=today", "--op", ">=", "--threshold",
                   "1", "--chat", "5")
    assert made.stdout == "1\n"
    late = ["alerts", "check", "--db", url, "--dry-run", "--now", "2026-11-18T22:00:00Z"]
    header = "rule_id,name,value,condition,would_fire\n"
    in_utc = run_hsl(*late)  # 18 Nov: user 3's registration at 09:00
    assert in_utc.stdout == header + "1,Today,1,Free-lesson registrations (today) ≥ 1,True\n"
    moscow = run_hsl(*late, env={"HSL_TIMEZONE": "Europe/Moscow"})  # 19 Nov there
    assert moscow.stdout == header + "1,Today,0,Free-lesson registrations (today) ≥ 1,False\n"


def test_check_without_dry_run_and_bad_input_are_one_sentence(db):
    url = url_of(db)
    rule = ["alerts", "create", "--db", url, "--name", "x", "--chat", "5"]
    cases = [
        (["alerts", "check", "--db", url],
         "Alerts are checked by the send-worker; use --dry-run to see them."),
        (["alerts", "check", "--db", url, "--dry-run", "--now", "tomorrow"],
         "--now 'tomorrow' is not an ISO 8601 timestamp."),
        ([*rule, "--metric", "revenue", "--op", ">", "--threshold", "1"],
         "“revenue” is not a number alerts can watch; the numbers are hot-leads, new-users, "
         "registrations, confirmed-payments, active-bookings, attendance-rate."),
        ([*rule, "--metric", "new-users", "--op", ">", "--threshold", "lots"],
         "--threshold 'lots' is not a number."),
        ([*rule, "--metric", "new-users", "--op", "=", "--threshold", "1"],
         "“=” is not a comparison; use one of >=, >, <=, <."),
        ([*rule, "--metric", "new-users", "--op", ">"],
         "One of the arguments --threshold --vs-before is required."),
        ([*rule, "--metric", "new-users", "--op", ">", "--threshold", "1", "--vs-before"],
         "Argument --vs-before: not allowed with argument --threshold."),
        ([*rule[:-1], "-100", "--metric", "new-users", "--op", ">", "--vs-before"],
         "The group chat -100 is not one an admin has allowed for alerts."),
        ([*rule[:-1], "me", "--metric", "new-users", "--op", ">", "--vs-before"],
         "“me” is not a Telegram chat id: use the number of a person (e.g. 123456789) or of "
         "a group (e.g. -1001234567890)."),
        ([*rule, "--metric", "attendance-rate", "--params", "days=forever", "--op", ">",
          "--vs-before"], "The option days must be a whole number from 1 to 366."),
    ]
    for args, sentence in cases:
        result = run_hsl(*args)
        assert (result.returncode, result.stdout, result.stderr) == (2, "", sentence + "\n"), args
    assert run_hsl("alerts", "list", "--db", url).stdout == (
        "id,name,owner,condition,chat_id,paused,is_true,last_checked_at,last_value,"
        "last_fired_at\n")
