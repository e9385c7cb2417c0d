"""The app shell and the Overview page through streamlit.testing.v1.AppTest.

Numbers come from the small dataset below, counted by hand, on SQLite and PostgreSQL;
the demo database is checked against hsl.reports. Times are UTC; Moscow is UTC+3.

| who | rows                                                                              |
|-----|-----------------------------------------------------------------------------------|
| U1  | users row 2026-02-15 (before both periods); registered python 03-12; clicked the  |
|     | python link twice; a paid booking 03-16                                           |
| U2  | users row 03-05 (previous period); registered python 03-06; a paid booking 03-07  |
|     | and a new one 03-08 (both in the previous period)                                 |
| U3  | users row 03-12; registered python 03-13 and web 03-14; clicked both links; a     |
|     | cancelled booking 03-17 and a pending one 03-18                                   |
| U4  | users row 2026-03-20 21:30 UTC = 03-21 00:30 Moscow: after the period             |
| U5  | users row 2026-03-10 21:30 UTC = 03-11 00:30 Moscow: inside the period; registered |
|     | web 03-11; one click with NULL details; a booking with the unknown status 3      |
| U6  | events only: menu_opened 03-15                                                    |

Period 2026-03-11 .. 2026-03-20 (10 days) in Europe/Moscow; previous 03-01 .. 03-10.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from hsl import migrate
from hsl.auth import Actor
from hsl.bench import page_scripts
from hsl.db import make_engine
from hsl.filters import Period, utc_now
from hsl.reports import run_report
from hsl.schema import users
from hsl_ui import charts
from hsl_ui import format as fmt
from tests.conftest import loaded_engine, url_of
from tests.fixtures import load_rows, utc
from tests.pages_support import (  # noqa: F401 - clean_env and navigation_as_served are autouse
    APP,
    MOSCOW,
    NOW,
    assert_charts_valid,
    captions,
    chart_labels,
    chart_specs,
    clean_env,
    demo_database,
    errors,
    infos,
    navigation_as_served,
    open_page,
)

DEFAULT_START, DEFAULT_END = date(2026, 2, 19), date(2026, 3, 20)  # last 30 Moscow days
PERIOD = {"start": "2026-03-11", "end": "2026-03-20"}
CHARTS_ON_DEMO = {"activity": 4, "free_lessons": 2, "funnel": 2, "leads": 1, "overview": 3,
                  "streams": 1}  # page: the charts it draws on the demo data, by default
DOWN_URL = "postgresql://nobody@127.0.0.1:1/x"
DOWN = "The database cannot be reached right now; retrying…"
KPI_LABELS = ["Known users", "New users", "Registrations", "Active bookings",
              "Confirmed payments"]
PY, WEB, CLICK = "python_basics", "web_design", "lesson_link_clicked"


def _user(user_id: int, seen: str) -> dict:
    return {"user_id": user_id, "username": f"u{user_id}", "first_name": f"U{user_id}",
            "last_name": None, "language_code": "ru", "first_seen_at": utc(seen),
            "updated_at": utc(seen)}


def _reg(user_id: int, lesson_type: str, at: str) -> dict:
    return {"user_id": user_id, "username": f"u{user_id}", "first_name": f"U{user_id}",
            "email": f"u{user_id}@example.org", "registered_at": utc(at),
            "notification_sent": True, "lesson_type": lesson_type, "lesson_date": date(2026, 3, 25)}


def _booking(user_id: int, confirmed: int, at: str) -> dict:
    return {"user_id": user_id, "course_id": 1, "course_stream": "3rd_stream",
            "confirmed": confirmed, "created_at": utc(at), "referral_code": None,
            "discount_percent": None}


def _event(user_id: int, kind: str, at: str, details: dict | None) -> dict:
    return {"user_id": user_id, "event_type": kind, "created_at": utc(at), "details": details}


ROWS = {
    "users": [
        _user(1, "2026-02-15 10:00"), _user(2, "2026-03-05 12:00"), _user(3, "2026-03-12 09:00"),
        _user(4, "2026-03-20 21:30"), _user(5, "2026-03-10 21:30"),
    ],
    "free_lesson_registrations": [
        _reg(1, PY, "2026-03-12 10:00"), _reg(2, PY, "2026-03-06 10:00"),
        _reg(3, PY, "2026-03-13 10:00"), _reg(3, WEB, "2026-03-14 10:00"),
        _reg(5, WEB, "2026-03-11 06:00"),
    ],
    "bookings": [
        _booking(1, 2, "2026-03-16 10:00"), _booking(2, 2, "2026-03-07 10:00"),
        _booking(2, 0, "2026-03-08 10:00"), _booking(3, -1, "2026-03-17 10:00"),
        _booking(3, 1, "2026-03-18 10:00"), _booking(5, 3, "2026-03-19 10:00"),
    ],
    "events": [
        _event(1, CLICK, "2026-03-12 12:00", {"lesson_type": PY}),
        _event(1, CLICK, "2026-03-12 12:05", {"lesson_type": PY}),
        _event(3, CLICK, "2026-03-13 11:00", {"lesson_type": PY}),
        _event(3, CLICK, "2026-03-14 12:00", {"lesson_type": WEB}),
        _event(5, CLICK, "2026-03-11 07:00", None),
        _event(6, "menu_opened", "2026-03-15 08:00", None),
    ],
}


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def hand_url(backend, database_factory) -> str:
    """URL of a database holding ROWS (migrated, bot-like: no enforced foreign keys)."""
    return url_of(loaded_engine(backend, database_factory, ROWS))


def run_app(monkeypatch, url: str | None, **query: str) -> AppTest:
    """Run app.py once against `url` (a real database, login off, as admin) with `query`."""
    if url:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("HSL_AUTH_DISABLED", "1")
        monkeypatch.setenv("HSL_AUTH_DISABLED_ROLE", "admin")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query)
    return at.run()


def metrics(at: AppTest) -> dict[str, tuple[int, str]]:
    """KPI label → (value as a number, delta text) as the cards show them."""
    return {m.label: (int(m.value.replace(",", "")), m.delta) for m in at.metric}


# ---------------------------------------------------------------- hand-counted numbers


def test_overview_shows_hand_counted_kpis_and_deltas(monkeypatch, hand_url):
    at = run_app(monkeypatch, hand_url, **PERIOD)
    assert not at.exception
    assert metrics(at) == {
        # U1..U6 all time; new in the period: U3, U5 (03-11 in Moscow) and U6 = "+3 new"
        "Known users": (6, "+3 new"),
        # previous period: U2 only
        "New users": (3, "+2 (+200%)"),
        # 4 rows (U1 py, U3 py, U3 web, U5 web) against U2's one
        "Registrations": (4, "+3 (+300%)"),
        # U1 paid, U3 pending, U5 unknown status (not cancelled) against U2's two
        "Active bookings": (3, "+1 (+50%)"),
        # U1 against U2
        "Confirmed payments": (1, "0"),
    }
    assert "11 Mar – 20 Mar 2026, compared with the 10 days before (1 Mar – 10 Mar 2026)." in (
        captions(at))
    counted = at.expander[0].markdown[0].value
    assert "registrations made in these dates, by\n  3 people." in counted  # U1, U3, U5
    assert "not cancelled, by\n  3 people." in counted  # U1, U3, U5
    assert "paid, by\n  1 person." in counted  # U1
    assert at.date_input[0].value == (date(2026, 3, 11), date(2026, 3, 20))
    assert "Times in Europe/Moscow" in " ".join(captions(at))
    assert not any("Demo data" in i for i in infos(at))


def test_overview_funnel_table_has_human_columns_and_hand_counted_steps(monkeypatch, hand_url):
    at = run_app(monkeypatch, hand_url, **PERIOD)
    table = at.dataframe[0].value
    assert list(table.columns) == ["Step", "People", "% of first", "% of previous",
                                   "Did it at all"]
    assert table["Step"].tolist() == ["Registered", "Attended", "Booked", "Paid"]
    # cohort U1, U3, U5; attended U1, U3 (U5's click has no details); both booked; U1 paid.
    assert table["People"].tolist() == [3, 2, 2, 1]
    assert table["% of first"].round(2).tolist() == [100.0, 66.67, 66.67, 33.33]
    assert table["% of previous"].round(2).tolist() == [100.0, 66.67, 100.0, 50.0]
    # open: U5's unknown-status booking counts as booked.
    assert table["Did it at all"].tolist() == [3, 2, 3, 1]
    assert at.selectbox[0].options == ["All lesson types", "Python basics", "Web design"]
    assert at.selectbox[0].value == ""  # the text of "All lesson types"
    assert "lesson_type" not in at.query_params


def test_funnel_lesson_type_lives_in_the_url(monkeypatch, hand_url):
    at = run_app(monkeypatch, hand_url, **PERIOD, lesson_type=WEB)
    assert at.selectbox[0].value == WEB
    # web cohort U3, U5; U3 attended and booked (pending), nobody paid; U3 and U5 booked.
    assert at.dataframe[0].value["People"].tolist() == [2, 1, 1, 0]
    assert at.dataframe[0].value["Did it at all"].tolist() == [2, 1, 2, 0]

    at.selectbox[0].select(PY).run()
    assert at.query_params["lesson_type"] == PY
    # python cohort U1, U3: both clicked python, both booked, U1 paid.
    assert at.dataframe[0].value["People"].tolist() == [2, 2, 2, 1]

    at.selectbox[0].select("").run()
    assert "lesson_type" not in at.query_params
    assert at.dataframe[0].value["People"].tolist() == [3, 2, 2, 1]


def test_unknown_lesson_type_in_the_url_falls_back_with_a_notice(monkeypatch, hand_url):
    at = run_app(monkeypatch, hand_url, **PERIOD, lesson_type="cooking")
    assert not at.exception
    assert ("Ignored `lesson_type=cooking` from the link: “cooking” is not one of the choices. "
            "Showing All lesson types.") in infos(at)
    assert at.selectbox[0].value == ""
    assert "lesson_type" not in at.query_params
    assert at.dataframe[0].value["People"].tolist() == [3, 2, 2, 1]


def test_overview_charts_carry_the_hand_counted_labels(monkeypatch, hand_url):
    at = run_app(monkeypatch, hand_url, **PERIOD)
    assert len(chart_specs(at)) == 3  # growth, attendance, funnel
    assert chart_labels(at) == [
        # python: U1 and U3 both clicked python; web: U3 clicked, U5 did not.
        "Python basics\n100% · 2 of 2 attended",  # two lines: the name, then the numbers
        "Web design\n50% · 1 of 2 attended",
        "Registered — 3 people\nthe cohort",
        "Attended — 2 people\n66.7% of first step · 66.7% of previous",
        "Booked — 2 people\n66.7% of first step · 100% of previous",
        "Paid — 1 person\n33.3% of first step · 50% of previous",
    ]


def test_changing_the_dates_writes_the_url_and_recounts(monkeypatch, hand_url):
    at = run_app(monkeypatch, hand_url, **PERIOD)
    at.date_input[0].set_value((date(2026, 3, 1), date(2026, 3, 10))).run()
    assert at.query_params["start"] == "2026-03-01"
    assert at.query_params["end"] == "2026-03-10"
    # 03-01..03-10 Moscow: U2 is new; U2's registration; U2's two bookings, one paid.
    assert metrics(at)["New users"][0] == 1
    assert metrics(at)["Registrations"][0] == 1
    assert metrics(at)["Active bookings"][0] == 2
    assert metrics(at)["Confirmed payments"][0] == 1


def test_default_range_is_the_last_30_days_and_goes_into_the_url(monkeypatch, hand_url):
    at = run_app(monkeypatch, hand_url)
    assert at.date_input[0].value == (DEFAULT_START, DEFAULT_END)
    assert at.query_params["start"] == "2026-02-19"
    assert at.query_params["end"] == "2026-03-20"
    # 02-19..03-20 Moscow: U2, U3, U5, U6 are new (U1 before, U4 on 03-21).
    assert metrics(at)["New users"][0] == 4


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({"start": "garbage"}, "start=garbage"),
        ({"start": "2026-03-15", "end": "2026-03-11"}, "start=2026-03-15&end=2026-03-11"),
        ({"start": "2026-03-01", "end": "2026-12-31"}, "start=2026-03-01&end=2026-12-31"),
    ],
    ids=["not-a-date", "reversed", "after-today"],
)
def test_malformed_dates_in_the_url_fall_back_with_a_notice(monkeypatch, hand_url, query, shown):
    at = run_app(monkeypatch, hand_url, **query)
    assert not at.exception
    notices = [i for i in infos(at) if i.startswith("Ignored")]
    assert len(notices) == 1
    assert notices[0].startswith(f"Ignored `{shown}` from the link: ")
    assert notices[0].endswith("Showing the last 30 days.")
    assert at.date_input[0].value == (DEFAULT_START, DEFAULT_END)
    assert at.query_params["start"] == "2026-02-19"
    assert at.query_params["end"] == "2026-03-20"
    assert metrics(at)["New users"][0] == 4


def dates_box(at: AppTest):
    """The sidebar's date preset select."""
    return next(box for box in at.sidebar.selectbox if box.label == "Dates")


