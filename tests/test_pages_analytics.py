"""The Free lessons, Funnel and Activity pages through AppTest, on SQLite and PostgreSQL.

Numbers come from the small dataset below, counted by hand. Times are UTC; Moscow is
UTC+3. The range is 2026-03-09 (a Monday) .. 2026-03-20 in Moscow; "now" is 2026-03-20.

| who | users row | registrations (type, lesson date, registered, notified) | bookings      |
|-----|-----------|---------------------------------------------------------|---------------|
| A   | 03-09     | python 03-12 (03-10, sent); python 03-19 (03-11, not)   | paid 03-13    |
| B   | 03-10     | python 03-12 (03-10, sent); web 03-14 (03-11, sent)     | new 03-15     |
| C   | 03-17     | web 03-21 (03-17, not sent)                             | cancelled     |
|     |           |                                                         | 03-18, pending|
|     |           |                                                         | 03-19         |
| D   | 02-01     | python 03-12 (03-01: before the range)                  | —             |
| E   | —         | —                                                       | —             |

Events (Moscow days): A menu_opened 03-09, lesson_link_clicked python 03-12, menu_opened
03-16; B faq_opened 03-10, lesson_link_clicked web 03-14; C menu_opened 03-17 10:00 UTC and
03-17 22:30 UTC (= 03-18 01:30 Moscow); D menu_opened 03-12, schedule_viewed 03-13;
E (events only) menu_opened 03-15 21:30 UTC = 03-16 00:30 Moscow.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from hsl.db import make_engine
from hsl.filters import Period
from hsl.reports import run_report
from tests.conftest import loaded_engine, url_of
from tests.fixtures import utc
from tests.pages_support import (  # noqa: F401 - clean_env and navigation_as_served are autouse
    MOSCOW,
    NOW,
    captions,
    clean_env,
    demo_database,
    infos,
    navigation_as_served,
    open_page,
    spy_downloads,
)

LESSONS, FUNNEL, ACTIVITY = "pages/free_lessons.py", "pages/funnel.py", "pages/activity.py"
RANGE = {"start": "2026-03-09", "end": "2026-03-20"}
NO_DATA = "No data for these filters."
PY, WEB, CLICK, MENU = "python_basics", "web_design", "lesson_link_clicked", "menu_opened"
A, B, C, D, E = 1, 2, 3, 4, 5


def _user(user_id: int, seen: str) -> dict:
    return {"user_id": user_id, "username": f"u{user_id}", "first_name": f"U{user_id}",
            "last_name": None, "language_code": "ru", "first_seen_at": utc(seen),
            "updated_at": utc(seen)}


def _reg(user_id: int, lesson_type: str, lesson_day: int, at: str, sent: bool) -> dict:
    return {"user_id": user_id, "username": f"u{user_id}", "first_name": f"U{user_id}",
            "email": f"u{user_id}@example.org", "registered_at": utc(at),
            "notification_sent": sent, "lesson_type": lesson_type,
            "lesson_date": date(2026, 3, lesson_day)}


def _booking(user_id: int, confirmed: int, at: str) -> dict:
    return {"user_id": user_id, "course_id": 1, "course_stream": "3rd_stream",
            "confirmed": confirmed, "created_at": utc(at), "referral_code": None,
            "discount_percent": None}


def _event(user_id: int, kind: str, at: str, lesson_type: str | None = None) -> dict:
    return {"user_id": user_id, "event_type": kind, "created_at": utc(at),
            "details": {"lesson_type": lesson_type} if lesson_type else None}


ROWS = {
    "users": [_user(A, "2026-03-09 10:00"), _user(B, "2026-03-10 09:00"),
              _user(C, "2026-03-17 09:00"), _user(D, "2026-02-01 09:00")],
    "free_lesson_registrations": [
        _reg(A, PY, 12, "2026-03-10 10:00", True), _reg(A, PY, 19, "2026-03-11 10:00", False),
        _reg(B, PY, 12, "2026-03-10 11:00", True), _reg(B, WEB, 14, "2026-03-11 11:00", True),
        _reg(C, WEB, 21, "2026-03-17 10:00", False), _reg(D, PY, 12, "2026-03-01 10:00", True),
    ],
    "bookings": [
        _booking(A, 2, "2026-03-13 10:00"), _booking(B, 0, "2026-03-15 10:00"),
        _booking(C, -1, "2026-03-18 10:00"), _booking(C, 1, "2026-03-19 10:00"),
    ],
    "events": [
        _event(A, MENU, "2026-03-09 11:00"), _event(A, CLICK, "2026-03-12 12:00", PY),
        _event(A, MENU, "2026-03-16 11:00"),
        _event(B, "faq_opened", "2026-03-10 10:00"), _event(B, CLICK, "2026-03-14 10:00", WEB),
        _event(C, MENU, "2026-03-17 10:00"), _event(C, MENU, "2026-03-17 22:30"),
        _event(D, MENU, "2026-03-12 09:00"), _event(D, "schedule_viewed", "2026-03-13 09:00"),
        _event(E, MENU, "2026-03-15 21:30"),
    ],
}


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def hand_url(backend, database_factory) -> str:
    """URL of a database holding ROWS (migrated, no enforced foreign keys)."""
    return url_of(loaded_engine(backend, database_factory, ROWS))


@pytest.fixture(scope="module")
def demo_url(backend, database_factory) -> str:
    """URL of a migrated database with a small deterministic demo ending on NOW's date."""
    return demo_database(backend, database_factory, anchor=NOW.date())


