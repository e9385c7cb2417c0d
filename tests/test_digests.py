"""Digests (issue 12, item 2): a saved view's numbers, top rows, chart and link, on SQLite
and PostgreSQL. The numbers are counted by hand and equal the reports the pages show.

NOW is 2026-12-02 09:00 UTC; the reporting timezone is Europe/Moscow (UTC+3 all year), so
"last month" is 1–30 Nov 2026 and the period before it 2–31 Oct. Times are noon UTC (the
same date in Moscow) unless said otherwise.

| who      | user_id | rows                                                                  |
|----------|---------|-----------------------------------------------------------------------|
| Anna     | 1       | first seen 10 Oct; registered python_basics 3 Nov (lesson 10 Nov),    |
|          |         | clicked its link 10 Nov; a paid booking, 3rd_stream, 12 Nov            |
| Boris    | 2       | first seen 5 Nov, registered python_basics that day (lesson 10 Nov),  |
|          |         | never clicked; a new booking, 3rd_stream, 20 Nov                       |
| Eve      | 3       | a hostile first name; first seen 7 Nov, registered data_analytics     |
|          |         | that day (lesson 14 Nov), clicked it 14 Nov; course_viewed 4 times a   |
|          |         | day 26–30 Nov and 1 Dec: 24 events on 6 days in the 7 days before NOW  |
| Dan      | 4       | first seen 15 Oct, registered python_basics 20 Oct (lesson 27 Oct),   |
|          |         | never clicked; a cancelled booking, 4th_stream, 25 Oct; a paid one,    |
|          |         | 3rd_stream, 28 Oct                                                     |
| Ella     | 5       | first seen 20 Nov; menu_opened 20 and 21 Nov                           |
"""

from __future__ import annotations

import re
import struct
from datetime import UTC, date, datetime

import pytest

from hsl import digest_png, digests, views
from hsl.auth import Actor
from hsl.filters import Period
from hsl.messaging.template import inert, parse, telegram_length
from hsl.metrics import leads, lessons
from hsl.reports import run_report
from tests.fixtures import utc
from tests.hostile import CORPUS

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)
TZ = "Europe/Moscow"
URL = "https://hsl.example.org"
ADMIN = Actor("ada", "admin")
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30), TZ, NOW)
OCTOBER = Period(date(2026, 10, 2), date(2026, 10, 31), TZ, NOW)  # the 30 days before
HOSTILE_NAME = CORPUS["html"]
PY, DATA, CLICK = "python_basics", "data_analytics", "lesson_link_clicked"


def _user(user_id: int, seen: str, first_name: str) -> dict:
    return {"user_id": user_id, "username": None, "first_name": first_name, "last_name": None,
            "language_code": "ru", "first_seen_at": utc(seen), "updated_at": utc(seen)}


def _reg(user_id: int, at: str, lesson_type: str, lesson: date) -> dict:
    return {"user_id": user_id, "username": None, "first_name": None,
            "email": f"{user_id}@example.com", "registered_at": utc(at),
            "notification_sent": False, "lesson_type": lesson_type, "lesson_date": lesson}


def _booking(user_id: int, at: str, stream: str, confirmed: int) -> dict:
    return {"user_id": user_id, "course_id": 1, "course_stream": stream, "confirmed": confirmed,
            "created_at": utc(at), "referral_code": None, "discount_percent": None}


def _event(user_id: int, at: str, event_type: str, details: object = None) -> dict:
    return {"user_id": user_id, "event_type": event_type, "created_at": utc(at),
            "details": details}


ROWS = {
    "users": [
        _user(1, "2026-10-10 12:00", "Anna"), _user(2, "2026-11-05 12:00", "Boris"),
        _user(3, "2026-11-07 12:00", HOSTILE_NAME), _user(4, "2026-10-15 12:00", "Dan"),
        _user(5, "2026-11-20 12:00", "Ella"),
    ],
    "free_lesson_registrations": [
        _reg(1, "2026-11-03 12:00", PY, date(2026, 11, 10)),
        _reg(2, "2026-11-05 12:00", PY, date(2026, 11, 10)),
        _reg(3, "2026-11-07 12:00", DATA, date(2026, 11, 14)),
        _reg(4, "2026-10-20 12:00", PY, date(2026, 10, 27)),
    ],
    "bookings": [
        _booking(1, "2026-11-12 12:00", "3rd_stream", 2),
        _booking(2, "2026-11-20 12:00", "3rd_stream", 0),
        _booking(4, "2026-10-25 12:00", "4th_stream", -1),
        _booking(4, "2026-10-28 12:00", "3rd_stream", 2),
    ],
    "events": [
        _event(1, "2026-11-10 12:00", CLICK, {"lesson_type": PY}),
        _event(3, "2026-11-14 12:00", CLICK, {"lesson_type": DATA}),
        *(_event(3, f"2026-{day} 1{hour}:00", "course_viewed")
          for day in ("11-26", "11-27", "11-28", "11-29", "11-30", "12-01") for hour in range(4)),
        _event(5, "2026-11-20 12:00", "menu_opened"),
        _event(5, "2026-11-21 12:00", "menu_opened"),
    ],
}