def test_a_preset_in_the_link_rolls_to_the_dates_it_means_today(monkeypatch, hand_url):
    at = run_app(monkeypatch, hand_url, dates="last-month", start="2026-01-01", end="2026-01-05")
    assert not at.exception
    # Today is 20 Mar 2026 in Moscow: last month is February, whatever the link's dates say.
    assert dates_box(at).value == "last-month"
    assert at.date_input[0].value == (date(2026, 2, 1), date(2026, 2, 28))
    assert dict(at.query_params) == {"dates": "last-month", "start": "2026-02-01",
                                     "end": "2026-02-28"}
    assert "1 Feb – 28 Feb 2026, compared with the 28 days before (4 Jan – 31 Jan 2026)." in (
        captions(at))
    assert metrics(at)["New users"] == (1, "+1")  # U1 (02-15); nobody in January
    assert not [i for i in infos(at) if i.startswith("Ignored")]


def test_picking_a_preset_shows_its_dates_and_picking_dates_makes_them_custom(monkeypatch,
                                                                              hand_url):
    at = run_app(monkeypatch, hand_url)
    assert dates_box(at).value == "last-30-days"
    assert dict(at.query_params) == {"dates": "last-30-days", "start": "2026-02-19",
                                     "end": "2026-03-20"}
    dates_box(at).select("this-month").run()
    assert at.date_input[0].value == (date(2026, 3, 1), date(2026, 3, 20))
    assert dict(at.query_params) == {"dates": "this-month", "start": "2026-03-01",
                                     "end": "2026-03-20"}
    assert metrics(at)["New users"][0] == 4  # U2 (03-05), U3, U5, U6
    at.date_input[0].set_value((date(2026, 3, 11), date(2026, 3, 20))).run()
    assert dates_box(at).value == "custom"
    assert dict(at.query_params) == {"start": "2026-03-11", "end": "2026-03-20"}
    assert metrics(at)["New users"][0] == 3
    dates_box(at).select("custom").run()  # already custom: nothing changes
    assert dict(at.query_params) == {"start": "2026-03-11", "end": "2026-03-20"}