@pytest.fixture
def downloads(monkeypatch) -> dict[str, list[list[str]]]:
    """File name → CSV rows of every download button drawn."""
    return spy_downloads(monkeypatch)


def cards(at: AppTest) -> dict[str, str]:
    """Card label → value as shown."""
    return {m.label: m.value for m in at.metric}


def rows(at: AppTest, i: int) -> list[tuple]:
    """Table `i` as shown, rounded to 0.1 so percentages compare as written; an empty cell
    is None."""
    frame = at.dataframe[i].value
    return [tuple(None if v is pd.NA or v != v else round(v, 1) if isinstance(v, float) else v
                  for v in row)
            for row in frame.itertuples(index=False)]


def chart_data(at: AppTest, i: int):
    """The data Streamlit sends to the browser for chart `i`."""
    chart = at.get("vega_lite_chart")[i]
    return convert_arrow_bytes_to_pandas_df(chart.proto.datasets[0].data.data)


# ---------------------------------------------------------------- Free lessons


def test_free_lessons_numbers_are_counted_by_hand(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, LESSONS, **RANGE)
    assert not at.exception
    # 5 rows in range by A, B, C (D's is before); A clicked python, B web: 2 of 3.
    # Sent: A's 03-12, B's two: 3 of 5.
    assert cards(at) == {"Registrations": "5", "Registrants": "3", "Attended": "2",
                         "Attendance rate": "66.7%", "Notified": "60%"}
    assert list(at.dataframe[0].value.columns) == [
        "Lesson type", "Registrations", "Registrants", "Attended", "Attendance rate",
        "Notified", "Notified share"]
    assert rows(at, 0) == [
        # A twice and B; only A clicked python (B clicked web); sent A 03-12, B.
        ("Python basics", 3, 2, 1, 50.0, 2, 66.7),
        # B and C; B clicked web; sent B.
        ("Web design", 2, 2, 1, 50.0, 1, 50.0),
    ]
    assert rows(at, 1) == [
        ("Python basics", date(2026, 3, 12), "Held", 2, 2, 1, 50.0, 2, 100.0),
        ("Python basics", date(2026, 3, 19), "Held", 1, 1, 1, 100.0, 0, 0.0),  # A: python
        ("Web design", date(2026, 3, 14), "Held", 1, 1, 1, 100.0, 1, 100.0),
        # Today is 20 March: the lesson of the 21st has no attendance yet.
        ("Web design", date(2026, 3, 21), "Upcoming", 1, 1, None, None, 0, 0.0),
    ]
    assert len(at.get("vega_lite_chart")) == 2
    assert chart_data(at, 0)["registrants"].tolist() == [2, 1, 1, 1]


def test_free_lessons_lesson_type_lives_in_the_url(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, LESSONS, **RANGE, lesson_type=WEB)
    assert at.selectbox[0].value == WEB
    # B's and C's web registrations; B attended; B's was sent.
    assert cards(at) == {"Registrations": "2", "Registrants": "2", "Attended": "1",
                         "Attendance rate": "50%", "Notified": "50%"}
    assert [r[0] for r in rows(at, 0)] == ["Web design"]
    assert [r[1] for r in rows(at, 1)] == [date(2026, 3, 14), date(2026, 3, 21)]

    at.selectbox[0].select(PY).run()
    assert at.query_params["lesson_type"] == PY
    # A twice, B once; A attended; A's 03-12 and B's sent.
    assert cards(at)["Registrations"] == "3" and cards(at)["Registrants"] == "2"
    assert cards(at)["Notified"] == "66.7%"


