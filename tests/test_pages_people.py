"""The Users (search and profile), Audience and Audit log pages through AppTest.

Numbers come from the small dataset below, counted by hand, on SQLite and PostgreSQL.
Times are UTC; the app reports in Moscow (UTC+3). "Now" is 2026-03-20 18:00 UTC, so the
lead window (7 days) is 03-13 18:00 .. 03-20 18:00.

| id  | users row (username, names, seen)  | registrations (email)           | bookings (id stream status date) | events                        |
|-----|------------------------------------|---------------------------------|----------------------------------|-------------------------------|
| 501 | anna_k, Anna Kovaleva, 03-01 10:00 | python 03-02 (anna.k@…)         | 1 2nd confirmed 03-04;           | python click 03-03            |
|     |                                    |                                 | 2 3rd pending 03-05              |                               |
| 502 | annabel, Annabel, 03-02            | web 03-04 (annabel@…)           | 3 2nd cancelled 03-06            | menu_opened 03-15 .. 03-19    |
|     |                                    |                                 |                                  | (5 days: lead tier cool)      |
| 503 | boris, Boris Ivanov, 03-03         | python 03-05 (joanna@…)         | 4 3rd new 03-07                  | python click 03-06 (cold)     |
| 504 | — (events only)                    | —                               | —                                | menu_opened 03-18             |
| 505 | anna, Ann, 03-04                   | —                               | —                                | —                             |

Search "anna": exact 501 (first name Anna) and 505 (username anna), prefix 502 (annabel),
substring 503 (email joanna@…).
"""  # noqa: E501 - the table reads better unwrapped

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from hsl.db import make_engine
from hsl.filters import Period, utc_now
from hsl.reports import run_report
from tests import pages_support
from tests.conftest import loaded_engine, url_of
from tests.fixtures import utc
from tests.pages_support import (  # noqa: F401 - clean_env and navigation_as_served are autouse
    MOSCOW,
    NOW,
    clean_env,
    demo_database,
    infos,
    navigation_as_served,
    shown,
)

USERS, AUDIENCE, AUDIT = "pages/users.py", "pages/audience.py", "pages/audit_log.py"
NO_DATA = "No data for these filters."
PY, WEB, CLICK, MENU = "python_basics", "web_design", "lesson_link_clicked", "menu_opened"


def _user(user_id: int, username: str | None, first: str, last: str | None, seen: str) -> dict:
    return {"user_id": user_id, "username": username, "first_name": first, "last_name": last,
            "language_code": "ru", "first_seen_at": utc(seen), "updated_at": utc(seen)}


def _reg(user_id: int, lesson_type: str, at: str, email: str) -> dict:
    return {"user_id": user_id, "username": None, "first_name": None, "email": email,
            "registered_at": utc(at), "notification_sent": True, "lesson_type": lesson_type,
            "lesson_date": date(2026, 3, 25)}


def _booking(booking_id: int, user_id: int, stream: str, confirmed: int, at: str) -> dict:
    return {"id": booking_id, "user_id": user_id, "course_id": 1, "course_stream": stream,
            "confirmed": confirmed, "created_at": utc(at), "referral_code": None,
            "discount_percent": None}


def _event(user_id: int, kind: str, at: str, details: dict | None = None) -> dict:
    return {"user_id": user_id, "event_type": kind, "created_at": utc(at), "details": details}


UTM = "spring_newsletter_python_basics_second_reminder"  # makes 503's event details long
ROWS = {
    "users": [
        _user(501, "anna_k", "Anna", "Kovaleva", "2026-03-01 10:00"),
        _user(502, "annabel", "Annabel", None, "2026-03-02 10:00"),
        _user(503, "boris", "Boris", "Ivanov", "2026-03-03 10:00"),
        _user(505, "anna", "Ann", None, "2026-03-04 10:00"),
    ],
    "free_lesson_registrations": [
        _reg(501, PY, "2026-03-02 10:00", "anna.k@example.org"),
        _reg(502, WEB, "2026-03-04 10:00", "annabel@example.org"),
        _reg(503, PY, "2026-03-05 10:00", "joanna@example.org"),
    ],
    "bookings": [
        _booking(1, 501, "2nd_stream", 2, "2026-03-04 10:00"),
        _booking(2, 501, "3rd_stream", 1, "2026-03-05 10:00"),
        _booking(3, 502, "2nd_stream", -1, "2026-03-06 10:00"),
        _booking(4, 503, "3rd_stream", 0, "2026-03-07 10:00"),
    ],
    "events": [
        _event(501, CLICK, "2026-03-03 10:00", {"lesson_type": PY}),
        *(_event(502, MENU, f"2026-03-{day} 10:00") for day in range(15, 20)),
        _event(503, CLICK, "2026-03-06 10:00", {"lesson_type": PY, "utm": UTM}),
        _event(504, MENU, "2026-03-18 10:00"),
    ],
}


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def hand_url(backend, database_factory) -> str:
    """URL of a database holding ROWS that no test writes to."""
    return url_of(loaded_engine(backend, database_factory, ROWS))


