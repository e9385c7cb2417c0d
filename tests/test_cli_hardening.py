"""Hostile command lines (issue 8): exit 2, one sentence, no traceback, no secret, no file.

Most cases run in process through `hsl.cli.main` (the function `python -m hsl` runs);
the ones an analyst meets first run as real subprocesses too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import exc
from sqlalchemy.engine import make_url

from hsl import bootstrap, cli
from hsl.config import load_settings
from hsl.db import check_connection, make_engine, safe_url
from hsl.errors import DatabaseUnavailable
from hsl.reports import REPORTS
from tests.conftest import loaded_engine, url_of
from tests.fixtures.foundation import ROWS, run_hsl

SECRET = "SuperSecret123"
BOUNDS = "use a date from 1970-01-01 to 9000-12-31."
BAD_PORT = "The port in the database URL is not a number from 1 to 65535."


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch):
    for name in ("DATABASE_URL", "HSL_TIMEZONE", "HSL_DEMO_DB", "HSL_STATEMENT_TIMEOUT_MS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def sqlite_url(database_factory) -> str:
    return url_of(loaded_engine("sqlite", database_factory, ROWS))


@pytest.fixture(scope="module")
def db_url(backend, database_factory) -> str:
    return url_of(loaded_engine(backend, database_factory, ROWS))


def refused(code: int, out: str, err: str) -> str:
    """Assert exit 2, empty stdout, one line on stderr without a traceback or secret."""
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and err.endswith(".\n"), err
    assert "Traceback" not in err and SECRET not in err, err
    return err.strip()


def in_process(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- exact sentences

EXACT = [
    (["report", "kpis", "--end", "9999-12-31"], f"--end '9999-12-31' is out of range; {BOUNDS}"),
    (["report", "kpis", "--start", "0001-01-01"],
     f"--start '0001-01-01' is out of range; {BOUNDS}"),
    (["report", "kpis", "--now", "9999-12-31T23:59:59+00:00"],
     "--now '9999-12-31T23:59:59+00:00' is out of range; "
     "use a time from 1970-01-01 to 9000-12-31."),
    (["report", "leads", "--now", "0001-01-01T00:00:00+00:00"],
     "--now '0001-01-01T00:00:00+00:00' is out of range; "
     "use a time from 1970-01-01 to 9000-12-31."),
    # Before year 1 once turned into UTC: an OverflowError of its own.
    (["report", "leads", "--now", "0001-01-01T00:00:00+01:00"],
     "--now '0001-01-01T00:00:00+01:00' is out of range; "
     "use a time from 1970-01-01 to 9000-12-31."),
    (["report", "kpis", "--start", "2026-01-05", "--end", "2026-01-01"],
     "The start date 2026-01-05 is after the end date 2026-01-01."),
    (["report", "kpis", "--start", "2026-11-01", "--now", "2026-10-01T12:00:00Z"],
     "The start date 2026-11-01 is after today (2026-10-01 in UTC); give --end as well."),
    (["report", "kpis", "--start", "1970-01-01", "--end", "9000-12-31"],
     "The range 1970-01-01 to 9000-12-31 has 2,568,020 days; a report covers at most "
     "36,525 days (100 years)."),
    (["report", "leads", "--window-days", str(10**30)],
     "The lead window days must be a whole number from 1 to 36500, "
     "not '1000000000000000000000000000000'."),
    (["report", "leads", "--window-days", "9" * 5000],
     "The lead window days must be a whole number from 1 to 36500, "
     f"not '{'9' * 40}…'."),
    (["report", "users", "--search", "a\x00b"],
     "--search holds a NUL character, which no option may contain."),
    (["report", "roster", "--stream", "3rd\x00stream"],
     "--stream holds a NUL character, which no option may contain."),
    (["report", "funnel", "--lesson-type", "python\x00basics"],
     "--lesson-type holds a NUL character, which no option may contain."),
    (["report", "funnel", "--lesson-type", "bad\udcffbyte"],
     "--lesson-type is not valid UTF-8 text."),
    (["report", "kpis", "--db", "postgresql://u:pw@host:notaport/db"], BAD_PORT),
    # Without an @ SQLAlchemy reads the password as the port: it must not be echoed.
    (["report", "kpis", "--db", f"postgresql://user:{SECRET}/db"], BAD_PORT),
    (["report", "kpis", "--db", "postgresql://u@host:99999/db"], BAD_PORT),
    (["report", "kpis", "--db", "postgresql://u:p\x00w@host/db"],
     "The database URL holds a NUL character."),
    (["report", "kpis", "--db", "nosuch://host/db"],
     "Unsupported database 'nosuch'; use PostgreSQL."),
    (["report", "kpis", "--db", "postgresql+asyncpg://u@host/db"],
     "Unsupported database driver 'postgresql+asyncpg'; use postgresql:// (psycopg2) or "
     "sqlite:///."),
    (["report", "kpis", "--db", f"sqlite://u:{SECRET}@host/x.db"],
     "A SQLite URL names a file only, like sqlite:////absolute/path/to/file.db."),
    (["report", "kpis", "--db", f"postgresql://127.0.0.1:1/db?password={SECRET}"],
     "Cannot connect to the database at postgresql+psycopg2://127.0.0.1:1/db."),
    (["report", "kpis", "--db",
      f"postgresql://u:{SECRET}@127.0.0.1:1/db?sslpassword={SECRET}&application_name=x"],
     "Cannot connect to the database at postgresql+psycopg2://u:***@127.0.0.1:1/db."),
    (["demo", "--users", "99999999999", "--db", "sqlite:////nonexistent/dir/x.db"],
     "--users must be a whole number from 1 to 1000000."),
    (["demo", "--seed", "-1", "--db", "sqlite:////nonexistent/dir/x.db"],
     "--seed must be a whole number from 0 to 9223372036854775807."),
    (["demo", "--anchor", "9999-12-31", "--db", "sqlite:////nonexistent/dir/x.db"],
     f"--anchor '9999-12-31' is out of range; {BOUNDS}"),
]


@pytest.mark.parametrize(("args", "sentence"), EXACT, ids=[" ".join(a)[:60] for a, _ in EXACT])
def test_hostile_input_exits_2_with_the_exact_sentence(capsys, sqlite_url, args, sentence):
    db = [] if "--db" in args else ["--db", sqlite_url]
    assert refused(*in_process(capsys, *args, *db)) == sentence
    assert not Path("/nonexistent").exists()


def test_a_statement_timeout_that_is_not_a_number(capsys, monkeypatch, sqlite_url):
    monkeypatch.setenv("HSL_STATEMENT_TIMEOUT_MS", "abc")
    assert refused(*in_process(capsys, "report", "kpis", "--db", sqlite_url)) == (
        "The statement timeout (HSL_STATEMENT_TIMEOUT_MS or statement_timeout_ms) must be a "
        "whole number of milliseconds from 1 to 2147483647."
    )


def test_control_characters_stay_on_one_line(capsys, sqlite_url):
    err = refused(*in_process(capsys, "report", "roster", "--db", sqlite_url,
                              "--stream", "x\ny"))
    assert err == "No booking is in the stream 'x\\ny'; pick a known stream."


# ------------------------------------------------------------ real subprocesses


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["report", "kpis", "--end", "9999-12-31"],
         f"--end '9999-12-31' is out of range; {BOUNDS}"),
        (["report", "kpis", "--now", "9999-12-31T23:59:59+00:00"],
         "--now '9999-12-31T23:59:59+00:00' is out of range; "
         "use a time from 1970-01-01 to 9000-12-31."),
        (["report", "kpis", "--db", "postgresql://u:pw@host:notaport/db"], BAD_PORT),
        (["report", "kpis", "--db", f"postgresql://127.0.0.1:1/db?password={SECRET}"],
         "Cannot connect to the database at postgresql+psycopg2://127.0.0.1:1/db."),
    ],
    ids=["end-9999", "now-9999", "port-not-a-number", "password-in-query"],
)
def test_as_a_subprocess(sqlite_url, args, sentence):
    db = [] if "--db" in args else ["--db", sqlite_url]
    result = run_hsl(*args, *db)
    assert refused(result.returncode, result.stdout, result.stderr) == sentence


def test_report_never_creates_a_sqlite_file_or_folder(tmp_path):
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    result = run_hsl("report", "kpis", "--db", f"sqlite:///{missing}")
    assert refused(result.returncode, result.stdout, result.stderr) == (
        f"No SQLite database file at {missing}."
    )
    assert not (tmp_path / "nonexistent").exists()
    # Not even SQLite's own URI form asking for rwc: a read opens, never creates.
    uri = f"sqlite:///file:{tmp_path / 'y.db'}?mode=rwc&uri=true"
    result = run_hsl("report", "kpis", "--db", uri)
    assert refused(result.returncode, result.stdout, result.stderr) == (
        f"No SQLite database file at {tmp_path / 'y.db'}."
    )
    assert list(tmp_path.iterdir()) == []


def test_report_on_nonexistent_root_folder(capsys):
    if Path("/nonexistent").exists():
        pytest.skip("/nonexistent exists on this machine")
    err = refused(*in_process(capsys, "report", "kpis", "--db", "sqlite:////nonexistent/dir/x.db"))
    assert err == "No SQLite database file at /nonexistent/dir/x.db."
    assert not Path("/nonexistent").exists()


def test_init_db_may_create_the_file_and_its_folder(capsys, tmp_path):
    path = tmp_path / "new" / "dir" / "x.db"
    code, out, err = in_process(capsys, "init-db", "--db", f"sqlite:///{path}")
    assert (code, err) == (0, "")
    assert out == f"Schema is up to date at sqlite:///{path}.\n"
    assert path.is_file()
    # ... and then a report reads it.
    code, out, err = in_process(capsys, "report", "kpis", "--db", f"sqlite:///{path}")
    assert (code, err) == (0, ""), err
    assert out.splitlines()[1] == "0,0,0,0,0,0,0,0"


# ------------------------------------------------------------- the dates it accepts


@pytest.mark.parametrize(
    "window",
    [
        ["--start", "1970-01-01", "--end", "1970-01-31", "--now", "1970-01-01T00:00:00Z",
         "--tz", "Etc/GMT+12"],
        ["--start", "9000-12-01", "--end", "9000-12-31", "--now", "9000-12-31T23:59:59Z",
         "--tz", "Pacific/Kiritimati"],
    ],
    ids=["earliest", "latest"],
)
def test_every_report_runs_at_the_bounds(capsys, db_url, window):
    for name in REPORTS:
        extra = ["--stream", "3rd_stream"] if name == "roster" else []
        extra += ["--window-days", "36500"] if name == "leads" else []
        code, out, err = in_process(capsys, "report", name, "--db", db_url, *window, *extra)
        assert (code, err) == (0, ""), (name, err)
        assert out.startswith(",".join(REPORTS[name].columns)), name


def test_end_alone_gives_the_30_days_up_to_it(capsys, sqlite_url):
    code, out, err = in_process(capsys, "report", "growth", "--db", sqlite_url,
                                "--end", "2026-11-05")
    assert (code, err) == (0, "")
    rows = out.splitlines()
    assert (len(rows), rows[1][:10], rows[-1]) == (31, "2026-10-07", "2026-11-05,2,12")


# ------------------------------------------------------- database errors: exit 1


@pytest.fixture
def pg_url_with_password(database_factory) -> str:
    """A loaded PostgreSQL database, its URL carrying a password (trust auth ignores it)."""
    url = make_url(url_of(loaded_engine("postgresql", database_factory, ROWS)))
    return url.set(password=SECRET).render_as_string(hide_password=False)


def test_a_database_error_keeps_exit_1_without_the_password(capsys, monkeypatch,
                                                            pg_url_with_password):
    def broken(*_args, **_kwargs):
        raise exc.OperationalError("SELECT 1", {}, Exception(f"conninfo password={SECRET} bad"))

    monkeypatch.setattr(cli, "run_report", broken)
    code, out, err = in_process(capsys, "report", "kpis", "--db", pg_url_with_password)
    assert (code, out) == (1, "")
    assert err == "The database reported an error: conninfo password=*** bad.\n"


def test_an_unexpected_error_is_one_sentence(capsys, monkeypatch, sqlite_url):
    def broken(*_args, **_kwargs):
        raise OverflowError("date value out of range")

    monkeypatch.setattr(cli, "run_report", broken)
    code, out, err = in_process(capsys, "report", "kpis", "--db", sqlite_url)
    assert (code, out, err) == (1, "", "The command failed unexpectedly (OverflowError).\n")


# ------------------------------------------------------------ URLs shown to people


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (f"postgresql://u:{SECRET}@db.internal:5432/hsl?sslmode=require",
         "postgresql://u:***@db.internal:5432/hsl"),
        (f"postgresql+psycopg2://db/hsl?password={SECRET}&sslpassword={SECRET}",
         "postgresql+psycopg2://db/hsl"),
        (f"postgresql:///hsl?host=/var/run/postgresql&password={SECRET}", "postgresql:///hsl"),
        ("sqlite:////tmp/x.db?timeout=5", "sqlite:////tmp/x.db"),
        ("sqlite:///file:/tmp/a%2520b.db?mode=rw&uri=true", "sqlite:////tmp/a b.db"),
        ("sqlite://", "sqlite:///:memory:"),
        (f"postgresql://u:{SECRET}@host:notaport/db", "(a database URL that cannot be read)"),
    ],
)
def test_safe_url(raw, shown):
    assert safe_url(raw) == shown


# ---------------------------------------------------------------- the app's path


def test_the_app_gets_one_sentence_not_a_new_file(tmp_path):
    missing = tmp_path / "typo.sqlite"
    settings = load_settings(f"sqlite:///{missing}", secrets={})
    with pytest.raises(DatabaseUnavailable) as caught:
        make_engine(settings.database_url, settings.statement_timeout_ms)
    assert str(caught.value) == f"No SQLite database file at {missing}."
    assert not missing.exists()


def test_a_file_removed_under_the_app_is_not_recreated(tmp_path):
    path = tmp_path / "bot.sqlite"
    path.touch()
    engine = make_engine(load_settings(f"sqlite:///{path}", secrets={}).database_url)
    check_connection(engine)
    engine.dispose()
    path.unlink()
    with pytest.raises(DatabaseUnavailable) as caught:
        check_connection(engine)
    assert str(caught.value) == f"No SQLite database file at {path}."
    assert not path.exists()


def test_the_embedded_demo_is_created_with_its_folder(tmp_path):
    path = tmp_path / "fresh" / "demo.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    bootstrap.prepare(engine, is_demo=True, size=bootstrap.demo.DemoSize(users=20, events=40))
    engine.dispose()
    assert path.is_file() and os.path.getsize(path) > 0