def test_free_lessons_unknown_lesson_type_falls_back_with_a_notice(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, LESSONS, **RANGE, lesson_type="cooking")
    assert not at.exception
    assert ("Ignored `lesson_type=cooking` from the link: “cooking” is not one of the choices. "
            "Showing All lesson types.") in infos(at)
    assert "lesson_type" not in at.query_params
    assert cards(at)["Registrations"] == "5"


def test_free_lessons_csv_holds_every_row_of_the_filtered_table(monkeypatch, hand_url,
                                                                  downloads):
    at = open_page(monkeypatch, hand_url, LESSONS, **RANGE, lesson_type=PY)
    assert not at.exception
    assert downloads["free_lessons_by_date_2026-03-09_2026-03-20_python_basics.csv"] == [
        ["Lesson type", "Lesson date", "Registrations", "Registrants", "Attended",
         "Attendance rate (%)", "Notified", "Notified share (%)"],
        ["Python basics", "2026-03-12", "2", "2", "1", "50.0", "2", "100.0"],
        ["Python basics", "2026-03-19", "1", "1", "1", "100.0", "0", "0.0"],
    ]
    assert downloads["free_lessons_by_type_2026-03-09_2026-03-20_python_basics.csv"][1][:4] == [
        "Python basics", "3", "2", "1"]


# ---------------------------------------------------------------- Funnel


def test_funnel_numbers_are_counted_by_hand(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, FUNNEL, **RANGE)
    assert not at.exception
    assert ("People who registered for a free lesson 9 Mar – 20 Mar 2026, compared with the "
            "12 days before (25 Feb – 8 Mar 2026).") in captions(at)[0]
    # Cohort A B C. Attended A (python), B (web). Booked (not cancelled, any time) A, B —
    # and C (pending), who did not attend. Paid A. The 12 days before: D registered
    # (python, 03-01) and did nothing more.
    assert [(m.label, m.value, m.delta) for m in at.metric] == [
        ("Registered", "3", "+2 (+200%)"), ("Attended", "2", "+2"),
        ("Booked", "2", "+2"), ("Paid", "1", "+1"),
    ]
    assert at.metric[1].help == ("66.7% of the step before (0% earlier). 2 people in the "
                                 "cohort did this step at all.")
    assert list(at.dataframe[0].value.columns) == [
        "Step", "People", "% of first", "% of previous", "Did it at all",
        "People (earlier)", "% of first (earlier)", "% of previous (earlier)"]
    assert rows(at, 0) == [
        ("Registered", 3, 100.0, 100.0, 3, 1, 100.0, 100.0),
        ("Attended", 2, 66.7, 66.7, 2, 0, 0.0, 0.0),
        ("Booked", 2, 66.7, 100.0, 3, 0, 0.0, 0.0), ("Paid", 1, 33.3, 50.0, 1, 0, 0.0, 0.0),
    ]
    assert list(at.dataframe[1].value.columns) == [
        "Lesson type", "Registered", "Attended", "Booked", "Paid", "Registered → paid"]
    assert rows(at, 1) == [
        ("Python basics", 2, 1, 1, 1, 50.0),  # A B; A clicked python, booked and paid
        ("Web design", 2, 1, 1, 0, 0.0),  # B C; B clicked web and booked (new), nobody paid
    ]
    # The comparison chart leaves out the first step (always 100 %) and names cohort sizes.
    compare = chart_data(at, 1)
    assert sorted(set(compare["name"])) == ["Python basics · 2 registered",
                                            "Web design · 2 registered"]
    assert compare["label"].tolist() == ["50%", "50%", "50%", "50%", "50%", "0%"]


def test_funnel_compared_with_the_same_dates_a_month_earlier(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, FUNNEL, **RANGE, compare="month")
    assert not at.exception
    assert "compared with the same dates a month earlier (9 Feb – 20 Feb 2026)." in (
        captions(at)[0])
    assert next(s for s in at.sidebar.selectbox if s.label == "Compare with").value == "month"
    # Nobody registered 02-09 .. 02-20 (D registered on 03-01).
    assert [m.delta for m in at.metric] == ["+3", "+2", "+2", "+1"]
    assert [r[5] for r in rows(at, 0)] == [0, 0, 0, 0]


