"""`python -m hsl report` as an analyst runs it: a real subprocess, exact output, exit codes."""

from __future__ import annotations

import json
import subprocess

import pytest

from hsl.cli import main
from tests.conftest import loaded_engine, url_of
from tests.fixtures.foundation import ROWS, run_hsl

RANGE = ["--start", "2026-11-01", "--end", "2026-11-05"]
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/x"


def lines(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


@pytest.fixture(scope="module")
def db_url(backend, database_factory) -> str:
    return url_of(loaded_engine(backend, database_factory, ROWS))


@pytest.fixture(scope="module")
def sqlite_url(database_factory) -> str:
    return url_of(loaded_engine("sqlite", database_factory, ROWS))


# ------------------------------------------------------------ the five reports


def test_kpis_csv(db_url):
    # The exact first line also proves there is no BOM on stdout (downloads have one).
    assert lines(run_hsl("report", "kpis", "--db", db_url, *RANGE)) == [
        "known_users,new_users,registrations,registrants,"
        "active_bookings,active_booking_users,confirmed_payments,paying_users",
        "12,9,8,7,6,5,4,3",  # counted in tests/test_overview_metrics.py
    ]


def test_kpis_in_moscow(db_url):
    out = lines(run_hsl("report", "kpis", "--db", db_url, *RANGE, "--tz", "Europe/Moscow"))
    assert out[1] == "12,10,7,6,5,4,4,3"


def test_growth_csv(db_url):
    assert lines(run_hsl("report", "growth", "--db", db_url, *RANGE)) == [
        "day,new_users,total_users",
        "2026-11-01,1,4",
        "2026-11-02,3,7",
        "2026-11-03,3,10",
        "2026-11-04,0,10",
        "2026-11-05,2,12",
    ]


def test_attendance_csv(db_url):
    assert lines(run_hsl("report", "attendance", "--db", db_url, *RANGE)) == [
        "lesson_type,registrants,attended,attendance_rate",
        "data_analytics,2,1,0.5",
        "python_basics,5,1,0.2",
        "web_design,1,0,0.0",
    ]


def test_attendance_by_date_csv(db_url):
    assert lines(run_hsl("report", "attendance-by-date", "--db", db_url, *RANGE)) == [
        "lesson_type,lesson_date,registrants,attended,attendance_rate",
        "data_analytics,2026-11-06,2,1,0.5",
        "python_basics,2026-11-04,4,1,0.25",
        "python_basics,2026-11-11,1,0,0.0",
        "web_design,2026-11-07,1,0,0.0",
    ]


def test_funnel_csv(db_url):
    out = lines(run_hsl("report", "funnel", "--db", db_url, *RANGE))
    assert out[0] == "step,users,pct_of_first,pct_of_previous,open_users"
    rows = [line.split(",") for line in out[1:]]
    assert [(r[0], int(r[1]), int(r[4])) for r in rows] == [
        ("registered", 7, 7), ("attended", 2, 2), ("booked", 1, 4), ("paid", 1, 3),
    ]
    assert [float(r[2]) for r in rows] == pytest.approx([1, 2 / 7, 1 / 7, 1 / 7])
    assert [float(r[3]) for r in rows] == pytest.approx([1, 2 / 7, 1 / 2, 1])


def test_funnel_for_one_lesson_type(db_url):
    assert lines(run_hsl("report", "funnel", "--db", db_url, *RANGE,
                     "--lesson-type", "python_basics")) == [
        "step,users,pct_of_first,pct_of_previous,open_users",
        "registered,5,1.0,1.0,5",
        "attended,1,0.2,0.2,1",
        "booked,1,0.2,1.0,2",
        "paid,1,0.2,1.0,2",
    ]


def test_json_format(db_url):
    kpis = json.loads(run_hsl("report", "kpis", "--db", db_url, *RANGE, "--format", "json").stdout)
    assert kpis == [{
        "known_users": 12, "new_users": 9, "registrations": 8, "registrants": 7,
        "active_bookings": 6, "active_booking_users": 5, "confirmed_payments": 4,
        "paying_users": 3,
    }]
    growth = json.loads(run_hsl("report", "growth", "--db", db_url, *RANGE, "--tz", "Europe/Moscow",
                            "--format", "json").stdout)
    assert growth == [
        {"day": "2026-11-01", "new_users": 2, "total_users": 4},
        {"day": "2026-11-02", "new_users": 3, "total_users": 7},
        {"day": "2026-11-03", "new_users": 2, "total_users": 9},
        {"day": "2026-11-04", "new_users": 1, "total_users": 10},
        {"day": "2026-11-05", "new_users": 2, "total_users": 12},
    ]


def test_default_range_is_the_last_30_local_days(db_url):
    out = lines(run_hsl("report", "growth", "--db", db_url, "--now", "2026-11-05T12:00:00+00:00"))
    assert len(out) == 1 + 30
    assert out[1] == "2026-10-07,0,0"
    assert out[14] == "2026-10-20,1,1"  # A
    assert out[-1] == "2026-11-05,2,12"
    # 22:00 UTC on 11-05 is already 11-06 in Moscow: the range moves by a day.
    out = lines(run_hsl("report", "growth", "--db", db_url, "--tz", "Europe/Moscow",
                    "--now", "2026-11-05T22:00:00Z"))
    assert len(out) == 1 + 30
    assert out[1] == "2026-10-08,0,0"
    assert out[-2:] == ["2026-11-05,2,12", "2026-11-06,0,12"]


# ---------------------------------------------------------------- bad arguments
# The cases the analyst meets most run as real subprocesses; the rest call `main()` in
# process (same code path, faster): both must give exit 2, one sentence, empty stdout.


def one_sentence(code: int, out: str, err: str, sentence: str) -> None:
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and err.endswith(".\n"), err
    assert sentence in err
    assert "Traceback" not in err


def in_process(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["report", "nope"], "Unknown report 'nope'; choose one of: kpis, growth, "),
        (["report", "kpis", "--start", "2026-11-31"],
         "--start '2026-11-31' is not a date; use YYYY-MM-DD."),
        (["report", "kpis", "--start", "2026-11-05", "--end", "2026-11-01"],
         "The start date 2026-11-05 is after the end date 2026-11-01."),
        (["report", "kpis", "--tz", "Mars/Olympus"], "Unknown timezone 'Mars/Olympus'"),
        (["report", "kpis", "--lesson-type", "python_basics"],
         "The option --lesson-type does not apply to the kpis report."),
        (["report", "kpis", "--db", UNREACHABLE],
         "Cannot connect to the database at postgresql+psycopg2://nobody@127.0.0.1:1/x."),
    ],
    ids=["unknown-report", "bad-date", "start-after-end", "unknown-tz", "stray-option",
         "unreachable-db"],
)
def test_bad_arguments_exit_2_with_one_sentence(sqlite_url, args, sentence):
    db = [] if "--db" in args else ["--db", sqlite_url]
    result = run_hsl(*args, *db)
    one_sentence(result.returncode, result.stdout, result.stderr, sentence)


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["report", "kpis", "--end", "yesterday"], "--end 'yesterday' is not a date"),
        (["report", "kpis", "--now", "soon"], "--now 'soon' is not an ISO 8601 timestamp."),
        (["report", "kpis", "--format", "xml"], "invalid choice: 'xml'"),
        (["report", "kpis", "--bogus"], "Unrecognized arguments: --bogus"),
        (["report"], "required: name"),
        (["report", "kpis", "--db", "mysql://u@localhost/x"], "Unsupported database 'mysql'"),
        (["report", "kpis", "--db", "not a url"],
         "The database URL is not a valid URL; write it like "
         "postgresql://user:password@host:5432/dbname."),
        (["report", "kpis", "--db", "sqlite:////proc/nope/x.sqlite"],
         "No SQLite database file at /proc/nope/x.sqlite."),
        (["report", "kpis", "--db", "postgresql://nobody:s3cret@127.0.0.1:1/x"],
         "Cannot connect to the database at postgresql+psycopg2://nobody:***@127.0.0.1:1/x."),
    ],
    ids=["bad-end", "bad-now", "bad-format", "unknown-flag", "no-name", "unsupported-db",
         "malformed-db", "sqlite-unwritable", "password-hidden"],
)
def test_more_bad_arguments(capsys, sqlite_url, args, sentence):
    db = [] if "--db" in args or args == ["report"] else ["--db", sqlite_url]
    code, out, err = in_process(capsys, *args, *db)
    one_sentence(code, out, err, sentence)
    assert "s3cret" not in err


