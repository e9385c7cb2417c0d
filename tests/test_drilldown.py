"""Drill-down: every count a manager reads opens the Audience page on exactly its people.

For each kind of link (headline cards, funnel steps, attendance bars, free-lesson cards,
lead tiers, a stream's roster) the page's number, counted by hand below, equals the count
the Audience page shows when opened with the link's query, on SQLite and PostgreSQL; and
each link's filter counts the same people as its report on the bot's tables and on the
summaries (SPEC §9).

Times are UTC; the app reports in Moscow (UTC+3). "Now" is 2026-03-20 18:00 UTC; the
pages are opened for 2026-03-01 .. 2026-03-15 (Moscow dates); the lead window is
(03-13 18:00, 03-20 18:00].

| id  | first seen         | registrations (Moscow date)  | clicks        | bookings (#, stream, status, date) |
|-----|--------------------|------------------------------|---------------|------------------------------------|
| 601 | users 02-10        | python 03-02                 | python 03-03  | #1 2nd confirmed 03-05             |
| 602 | users 03-04        | python 03-04                 | —             | #2 2nd new 03-06                   |
|     |                    |                              |               | + 10 events 03-15..17: warm lead   |
| 603 | booking 02-20      | web 03-05                    | web 03-07     | #3 3rd pending 02-20               |
|     | (users row 03-05)  |                              |               | + 20 events 03-14..18: hot lead    |
| 604 | users 02-01        | python 02-25                 | python 02-26  | #4 2nd confirmed 03-10             |
| 605 | event 03-12        | —                            | —             | — (events only)                    |
| 606 | users 03-01        | web 03-10; python 03-15      | python 03-16  | #5 2nd cancelled 03-11             |
|     |                    | 21:30 UTC = 03-16 in Moscow  | (cold lead)   |                                    |
| 607 | users 03-08        | python 03-08 and 03-09       | python 03-10  | #6 2nd confirmed 03-09; #7 3rd     |
|     |                    |                              |               | cancelled 03-12; #8 10th status 5  |
|     |                    |                              |               | (unknown, not cancelled) 03-13     |
| 608 | booking 03-14      | —                            | —             | #9 10th status 5 03-14             |
| 609 | users 02-28 22:00  | —                            | —             | —                                  |
|     | UTC = 03-01 Moscow |                              |               |                                    |

Known 9. New in the dates: 602, 605, 606, 607, 608, 609 (603 was first seen by its booking).
Registrations 6 by 5 registrants (601, 602, 603, 606, 607). Active bookings 6 (#1, #2, #4,
#6, #8, #9) by 5 people (601, 602, 604, 607, 608); confirmed payments 3 (#1, #4, #6) by 3.
Funnel: registered 5, attended 3 (601, 603, 607; 606 clicked python, not web), booked 3,
paid 2 (601, 607). Python: 3, 2, 2, 2; web: 2, 1, 1, 0. Attendance: python 2 of 3, web 1 of
2. Leads (registrants without a payment: 602, 603, 606): hot 1, warm 1, cool 0, cold 1;
with payers cold 4 (601, 604, 607 too). Streams: 2nd 5 students, 3rd 2, 10th 2.
"""  # noqa: E501 - the table reads better unwrapped

from __future__ import annotations

import re
from datetime import date
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from hsl import audience
from hsl.audience import AudienceFilter
from hsl.filters import Period
from hsl.metrics.leads import DEFAULT_RULES, TIERS, LeadRules, leads
from hsl.reports import run_report
from hsl.summaries import current, raw_path
from hsl.summaries.refresh import refresh
from hsl_ui import drill
from tests.conftest import loaded_engine, url_of
from tests.fixtures import load_rows
from tests.fixtures.people import booking, event, registration, user
from tests.pages_support import (  # noqa: F401 - clean_env and navigation_as_served are autouse
    MOSCOW,
    NOW,
    chart_labels,
    clean_env,
    navigation_as_served,
    open_page,
    shown,
)

OVERVIEW, FUNNEL, LESSONS = "pages/overview.py", "pages/funnel.py", "pages/free_lessons.py"
LEADS, STREAMS, AUDIENCE = "pages/leads.py", "pages/streams.py", "pages/audience.py"
DATES = {"start": "2026-03-01", "end": "2026-03-15"}
PY, WEB, CLICK = "python", "web", "lesson_link_clicked"


def _user(user_id: int, seen: str) -> dict:
    return user(user_id, f"u{user_id}", f"User {user_id}", seen=seen)


def _reg(user_id: int, lesson_type: str, at: str, lesson_date: str) -> dict:
    return registration(user_id, at, lesson_type, lesson_date, f"u{user_id}@example.org")