@pytest.fixture(scope="module")
def db(module_engine):
    return module_engine(ROWS)


def view(db, page: str, query: str = "", name: str | None = None, **dates) -> views.SavedView:
    """A saved view of `page` (dates: last month unless given), as the command line saves it."""
    if page in ("overview", "free-lessons", "funnel", "activity") and not dates:
        dates = {"preset": "last-month"}
    view_id = views.create(db, ADMIN, name=name or f"{page} {query} {dates}"[:80], page=page,
                           query=query, now=NOW, **dates)
    return views.get(db, ADMIN, view_id)


def digest(db, saved: views.SavedView, **kw) -> digests.Digest:
    kw.setdefault("with_png", False)
    return digests.build(db, saved, now=NOW, tz=TZ, public_url=URL, **kw)


def body(text: str) -> list[str]:
    return text.split("\n")


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


# ---------------------------------------------------------------- numbers and text


def test_overview_has_the_five_numbers_with_their_change(db):
    saved = view(db, "overview", name="Team overview")
    got = digest(db, saved)
    # Known: all five people; new in Nov: Boris, Eve, Ella (Oct: Anna, Dan). Registrations
    # Nov 3 (Oct 1); active bookings Nov 2 (Oct: Dan's paid one; his cancelled one is not
    # active); confirmed payments 1 and 1.
    assert got.numbers == {
        "known_users": 5, "known_users_before": 5, "new_users": 3, "new_users_before": 2,
        "registrations": 3, "registrations_before": 1, "active_bookings": 2,
        "active_bookings_before": 1, "confirmed_payments": 1, "confirmed_payments_before": 1}
    page_now = run_report(db, "kpis", NOVEMBER).iloc[0]
    page_then = run_report(db, "kpis", OCTOBER).iloc[0]
    for column in digests.KPIS:
        assert (got.numbers[column], got.numbers[f"{column}_before"]) == (
            page_now[column], page_then[column])
    assert body(got.text) == [
        "<b>Team overview</b>",
        "1 Nov – 30 Nov 2026 (last month), compared with the 30 days before "
        "(2 Oct – 31 Oct 2026)",
        "",
        "Known users: 5 (+3 new)",
        "New users: 3 (+1, +50%)",
        "Registrations: 3 (+2, +200%)",
        "Active bookings: 2 (+1, +100%)",
        "Confirmed payments: 1 (no change)",
        "",
        f'<a href="{URL}/?view={saved.id}">Open the view</a>',
    ]
    assert (got.view_id, got.title, got.link) == (saved.id, "Team overview",
                                                  f"{URL}/?view={saved.id}")
    assert got.chart.kind == "growth" and got.png is None  # with_png=False


def test_funnel_steps_with_people_and_change_against_a_month_earlier(db):
    saved = view(db, "funnel", "compare=month", name="Funnel")
    got = digest(db, saved)
    # Nov cohort: Anna, Boris, Eve; attended: Anna and Eve; booked and paid: Anna.
    # Oct (1–31, a whole month for a whole month): Dan, who never clicked.
    assert body(got.text) == [
        "<b>Funnel</b>",
        "1 Nov – 30 Nov 2026 (last month), compared with the same dates a month earlier "
        "(1 Oct – 31 Oct 2026)",
        "",
        "Registered: 3 people (+2, +200%)",
        "Attended: 2 people (+2)",
        "Booked: 1 person (+1)",
        "Paid: 1 person (+1)",
        "",
        f'<a href="{URL}/?view={saved.id}">Open the view</a>',
    ]
    page = run_report(db, "funnel", NOVEMBER)
    earlier = run_report(db, "funnel", NOVEMBER.compared("month"))
    assert [got.numbers[s] for s in ("registered", "attended", "booked", "paid")] == \
        page["users"].tolist() == [3, 2, 1, 1]
    assert [got.numbers[f"{s}_before"] for s in ("registered", "attended", "booked", "paid")] \
        == earlier["users"].tolist() == [1, 0, 0, 0]


def test_free_lessons_numbers_and_lesson_types(db):
    got = digest(db, view(db, "free-lessons", name="Lessons"))
    assert got.numbers == {"registrations": 3, "registrants": 3, "attended": 2,
                           "attendance_rate": pytest.approx(2 / 3)}
    page = lessons.lesson_registrations(db, NOVEMBER, ()).iloc[0]
    assert (page.registrations, page.registrants, page.attended) == (3, 3, 2)
    assert body(got.text)[3:-2] == [
        "Registrations: 3", "Registrants: 3", "Attended: 2", "Attendance rate: 66.7%",
        "", "By lesson type:",
        "• Python basics: 2 registrants, 1 attended (50%)",
        "• Data analytics: 1 registrant, 1 attended (100%)",
    ]
    assert got.chart.kind == "registrants_by_lesson_date"