def test_a_file_that_is_not_a_database(capsys, tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("shopping list\n" * 200, encoding="utf-8")
    code, out, err = in_process(capsys, "report", "kpis", "--db", f"sqlite:///{path}")
    one_sentence(code, out, err, f"Cannot connect to the database at sqlite:///{path}.")


def test_database_without_the_schema_says_run_init_db(tmp_path):
    path = tmp_path / "empty.sqlite"
    path.touch()  # an empty file is an empty SQLite database (a missing one is refused)
    result = run_hsl("report", "growth", "--db", f"sqlite:///{path}", *RANGE)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "The database lacks the table(s) users, bookings, events, free_lesson_registrations; "
        "run `python -m hsl init-db` against it.\n"
    )


def test_without_db_the_embedded_demo_is_created_on_first_run(tmp_path):
    path = tmp_path / "demo" / "hsl_demo.sqlite"
    result = run_hsl("report", "kpis", "--format", "json", env={"HSL_DEMO_DB": str(path)})
    assert result.returncode == 0, result.stderr
    assert path.exists()
    kpis = json.loads(result.stdout)[0]
    assert kpis["known_users"] == 3000  # the default demo size: every person has a /start event
    again = run_hsl("report", "kpis", "--format", "json", env={"HSL_DEMO_DB": str(path)})
    assert json.loads(again.stdout)[0]["known_users"] == kpis["known_users"]