def test_an_unknown_preset_in_the_link_falls_back_with_a_notice(monkeypatch, hand_url):
    at = run_app(monkeypatch, hand_url, dates="soon", **PERIOD)
    assert not at.exception
    assert [i for i in infos(at) if i.startswith("Ignored")] == [
        "Ignored `dates=soon` from the link: “soon” is not one of the date presets. "
        "Showing the last 30 days."]
    assert at.date_input[0].value == (DEFAULT_START, DEFAULT_END)
    assert at.query_params["dates"] == "last-30-days"


@pytest.mark.parametrize(("compare", "words", "new_users"), [
    # 11 Feb – 20 Feb: U1 first seen (02-15); no registration, booking or payment.
    ("month", "the same dates a month earlier (11 Feb – 20 Feb 2026)", (3, "+2 (+200%)")),
    ("year", "the same dates a year earlier (11 Mar – 20 Mar 2025)", (3, "+3")),
])
def test_overview_compares_with_the_chosen_earlier_period(monkeypatch, hand_url, compare, words,
                                                          new_users):
    at = run_app(monkeypatch, hand_url, **PERIOD, compare=compare)
    assert not at.exception
    assert next(b for b in at.sidebar.selectbox if b.label == "Compare with").value == compare
    assert f"11 Mar – 20 Mar 2026, compared with {words}." in captions(at)
    assert metrics(at) == {"Known users": (6, "+3 new"), "New users": new_users,
                           "Registrations": (4, "+4"), "Active bookings": (3, "+3"),
                           "Confirmed payments": (1, "+1")}
    assert f"Changes are compared with {words}." in at.expander[0].markdown[0].value
    assert at.query_params["compare"] == compare