def test_a_lesson_type_filter_narrows_the_numbers(db):
    got = digest(db, view(db, "free-lessons", f"lesson_type={DATA}", name="Data"))
    assert (got.numbers["registrants"], got.numbers["attended"]) == (1, 1)
    assert body(got.text)[1] == "1 Nov – 30 Nov 2026 (last month), Data analytics"


def test_a_stale_filter_gives_a_note_not_an_error(db):
    got = digest(db, view(db, "free-lessons", "lesson_type=cooking&compare=never", name="Old"))
    assert body(got.text)[:3] == ["<b>Old</b>", "1 Nov – 30 Nov 2026 (last month)",
                                  "(filter lesson_type=cooking no longer applies)"]
    assert got.numbers["registrants"] == 3  # all lesson types, as the page falls back
    funnel = digest(db, view(db, "funnel", "lesson_type=cooking&compare=never", name="Old F"))
    assert body(funnel.text)[2:4] == ["(filter lesson_type=cooking no longer applies)",
                                      "(filter compare=never no longer applies)"]
    assert funnel.numbers["registered"] == 3
    leads_view = digest(db, view(db, "leads", "window=0&hot_events=x&payers=maybe", name="L"))
    assert body(leads_view.text)[2:5] == ["(filter window=0 no longer applies)",
                                          "(filter hot_events=x no longer applies)",
                                          "(filter payers=maybe no longer applies)"]
    streams = digest(db, view(db, "streams", "stream=9th_stream&unknown=1", name="S"))
    assert body(streams.text)[2] == "(filter stream=9th_stream no longer applies)"


def test_activity_events_and_active_users_a_day(db):
    got = digest(db, view(db, "activity", "top=2", name="Activity"))
    # Nov: Anna's click, Eve's click and 20 views, Ella's 2 menus = 24 events of 3 types.
    # Active people a day from the first day with events (10 Nov) to 30 Nov: 9 person-days
    # over 21 days, 0.43 → 0. The busiest day is 26 Nov (4 events; the first of the ties).
    assert got.numbers == {"events": 24, "event_types": 3, "active_users_a_day": 0}
    daily = run_report(db, "activity", NOVEMBER)
    assert daily["events"].sum() == 24 and daily["active_users"].sum() == 9
    assert body(got.text)[3:7] == ["Events: 24", "Event types: 3", "Active users a day: 0",
                                   "Busiest day: 26 Nov (4 events)"]
    # top=2: the two most frequent types by name and "other".
    assert list(dict.fromkeys(got.chart.frame["event_type"])) == [
        "course_viewed", "lesson_link_clicked", "other"]


def test_streams_top_rows_with_paid_rate(db):
    saved = view(db, "streams", name="Streams")
    got = digest(db, saved)
    assert got.numbers == {"bookings": 4, "confirmed": 2, "streams": 2}
    page = run_report(db, "streams", NOVEMBER)
    assert page["bookings"].tolist() == [3, 1]
    assert body(got.text) == [
        "<b>Streams</b>", "All bookings ever made", "",
        "Bookings: 4 in 2 streams, 50% paid", "", "Top streams by bookings:",
        "• 3rd stream: 3 bookings, 66.7% paid", "• 4th stream: 1 booking, 0% paid", "",
        f'<a href="{URL}/?view={saved.id}">Open the view</a>',
    ]


def test_leads_tiers_and_hot_leads_with_the_name_escaped(db):
    got = digest(db, view(db, "leads", name="Leads"))
    # Candidates: registrants without a paid booking: Boris (no events: cold) and Eve
    # (24 events on 6 days in the 7 days before NOW: hot). Anna and Dan have paid.
    assert got.numbers == {"hot": 1, "warm": 0, "cool": 0, "cold": 1}
    page = leads.tier_counts(db, NOVEMBER)
    assert dict(zip(page["tier"], page["users"], strict=True)) == got.numbers
    # Cut to 40 characters, escaped, and no link in Telegram: a word joiner after "//",
    # "." and "/" before a letter.
    name = '&lt;a href="https://\u2060evil.\u2060example"&gt;click&lt;/\u2060a…'
    assert body(got.text)[1:7] == [
        "Events in the last 7 days up to 2 Dec 2026, 12:00", "",
        "Hot: 1 · Warm: 0 · Cool: 0 · Cold: 1", "", "Hot leads:",
        f"• {name}: 24 events on 6 days",
    ]
    with_payers = digest(db, view(db, "leads", "payers=1&window=30", name="All leads"))
    assert sum(with_payers.numbers.values()) == 4  # Anna and Dan too