@pytest.fixture
def fresh_url(backend, database_factory) -> str:
    """URL of a database holding ROWS for one test that writes."""
    return url_of(loaded_engine(backend, database_factory, ROWS))


def open_page(monkeypatch, url: str, script: str, role: str = "admin", **query: str) -> AppTest:
    """Run page `script` against `url` (login off, as `role`, an admin unless said)."""
    return pages_support.open_page(monkeypatch, url, script, role, **query)


def table(at: AppTest, i: int = 0) -> list[tuple]:
    """Table `i` as shown, row by row, missing values as None."""
    frame = at.dataframe[i].value.astype(object)
    return [tuple(None if v is None or v != v else v for v in row)
            for row in frame.where(frame.notna(), None).itertuples(index=False)]


def columns(at: AppTest, i: int = 0) -> list[str]:
    return list(at.dataframe[i].value.columns)


def texts(elements) -> list[str]:
    """The texts of `elements` as a person reads them (Markdown escapes removed)."""
    return [shown(e.value) for e in elements]


def widget(elements, label: str):
    """The widget labelled `label` among `elements` (e.g. at.text_input)."""
    return next(e for e in elements if e.label == label)


@pytest.fixture
def downloads(monkeypatch) -> dict[str, list[list[str]]]:
    """File name → CSV rows of every download button drawn (deferred data made at once)."""
    return pages_support.spy_downloads(monkeypatch)


# ---------------------------------------------------------------- users: search


def test_search_ranks_exact_then_prefix_then_substring(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, USERS, q="anna")
    assert not at.exception
    assert at.text_input[0].value == "anna"
    assert "4 people match “anna”." in texts(at.caption)
    assert columns(at) == ["User ID", "Username", "Name", "Email", "First seen"]
    shown = table(at)
    # 501 and 505 exact (first name / username), 502 prefix, 503 substring of its email.
    assert [row[0] for row in shown] == ["501", "505", "502", "503"]
    assert shown[0][1:4] == ("anna_k", "Anna Kovaleva", "anna.k@example.org")
    assert shown[1][1:4] == ("anna", "Ann", None)  # no registration: no email


def test_search_by_id_finds_an_events_only_user(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, USERS, q="504")
    assert "1 person match “504”." in texts(at.caption)
    # no names anywhere; first seen = its only event, 03-18 10:00 UTC = 13:00 in Moscow.
    assert table(at) == [("504", None, "", None, pd.Timestamp("2026-03-18 13:00", tz=MOSCOW))]


def test_typing_a_search_writes_the_url(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, USERS)
    assert "Everyone the bot knows: 5 people." in texts(at.caption)  # 501..505
    at.text_input[0].input("@Annabel").run()
    assert at.query_params["q"] == "@Annabel"
    assert [row[0] for row in table(at)] == ["502"]  # the @ is dropped, case ignored


def test_results_come_50_a_page_with_previous_and_next_in_the_url(monkeypatch, hand_url):
    monkeypatch.setattr("hsl.metrics.users.PAGE_SIZE", 2)
    at = open_page(monkeypatch, hand_url, USERS, q="anna", page="2")
    assert [row[0] for row in table(at)] == ["502", "503"]  # ranks 3 and 4 of 4
    assert "3–4 of 4" in texts(at.caption)
    assert len(at.number_input) == 0  # buttons, no number box
    assert {b.label: b.disabled for b in at.button if b.label != "Refresh"} == {
        "First": False, "Previous": False, "Next": True, "Last": True}
    widget(at.button, "Previous").click().run()
    assert "page" not in at.query_params  # page 1 is the default
    assert [row[0] for row in table(at)] == ["501", "505"]
    assert "1–2 of 4" in texts(at.caption)
    widget(at.button, "Next").click().run()
    assert at.query_params["page"] == "2"
    assert [row[0] for row in table(at)] == ["502", "503"]
    at.text_input[0].input("ann").run()  # a new search starts at page 1
    assert "page" not in at.query_params
    # exact 505 (first name Ann), then the prefixes 501 (Anna) and 502 (Annabel).
    assert [row[0] for row in table(at)] == ["505", "501"]