def test_a_single_day_is_compared_with_the_day_before(monkeypatch, hand_url):
    at = run_app(monkeypatch, hand_url, start="2026-03-20", end="2026-03-20")
    assert "20 Mar 2026, compared with the day before (19 Mar 2026)." in captions(at)
    assert "Changes are compared with the day before (19 Mar 2026)." in (
        at.expander[0].markdown[0].value)


def test_page_links_carry_the_shared_dates_to_the_pages_that_use_them(monkeypatch, hand_url):
    at = run_app(monkeypatch, hand_url, dates="last-month", compare="year")
    links = {link.proto.label: link.proto.query_string for link in at.sidebar.get("page_link")}
    shared = "dates=last-month&start=2026-02-01&end=2026-02-28&compare=year"
    assert {label: links[label] for label in ("Overview", "Free lessons", "Funnel", "Activity",
                                              "Audit log")} == dict.fromkeys(
        ("Overview", "Free lessons", "Funnel", "Activity", "Audit log"), shared)
    assert {links[label] for label in ("Streams", "Leads", "Users", "Audience", "Messages")} == {
        ""}
    # A page that ignores the dates shows none and says what the dashboards keep.
    at.query_params.clear()
    at.switch_page("pages/users.py").run()
    assert not at.exception and len(at.date_input) == 0
    assert (":material/event_busy: This page does not use the dates; the dashboards keep "
            "1 Feb – 28 Feb 2026 (last month).") in captions(at)
    # A page that uses them, opened without them in its link, takes the ones last used.
    at.switch_page("pages/activity.py").run()
    assert not at.exception
    assert at.date_input[0].value == (date(2026, 2, 1), date(2026, 2, 28))
    assert dict(at.query_params) == {"dates": "last-month", "start": "2026-02-01",
                                     "end": "2026-02-28", "compare": "year"}