def _lead_events(user_id: int, per_day: dict[int, int]) -> list[dict]:
    return [event(user_id, "menu_opened", f"2026-03-{day} 10:{minute:02d}")
            for day, n in per_day.items() for minute in range(n)]


ROWS = {
    "users": [_user(601, "2026-02-10 10:00"), _user(602, "2026-03-04 10:00"),
              _user(603, "2026-03-05 10:00"), _user(604, "2026-02-01 10:00"),
              _user(606, "2026-03-01 10:00"), _user(607, "2026-03-08 10:00"),
              _user(609, "2026-02-28 22:00")],
    "free_lesson_registrations": [
        _reg(601, PY, "2026-03-02 10:00", "2026-03-05"),
        _reg(602, PY, "2026-03-04 10:00", "2026-03-05"),
        _reg(603, WEB, "2026-03-05 10:00", "2026-03-07"),
        _reg(604, PY, "2026-02-25 10:00", "2026-02-26"),
        _reg(606, WEB, "2026-03-10 10:00", "2026-03-12"),
        _reg(606, PY, "2026-03-15 21:30", "2026-03-16"),
        _reg(607, PY, "2026-03-08 10:00", "2026-03-10"),
        _reg(607, PY, "2026-03-09 10:00", "2026-03-12"),
    ],
    "bookings": [
        booking(1, 601, "2nd_stream", 2, "2026-03-05 10:00"),
        booking(2, 602, "2nd_stream", 0, "2026-03-06 10:00"),
        booking(3, 603, "3rd_stream", 1, "2026-02-20 10:00"),
        booking(4, 604, "2nd_stream", 2, "2026-03-10 10:00"),
        booking(5, 606, "2nd_stream", -1, "2026-03-11 10:00"),
        booking(6, 607, "2nd_stream", 2, "2026-03-09 10:00"),
        booking(7, 607, "3rd_stream", -1, "2026-03-12 10:00"),
        booking(8, 607, "10th_stream", 5, "2026-03-13 10:00"),
        booking(9, 608, "10th_stream", 5, "2026-03-14 10:00"),
    ],
    "events": [
        event(601, CLICK, "2026-03-03 10:00", {"lesson_type": PY}),
        event(603, CLICK, "2026-03-07 10:00", {"lesson_type": WEB}),
        event(604, CLICK, "2026-02-26 10:00", {"lesson_type": PY}),
        event(605, "menu_opened", "2026-03-12 10:00"),
        event(606, CLICK, "2026-03-16 10:00", {"lesson_type": PY}),
        event(607, CLICK, "2026-03-10 10:00", {"lesson_type": PY}),
        *_lead_events(602, {15: 4, 16: 3, 17: 3}),
        *_lead_events(603, {14: 4, 15: 4, 16: 4, 17: 4, 18: 4}),
    ],
}


@pytest.fixture(scope="module")
def url(backend, database_factory) -> str:
    return url_of(loaded_engine(backend, database_factory, ROWS))


@pytest.fixture(scope="module")
def opened() -> dict:
    """Audience counts already read in this module, by (database, query): a link many pages
    draw (the registrants) is opened once."""
    return {}


def audience_links(at: AppTest) -> list[tuple[str, str]]:
    """(label as read, query string) of every link to the Audience page, in page order."""
    return [(shown(link.proto.label), link.proto.query_string)
            for link in at.main.get("page_link") if link.proto.page == "audience"]


def open_audience(monkeypatch, url: str, query: str) -> AppTest:
    """The Audience page opened with a link's query string (repeated keys kept)."""
    params = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(query).items()}
    at = open_page(monkeypatch, url, AUDIENCE, **params)
    assert not at.exception
    return at


def audience_count(monkeypatch, url: str, query: str, opened: dict) -> int:
    """The count the Audience page shows for the query ("5 people match")."""
    if (url, query) not in opened:
        heading = shown(open_audience(monkeypatch, url, query).subheader[0].value)
        found = re.fullmatch(r"([0-9,]+) (?:people match|person matches)", heading)
        assert found, heading
        opened[url, query] = int(found.group(1).replace(",", ""))
    return opened[url, query]


def link_count(label: str) -> int:
    """The number a link's words promise: "Booked: 3 people" → 3, "Web: 1 attended" → 1."""
    found = re.search(r"([0-9,]+) (?:people|person|attended)", label)
    assert found, label
    return int(found.group(1).replace(",", ""))


def assert_links_open_their_people(monkeypatch, url, opened, links) -> None:
    """Each link's Audience page counts exactly the number its words say."""
    for label, query in links:
        assert audience_count(monkeypatch, url, query, opened) == link_count(label), label