@pytest.mark.parametrize(("page", "why"), [
    ("9", "there are 2 pages."), ("0", "there are 2 pages."), ("two", "it is not a page number."),
])
def test_a_page_the_link_cannot_have_falls_back_to_page_1(monkeypatch, hand_url, page, why):
    monkeypatch.setattr("hsl.metrics.users.PAGE_SIZE", 2)
    at = open_page(monkeypatch, hand_url, USERS, q="anna", page=page)
    assert not at.exception
    assert f"Ignored `page={page}` from the link: {why} Showing page 1." in infos(at)
    assert [row[0] for row in table(at)] == ["501", "505"]
    assert "page" not in at.query_params


def test_a_full_name_finds_the_person_first(monkeypatch, hand_url):
    # Anna Kovaleva: both words exact; "  " and the order do not matter.
    at = open_page(monkeypatch, hand_url, USERS, q="  kovaleva   ANNA ")
    assert "1 person match “kovaleva ANNA”." in texts(at.caption)
    assert [row[:3] for row in table(at)] == [("501", "anna_k", "Anna Kovaleva")]
    at = open_page(monkeypatch, hand_url, USERS, role="viewer", q="Boris Ivanov")
    assert [row[:2] for row in table(at)] == [("503", "Boris Ivanov")]


def test_a_search_that_finds_nobody_says_no_data(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, USERS, q="100%_")
    assert not at.exception
    assert "0 people match “100%_”." in texts(at.caption)
    assert NO_DATA in infos(at)
    assert len(at.dataframe) == 0


def test_markdown_in_a_link_is_shown_as_text_not_as_a_link(monkeypatch, hand_url):
    bait = "[Sign in again](https://evil.example/login)"
    at = open_page(monkeypatch, hand_url, USERS, q=bait)
    caption = next(c.value for c in at.caption if "match" in c.value)
    assert "](" not in caption and "https:" not in caption  # no Markdown link survives
    assert shown(caption) == f"0 people match “{bait}”."  # yet the person reads their text


def test_viewers_see_no_contact_columns_in_search(monkeypatch, hand_url):
    # Names and ids only: Anna (first name, exact) and Annabel (prefix); not 505, whose
    # username is "anna", nor 503, whose email is joanna@…
    at = open_page(monkeypatch, hand_url, USERS, role="viewer", q="anna")
    assert columns(at) == ["User ID", "Name", "First seen"]
    assert [row[0] for row in table(at)] == ["501", "502"]


@pytest.mark.parametrize(("role", "matches"), [("viewer", "0 people"), ("analyst", "1 person")])
def test_a_viewer_cannot_confirm_whose_email_or_username_it_is(monkeypatch, hand_url, role,
                                                               matches):
    for contact in ("joanna@example.org", "@anna_k"):
        at = open_page(monkeypatch, hand_url, USERS, role=role, q=contact)
        assert f"{matches} match “{contact}”." in [shown(c.value) for c in at.caption]


# ---------------------------------------------------------------- users: profile


def test_profile_shows_identity_position_and_bookings_with_status_words(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, USERS, user="501")
    assert not at.exception
    assert texts(at.title) == ["Anna Kovaleva"]
    assert texts(at.markdown)[0] == (
        "User ID `501` · [@anna_k](https://t.me/anna_k) · anna.k@example.org · "
        "first seen 1 Mar 2026, 13:00 (Europe/Moscow)"
    )
    # paid (booking 1 confirmed), so no lead tier; both bookings are active; one click.
    assert {m.label: m.value for m in at.metric} == {
        "Lead tier": "—", "Funnel position": "Paid", "Active bookings": "2 of 2", "Events": "1"}
    assert columns(at, 0)[:4] == ["ID", "Course", "Stream", "Status"]
    assert [row[:4] for row in table(at, 0)] == [  # newest first
        ("2", 1, "3rd stream", "Pending"), ("1", 1, "2nd stream", "Confirmed")]
    assert [row[1] for row in table(at, 1)] == ["Python basics"]  # registrations
    assert [row[1] for row in table(at, 2)] == ["Lesson link clicked"]  # events
    assert texts(at.subheader) == ["Bookings", "Free-lesson registrations", "Events",
                                   "Audit history", "Change stream"]
    assert any(c.startswith("Moves booking #2 (3rd stream, pending, made 5 Mar 2026): the "
                            "newest booking that is not cancelled.") for c in texts(at.caption))