def refresh_button(at: AppTest):
    return next(b for b in at.button if b.label == "Refresh")


def test_cached_results_survive_reruns_until_refresh(monkeypatch, hand_url):
    at = run_app(monkeypatch, hand_url, **PERIOD)
    loaded = [c for c in captions(at) if c.startswith("Data loaded at ")]
    assert len(loaded) == 1 and re.fullmatch(r"Data loaded at \d\d:\d\d:\d\d", loaded[0])
    engine = make_engine(hand_url)
    try:
        with engine.begin() as conn:
            conn.execute(users.insert(), [_user(7, "2026-03-19 10:00")])
        time.sleep(1.1)
        at.run()  # a rerun within the cache time: the same numbers, the same load time
        assert metrics(at)["New users"][0] == 3
        assert loaded[0] in captions(at)
        refresh_button(at).click().run()
        assert metrics(at)["New users"][0] == 4
        assert loaded[0] not in captions(at)
    finally:
        with engine.begin() as conn:
            conn.execute(users.delete().where(users.c.user_id == 7))
        engine.dispose()
        refresh_button(at).click().run()  # leave no cached count with U7 for the other tests


def test_analysts_get_the_csv_and_viewers_do_not(monkeypatch, hand_url):
    at = run_app(monkeypatch, hand_url, **PERIOD)
    assert [b.label for b in at.get("download_button")] == ["Download CSV", "Download Excel"]
    monkeypatch.setattr("hsl_ui.auth.current_user", lambda settings: Actor("Vera", "viewer"))
    at = run_app(monkeypatch, hand_url, **PERIOD)
    assert not at.exception
    assert at.dataframe[0].value["People"].tolist() == [3, 2, 2, 1]
    assert len(at.get("download_button")) == 0
    assert ":material/person: Vera · viewer" in captions(at)


# ---------------------------------------------------------------- empty and demo databases


def test_overview_on_an_empty_database_says_no_data(monkeypatch, empty_url):
    at = run_app(monkeypatch, empty_url)
    assert not at.exception
    assert metrics(at) == {
        "Known users": (0, "0 new"), "New users": (0, "0"), "Registrations": (0, "0"),
        "Active bookings": (0, "0"), "Confirmed payments": (0, "0"),
    }
    assert infos(at).count("No data for these filters.") == 3  # growth, attendance, funnel
    assert chart_specs(at) == []
    assert len(at.dataframe) == 0


def _demo_url(backend: str, database_factory, monkeypatch, tmp_path) -> str | None:
    """SQLite: the embedded demo file (filled by the app). PostgreSQL: a demo-filled database."""
    if backend == "sqlite":
        monkeypatch.setenv("HSL_DEMO_DB", str(tmp_path / "demo.sqlite"))
        return None
    return demo_database(backend, database_factory)