def test_funnel_lesson_type_lives_in_the_url(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, FUNNEL, **RANGE, lesson_type=WEB)
    assert at.selectbox[0].value == WEB
    # Web cohort B C; B attended and booked; C booked (pending) without attending.
    assert [r[1] for r in rows(at, 0)] == [2, 1, 1, 0]
    assert [r[4] for r in rows(at, 0)] == [2, 1, 2, 0]
    at.selectbox[0].select(PY).run()
    assert at.query_params["lesson_type"] == PY
    assert [r[1] for r in rows(at, 0)] == [2, 1, 1, 1]  # A B; A clicked python, booked, paid


def test_funnel_unknown_lesson_type_falls_back_with_a_notice(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, FUNNEL, **RANGE, lesson_type="=cmd|' /C calc'!A0")
    assert not at.exception
    assert any(i.startswith("Ignored `lesson_type==cmd|' /C calc'!A0` from the link: ")
               for i in infos(at))
    assert [r[1] for r in rows(at, 0)] == [3, 2, 2, 1]


def test_funnel_csv_of_the_comparison_has_every_lesson_type(monkeypatch, hand_url, downloads):
    at = open_page(monkeypatch, hand_url, FUNNEL, **RANGE, lesson_type=WEB)
    assert not at.exception
    assert downloads["funnel_2026-03-09_2026-03-20_web_design.csv"][1:] == [
        ["Registered", "2", "100.0", "100.0", "2"], ["Attended", "1", "50.0", "50.0", "1"],
        ["Booked", "1", "50.0", "100.0", "2"], ["Paid", "0", "0.0", "0.0", "0"],
    ]
    # The side-by-side table is not narrowed by the filter: both types, all columns.
    assert downloads["funnel_by_lesson_type_2026-03-09_2026-03-20.csv"] == [
        ["Lesson type", "Registered", "Attended", "Booked", "Paid", "Registered → paid (%)"],
        ["Python basics", "2", "1", "1", "1", "50.0"],
        ["Web design", "2", "1", "1", "0", "0.0"],
    ]


# ---------------------------------------------------------------- Activity


def test_activity_numbers_are_counted_by_hand(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, ACTIVITY, **RANGE)
    assert not at.exception
    # 10 events of 4 types. Per Moscow day: 09:1 10:1 12:2 13:1 14:1 16:2 17:1 18:1; active
    # people per day add up to 10 over 12 days: 0.83 → 1. Busiest: 03-12 (first of two 2s).
    assert [(m.label, m.value, m.delta) for m in at.metric] == [
        ("Events", "10", ""), ("Event types", "4", ""), ("Active users a day", "1", ""),
        ("Busiest day", "12 Mar", "2 events"),
    ]
    daily = at.dataframe[0].value
    assert len(daily) == 12 and daily["Events"].sum() == 10
    assert daily["Active users"].tolist() == [1, 1, 0, 2, 1, 1, 0, 2, 1, 1, 0, 0]
    assert rows(at, 1) == [
        ("Menu opened", 6, 60.0),  # A twice, C twice, D, E
        ("Lesson link clicked", 2, 20.0),
        ("FAQ opened", 1, 10.0),  # ties by name
        ("Schedule viewed", 1, 10.0),
    ]
    # Cohort of 9 Mar: A, B (both active that week; A again on 03-16). Cohort of 16 Mar:
    # C and E (E's first event is 03-15 in UTC but 03-16 in Moscow).
    assert rows(at, 2) == [
        (date(2026, 3, 9), 0, 2, 2, 100.0), (date(2026, 3, 9), 1, 2, 1, 50.0),
        (date(2026, 3, 16), 0, 2, 2, 100.0),
    ]
    heatmap = chart_data(at, 3)
    assert heatmap["cohort"].tolist() == ["Week of 9 Mar 2026 · 2 people"] * 2 + [
        "Week of 16 Mar 2026 · 2 people"]
    assert heatmap["label"].tolist() == ["100%", "50%", "100%"]


def test_active_users_a_day_averages_from_the_first_day_with_events(monkeypatch, hand_url):
    # From 1 March: the first event is on 9 March, and today (20 March, not over) is left
    # out, so 10 active people-days over the 11 days 9–19 March: 0.91 → 1 (over all 20
    # days it would be 0.5 → 0).
    at = open_page(monkeypatch, hand_url, ACTIVITY, start="2026-03-01", end="2026-03-20")
    assert not at.exception
    card = next(m for m in at.metric if m.label == "Active users a day")
    assert card.value == "1"
    assert card.help == ("Distinct people with any event on a day, averaged over 11 days "
                         "(9 Mar – 19 Mar 2026): from the first day with events, without "
                         "today (not over yet).")
    assert "20 Mar 2026 is today: its numbers are so far (lighter bars, dashed line)." in (
        captions(at))
    events = chart_data(at, 0)
    assert events.loc[events["partial"], "day"].unique().tolist() == [date(2026, 3, 20)]