def test_profile_tables_show_their_rows_and_wrap_long_text(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, USERS, user="503")
    details = table(at, 2)[0][3]
    assert details == f'{{"lesson_type": "{PY}", "utm": "{UTM}"}}'  # whole, 77 characters
    assert at.dataframe[2].proto.row_height == 72  # three lines: Streamlit wraps the text
    at = open_page(monkeypatch, hand_url, USERS, user="501")
    assert [df.proto.row_height for df in at.dataframe] == [0, 0, 0]  # short texts: one line


def test_profile_of_a_lead_with_a_cancelled_booking(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, USERS, user="502")
    # 5 events on 5 days in the window: cool; the cancelled booking is not "booked".
    assert {m.label: m.value for m in at.metric} == {
        "Lead tier": "Cool", "Funnel position": "Registered", "Active bookings": "0 of 1",
        "Events": "5"}
    assert [row[3] for row in table(at, 0)] == ["Cancelled"]
    assert "This user has no active booking, so there is no stream to change." in infos(at)
    assert len(at.get("form")) == 0


def test_profile_of_an_unknown_or_malformed_user(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, USERS, user="999")
    assert not at.exception
    assert texts(at.error) == ["No user with id 999 is known."]
    at = open_page(monkeypatch, hand_url, USERS, user="abc")
    assert "Ignored `user=abc` from the link: it is not a user id." in infos(at)
    assert texts(at.title) == ["Users"]


def test_viewers_get_a_profile_without_contacts_audit_or_stream_change(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, USERS, role="viewer", user="501")
    assert texts(at.markdown)[0] == "User ID `501` · first seen 1 Mar 2026, 13:00 (Europe/Moscow)"
    assert texts(at.subheader) == ["Bookings", "Free-lesson registrations", "Events"]
    assert "Email" not in columns(at, 1)
    assert len(at.get("form")) == 0 and len(at.selectbox) == 0


def test_analysts_see_contacts_but_cannot_change_streams(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, USERS, role="analyst", user="501")
    assert "[@anna_k](https://t.me/anna_k)" in texts(at.markdown)[0]
    assert texts(at.subheader) == ["Bookings", "Free-lesson registrations", "Events"]


def test_an_admin_changes_a_stream_through_the_form_and_sees_the_audit_row(
        monkeypatch, fresh_url):
    monkeypatch.setattr("hsl_ui.sidebar.utc_now", utc_now)  # the audit row is dated today
    at = open_page(monkeypatch, fresh_url, USERS, user="501")
    target = widget(at.selectbox, "Move to stream *")
    # Known streams, natural order, without 3rd_stream: the newest active booking's own.
    assert target.options == ["2nd stream"]
    assert "Fields marked * are required." in " ".join(texts(at.caption))

    target.select("2nd_stream")
    widget(at.checkbox, "I confirm this change *").check()
    widget(at.button, "Change stream").click().run()  # no reason
    assert texts(at.error) == ["Give a reason for the stream change; it goes into the audit log."]

    widget(at.text_input, "Reason *").input("Asked to join the evening group")
    widget(at.checkbox, "I confirm this change *").uncheck()
    widget(at.button, "Change stream").click().run()
    assert "Tick “I confirm this change” to save it." in texts(at.warning)
    assert [row[2] for row in table(at, 0)] == ["3rd stream", "2nd stream"]  # unchanged

    widget(at.checkbox, "I confirm this change *").check()
    widget(at.button, "Change stream").click().run()
    assert not at.exception
    assert texts(at.success) == ["Moved booking #2 of user 501 from 3rd stream to 2nd stream."]
    assert [row[2] for row in table(at, 0)] == ["2nd stream", "2nd stream"]
    # The form starts empty again after a saved change, now offering 3rd_stream.
    assert widget(at.selectbox, "Move to stream *").value is None
    assert widget(at.selectbox, "Move to stream *").options == ["3rd stream"]
    assert widget(at.text_input, "Reason *").value == ""
    assert "Moves booking #2 (2nd stream, pending, made 5 Mar 2026)" in " ".join(texts(at.caption))
    history = at.table[0].value
    assert list(history.columns) == ["When", "By", "Action", "Record", "Change", "Reason"]
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} 20\d\d, \d\d:\d\d", history.iloc[0, 0])
    assert [[shown(cell) for cell in row] for row in history.iloc[:, 1:].values.tolist()] == [[
        "Anonymous (login turned off)", "Change stream", "Booking #2",
        "Stream: 3rd stream → 2nd stream", "Asked to join the evening group"]]

    at.switch_page(AUDIT).run()
    assert not at.exception
    assert "1 change." in texts(at.caption)
    logged = at.table[0].value
    assert list(logged.columns) == ["When", "By", "Action", "User ID", "Record", "Change",
                                    "Reason"]
    assert [[shown(cell) for cell in row] for row in logged.values.tolist()] == [[
        history.iloc[0, 0], "Anonymous (login turned off)", "Change stream",
        "[501](users?user=501)",  # a link to the profile on the Users page
        "Booking #2", "Stream: 3rd stream → 2nd stream", "Asked to join the evening group"]]