def test_overview_on_demo_data_matches_the_reports(monkeypatch, backend, database_factory,
                                                   tmp_path):
    monkeypatch.setattr("hsl_ui.sidebar.utc_now", utc_now)  # demo data ends today
    url = _demo_url(backend, database_factory, monkeypatch, tmp_path)
    at = run_app(monkeypatch, url)
    assert not at.exception
    assert ("Demo data" in " ".join(infos(at))) == (url is None)
    start, end = at.date_input[0].value
    period = Period(start, end, MOSCOW)
    engine = make_engine(url or f"sqlite:///{tmp_path / 'demo.sqlite'}")
    try:
        now = run_report(engine, "kpis", period).iloc[0]
        before = run_report(engine, "kpis", period.previous()).iloc[0]
        funnel = run_report(engine, "funnel", period)
    finally:
        engine.dispose()
    shown = metrics(at)
    assert list(shown) == KPI_LABELS
    assert shown["Known users"] == (now.known_users, f"{fmt.signed(now.new_users)} new")
    for label, column in zip(KPI_LABELS[1:], ["new_users", "registrations", "active_bookings",
                                              "confirmed_payments"], strict=True):
        assert shown[label] == (now[column], fmt.change(now[column], before[column]))
    assert at.dataframe[0].value["People"].tolist() == funnel["users"].tolist()
    assert len(chart_specs(at)) == 3


def test_every_chart_of_every_page_is_valid_vega_lite(monkeypatch, backend, database_factory):
    """The app builds its charts without Altair's checks (hsl_ui.charts); each page's charts
    on the demo data are checked against the Vega-Lite schema here."""
    url = demo_database(backend, database_factory, anchor=NOW.date())
    drawn = {}
    for script in page_scripts():
        at = open_page(monkeypatch, url, script, role="admin")
        assert not at.exception, (script, [e.value for e in at.exception])
        drawn[Path(script).stem] = assert_charts_valid(at)
    assert {page: n for page, n in drawn.items() if n} == CHARTS_ON_DEMO


# ---------------------------------------------------------------- gates and outages


def test_database_down_shows_one_sentence_banner(monkeypatch):
    at = run_app(monkeypatch, DOWN_URL)
    assert not at.exception
    assert errors(at) == [DOWN]
    assert "Checking again every 5 seconds." in captions(at)
    assert len(at.metric) == 0


def test_app_recovers_when_the_database_comes_back(monkeypatch, pg_admin):
    name = f"hsl_test_{uuid.uuid4().hex[:12]}"
    url = pg_admin.url.set(database=name).render_as_string(hide_password=False)
    at = run_app(monkeypatch, url, **PERIOD)
    assert errors(at) == [DOWN]
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        load_rows(engine, {k: v for k, v in ROWS.items() if k != "events"})
        engine.dispose()
        at.run()  # what the banner's timer does once the database answers
        assert not at.exception
        assert errors(at) == []
        assert metrics(at)["Registrations"][0] == 4
    finally:
        with pg_admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_real_database_without_login_stops_before_touching_it(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", DOWN_URL)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert errors(at) == [
        "Login is not configured. Ask the operator to set up sign-in for this app, "
        "or to set HSL_AUTH_DISABLED=1 to run it without login."
    ]
    assert len(at.metric) == 0 and len(at.date_input) == 0


def test_outdated_schema_on_a_real_database_is_one_sentence(monkeypatch, backend,
                                                            database_factory):
    url = database_factory(backend)
    if backend == "sqlite":  # an empty file: the app never creates a missing one
        Path(url.removeprefix("sqlite:///")).touch()
    at = run_app(monkeypatch, url)  # no tables at all
    assert not at.exception
    assert errors(at) == [
        "The database lacks the table(s) users, bookings, events, free_lesson_registrations; "
        "run `python -m hsl init-db` against it."
    ]


# ---------------------------------------------------------------- URL filter helpers


def _params_app() -> None:
    import streamlit as st

    from hsl_ui import params

    st.session_state["out"] = (
        params.toggle("paying", "Include payers"),
        params.integer("window", "Window", default=7, min_value=1, max_value=90),
        params.multiselect("stream", "Streams", ["2nd_stream", "10th_stream"]),
    )


