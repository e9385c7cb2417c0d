"""`python -m hsl digest run VIEW_ID --dry-run [--now ISO] [--png FILE]` (issue 12, item 5),
on SQLite and PostgreSQL, with the hand-counted rows of tests/test_digests.py."""

from __future__ import annotations

import struct
from datetime import date

import pytest

from hsl import digests, views
from hsl.auth import Actor
from tests.fixtures.foundation import run_hsl
from tests.test_digests import NOW, ROWS, URL

ENV = {"HSL_TIMEZONE": "Europe/Moscow", "HSL_PUBLIC_URL": URL}
NOW_TEXT = "2026-12-02T09:00:00+00:00"


@pytest.fixture(scope="module")
def db(module_engine):
    engine = module_engine(ROWS)
    for name, page, dates in [("Monthly funnel", "funnel", {"preset": "last-month"}),
                              ("Old days", "overview", {"start": date(2020, 1, 1),
                                                        "end": date(2020, 1, 31)}),
                              ("Personal", "streams", {})]:
        views.create(engine, Actor("ann", "viewer"), name=name, page=page, now=NOW, **dates)
    return engine


@pytest.fixture(scope="module")
def url(db) -> str:
    return db.url.render_as_string(hide_password=False)


def digest(url: str, *args: str) -> object:
    return run_hsl("digest", "run", "--db", url, *args, env=ENV)


def test_dry_run_prints_the_text_and_writes_the_picture(db, url, tmp_path):
    picture = tmp_path / "funnel.png"
    result = digest(url, "1", "--dry-run", "--now", NOW_TEXT, "--png", str(picture))
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[1:4] == ["1 Nov – 30 Nov 2026 (last month), compared with the 30 days "
                          "before (2 Oct – 31 Oct 2026)", "", "Registered: 3 people (+2, +200%)"]
    # The text is the digest's, as hsl.digests builds it (its lines: tests/test_digests.py).
    saved = views.get(db, Actor("ada", "admin"), 1)
    assert result.stdout == digests.build(db, saved, now=NOW, tz="Europe/Moscow",
                                          public_url=URL, with_png=False).text + "\n"
    png = picture.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">I", png[16:20]) == (1600,)


def test_the_dates_roll_with_now(url):
    december = digest(url, "1", "--dry-run", "--now", "2027-01-05T09:00:00")
    assert december.returncode == 0
    assert december.stdout.splitlines()[1] == (
        "1 Dec – 31 Dec 2026 (last month), compared with the 31 days before "
        "(31 Oct – 30 Nov 2026)")
    # Late on 31 Dec UTC it is already 1 Jan in Moscow: last month is December.
    new_year = digest(url, "1", "--dry-run", "--now", "2026-12-31T22:30:00+00:00")
    assert new_year.stdout.splitlines()[1].startswith("1 Dec – 31 Dec 2026 (last month)")
    november = digest(url, "1", "--dry-run", "--now", "2026-12-31T20:30:00+00:00")
    assert november.stdout.splitlines()[1].startswith("1 Nov – 30 Nov 2026 (last month)")


def test_no_chart_is_said_on_stderr_and_no_file_is_written(url, tmp_path):
    picture = tmp_path / "none.png"
    result = digest(url, "2", "--dry-run", "--now", NOW_TEXT, "--png", str(picture))
    assert result.returncode == 0
    assert "No data for these dates." in result.stdout.splitlines()
    assert result.stderr == ("This digest has no chart (no data for these dates); no picture "
                             "was written.\n")
    assert not picture.exists()


def test_the_command_line_may_read_someone_s_personal_view(url):
    result = digest(url, "3", "--dry-run", "--now", NOW_TEXT)
    assert result.returncode == 0 and result.stdout.startswith("<b>Personal</b>\n")


@pytest.mark.parametrize(("args", "sentence"), [
    (["1"], "Digests are delivered by the send-worker; use --dry-run to see one."),
    (["x1", "--dry-run"], "“x1” is not a saved view's number."),
    (["0", "--dry-run"], "“0” is not a saved view's number."),
    (["99", "--dry-run"], "There is no saved view #99 that you can open."),
    (["1", "--dry-run", "--now", "yesterday"], "--now 'yesterday' is not an ISO 8601 time such "
     "as 2026-12-01T09:00:00+00:00."),
    (["1", "--dry-run", "--now", "0001-01-01T00:00"],
     "--now must be a time between the years 1970 and 9000."),
    (["1", "--dry-run", "--now", NOW_TEXT, "--png", "/nonexistent/dir/x.png"],
     "Cannot write the picture to '/nonexistent/dir/x.png': No such file or directory."),
])
def test_bad_input_is_one_sentence(url, args, sentence):
    result = digest(url, *args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", sentence + "\n")