# ---------------------------------------------------------------- audience


def test_audience_count_for_a_combined_filter(monkeypatch, hand_url, downloads):
    at = open_page(monkeypatch, hand_url, AUDIENCE, lesson_type=PY, attended="yes",
                   stream="3rd_stream", status="new")
    assert not at.exception
    # The choices are every lesson type, event type and stream in the data.
    assert widget(at.multiselect, "Registered for").options == ["Python basics", "Web design"]
    assert widget(at.multiselect, "Did any of these events").options == [
        "Lesson link clicked", "Menu opened"]
    assert widget(at.multiselect, "Stream").options == ["2nd stream", "3rd stream"]
    # python and clicked it: 501, 503; a 3rd_stream booking that is new: only 503's.
    assert texts(at.subheader) == ["1 person matches"]
    assert columns(at) == ["User ID", "First name", "Email", "Telegram", "Lesson types",
                           "Streams", "Statuses", "Tier", "Last activity"]
    assert table(at) == [("503", "Boris", "joanna@example.org", "https://t.me/boris",
                          "Python basics", "3rd stream", "New", "Cold", date(2026, 3, 6))]
    name = ("audience_lesson_types-python_basics_attended-true_streams-3rd_stream_"
            "statuses-new.csv")
    assert list(downloads) == [name]
    assert downloads[name][0] == [
        "User ID", "Username", "First name", "Last name", "Email", "Telegram", "Lesson types",
        "Lesson dates", "Registered at (Europe/Moscow)", "Streams", "Statuses", "Tier",
        "Last activity (Europe/Moscow)"]
    assert [r[:3] for r in downloads[name][1:]] == [["503", "boris", "Boris"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["501", "502", "503", "504", "505"]),  # everyone the bot knows
        ({"lesson_type": WEB, "attended": "no"}, ["502"]),  # registered web, no click
        ({"booked": "no"}, ["502", "504", "505"]),  # 502's only booking is cancelled
        ({"tier": "cool"}, ["502"]),  # 5 events on 5 days in the window
        ({"active_days": "3"}, ["502", "504"]),  # events after 03-17 18:00
        ({"event_type": MENU}, ["502", "504"]),
        ({"registered_from": "2026-03-04", "registered_to": "2026-03-05"}, ["502", "503"]),
        ({"lesson_type": PY, "attended": "yes", "booked": "no"}, []),
    ],
    ids=["everyone", "web-not-attended", "not-booked", "cool", "active-3-days", "menu",
         "registered-dates", "nobody"],
)
def test_audience_filters_alone_and_combined(monkeypatch, hand_url, query, expected):
    at = open_page(monkeypatch, hand_url, AUDIENCE, **query)
    assert not at.exception
    word = "person matches" if len(expected) == 1 else "people match"
    assert texts(at.subheader) == [f"{len(expected)} {word}"]
    if expected:
        assert [row[0] for row in table(at)] == expected
    else:
        assert NO_DATA in infos(at)
        assert len(at.dataframe) == 0
    assert dict(at.query_params) == query  # the Audience page does not use the shared dates


def test_pasted_ids_show_malformed_and_unknown_ones(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, AUDIENCE)
    at.text_area[0].input("501, 999\nabc 503 501").run()
    assert at.query_params["ids"] == "501,999,abc,503,501"
    assert texts(at.subheader) == ["2 people match"]
    assert [row[0] for row in table(at)] == ["501", "503"]
    assert "2 known ids used." in texts(at.caption)
    assert texts(at.warning) == ["Left out, not user ids: `abc`.", "Left out, unknown: `999`."]


