"""`python -m hsl report` for activity, event-types, streams, roster, leads and retention.

In-process through `hsl.cli.main` (the module `python -m hsl` runs) to keep this file fast;
the numbers are the hand counts of tests/test_activity.py, test_streams.py, test_leads.py
and test_retention.py.
"""

from __future__ import annotations

import json

import pytest

from hsl.cli import main
from tests.conftest import loaded_engine, url_of
from tests.fixtures.analytics import ACTIVITY_ROWS, LEAD_ROWS, RETENTION_ROWS, STREAM_ROWS

NOW = ["--now", "2026-11-25T12:00:00Z"]
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/x"


DATASETS = {
    "activity": ACTIVITY_ROWS, "streams": STREAM_ROWS, "leads": LEAD_ROWS,
    "retention": RETENTION_ROWS,
}


@pytest.fixture(scope="module")
def urls(backend, database_factory) -> dict[str, str]:
    """One database per dataset, by name → its URL."""
    return {name: url_of(loaded_engine(backend, database_factory, rows))
            for name, rows in DATASETS.items()}


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch):
    for name in ("DATABASE_URL", "HSL_TIMEZONE", "HSL_DEMO_DB"):
        monkeypatch.delenv(name, raising=False)


def report(capsys, *args: str) -> list[str]:
    """Run `report ARGS`; assert success and return stdout's lines."""
    status = main(["report", *args])
    out, err = capsys.readouterr()
    assert (status, err) == (0, ""), err
    return out.splitlines()


def failure(capsys, *args: str) -> str:
    """Run `report ARGS`; assert exit status 2 with one sentence on stderr and return it."""
    status = main(["report", *args])
    out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and err.endswith(".\n"), err
    return err.strip()


def test_activity(capsys, urls):
    assert report(capsys, "activity", "--db", urls["activity"],
                  "--start", "2026-11-02", "--end", "2026-11-05") == [
        "day,events,active_users",
        "2026-11-02,3,2",
        "2026-11-03,0,0",
        "2026-11-04,3,2",
        "2026-11-05,1,1",
    ]


def test_event_types_in_moscow(capsys, urls):
    rows = json.loads("\n".join(report(
        capsys, "event-types", "--db", urls["activity"], "--start", "2026-11-02",
        "--end", "2026-11-05", "--tz", "Europe/Moscow", "--format", "json",
    )))
    assert [(r["event_type"], r["events"]) for r in rows] == [
        ("menu_opened", 5), ("lesson_link_clicked", 1), ("start_command", 1),
    ]
    assert [r["share"] for r in rows] == pytest.approx([5 / 7, 1 / 7, 1 / 7])


def test_event_types_empty_range(capsys, urls):
    assert report(capsys, "event-types", "--db", urls["activity"],
                  "--start", "2026-12-01", "--end", "2026-12-03") == ["event_type,events,share"]


def test_streams(capsys, urls):
    assert report(capsys, "streams", "--db", urls["streams"]) == [
        "course_stream,bookings,new,pending,confirmed,cancelled,students,paid_rate,cancel_rate",
        "2nd_stream,4,1,0,1,1,3,0.25,0.25",
        "9th_stream,1,0,0,1,0,1,1.0,0.0",
        "10th_stream,4,1,1,1,1,2,0.25,0.25",
        ",1,1,0,0,0,1,0.0,0.0",
    ]


def test_roster(capsys, urls):
    assert report(capsys, "roster", "--db", urls["streams"], "--stream", "2nd_stream",
                  "--tz", "Europe/Moscow") == [
        "user_id,username,first_name,status,events,last_activity",
        "11,bob,Bob,cancelled,1,2026-10-02T15:00:00+03:00",
        "12,,,unknown (3),0,",
        "5000000010,ann,Ann,confirmed,3,2026-11-25T02:30:00+03:00",
    ]


def test_roster_needs_a_stream(capsys, urls):
    assert failure(capsys, "roster", "--db", urls["streams"]) == "The roster report needs --stream."


def test_roster_unknown_stream(capsys, urls):
    sentence = failure(capsys, "roster", "--db", urls["streams"], "--stream", "3rd_stream")
    assert "'3rd_stream'" in sentence


def test_leads_default(capsys, urls):
    out = report(capsys, "leads", "--db", urls["leads"], *NOW)
    assert out[0] == "user_id,username,first_name,events,active_days,last_activity,tier"
    assert out[1] == "201,hot_one,Hana,20,5,2026-11-23T10:03:00+00:00,hot"
    assert out[8] == "208,edge,Ed,1,1,2026-11-25T12:00:00+00:00,cold"  # the window edge
    assert out[-2:] == ["6000000100,quiet,Quinn,0,0,,cold", "6000000209,silent,Sid,0,0,,cold"]
    assert len(out) == 1 + 11
    assert not any(line.startswith("207,") for line in out)  # the payer


def test_leads_options(capsys, urls):
    rows = json.loads("\n".join(report(
        capsys, "leads", "--db", urls["leads"], *NOW, "--window-days", "8", "--include-paying",
        "--tz", "Europe/Moscow", "--format", "json",
    )))
    assert len(rows) == 12
    assert rows[2] == {
        "user_id": 207, "username": "payer", "first_name": "Pat", "events": 12,
        "active_days": 3, "last_activity": "2026-11-21T13:03:00+03:00", "tier": "warm",
    }
    cold = [(r["user_id"], r["events"], r["active_days"]) for r in rows if r["tier"] == "cold"]
    # 8 days reach 11-18 12:00 (L8: 2 events on 2 days); L10 spans two Moscow dates.
    assert cold[:3] == [(206, 4, 1), (208, 2, 2), (210, 2, 2)]


@pytest.mark.parametrize("days", ["0", "-3", "abc", "2.5"])
def test_window_days_must_be_a_positive_whole_number(capsys, days):
    # Checked before the (unreachable) database is touched.
    sentence = failure(capsys, "leads", "--db", UNREACHABLE, "--window-days", days)
    assert sentence == f"--window-days '{days}' is not a positive whole number."


def test_window_days_beyond_a_century(capsys, urls):
    sentence = failure(capsys, "leads", "--db", urls["leads"], "--window-days", "99999999")
    assert sentence.startswith("The lead window days must be a whole number from 1 to 36500")


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["streams", "--include-paying"], "The option --include-paying does not apply"),
        (["leads", "--stream", "2nd_stream"], "The option --stream does not apply"),
        (["retention", "--window-days", "7"], "The option --window-days does not apply"),
    ],
)
def test_options_of_other_reports_are_refused(capsys, args, sentence):
    assert sentence in failure(capsys, *args, "--db", UNREACHABLE)


def test_retention(capsys, urls):
    assert report(capsys, "retention", "--db", urls["retention"],
                  "--start", "2026-11-02", "--end", "2026-11-18") == [
        "cohort_week,week_offset,cohort_size,active_users,retention",
        "2026-11-02,0,4,3,0.75",
        "2026-11-02,1,4,1,0.25",
        "2026-11-02,2,4,3,0.75",
        "2026-11-09,0,1,1,1.0",
        "2026-11-09,1,1,0,0.0",
        "2026-11-16,0,1,0,0.0",
    ]