# ---------------------------------------------------------------- safety and limits


TAG = re.compile(r"<[^>]*>")


@pytest.mark.parametrize("value", [CORPUS["md_link"], CORPUS["entity"], CORPUS["braces"],
                                   "<b>x</b> & <a href='https://evil.example'>y</a>"])
def test_a_hostile_view_name_is_plain_text(db, value):
    saved = view(db, "streams", name=value)
    got = digest(db, saved)
    tags = TAG.findall(got.text)
    assert tags == ["<b>", "</b>", f'<a href="{URL}/?view={saved.id}">', "</a>"]
    assert body(got.text)[0] == f"<b>{inert(views.clean_name(value))}</b>"
    assert "evil.example" not in got.text.replace(f'href="{URL}', "")  # no link Telegram finds


def test_every_digest_is_valid_telegram_html_within_a_caption(db):
    for page in views.PAGES:
        got = digest(db, view(db, page, name=f"Check {page} [x](https://evil.example)"))
        assert telegram_length(got.text) <= digests.CAPTION_LIMIT - digests.NOTE_ROOM
        if "{" not in got.text:
            parse(got.text)  # Telegram's HTML rules (hsl.messaging.template)
        links = re.findall(r"<a [^>]*>", got.text)
        assert links == [f'<a href="{URL}/?view={got.view_id}">']


def test_no_public_url_means_no_link(db):
    got = digests.build(db, view(db, "streams", name="No link"), now=NOW, tz=TZ,
                        public_url="", with_png=False)
    assert got.link == "" and "<a" not in got.text


def test_a_long_caption_is_cut_to_telegram_s_limit():
    head = ["<b>x</b>", "dates"]
    text = digests._caption(head, [f"line {n} " + "é" * 60 for n in range(40)], ["end"])
    assert telegram_length(text) <= digests.CAPTION_LIMIT - digests.NOTE_ROOM
    assert text.startswith("<b>x</b>\ndates\n\n") and text.endswith("…\n\nend")


def test_empty_dates_say_so_and_have_no_picture(db):
    got = digest(db, view(db, "funnel", name="2020", start=date(2020, 1, 1),
                          end=date(2020, 1, 31)), with_png=True)
    assert body(got.text)[1:5] == [
        "1 Jan – 31 Jan 2020, compared with the 31 days before (1 Dec – 31 Dec 2019)", "",
        digests.NO_DATA, ""]
    assert (got.png, got.chart) == (None, None)


def test_preset_dates_roll_with_the_clock(db):
    saved = view(db, "overview", name="Rolling")
    january = digests.build(db, saved, now=datetime(2027, 1, 5, 9, tzinfo=UTC), tz=TZ,
                            public_url=URL, with_png=False)
    assert body(january.text)[1].startswith("1 Dec – 31 Dec 2026 (last month), compared with")
    assert january.numbers["new_users"] == 0


# ---------------------------------------------------------------- the picture


@pytest.mark.parametrize(("page", "kind", "field"), [
    ("overview", "growth", "new_users"),
    ("free-lessons", "registrants_by_lesson_date", "registrants"),
    ("funnel", "funnel", "users"),
    ("activity", "events_by_day", "events"),
    ("streams", "stream_statuses", "bookings"),
    ("leads", "lead_tiers", "users"),
])
def test_the_png_is_the_page_s_main_chart(db, page, kind, field):
    got = digest(db, view(db, page, name=f"Picture {page}"), with_png=True)
    assert got.chart.kind == kind
    spec = digest_png.spec(got.chart)
    first = spec["layer"][0] if "layer" in spec else spec
    encoding = first["encoding"]
    axis = "y" if page in ("overview", "free-lessons", "activity") else "x"
    assert (first["mark"]["type"], encoding[axis]["field"]) == ("bar", field)
    assert (spec["width"], spec["title"]["text"]) == (digest_png.WIDTH, got.chart.title)
    values = [row for rows in spec["datasets"].values() for row in rows]
    assert values and all(field in row for row in values)  # the data is inlined
    assert png_size(got.png)[0] == digest_png.WIDTH * digest_png.SCALE


def test_the_funnel_picture_holds_the_funnel_numbers(db):
    got = digest(db, view(db, "funnel", name="Funnel picture"), with_png=True)
    spec = digest_png.spec(got.chart)
    rows = next(iter(spec["datasets"].values()))
    assert [(r["step"], r["users"]) for r in rows] == [
        ("registered", 3), ("attended", 2), ("booked", 1), ("paid", 1)]
    width, height = png_size(got.png)
    assert width == 1600 and height > 200