def test_audience_pages_and_exports_all_rows(monkeypatch, hand_url, downloads):
    monkeypatch.setattr("hsl.metrics.users.PAGE_SIZE", 2)
    at = open_page(monkeypatch, hand_url, AUDIENCE, page="2")
    assert [row[0] for row in table(at)] == ["503", "504"]
    assert "3–4 of 5" in texts(at.caption)
    assert [r[0] for r in downloads["audience.csv"][1:]] == ["501", "502", "503", "504", "505"]


def test_changing_a_filter_writes_the_url_and_recounts(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, AUDIENCE)
    widget(at.multiselect, "Lead tier").select("cold").run()
    assert at.query_params["tier"] == "cold"
    assert [row[0] for row in table(at)] == ["503"]  # 501 paid: no tier; 502 cool


def test_viewers_see_no_contacts_and_no_download_in_the_audience(monkeypatch, hand_url,
                                                                 downloads):
    at = open_page(monkeypatch, hand_url, AUDIENCE, role="viewer", lesson_type=PY)
    assert texts(at.subheader) == ["2 people match"]  # 501, 503
    assert columns(at) == ["User ID", "First name", "Lesson types", "Streams", "Statuses",
                           "Tier", "Last activity"]
    assert "Contact details are hidden for your role (viewer)." in texts(at.caption)
    assert len(at.get("download_button")) == 0 and downloads == {}


def test_a_reversed_registration_range_is_one_sentence(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, AUDIENCE, registered_from="2026-03-05",
                   registered_to="2026-03-01")
    assert not at.exception
    assert texts(at.error) == ["The registration start 2026-03-05 is after its end 2026-03-01."]


# ---------------------------------------------------------------- audit log and roles


def test_the_audit_log_is_for_admins_only(monkeypatch, hand_url):
    for role in ("viewer", "analyst"):
        at = open_page(monkeypatch, hand_url, USERS, role=role)
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(AUDIT)
    at = open_page(monkeypatch, hand_url, AUDIT)
    assert not at.exception
    assert NO_DATA in infos(at)  # nothing changed in this database


def test_the_audit_log_links_a_user_id_to_the_profile(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, AUDIT, user="501")
    [link] = at.main.get("page_link")
    assert link.proto.label == "Open the profile of user 501"
    assert link.proto.page.endswith("users") and link.proto.query_string == "user=501"
    assert len(open_page(monkeypatch, hand_url, AUDIT).main.get("page_link")) == 0


def test_audit_log_filters_live_in_the_url(monkeypatch, hand_url):
    at = open_page(monkeypatch, hand_url, AUDIT, user="12x", actor="nobody")
    assert not at.exception
    assert "“12x” is not a user ID; showing every user." in texts(at.warning)
    assert ("Ignored `actor=nobody` from the link: “nobody” is not one of the choices. "
            "Showing Anyone.") in infos(at)


# ---------------------------------------------------------------- empty and demo databases


@pytest.fixture(scope="module")
def demo_url(backend, database_factory) -> str:
    return demo_database(backend, database_factory, anchor=NOW.date())


@pytest.mark.parametrize("page", [USERS, AUDIENCE, AUDIT])
def test_pages_on_an_empty_database_say_no_data(monkeypatch, empty_url, page):
    at = open_page(monkeypatch, empty_url, page)
    assert not at.exception
    assert texts(at.error) == []
    assert NO_DATA in infos(at)


def test_profile_on_an_empty_database_is_one_sentence(monkeypatch, empty_url):
    at = open_page(monkeypatch, empty_url, USERS, user="1")
    assert texts(at.error) == ["No user with id 1 is known."]


def test_pages_on_demo_data_count_every_known_user(monkeypatch, demo_url):
    engine = make_engine(demo_url)
    try:
        known = int(run_report(engine, "kpis", Period.last_days(30, MOSCOW, NOW))
                    .iloc[0].known_users)
        someone = int(run_report(engine, "users", Period.last_days(30, MOSCOW, NOW))
                      .user_id.iloc[0])
    finally:
        engine.dispose()
    at = open_page(monkeypatch, demo_url, USERS)
    assert not at.exception
    assert f"Everyone the bot knows: {known:,} people." in texts(at.caption)
    assert len(table(at)) == 50
    at = open_page(monkeypatch, demo_url, AUDIENCE)
    assert not at.exception
    assert texts(at.subheader) == [f"{known:,} people match"]
    at = open_page(monkeypatch, demo_url, USERS, user=str(someone))
    assert not at.exception and texts(at.error) == []
    at = open_page(monkeypatch, demo_url, AUDIT)
    assert not at.exception