@pytest.mark.parametrize(
    ("query", "expected", "notice"),
    [
        ({}, (False, 7, []), None),
        ({"paying": "1", "window": "14", "stream": ["10th_stream", "2nd_stream"]},
         (True, 14, ["10th_stream", "2nd_stream"]), None),
        ({"paying": "maybe"}, (False, 7, []), "Ignored `paying=maybe` from the link: “maybe” "
                                             "is not 1 or 0. Showing off."),
        ({"window": "0"}, (False, 7, []), "Ignored `window=0` from the link: it must lie "
                                          "between 1 and 90. Showing 7."),
        ({"stream": ["2nd_stream", "99th"]}, (False, 7, []),
         "Ignored `stream=2nd_stream&stream=99th` from the link: “99th” is not one of the "
         "choices. Showing no selection."),
    ],
    ids=["defaults", "all-set", "bad-toggle", "window-out-of-range", "unknown-stream"],
)
def test_url_filter_helpers_read_the_query_string(query, expected, notice):
    at = AppTest.from_function(_params_app)
    at.query_params.update(query)
    at.run()
    assert not at.exception
    assert at.session_state["out"] == expected
    assert infos(at) == ([notice] if notice else [])


def test_url_filter_helpers_write_changes_and_drop_defaults():
    at = AppTest.from_function(_params_app)
    at.query_params.update({"window": "30"})
    at.run()
    at.toggle[0].set_value(True)
    at.number_input[0].set_value(7)
    at.multiselect[0].select("2nd_stream")
    at.run()
    assert at.session_state["out"] == (True, 7, ["2nd_stream"])
    assert at.query_params == {"paying": "1", "stream": "2nd_stream"}  # window 7 is the default


# ---------------------------------------------------------------- formats and chart builders


def test_formats_read_like_a_person_writes():
    assert fmt.pct(0.4567) == "45.7%" and fmt.pct(1.0) == "100%" and fmt.pct(0) == "0%"
    assert fmt.count(12345) == "12,345"
    assert fmt.people(1) == "1 person" and fmt.people(1204) == "1,204 people"
    assert fmt.change(12, 0) == "+12" and fmt.change(9, 10) == "-1 (-10%)"
    assert fmt.change(5, 5) == "0"
    assert fmt.human("python_basics") == "Python basics"
    assert fmt.label("pct_of_previous") == "% of previous"
    assert fmt.date_range(date(2025, 12, 30), date(2026, 1, 2)) == "30 Dec 2025 – 2 Jan 2026"


def test_growth_chart_has_bars_and_a_line_on_a_second_axis():
    frame = pd.DataFrame({"day": [date(2026, 3, 1), date(2026, 3, 2)], "new_users": [2, 0],
                          "total_users": [5, 5]})
    spec = charts.growth(frame).to_dict()
    bars, line = spec["layer"]
    assert bars["mark"]["type"] == "bar"
    assert [layer["mark"]["type"] for layer in line["layer"]] == ["line"]  # no today: solid
    assert spec["resolve"] == {"scale": {"y": "independent"}}
    assert bars["encoding"]["y"]["title"] == "New users per day"
    assert line["layer"][0]["encoding"]["y"]["title"] == "Total known users"


def test_growth_chart_marks_today_as_not_over():
    frame = pd.DataFrame({"day": [date(2026, 3, 1), date(2026, 3, 2)], "new_users": [2, 1],
                          "total_users": [5, 6]})
    spec = charts.growth(frame, today=date(2026, 3, 2)).to_dict()
    bars, line = spec["layer"]
    data = pd.DataFrame(next(iter(spec["datasets"].values())))
    assert data["partial"].tolist() == [False, True]  # 2 March is today
    assert bars["encoding"]["opacity"]["value"] == 0.85  # whole days; today's is lighter:
    assert bars["encoding"]["opacity"]["condition"]["value"] == charts.PARTIAL_OPACITY
    solid, dashed, point = line["layer"]
    assert (solid["mark"]["type"], dashed["mark"]["type"], point["mark"]["type"]) == (
        "line", "line", "point")
    assert dashed["mark"]["strokeDash"] == charts.PARTIAL_DASH and not point["mark"]["filled"]
    # The axis ends with the range: 1 March to the end of 2 March, one tick a day.
    x = bars["encoding"]["x"]
    assert [(d["month"], d["date"]) for d in x["scale"]["domain"]] == [(3, 1), (3, 3)]
    assert [(d["month"], d["date"]) for d in x["axis"]["values"]] == [(3, 1), (3, 2)]
