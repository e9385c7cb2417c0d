"""Users: search, profile pieces and pasted ids, hand-counted (tests/fixtures/people.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import text

from hsl.db import make_engine
from hsl.errors import NotFoundError
from hsl.filters import Period
from hsl.metrics.users import (
    PAGE_SIZE,
    USER_COLUMNS,
    count_user_events,
    count_users,
    funnel_position,
    lead_tier,
    search_users,
    tme_link,
    tme_links,
    user_bookings,
    user_events,
    user_identity,
    user_registrations,
    validate_user_ids,
)
from hsl.reports import run_report
from tests.conftest import bot_like
from tests.fixtures import load_rows, utc
from tests.fixtures.foundation import run_hsl
from tests.fixtures.people import (
    AUDIENCE_ROWS,
    BIG_BOOKINGS_ONLY,
    BIG_EVENTS_ONLY,
    EVENTS_ONLY,
    MOSCOW,
    NOW,
    SEARCH_KNOWN,
    SEARCH_ROWS,
    rows,
)

MSK = timezone(timedelta(hours=3))


@pytest.fixture(scope="module")
def db(module_engine):
    return module_engine(SEARCH_ROWS)


@pytest.fixture(scope="module")
def people_db(module_engine):
    return module_engine(AUDIENCE_ROWS)


def ids(db, query, **kw) -> list[int]:
    return [int(i) for i in search_users(db, query, **kw)["user_id"]]


# ---------------------------------------------------------------- search


def test_ranking_exact_then_prefix_then_substring_then_user_id(db):
    # exact: 11 (username anna), 14 (first name ANNA);
    # prefix: 12 (annabel), 41 (email ANNA@Example.com);
    # substring: 9 (zanna_b), 13 (joanna), 15 (hanna): 9 has the lowest id yet comes after.
    assert ids(db, "anna") == [11, 14, 12, 41, 9, 13, 15]
    assert count_users(db, "anna") == 7


@pytest.mark.parametrize("query", ["@anna", "  @anna  ", "\tanna\n", "ANNA", "@AnNa"])
def test_at_sign_whitespace_and_case_do_not_matter(db, query):
    assert ids(db, query) == [11, 14, 12, 41, 9, 13, 15]


def test_a_lone_at_sign_is_an_empty_search(db):
    assert count_users(db, "@") == SEARCH_KNOWN
    assert count_users(db, "   ") == SEARCH_KNOWN


def test_underscore_is_a_literal_character(db):
    # 20 is a_b exactly; 9 is zanna_b. A wildcard would also match 21 "axb".
    assert ids(db, "a_b") == [20, 9]


def test_percent_is_a_literal_character(db):
    assert ids(db, "%") == [22]       # only "100%"; a wildcard would match everyone
    assert ids(db, "100%") == [22]    # a wildcard would also match 23 "1000"


def test_backslash_is_a_literal_character(db):
    # 24's last name is back\slash; as a LIKE escape "k\s" would mean "ks" and hit 25.
    assert ids(db, "k\\s") == [24]
    assert ids(db, "\\") == [24]


def test_exclamation_mark_is_a_literal_character(db):
    assert ids(db, "u!") == [21]      # last name "Xu!"
    assert ids(db, "!") == [21]


def test_cyrillic_is_case_insensitive(db):
    assert ids(db, "АННА") == [26]        # first name Анна
    assert ids(db, "анн") == [16, 26]     # Анненков, Анна: both prefixes
    assert ids(db, "ИВАНОВА") == [26]
    assert ids(db, "ёж") == [27]          # Ёжик
    assert ids(db, "ЁЖИК") == [27]


@pytest.fixture
def c_locale_pg(pg_admin):
    """A PostgreSQL database whose LC_CTYPE is "C": its own lower() folds ASCII only."""
    name = f"hsl_test_c_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(text(
            f'CREATE DATABASE "{name}" TEMPLATE template0 LC_COLLATE \'C\' LC_CTYPE \'C\''))
    engine = bot_like(make_engine(pg_admin.url.set(database=name).render_as_string(False)))
    load_rows(engine, SEARCH_ROWS)
    yield engine
    engine.dispose()
    with pg_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_cyrillic_is_case_insensitive_on_a_c_locale_postgresql(c_locale_pg):
    assert ids(c_locale_pg, "АННА") == [26]
    assert ids(c_locale_pg, "ёж") == [27]
    assert ids(c_locale_pg, "anna") == [11, 14, 12, 41, 9, 13, 15]
    # Several words, the full name folded through the same collation: 26 is Анна Иванова.
    assert ids(c_locale_pg, "ИВАНОВА  анна") == [26]
    assert ids(c_locale_pg, "анна ивановА") == [26]


def test_digits_find_the_exact_id_first_then_text_matches(db):
    # 31's username x4000000000 contains the digits: it follows the id match.
    assert ids(db, str(BIG_EVENTS_ONLY)) == [BIG_EVENTS_ONLY, 31]
    assert ids(db, "@" + str(BIG_EVENTS_ONLY)) == [BIG_EVENTS_ONLY, 31]


def test_digits_without_such_an_id_still_match_text(db):
    assert ids(db, "100") == [22, 23]     # "100%" and "1000", both prefixes


def test_events_only_and_bookings_only_users_are_found_by_id(db):
    frame = search_users(db, str(BIG_BOOKINGS_ONLY))
    assert rows(frame, "user_id", "username", "first_name", "email") == [
        (BIG_BOOKINGS_ONLY, None, None, None)
    ]
    assert ids(db, str(BIG_EVENTS_ONLY))[0] == BIG_EVENTS_ONLY


def test_an_id_beyond_bigint_is_searched_as_text(db):
    assert ids(db, "99999999999999999999") == []


def test_names_come_from_the_users_row_else_the_newest_registration(db):
    assert ids(db, "fallback") == [30]    # users row has no names; its registration does
    assert ids(db, "olga") == [40]        # registrations only: newest is olga_new / Olga
    assert ids(db, "oldie") == []         # 40's older username
    assert ids(db, "olga.old") == []      # 40's older email
    assert ids(db, "old_mail") == []      # 41's users row says "mail"
    row = search_users(db, "olga").iloc[0]
    assert (row["username"], row["first_name"], row["email"]) == (
        "olga_new", "Olga", "olga@example.com")


def test_email_matches_exactly_ignoring_case(db):
    assert ids(db, "anna@example.com") == [41]


def test_no_match(db):
    frame = search_users(db, "nobody-like-this")
    assert list(frame.columns) == USER_COLUMNS
    assert frame.empty
    assert count_users(db, "nobody-like-this") == 0


def test_pages_of_fifty(db):
    # bulk01..bulk55 are ids 5001..5055, all prefix matches.
    assert count_users(db, "bulk") == 55
    assert ids(db, "bulk") == list(range(5001, 5051))
    assert ids(db, "bulk", offset=PAGE_SIZE) == list(range(5051, 5056))


def test_without_a_search_every_known_user_by_user_id(db):
    assert count_users(db) == SEARCH_KNOWN
    first = [9, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 26, 27, 30, 31, 40, 41]
    assert ids(db, None) == first + list(range(5001, 5032))     # 19 + 31 = 50
    assert ids(db, "", offset=50) == list(range(5032, 5056)) + [BIG_EVENTS_ONLY,
                                                                BIG_BOOKINGS_ONLY]


def test_first_seen_is_the_earliest_trace_in_the_reporting_timezone(db):
    frame = search_users(db, "11", tz=MOSCOW)
    # 11's event at 2026-09-30 22:30 UTC is earlier than its users row (10-01 09:00).
    assert frame["first_seen"].iloc[0] == datetime(2026, 10, 1, 1, 30, tzinfo=MSK)
    assert str(frame["first_seen"].dt.tz) == MOSCOW


def test_users_report_lists_every_match(db):
    period = Period(date(2026, 11, 1), date(2026, 11, 30), MOSCOW, NOW)
    frame = run_report(db, "users", period, search="@4000000000")
    assert list(frame.columns) == USER_COLUMNS
    assert rows(frame, "user_id", "username") == [
        (BIG_EVENTS_ONLY, None), (31, "x4000000000")]
    assert frame["first_seen"].iloc[0] == datetime(2026, 11, 20, 11, 0, tzinfo=MSK)
    assert len(run_report(db, "users", period)) == SEARCH_KNOWN  # no page limit


def test_users_report_on_the_command_line(db):
    url = db.url.render_as_string(hide_password=False)
    result = run_hsl("report", "users", "--db", url, "--search", "АННА", "--tz", MOSCOW)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "user_id,username,first_name,last_name,email,first_seen",
        "26,,Анна,Иванова,,2026-09-01T11:00:00+03:00",
    ]


# ---------------------------------------------------------------- profile


def test_identity_of_a_user_with_names_and_newest_email(people_db):
    who = user_identity(people_db, 207, MOSCOW)
    assert (who.username, who.first_name, who.last_name) == ("both", "Bo", "Boyle")
    assert who.email == "bo@example.com"            # the js registration is newer
    assert who.tme_link == "https://t.me/both"
    assert who.first_seen == datetime(2026, 9, 1, 11, 0, tzinfo=MSK)


def test_identity_of_an_events_only_user(people_db):
    who = user_identity(people_db, EVENTS_ONLY)
    assert (who.username, who.first_name, who.email, who.tme_link) == (None, None, None, None)
    assert who.first_seen == utc("2026-11-25 10:00")


def test_identity_of_an_unknown_user(people_db):
    with pytest.raises(NotFoundError, match="No user with id 999"):
        user_identity(people_db, 999)


@pytest.mark.parametrize(("username", "link"), [
    ("anna_k", "https://t.me/anna_k"),
    ("bob", "https://t.me/bob"),
    ("x" * 32, "https://t.me/" + "x" * 32),
    ("x" * 33, None),
    ("=HYPERLINK(\"http://x\")", None),  # what a bot may store is no reason for a link
    ("evil.example/login", None),
    ("анна", None),
    ("", None),
    (None, None),
])
def test_tme_link_only_for_valid_telegram_usernames(username, link):
    assert tme_link(username) == link


@pytest.mark.parametrize("dtype", ["str", object])
def test_tme_links_of_a_column_are_the_links_one_by_one(dtype):
    names = ["anna_k", "x" * 32, "x" * 33, "=HYPERLINK(\"http://x\")", "evil.example/login",
             "анна", "", None, "bob\n", "bob\x00", "a b", "\u202ebob"]
    links = tme_links(pd.Series(names, dtype=dtype))
    assert [None if pd.isna(v) else v for v in links] == [tme_link(n) for n in names]
    assert [tme_link(n) for n in names][:2] == ["https://t.me/anna_k", "https://t.me/" + "x" * 32]


def test_bookings_newest_first_with_status_words(people_db):
    frame = user_bookings(people_db, 208, MOSCOW)
    assert rows(frame, "id", "course_stream", "status") == [
        (8, "3rd_stream", "confirmed"), (7, "2nd_stream", "pending")]
    assert frame["created_at"].iloc[0] == datetime(2026, 11, 4, 13, 0, tzinfo=MSK)


def test_registrations_newest_first_with_attendance(people_db):
    frame = user_registrations(people_db, 207)
    # 207 clicked the python link only.
    assert rows(frame, "lesson_type", "lesson_date", "attended") == [
        ("js", date(2026, 10, 19), False), ("python", date(2026, 10, 17), True)]


def test_events_newest_first_paged(people_db):
    assert count_user_events(people_db, 201) == 21   # 20 page views + 1 click
    first = user_events(people_db, 201, limit=5)
    assert [t.strftime("%m-%d %H:%M") for t in first["created_at"]] == [
        "11-23 10:15", "11-23 10:10", "11-23 10:05", "11-23 10:00", "11-22 10:15"]
    last = user_events(people_db, 201, limit=5, offset=20)
    assert rows(last, "event_type", "details") == [
        ("lesson_link_clicked", '{"lesson_type": "python"}')]


@pytest.mark.parametrize("uid, step", [
    (201, "attended"),   # registered, clicked, never booked
    (202, "booked"),     # clicked a type it did not register for: not attended; pending
    (203, "paid"),
    (204, "registered"),  # its only booking is cancelled
    (EVENTS_ONLY, None),
    (206, "booked"),     # booked without registering
    (208, "paid"),
])
def test_funnel_position(people_db, uid, step):
    assert funnel_position(people_db, uid) == step


@pytest.mark.parametrize("uid, tier", [
    (201, "hot"), (202, "warm"), (204, "cold"),
    (203, None),         # paid: not a lead
    (208, None),         # never registered
])
def test_lead_tier(people_db, uid, tier):
    period = Period(date(2026, 11, 25), date(2026, 11, 25), "UTC", NOW)
    assert lead_tier(people_db, uid, period) == tier


# ---------------------------------------------------------------- pasted ids


def test_validate_pasted_text(people_db):
    pasted = (
        "201, 202;203 @204 -5 0 abc\n99999999999999999999 9223372036854775807 "
        "9223372036854775808 201 999 3000000005 +206 2.0"
    )
    check = validate_user_ids(people_db, pasted)
    assert check.valid == (201, 202, 203, EVENTS_ONLY)   # 201 once
    # 2^63 - 1 is a well-formed BIGINT nobody has; 2^63 is out of range.
    assert check.unknown == (9223372036854775807, 999)
    assert check.malformed == (
        "@204", "-5", "0", "abc", "99999999999999999999", "9223372036854775808", "+206", "2.0")


def test_validate_a_mixed_list(people_db):
    check = validate_user_ids(people_db, ["205 206", 207, "207", -1, 2**63, True, "x", 0])
    assert check.valid == (206, 207)
    assert check.unknown == (205,)
    assert check.malformed == ("-1", "9223372036854775808", "True", "x", "0")


def test_validate_nothing(people_db):
    check = validate_user_ids(people_db, " ,; \n")
    assert (check.valid, check.malformed, check.unknown) == ((), (), ())


def test_validate_a_hundred_thousand_ids(people_db):
    check = validate_user_ids(people_db, " ".join(str(i) for i in range(1, 100_001)))
    # 201..208 except 205 are known; the events-only id is above 100 000.
    assert check.valid == (201, 202, 203, 204, 206, 207, 208)
    assert len(check.unknown) == 100_000 - 7
    assert check.malformed == ()