def metric_values(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# ---------------------------------------------------------------- pages


def test_overview_cards_attendance_and_funnel_lead_to_their_people(monkeypatch, url, opened):
    at = open_page(monkeypatch, url, OVERVIEW, **DATES)
    assert not at.exception
    cards = metric_values(at)
    assert [cards[k] for k in ("Known users", "New users", "Registrations", "Active bookings",
                               "Confirmed payments")] == ["9", "6", "6", "6", "3"]
    # "How these numbers are counted": the people behind the registrations, bookings, payments.
    counted = " ".join(shown(at.expander[0].markdown[0].value).split())
    assert [int(n) for n in re.findall(r"by ([0-9,]+) (?:people|person)", counted)] == [5, 5, 3]
    bars = [re.findall(r"([0-9,]+) of ([0-9,]+) attended", label) for label in chart_labels(at)]
    assert [bar for bar in bars if bar] == [[("2", "3")], [("1", "2")]]  # python, web
    links = audience_links(at)
    assert [label for label, _ in links] == [
        "Known users: 9 people", "New users: 6 people", "Registered: 5 people",
        "Active bookings: 5 people", "Paid: 3 people",
        "Python: 2 attended", "Web: 1 attended",
        "Registered: 5 people", "Attended: 3 people", "Booked: 3 people", "Paid: 2 people",
    ]
    assert_links_open_their_people(monkeypatch, url, opened, links)


def test_the_audience_says_who_a_link_brought(monkeypatch, url):
    at = open_audience(monkeypatch, url, "lesson_type=python&registered_from=2026-03-01"
                                         "&registered_to=2026-03-15&attended=yes")
    assert shown(at.caption[1].value) == (
        "People who registered for Python from 1 Mar 2026 to 15 Mar 2026 and clicked its link.")
    assert [row for row in at.dataframe[0].value["User ID"]] == ["601", "607"]
    at = open_audience(monkeypatch, url, "booking_from=2026-03-01&booking_to=2026-03-15"
                                         "&booked=yes")
    assert shown(at.caption[1].value) == (
        "People who have an active booking made from 1 Mar 2026 to 15 Mar 2026.")
    # 608 has only an unknown status (5): not cancelled, so active, as the card counts it.
    assert list(at.dataframe[0].value["User ID"]) == ["601", "602", "604", "607", "608"]


def test_funnel_steps_per_lesson_type_lead_to_their_people(monkeypatch, url, opened):
    at = open_page(monkeypatch, url, FUNNEL, lesson_type=PY, **DATES)
    assert not at.exception
    cards = metric_values(at)
    assert [cards[k] for k in ("Registered", "Attended", "Booked", "Paid")] == ["3", "2", "2",
                                                                                "2"]
    links = audience_links(at)
    assert [label for label, _ in links] == [
        "Registered: 3 people", "Attended: 2 people", "Booked: 2 people", "Paid: 2 people",
        # Lesson types side by side: python, then web.
        "Registered: 3 people", "Attended: 2 people", "Booked: 2 people", "Paid: 2 people",
        "Registered: 2 people", "Attended: 1 person", "Booked: 1 person", "Paid: 0 people",
    ]
    assert links[0] == links[4]  # the same python steps
    assert_links_open_their_people(monkeypatch, url, opened, links)
    assert [link.proto.disabled for link in at.main.get("page_link")][-1]  # nobody to see


def test_free_lesson_cards_lead_to_their_people(monkeypatch, url, opened):
    at = open_page(monkeypatch, url, LESSONS, lesson_type=WEB, **DATES)
    assert not at.exception
    cards = metric_values(at)
    assert (cards["Registrants"], cards["Attended"]) == ("2", "1")  # 603, 606; 603
    links = audience_links(at)
    assert [label for label, _ in links] == ["Registrants: 2 people", "Attended: 1 person"]
    assert_links_open_their_people(monkeypatch, url, opened, links)


@pytest.mark.parametrize("payers, tiers", [
    ({}, ["Hot: 1 person", "Warm: 1 person", "Cool: 0 people", "Cold: 1 person"]),
    # Window (03-15 18:00, 03-20 18:00]: 603 12 events on 3 days, 602 6 on 2, 606 1; payers
    # 601, 604, 607 none.
    ({"payers": "1", "window": "5"},
     ["Hot: 0 people", "Warm: 1 person", "Cool: 1 person", "Cold: 4 people"]),
], ids=["default", "payers-5-days"])
def test_lead_tiers_lead_to_their_people_scored_the_same_way(monkeypatch, url, opened,
                                                             payers, tiers):
    at = open_page(monkeypatch, url, LEADS, **payers)
    assert not at.exception
    cards = metric_values(at)
    assert [cards[k] for k in ("Hot", "Warm", "Cool", "Cold")] == [
        str(link_count(t)) for t in tiers]
    links = audience_links(at)
    assert [label for label, _ in links] == tiers
    assert_links_open_their_people(monkeypatch, url, opened, links)
    if payers:
        at = open_audience(monkeypatch, url, links[3][1])
        assert ("Lead tiers as the Leads page scored them: events in the last 5 days; hot ≥ 20 "
                "events on ≥ 5 days, warm ≥ 10 on ≥ 3, cool ≥ 5; payers included."
                ) in [shown(c.value) for c in at.caption]


def test_a_stream_roster_leads_to_its_people(monkeypatch, url, opened):
    at = open_page(monkeypatch, url, STREAMS, stream="2nd_stream")
    assert not at.exception
    summary = at.dataframe[0].value
    assert dict(zip(summary["Stream"], summary["Students"], strict=True)) == {
        "2nd stream": 5, "3rd stream": 2, "10th stream": 2}
    assert any(shown(c.value).startswith("5 people with a booking in the 2nd stream.")
               for c in at.caption)
    links = audience_links(at)
    assert links == [("See these 5 people", "stream=2nd_stream")]
    assert_links_open_their_people(monkeypatch, url, opened, links)


# ---------------------------------------------------------------- the filters, both paths


def drilled_counts(engine) -> dict[str, tuple[int, int]]:
    """Per kind of link: (the report's number, the Audience count of the link's filter)."""
    period = Period(date(2026, 3, 1), date(2026, 3, 15), MOSCOW, NOW)
    kpis = run_report(engine, "kpis", period).iloc[0]
    count = lambda flt: audience.audience_count(engine, flt, MOSCOW, NOW)  # noqa: E731
    pairs = {
        "known users": (kpis.known_users, count(AudienceFilter())),
        "new users": (kpis.new_users, count(drill.new_users(period))),
        "registrants": (kpis.registrants, count(drill.registrants(period))),
        "active bookings": (kpis.active_booking_users, count(drill.active_bookers(period))),
        "payments": (kpis.paying_users, count(drill.payers(period))),
    }
    for lesson_type in (None, PY, WEB):
        funnel = run_report(engine, "funnel", period, lesson_type=lesson_type)
        for step, users in zip(funnel["step"], funnel["users"], strict=True):
            pairs[f"{step} {lesson_type}"] = (
                users, count(drill.funnel_step(period, step, lesson_type)))
    for row in run_report(engine, "attendance", period).itertuples():
        pairs[f"attendance {row.lesson_type}"] = (
            row.attended, count(drill.attended(period, row.lesson_type)))
    for rules, paying in ((DEFAULT_RULES, False), (LeadRules(window_days=5), True)):
        tiers = leads(engine, period, include_paying=paying, rules=rules)["tier"].value_counts()
        for tier in TIERS:
            pairs[f"{tier} {rules.window_days} {paying}"] = (
                tiers.get(tier, 0), count(drill.lead_tier(tier, rules, paying)))
    for row in run_report(engine, "streams", period).itertuples():
        pairs[row.course_stream] = (row.students, count(drill.stream_students(row.course_stream)))
    return {kind: (int(a), int(b)) for kind, (a, b) in pairs.items()}


def test_each_link_counts_its_report_on_the_tables_and_on_the_summaries(engine):
    load_rows(engine, ROWS)
    with raw_path():
        raw = drilled_counts(engine)
    assert {kind: n for kind, (n, _) in raw.items()} == {
        "known users": 9, "new users": 6, "registrants": 5, "active bookings": 5,
        "payments": 3,
        "registered None": 5, "attended None": 3, "booked None": 3, "paid None": 2,
        "registered python": 3, "attended python": 2, "booked python": 2, "paid python": 2,
        "registered web": 2, "attended web": 1, "booked web": 1, "paid web": 0,
        "attendance python": 2, "attendance web": 1,
        "hot 7 False": 1, "warm 7 False": 1, "cool 7 False": 0, "cold 7 False": 1,
        "hot 5 True": 0, "warm 5 True": 1, "cool 5 True": 1, "cold 5 True": 4,
        "2nd_stream": 5, "3rd_stream": 2, "10th_stream": 2,
    }
    assert all(report == drilled for report, drilled in raw.values()), raw
    refresh(engine, MOSCOW)
    assert current(engine, MOSCOW) is not None
    assert drilled_counts(engine) == raw