def test_a_range_before_the_data_says_when_the_data_runs(monkeypatch, hand_url):
    # The earliest timestamp is D's first_seen_at 2026-02-01 09:00 UTC, the latest C's
    # booking of 2026-03-19 10:00 UTC (Moscow days: 1 Feb and 19 Mar).
    at = open_page(monkeypatch, hand_url, LESSONS, start="2025-01-01", end="2025-01-31")
    assert not at.exception
    assert infos(at) == ["No data in these dates. Data runs from 1 Feb 2026 to 19 Mar 2026."]
    # No registrants: the rates have nothing to divide and read "—", not 0 %.
    assert cards(at) == {"Registrations": "0", "Registrants": "0", "Attended": "0",
                         "Attendance rate": "—", "Notified": "—"}


def test_activity_top_n_lives_in_the_url(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, ACTIVITY, **RANGE, top="1")
    assert at.number_input[0].value == 1
    stacked = chart_data(at, 0)
    # Menu opened keeps its name; click (2), faq (1) and schedule (1) add up as Other.
    assert stacked.groupby("name")["events"].sum().to_dict() == {"Menu opened": 6, "Other": 4}
    at.number_input[0].set_value(3).run()
    assert at.query_params["top"] == "3"
    assert set(chart_data(at, 0)["name"]) == {"Menu opened", "Lesson link clicked",
                                              "FAQ opened", "Other"}


def test_activity_malformed_top_falls_back_with_a_notice(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, ACTIVITY, **RANGE, top="lots")
    assert not at.exception
    assert ("Ignored `top=lots` from the link: “lots” is not a whole number. Showing 5."
            in infos(at))
    assert at.number_input[0].value == 5
    assert "top" not in at.query_params
    assert len(set(chart_data(at, 0)["name"])) == 4  # all four types, no Other


def test_activity_csvs_hold_every_row(monkeypatch, hand_url, downloads):
    at = open_page(monkeypatch, hand_url, ACTIVITY, **RANGE)
    assert not at.exception
    assert len(downloads["activity_2026-03-09_2026-03-20.csv"]) == 1 + 12  # every day
    assert downloads["event_types_2026-03-09_2026-03-20.csv"][1:] == [
        ["Menu opened", "6", "60.0"], ["Lesson link clicked", "2", "20.0"],
        ["FAQ opened", "1", "10.0"], ["Schedule viewed", "1", "10.0"],
    ]
    assert downloads["retention_2026-03-09_2026-03-20.csv"][1:] == [
        ["2026-03-09", "0", "2", "2", "100.0"], ["2026-03-09", "1", "2", "1", "50.0"],
        ["2026-03-16", "0", "2", "2", "100.0"],
    ]


# ---------------------------------------------------------------- empty and demo databases


@pytest.mark.parametrize(("page", "notices"), [(LESSONS, 1), (FUNNEL, 2), (ACTIVITY, 4)])
def test_pages_on_an_empty_database_say_no_data(monkeypatch, empty_url, page, notices):
    at = open_page(monkeypatch, empty_url, page, **RANGE)
    assert not at.exception
    assert infos(at).count(NO_DATA) == notices
    assert len(at.get("vega_lite_chart")) == 0
    assert len(at.dataframe) == 0
    assert all(m.value in {"0", "0%", "—"} for m in at.metric)


@pytest.mark.parametrize("page", [LESSONS, FUNNEL, ACTIVITY])
def test_pages_on_demo_data_match_the_reports(monkeypatch, demo_url, page):
    at = open_page(monkeypatch, demo_url, page)
    assert not at.exception
    assert NO_DATA not in infos(at)
    start, end = at.date_input[0].value
    engine = make_engine(demo_url)
    try:
        period = Period(start, end, MOSCOW, NOW)
        if page == LESSONS:
            expected = run_report(engine, "attendance", period)["registrants"].tolist()
            assert at.dataframe[0].value["Registrants"].tolist() == expected
        elif page == FUNNEL:
            expected = run_report(engine, "funnel", period)["users"].tolist()
            assert at.dataframe[0].value["People"].tolist() == expected
        else:
            expected = run_report(engine, "event-types", period)["events"].tolist()
            assert at.dataframe[1].value["Events"].tolist() == expected
    finally:
        engine.dispose()
