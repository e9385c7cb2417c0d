"""`python -m hsl views create | list` (issue 12, item 5) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from hsl import views
from tests.conftest import url_of
from tests.fixtures.foundation import run_hsl


def test_create_prints_the_id_alone_and_list_shows_every_view(engine):
    db = url_of(engine)
    first = run_hsl("views", "create", "--db", db, "--name", "Python, last month",
                    "--page", "funnel", "--query", "lesson_type=python_basics&compare=year",
                    "--dates", "last-month", "--shared")
    assert (first.returncode, first.stderr) == (0, "")
    second = run_hsl("views", "create", "--db", db, "--name", "Week 45", "--page", "overview",
                     "--start", "2026-11-02", "--end", "2026-11-08", "--owner", "ann")
    assert (first.stdout, second.stdout) == ("1\n", "2\n")  # the ids, alone
    kept = {v.id: v for v in views.every(engine)}
    assert (kept[1].owner, kept[1].query, kept[1].dates_preset, kept[1].shared) == (
        "command line", "lesson_type=python_basics&compare=year", "last-month", True)
    assert (kept[2].owner, kept[2].start_date, kept[2].end_date, kept[2].shared) == (
        "ann", date(2026, 11, 2), date(2026, 11, 8), False)

    listing = run_hsl("views", "list", "--db", db)
    assert listing.returncode == 0
    assert listing.stdout.splitlines() == [
        "id,name,page,query,dates,start,end,owner,shared",
        "2,Week 45,overview,,,2026-11-02,2026-11-08,ann,False",
        '1,"Python, last month",funnel,lesson_type=python_basics&compare=year,last-month,,,'
        "command line,True",
    ]


def test_bad_arguments_are_one_sentence_and_save_nothing(engine):
    db = url_of(engine)
    cases = [
        (["--name", "x", "--page", "users"], "“users” is not a page a view can open; the "
         "pages are overview, free-lessons, funnel, activity, streams, leads."),
        (["--name", "x", "--page", "funnel", "--dates", "last-week"], "“last-week” is not a "
         "date preset; the presets are today, yesterday, last-7-days, last-30-days, "
         "last-90-days, this-month, last-month, this-quarter, last-quarter, year-to-date, "
         "last-year."),
        (["--name", "x", "--page", "funnel", "--end", "2026-11-08"],
         "--end needs --start: fixed dates are both given."),
        (["--name", "x", "--page", "funnel", "--start", "2026-11-08"],
         "Fixed dates need both a start and an end."),
        (["--name", "x", "--page", "funnel", "--start", "08.11.2026", "--end", "2026-11-09"],
         "--start '08.11.2026' is not a date; use YYYY-MM-DD."),
        (["--name", " ", "--page", "funnel"], "A saved view needs a name."),
        (["--name", "x", "--page", "funnel", "--owner", " "],
         "--owner must name the person the view belongs to."),
    ]
    for args, sentence in cases:
        result = run_hsl("views", "create", "--db", db, *args)
        assert (result.returncode, result.stdout, result.stderr) == (2, "", sentence + "\n")
    assert views.every(engine) == []
