"""The Streams and Leads pages through streamlit.testing.v1.AppTest, on SQLite and PostgreSQL.

Numbers come from the small dataset below, counted by hand. Times are UTC; Moscow is
UTC+3. "Now" is 2026-03-20 18:00 UTC, so the default 7-day lead window is
(2026-03-13 18:00, 2026-03-20 18:00] UTC.

| who            | rows                                                                      |
|----------------|---------------------------------------------------------------------------|
| U1 `=SUM(A1)`  | 10th_stream: new 03-01, confirmed 03-05 (newest); events 03-02, 03-03,    |
|                | 03-15 10:00 (= 13:00 Moscow)                                              |
| U2 `bob`       | 10th_stream: status 3 (unknown) 03-06; 2nd_stream: cancelled 03-02        |
| U3 `cara`      | 2nd_stream: confirmed 03-04 (a payer); registered; 10 events on 03-14 (4), |
|                | 03-15 (3), 03-16 (3) at 09:0x UTC = 3 Moscow days                         |
| L1 `@lead`     | registered; 6 events, two on each of 03-17, 03-18, 03-19                  |
| L2 `leo`       | registered; 2 events on 03-19                                             |
| L3 (no name)   | registered; no events                                                     |
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from hsl.db import make_engine
from hsl.filters import Period, utc_now
from hsl.metrics.users import PAGE_SIZE
from hsl.reports import run_report
from hsl_ui import charts_streams
from tests.conftest import loaded_engine, url_of
from tests.fixtures import utc
from tests.pages_support import (  # noqa: F401 - clean_env and navigation_as_served are autouse
    MOSCOW,
    captions,
    chart_labels,
    chart_specs,
    clean_env,
    demo_database,
    infos,
    navigation_as_served,
    open_page,
    spy_downloads,
)

STREAMS, LEADS = "pages/streams.py", "pages/leads.py"
NO_DATA = "No data for these filters."
U1, U2, U3, L1, L2, L3 = 1, 2, 3, 11, 12, 13


def _user(user_id: int, username: str | None, first_name: str, last_name: str | None = None
          ) -> dict:
    return {"user_id": user_id, "username": username, "first_name": first_name,
            "last_name": last_name, "language_code": "ru", "first_seen_at": utc("2026-02-01 10:00"),
            "updated_at": utc("2026-02-01 10:00")}


def _booking(user_id: int, stream: str, confirmed: int, at: str) -> dict:
    return {"user_id": user_id, "course_id": 1, "course_stream": stream, "confirmed": confirmed,
            "created_at": utc(at), "referral_code": None, "discount_percent": None}


def _reg(user_id: int) -> dict:
    return {"user_id": user_id, "username": None, "first_name": None,
            "email": f"u{user_id}@example.org", "registered_at": utc("2026-03-01 10:00"),
            "notification_sent": True, "lesson_type": "python_basics",
            "lesson_date": date(2026, 3, 10)}


def _events(user_id: int, *times: str) -> list[dict]:
    return [{"user_id": user_id, "event_type": "menu_opened", "created_at": utc(t),
             "details": None} for t in times]


ROWS = {
    "users": [
        _user(U1, "=SUM(A1)", "Ann", "Иванова"), _user(U2, "bob", "Bob"),
        _user(U3, "cara", "Cara"), _user(L1, "@lead", "Lena", "-Lenova"), _user(L2, "leo", "Leo"),
        _user(L3, None, "Mia"),
    ],
    "free_lesson_registrations": [_reg(U3), _reg(L1), _reg(L2), _reg(L3)],
    "bookings": [
        _booking(U1, "10th_stream", 0, "2026-03-01 10:00"),
        _booking(U1, "10th_stream", 2, "2026-03-05 10:00"),
        _booking(U2, "10th_stream", 3, "2026-03-06 10:00"),
        _booking(U2, "2nd_stream", -1, "2026-03-02 10:00"),
        _booking(U3, "2nd_stream", 2, "2026-03-04 10:00"),
    ],
    "events": [
        *_events(U1, "2026-03-02 10:00", "2026-03-03 10:00", "2026-03-15 10:00"),
        *_events(U3, "2026-03-14 09:00", "2026-03-14 09:01", "2026-03-14 09:02",
                 "2026-03-14 09:03", "2026-03-15 09:00", "2026-03-15 09:01", "2026-03-15 09:02",
                 "2026-03-16 09:00", "2026-03-16 09:01", "2026-03-16 09:02"),
        *_events(L1, "2026-03-17 10:00", "2026-03-17 10:01", "2026-03-18 10:00",
                 "2026-03-18 10:01", "2026-03-19 10:00", "2026-03-19 10:01"),
        *_events(L2, "2026-03-19 11:00", "2026-03-19 12:00"),
    ],
}


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def hand_url(backend, database_factory) -> str:
    """URL of a database holding ROWS (migrated, no enforced foreign keys)."""
    return url_of(loaded_engine(backend, database_factory, ROWS))


@pytest.fixture(scope="module")
def demo_url(backend, database_factory) -> str:
    """URL of a migrated database filled with a small deterministic demo."""
    return demo_database(backend, database_factory)


@pytest.fixture
def downloads(monkeypatch) -> dict[str, list[list[str]]]:
    """File name → CSV rows of every download button a run draws, in the order drawn."""
    return spy_downloads(monkeypatch)


def cards(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def ids(*user_ids: int) -> list[str]:
    """User ids as the tables show them: text, without thousands separators."""
    return [str(i) for i in user_ids]


def moscow(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=MOSCOW)


# ---------------------------------------------------------------- Streams


def test_stream_summary_is_counted_by_hand_in_natural_order(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, STREAMS)
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns) == [
        "Stream", "Bookings", "New", "Pending", "Confirmed", "Cancelled", "Other statuses",
        "Students", "Paid rate", "Cancellation rate",
    ]
    assert table["Stream"].tolist() == ["2nd stream", "10th stream"]  # 2 < 10, not "1" < "2"
    # 2nd: U2 cancelled, U3 confirmed. 10th: U1 new + confirmed, U2 status 3.
    assert table["Bookings"].tolist() == [2, 3]
    assert table["New"].tolist() == [0, 1]
    assert table["Confirmed"].tolist() == [1, 1]
    assert table["Cancelled"].tolist() == [1, 0]
    assert table["Other statuses"].tolist() == ["", "Unknown (3): 1"]
    assert table["Students"].tolist() == [2, 2]
    assert table["Paid rate"].round(1).tolist() == [50.0, 33.3]  # 1 of 2, 1 of 3
    assert table["Cancellation rate"].round(1).tolist() == [50.0, 0.0]


def test_status_chart_has_streams_in_order_and_status_colours(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, STREAMS)
    (spec,) = [json.loads(s) for s in chart_specs(at)]
    assert spec["encoding"]["y"]["sort"] == ["2nd stream", "10th stream"]
    scale = spec["encoding"]["color"]["scale"]
    colours = {**charts_streams.STATUS_COLOURS, "Unknown (3)": charts_streams.UNKNOWN_COLOUR}
    assert dict(zip(scale["domain"], scale["range"], strict=True)) == colours
    assert colours["Cancelled"] == "#d1495b" and colours["Confirmed"] == "#3a9a5b"


def test_roster_of_the_newest_stream_by_default(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, STREAMS)
    assert at.selectbox[0].value == "10th_stream"
    assert at.selectbox[0].options == ["2nd stream", "10th stream"]
    assert "stream" not in at.query_params
    roster = at.dataframe[1].value
    # The t.me link stands in for the username on screen (the CSV has both).
    assert list(roster.columns) == ["User ID", "Telegram", "First name", "Status", "Events",
                                    "Last activity"]
    assert roster["User ID"].tolist() == ids(U1, U2)
    # U1's newest booking there is the confirmed one (03-05 after 03-01); U2's is status 3.
    assert roster["Status"].tolist() == ["Confirmed", "Unknown (3)"]
    assert roster["Events"].tolist() == [3, 0]
    assert roster["Last activity"].iloc[0] == moscow("2026-03-15 13:00")
    assert pd.isna(roster["Last activity"].iloc[1])
    # "=SUM(A1)" is no Telegram username, so it gets no link at all.
    assert roster["Telegram"].isna().tolist() == [True, False]
    assert roster["Telegram"].iloc[1] == "https://t.me/bob"
    assert "2 people with a booking in the 10th stream." in " ".join(captions(at))


def test_picking_a_stream_writes_the_url_and_shows_its_roster(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, STREAMS)
    at.selectbox[0].select("2nd_stream").run()
    assert at.query_params["stream"] == "2nd_stream"
    roster = at.dataframe[1].value
    assert roster["User ID"].tolist() == ids(U2, U3)
    assert roster["Status"].tolist() == ["Cancelled", "Confirmed"]
    assert roster["Events"].tolist() == [0, 10]
    assert roster["Last activity"].iloc[1] == moscow("2026-03-16 12:02")

    again = open_page(monkeypatch, hand_url, STREAMS, stream="2nd_stream")  # the copied link
    assert again.selectbox[0].value == "2nd_stream"
    assert again.dataframe[1].value["User ID"].tolist() == ids(U2, U3)


def test_unknown_stream_in_the_url_falls_back_with_a_notice(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, STREAMS, stream="nope")
    assert not at.exception
    assert ("Ignored `stream=nope` from the link: “nope” is not one of the choices. "
            "Showing 10th stream.") in infos(at)
    assert "stream" not in at.query_params
    assert at.dataframe[1].value["User ID"].tolist() == ids(U1, U2)


def test_stream_csvs_hold_every_row_with_formulas_neutralised(monkeypatch, hand_url, downloads):
    at = open_page(monkeypatch, hand_url, STREAMS)
    assert not at.exception
    (summary_name, summary_rows), (roster_name, roster_rows) = downloads.items()
    assert summary_name == "streams.csv"  # all time: no dates in the name
    # As the page reads: labels, stream words, rates in % to one decimal (1/3 → 33.3).
    assert summary_rows == [
        ["Stream", "Bookings", "New", "Pending", "Confirmed", "Cancelled",
         "Other statuses", "Students", "Paid rate (%)", "Cancellation rate (%)"],
        ["2nd stream", "2", "0", "0", "1", "1", "", "2", "50.0", "50.0"],
        ["10th stream", "3", "1", "0", "1", "0", "Unknown (3): 1", "2", "33.3", "0.0"],
    ]
    assert roster_name == "roster_10th_stream.csv"
    # Plus last name, email and when the newest booking in the stream was made (Moscow).
    assert roster_rows == [
        ["User ID", "Username", "Telegram", "First name", "Last name", "Email", "Status",
         "Events", "Last activity (Europe/Moscow)", "Booked at (Europe/Moscow)"],
        ["1", "'=SUM(A1)", "", "Ann", "Иванова", "", "Confirmed", "3", "2026-03-15 13:00:00",
         "2026-03-05 13:00:00"],
        ["2", "bob", "https://t.me/bob", "Bob", "", "", "Unknown (3)", "0", "",
         "2026-03-06 13:00:00"],
    ]


def test_viewers_see_no_contact_details_and_no_csv(monkeypatch, hand_url, downloads):
    at = open_page(monkeypatch, hand_url, STREAMS, role="viewer")
    assert not at.exception
    roster = at.dataframe[1].value
    assert list(roster.columns) == ["User ID", "First name", "Status", "Events", "Last activity"]
    assert roster["First name"].tolist() == ["Ann", "Bob"]
    assert downloads == {} and len(at.get("download_button")) == 0


# ---------------------------------------------------------------- Leads


def test_lead_tiers_are_counted_by_hand_with_the_spec_defaults(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, LEADS)
    assert not at.exception
    # Candidates L1, L2, L3 (U3 paid). L1: 6 events ≥ 5 → cool; L2: 2, L3: 0 → cold.
    assert cards(at) == {"Hot": "0", "Warm": "0", "Cool": "1", "Cold": "2"}
    assert [n.value for n in at.number_input] == [7, 20, 5, 10, 3, 5]
    assert chart_labels(at) == ["Hot — 0 people (0%)", "Warm — 0 people (0%)",
                                "Cool — 1 person (33%)", "Cold — 2 people (67%)"]
    # The hot-leads view (the default) has nobody hot or warm.
    assert NO_DATA in infos(at)
    assert len(at.dataframe) == 0
    assert ("Events in the last 7 days up to now (20 Mar 2026, 21:00); the dates in the sidebar "
            "do not apply here.") in " ".join(captions(at))


def test_a_one_day_window_and_one_event_rules_read_in_the_singular(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, LEADS, window="1", cool_events="1", hot_days="1")
    assert not at.exception
    assert ("Events in the last day up to now (20 Mar 2026, 21:00)") in " ".join(captions(at))
    helps = {m.label: m.help for m in at.metric}
    assert helps["Hot"] == "At least 20 events on at least 1 day in the window."
    assert helps["Cool"] == "At least 1 event in the window."


def test_a_lower_hot_threshold_makes_a_hot_lead_and_goes_into_the_url(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, LEADS)
    at.number_input(key="url:hot_events").set_value(6).run()
    assert at.query_params["hot_events"] == "6"
    assert cards(at)["Hot"] == "0"  # L1 has 6 events but only 3 active days (< 5)
    at.number_input(key="url:hot_days").set_value(3).run()
    assert at.query_params["hot_days"] == "3"
    assert cards(at) == {"Hot": "1", "Warm": "0", "Cool": "0", "Cold": "2"}
    table = at.dataframe[0].value
    assert table["User ID"].tolist() == ids(L1)
    assert table["Tier"].tolist() == ["Hot"]
    assert table["Events"].tolist() == [6] and table["Active days"].tolist() == [3]
    assert table["Last activity"].iloc[0] == moscow("2026-03-19 13:01")

    again = open_page(monkeypatch, hand_url, LEADS, hot_events="6", hot_days="3")
    assert cards(again)["Hot"] == "1"
    assert [n.value for n in again.number_input][:3] == [7, 6, 3]


def test_payers_toggle_and_all_leads_view(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, LEADS, payers="1")
    # U3 joins: 10 events on 3 Moscow days → warm.
    assert cards(at) == {"Hot": "0", "Warm": "1", "Cool": "1", "Cold": "2"}
    assert at.dataframe[0].value["User ID"].tolist() == ids(U3)
    at.segmented_control[0].set_value("all").run()
    assert at.query_params["list"] == "all"
    # tier, then events: U3 warm, L1 cool, L2 cold (2 events), L3 cold (0 events).
    table = at.dataframe[0].value
    assert table["User ID"].tolist() == ids(U3, L1, L2, L3)
    assert table["Tier"].tolist() == ["Warm", "Cool", "Cold", "Cold"]
    assert pd.isna(table["Telegram"].iloc[-1])  # L3 has no username: no link


@pytest.mark.parametrize(
    ("query", "notice"),
    [({"window": "abc"}, "Ignored `window=abc` from the link: “abc” is not a whole number. "
                         "Showing 7."),
     ({"list": "nope"}, "Ignored `list=nope` from the link: “nope” is not one of the choices. "
                        "Showing Hot leads.")],
    ids=["window", "list"],
)
def test_malformed_lead_filters_fall_back_with_a_notice(monkeypatch, hand_url, query, notice):
    at = open_page(monkeypatch, hand_url, LEADS, **query)
    assert not at.exception
    assert notice in infos(at)
    assert not set(query) & set(at.query_params)
    assert cards(at) == {"Hot": "0", "Warm": "0", "Cool": "1", "Cold": "2"}


def test_leads_csv_has_every_row_and_the_rules_in_its_name(monkeypatch, hand_url, downloads):
    at = open_page(monkeypatch, hand_url, LEADS, list="all", window="14", cool_events="7")
    assert not at.exception
    ((name, lead_rows),) = downloads.items()
    assert name == ("leads_2026-03-20T2100_window-14d_hot-20ev-5d_warm-10ev-3d_cool-7ev_all.csv")
    # 14 days reach back to 03-06 18:00 UTC: the same events count. L1's 6 < 7 → cold now.
    # Plus last name, email and the newest registration and booking (none booked), Moscow.
    assert lead_rows == [
        ["User ID", "Username", "Telegram", "First name", "Last name", "Email", "Events",
         "Active days", "Last activity (Europe/Moscow)", "Tier",
         "Registered at (Europe/Moscow)", "Booked at (Europe/Moscow)"],
        ["11", "'@lead", "", "Lena", "'-Lenova", "u11@example.org", "6", "3",
         "2026-03-19 13:01:00", "Cold", "2026-03-01 13:00:00", ""],
        ["12", "leo", "https://t.me/leo", "Leo", "", "u12@example.org", "2", "1",
         "2026-03-19 15:00:00", "Cold", "2026-03-01 13:00:00", ""],
        ["13", "", "", "Mia", "", "u13@example.org", "0", "0", "", "Cold",
         "2026-03-01 13:00:00", ""],
    ]


def test_lead_viewers_see_no_contact_details(monkeypatch, hand_url, downloads):
    at = open_page(monkeypatch, hand_url, LEADS, role="viewer", list="all")
    assert not at.exception
    assert list(at.dataframe[0].value.columns) == [
        "User ID", "First name", "Events", "Active days", "Last activity", "Tier"]
    assert downloads == {}


# ---------------------------------------------------------------- empty and demo databases


def test_pages_on_an_empty_database_say_no_data(monkeypatch, empty_url):
    streams = open_page(monkeypatch, empty_url, STREAMS)
    assert not streams.exception
    assert infos(streams).count(NO_DATA) == 1
    assert len(streams.dataframe) == 0 and chart_specs(streams) == []
    leads = open_page(monkeypatch, empty_url, LEADS)
    assert not leads.exception
    assert cards(leads) == {"Hot": "0", "Warm": "0", "Cool": "0", "Cold": "0"}
    assert infos(leads).count(NO_DATA) == 2  # the tier chart and the list
    assert len(leads.dataframe) == 0 and chart_specs(leads) == []


def test_pages_on_demo_data_match_the_reports(monkeypatch, demo_url):
    monkeypatch.setattr("hsl_ui.sidebar.utc_now", utc_now)  # demo data ends today
    streams = open_page(monkeypatch, demo_url, STREAMS)
    assert not streams.exception
    leads = open_page(monkeypatch, demo_url, LEADS, list="all")
    assert not leads.exception
    engine = make_engine(demo_url)
    try:
        summary = run_report(engine, "streams", Period.last_days(30, MOSCOW))
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        lead_rows = run_report(engine, "leads", Period.last_days(30, MOSCOW, now))
        roster = run_report(engine, "roster", Period.last_days(30, MOSCOW),
                            stream=summary["course_stream"].iloc[-1])
    finally:
        engine.dispose()
    assert streams.dataframe[0].value["Bookings"].tolist() == summary["bookings"].tolist()
    assert streams.dataframe[1].value["User ID"].tolist() == ids(*roster["user_id"])
    # The list shows a page of 50 people at a time, in the report's order.
    assert len(lead_rows) > 2 * PAGE_SIZE
    assert leads.dataframe[0].value["User ID"].tolist() == ids(*lead_rows["user_id"][:PAGE_SIZE])
    assert f"1–50 of {len(lead_rows):,}" in [c.value for c in leads.caption]
    second = open_page(monkeypatch, demo_url, LEADS, list="all", page="2")
    assert second.dataframe[0].value["User ID"].tolist() == ids(
        *lead_rows["user_id"][PAGE_SIZE:2 * PAGE_SIZE])
    assert sum(int(v.replace(",", "")) for v in cards(leads).values()) == len(lead_rows)


def test_status_chart_builder_greys_every_unknown_status():
    frame = pd.DataFrame({"course_stream": ["2nd_stream", "2nd_stream", None],
                          "confirmed": [2, 7, -1], "status": ["confirmed", "unknown (7)",
                                                              "cancelled"],
                          "bookings": [4, 1, 2]})
    spec = charts_streams.stream_statuses(frame, "2nd_stream").to_dict()
    scale = spec["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"], strict=True))["Unknown (7)"] == "#9aa5b1"
    assert spec["encoding"]["y"]["sort"] == ["2nd stream", "(no stream)"]
    assert spec["params"][0]["select"] == {"type": "point", "fields": ["course_stream"],
                                           "on": "click"}
