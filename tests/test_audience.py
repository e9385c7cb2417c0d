"""The audience builder: each filter alone, combined, facts, paging and the export permission.

Counted from the table in tests/fixtures/people.py (AUDIENCE_ROWS, NOW 2026-11-25 12:00 UTC).
Every counted test runs twice: on the bot's tables, and on the summaries (SPEC §9) after a
refresh in UTC (tests in Moscow time read the bot's tables there too: no Moscow summaries).
The last tests compare the summary path with the raw path after changes and refreshes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import delete, insert

from hsl.audience import (
    AUDIENCE_COLUMNS,
    AudienceFilter,
    audience_count,
    audience_rows,
    export_audience,
)
from hsl.auth import Actor
from hsl.errors import PermissionDenied, ValidationError
from hsl.export import to_csv_bytes
from hsl.metrics.leads import LeadRules
from hsl.schema import BOT_TABLES, events
from hsl.summaries import current, raw_path
from hsl.summaries.refresh import refresh
from tests.fixtures import load_rows, utc
from tests.fixtures.people import (
    AUDIENCE_KNOWN,
    AUDIENCE_ROWS,
    EVENTS_ONLY,
    MOSCOW,
    NOW,
    PY,
    event,
    rows,
)

ANALYST = Actor("ann", "analyst")
VIEWER = Actor("vic", "viewer")
EO = EVENTS_ONLY


@pytest.fixture(scope="module", params=["bot tables", "summaries"])
def db(module_engine, request):
    engine = module_engine(AUDIENCE_ROWS)
    if request.param == "summaries":
        refresh(engine, "UTC")
        assert current(engine, "UTC") is not None
    return engine


def picked(db, tz: str = "UTC", **filters) -> list[int]:
    """The user ids of the audience (all rows, by user_id), checked against the count."""
    flt = AudienceFilter(**filters)
    frame = export_audience(db, ANALYST, flt, tz=tz, now=NOW)
    found = [int(i) for i in frame["user_id"]]
    assert audience_count(db, flt, tz=tz, now=NOW) == len(found)
    return found


def test_an_empty_filter_is_every_known_user(db):
    assert picked(db) == AUDIENCE_KNOWN


@pytest.mark.parametrize("filters, expected", [
    ({"lesson_types": ("python",)}, [201, 203, 204, 207]),
    ({"lesson_types": ("js",)}, [202, 207]),
    ({"lesson_types": ("python", "js")}, [201, 202, 203, 204, 207]),
    ({"registered_from": date(2026, 10, 1), "registered_to": date(2026, 10, 31)},
     [201, 202, 203, 207]),                      # 204 registered 11-02
    ({"registered_to": date(2026, 10, 15)}, [201, 202, 207]),
    ({"registered_from": date(2026, 10, 16)}, [203, 204]),  # 207's js is 10-15 22:30 UTC
    # attended: clicked the link of the registration's own lesson type. 202 clicked python
    # but registered for js, so it counts as not attended.
    ({"attended": True}, [201, 203, 207]),
    ({"attended": False}, [202, 204, 207]),      # 207: its js registration
    ({"streams": ("2nd_stream",)}, [204, 206, 207, 208]),
    ({"streams": ("10th_stream",)}, [206]),
    ({"statuses": (2,)}, [203, 207, 208]),
    ({"statuses": (-1,)}, [204, 206]),
    ({"statuses": (0, 1)}, [202, 206, 208]),
    ({"booked": True}, [202, 203, 206, 207, 208]),
    ({"booked": False}, [201, 204, EO]),         # 204's only booking is cancelled
    ({"tiers": ("hot", "warm")}, [201, 202]),
    ({"tiers": ("cold",)}, [204]),
    ({"tiers": ("cool",)}, []),
    ({"active_within_days": 1}, [204, EO]),      # (11-24 12:00, 11-25 12:00]
    ({"active_within_days": 7}, [201, 202, 204, EO]),
    ({"event_types": ("lesson_link_clicked",)}, [201, 202, 203, 207]),
    ({"event_types": ("page_view",)}, [201]),
    ({"user_ids": (201, EO, 999)}, [201, EO]),
    ({"user_ids": ()}, []),
])
def test_each_filter_alone(db, filters, expected):
    assert picked(db, **filters) == expected


def test_registration_dates_are_local_dates(db):
    # 207's js registration is 2026-10-16 01:30 in Moscow.
    assert picked(db, MOSCOW, registered_from=date(2026, 10, 16)) == [203, 204, 207]
    assert picked(db, MOSCOW, registered_to=date(2026, 10, 15)) == [201, 202, 207]


@pytest.mark.parametrize("filters, expected", [
    # The SPEC's example: python in October, clicked the link, has not booked.
    ({"lesson_types": ("python",), "registered_from": date(2026, 10, 1),
      "registered_to": date(2026, 10, 31), "attended": True, "booked": False}, [201]),
    # Lesson type and attendance concern the same registration: 207 attended python, not js.
    ({"lesson_types": ("js",), "attended": True}, []),
    ({"lesson_types": ("js",), "attended": False}, [202, 207]),
    # Stream and status concern the same booking: 208's 2nd_stream booking is pending.
    ({"streams": ("2nd_stream",), "statuses": (2,)}, [207]),
    ({"streams": ("3rd_stream",), "statuses": (2,)}, [203, 208]),
    ({"tiers": ("hot", "warm"), "active_within_days": 7,
      "event_types": ("lesson_link_clicked",)}, [201, 202]),
    ({"tiers": ("hot", "warm"), "lesson_types": ("python",)}, [201]),
    ({"user_ids": (201, 202, 203), "booked": True}, [202, 203]),
])
def test_filters_combine_with_and(db, filters, expected):
    assert picked(db, **filters) == expected


@pytest.mark.parametrize("filters, expected", [
    # Everyone but EO has a users row first seen 09-01; EO's first event is 11-25 10:00.
    ({"first_seen_from": date(2026, 11, 25)}, [EO]),
    ({"first_seen_to": date(2026, 11, 24)}, [201, 202, 203, 204, 206, 207, 208]),
    ({"first_seen_from": date(2026, 9, 2), "first_seen_to": date(2026, 11, 24)}, []),
    # Bookings made in November: #1 202, #3 204 (cancelled), #4 206, #7 and #8 208.
    ({"booking_from": date(2026, 11, 1)}, [202, 204, 206, 208]),
    ({"booking_from": date(2026, 11, 1), "booked": True}, [202, 206, 208]),
    # October: #2 203 and #6 207 paid, #5 206 cancelled (206's active #4 is November's).
    ({"booking_from": date(2026, 10, 1), "booking_to": date(2026, 10, 31), "booked": True},
     [203, 207]),
    ({"booking_from": date(2026, 10, 1), "booking_to": date(2026, 10, 31), "booked": False},
     [206]),
    ({"booking_to": date(2026, 10, 31), "statuses": (2,)}, [203, 207]),
    # Dates, stream and status concern one booking: 204's November 2nd_stream one is cancelled.
    ({"booking_from": date(2026, 11, 1), "streams": ("2nd_stream",)}, [204, 208]),
    ({"booking_from": date(2026, 11, 1), "streams": ("2nd_stream",), "booked": True}, [208]),
    # The Leads page's scoring: 201's 20 events fall short of 21 for hot, so it is warm.
    ({"tiers": ("warm",), "lead_rules": LeadRules(hot_events=21)}, [201, 202]),
    ({"tiers": ("hot",), "lead_rules": LeadRules(window_days=3)}, []),  # 201: 2 days, 8 events
    # With payers, 203 and 207 (registrants who paid, no events in the window) are cold too.
    ({"tiers": ("cold",), "lead_payers": True}, [203, 204, 207]),
], ids=repr)
def test_first_seen_booking_dates_and_lead_scoring(db, filters, expected):
    assert picked(db, **filters) == expected


def test_booking_and_first_seen_dates_are_local_dates(db):
    # EO's first event, 11-25 10:00 UTC, is 11-26 00:00 at UTC+14; so is 207's booking #6
    # of 10-20 10:00 UTC there on 10-21.
    kiritimati = "Pacific/Kiritimati"
    assert picked(db, first_seen_from=date(2026, 11, 26)) == []
    assert picked(db, kiritimati, first_seen_from=date(2026, 11, 26)) == [EO]
    assert picked(db, booking_from=date(2026, 10, 21), booking_to=date(2026, 10, 21)) == []
    assert picked(db, kiritimati, booking_from=date(2026, 10, 21),
                  booking_to=date(2026, 10, 21)) == [207]


def test_the_tier_column_follows_the_lead_scoring(db):
    frame = export_audience(db, ANALYST, AudienceFilter(user_ids=(201, 203), lead_payers=True,
                                                        lead_rules=LeadRules(hot_events=21)),
                            now=NOW)
    assert rows(frame, "user_id", "tier") == [(201, "warm"), (203, "cold")]


def test_a_long_pasted_id_list(db):
    # 40 000 ids: more than SQLite binds in one statement.
    assert picked(db, user_ids=tuple(range(1, 40_001))) == [201, 202, 203, 204, 206, 207, 208]


def test_rows_carry_contacts_and_every_fact_without_filters(db):
    frame = export_audience(db, ANALYST, AudienceFilter(), now=NOW)
    assert list(frame.columns) == AUDIENCE_COLUMNS
    facts = rows(frame, "user_id", "username", "email", "tme_link", "lesson_types", "streams",
                 "statuses", "tier")
    assert facts == [
        (201, "hot_python", "hana@example.com", "https://t.me/hot_python", "python", None,
         None, "hot"),
        (202, "warm_js", "wes@example.com", "https://t.me/warm_js", "js", "3rd_stream",
         "pending", "warm"),
        (203, "paid_py", "pat@example.com", "https://t.me/paid_py", "python", "3rd_stream",
         "confirmed", None),
        (204, "nov_py", "nina@example.com", "https://t.me/nov_py", "python", "2nd_stream",
         "cancelled", "cold"),
        # natural order: 2nd before 10th; statuses in code order: cancelled, new
        (206, "booker", None, "https://t.me/booker", None, "2nd_stream, 10th_stream",
         "cancelled, new", None),
        (207, "both", "bo@example.com", "https://t.me/both", "js, python", "2nd_stream",
         "confirmed", None),
        (208, "split", None, "https://t.me/split", None, "2nd_stream, 3rd_stream",
         "pending, confirmed", None),
        (EO, None, None, None, None, None, None, None),
    ]


def test_facts_are_the_ones_that_matched(db):
    frame = export_audience(
        db, ANALYST, AudienceFilter(lesson_types=("python",), streams=("2nd_stream",)), now=NOW
    )
    # 207 also registered for js; 204 has a python registration and a 2nd_stream booking.
    assert rows(frame, "user_id", "lesson_types", "streams", "statuses") == [
        (204, "python", "2nd_stream", "cancelled"),
        (207, "python", "2nd_stream", "confirmed"),
    ]


def test_last_activity_in_the_reporting_timezone(db):
    frame = export_audience(db, ANALYST, AudienceFilter(user_ids=(202, 206)), tz=MOSCOW, now=NOW)
    msk = timezone(timedelta(hours=3))
    assert frame["last_activity"].iloc[0] == datetime(2026, 11, 22, 13, 10, tzinfo=msk)
    assert rows(frame, "user_id", "last_activity")[1] == (206, None)


def test_pages(db):
    flt = AudienceFilter()
    first = audience_rows(db, ANALYST, flt, now=NOW, limit=3)
    rest = audience_rows(db, ANALYST, flt, now=NOW, limit=3, offset=6)
    assert [int(i) for i in first["user_id"]] == [201, 202, 203]
    assert [int(i) for i in rest["user_id"]] == [208, EO]
    assert rows(rest, "user_id", "streams", "statuses") == [
        (208, "2nd_stream, 3rd_stream", "pending, confirmed"), (EO, None, None)]


def test_viewers_see_no_contact_details(db):
    frame = audience_rows(db, VIEWER, AudienceFilter(user_ids=(207,)), now=NOW)
    assert rows(frame, "user_id", "username", "first_name", "email", "tme_link") == [
        (207, None, "Bo", None, None)]


def test_viewers_cannot_export(db):
    with pytest.raises(PermissionDenied, match="may not export data"):
        export_audience(db, VIEWER, AudienceFilter(), now=NOW)


@pytest.mark.parametrize("filters, message", [
    ({"registered_from": date(2026, 11, 2), "registered_to": date(2026, 11, 1)}, "after"),
    ({"tiers": ("lukewarm",)}, "Unknown lead tier"),
    ({"active_within_days": 0}, "whole number"),
    ({"statuses": ("paid",)}, "booking status"),
    ({"user_ids": (-4,)}, "not a user id"),
    ({"booking_from": date(2026, 11, 2), "booking_to": date(2026, 11, 1)},
     "The booking start 2026-11-02 is after its end 2026-11-01."),
    ({"first_seen_from": date(2026, 11, 2), "first_seen_to": date(2026, 11, 1)},
     "The first-seen start 2026-11-02 is after its end 2026-11-01."),
])
def test_bad_filters_are_one_sentence(filters, message):
    with pytest.raises(ValidationError, match=message):
        AudienceFilter(**filters)


def test_lists_become_tuples_and_describe_names_the_set_filters():
    flt = AudienceFilter(lesson_types=["python", "js"], attended=False, user_ids=[1, 2, 3])
    assert flt.lesson_types == ("python", "js")
    assert flt.describe() == {
        "lesson_types": "python+js", "attended": "false", "user_ids": "3 ids"}
    flt = AudienceFilter(booking_from=date(2026, 11, 1), lead_rules=LeadRules(window_days=14),
                         lead_payers=True)
    assert flt.describe() == {
        "booking_from": "2026-11-01",
        "lead_rules": "window-14d-hot-20ev-5d-warm-10ev-3d-cool-5ev", "lead_payers": "true"}


@pytest.mark.parametrize("flt, query", [
    (AudienceFilter(booking_from=date(2026, 11, 1), booking_to=date(2026, 11, 30), booked=True),
     "booking_from=2026-11-01&booking_to=2026-11-30&booked=yes"),
    (AudienceFilter(first_seen_from=date(2026, 11, 1), first_seen_to=date(2026, 11, 30)),
     "first_seen_from=2026-11-01&first_seen_to=2026-11-30"),
    # Lead scoring: only what differs from the defaults, after the widgets' keys.
    (AudienceFilter(tiers=("hot",), lead_rules=LeadRules(window_days=14, cool_events=2),
                    lead_payers=True),
     "tier=hot&window=14&cool_events=2&payers=yes"),
])
def test_the_new_filters_in_a_link(flt, query):
    assert flt.to_query() == query
    assert AudienceFilter.from_query(query) == flt


@pytest.mark.parametrize("query, sentence", [
    ("booking_to=2026-11-31",
     "In the audience query, booking_to='2026-11-31' is not a date in YYYY-MM-DD form."),
    ("first_seen_from=yesterday",
     "In the audience query, first_seen_from='yesterday' is not a date in YYYY-MM-DD form."),
    ("window=two", "In the audience query, window='two' is not a whole number."),
    ("hot_days=-1", "In the audience query, hot_days='-1' is not a whole number."),
    ("window=0", "The lead window days must be a whole number from 1 to 36500, not 0."),
    ("payers=1", "In the audience query, payers='1' is not yes or no."),
])
def test_a_malformed_new_filter_in_a_link_is_one_sentence(query, sentence):
    with pytest.raises(ValidationError) as err:
        AudienceFilter.from_query(query)
    assert str(err.value) == sentence


# ---------------------------------------------------------------- summaries and raw tables

def both_paths(engine, flt: AudienceFilter, tz: str, now=NOW) -> tuple:
    """(count, export, second page of 3) from the summaries, then the same from the raw tables."""
    def run():
        return (audience_count(engine, flt, tz=tz, now=now),
                export_audience(engine, ANALYST, flt, tz=tz, now=now),
                audience_rows(engine, ANALYST, flt, tz=tz, now=now, limit=3, offset=3))
    ours = run()
    with raw_path():
        raw = run()
    return ours, raw


def assert_same(ours: tuple, raw: tuple) -> None:
    assert ours[0] == raw[0]
    assert_frame_equal(ours[1], raw[1])
    assert_frame_equal(ours[2], raw[2])
    assert to_csv_bytes(ours[1]) == to_csv_bytes(raw[1])


@pytest.mark.parametrize("tz", ["UTC", MOSCOW])
@pytest.mark.parametrize("filters", [
    {}, {"attended": True}, {"attended": False}, {"tiers": ("hot", "warm")},
    {"tiers": ("cold",)}, {"lesson_types": ("python",), "registered_from": date(2026, 10, 16)},
    {"streams": ("2nd_stream",), "statuses": (2,)}, {"booked": False, "active_within_days": 7},
    {"event_types": ("lesson_link_clicked",)}, {"user_ids": (201, 206, EO)},
    {"first_seen_from": date(2026, 11, 25)},
    {"booking_from": date(2026, 10, 28), "booking_to": date(2026, 11, 3), "booked": True},
    {"tiers": ("cold", "warm"), "lead_rules": LeadRules(hot_events=21), "lead_payers": True},
], ids=repr)
def test_the_summary_path_gives_what_the_raw_path_gives(engine, tz, filters):
    load_rows(engine, AUDIENCE_ROWS)
    refresh(engine, tz)
    ours, raw = both_paths(engine, AudienceFilter(**filters), tz)
    assert_same(ours, raw)


def test_the_summaries_hold_the_audience_as_of_the_last_refresh(engine):
    load_rows(engine, AUDIENCE_ROWS)
    refresh(engine, "UTC")
    late = 3_000_000_777  # a new events-only person
    with engine.begin() as conn:
        conn.execute(insert(events), [
            event(late, "start", "2026-11-25 11:00"),
            event(204, "lesson_link_clicked", "2026-11-25 11:30", PY),  # 204 attends python
        ])
        for table in BOT_TABLES:  # the bot deletes 203 and everything of theirs
            conn.execute(delete(table).where(table.c.user_id == 203))
    flt = AudienceFilter(attended=True)
    ours, raw = both_paths(engine, AudienceFilter(), "UTC")
    # Until the next refresh: who is known, clicks and last activity as the refresh saw them;
    # registrations and bookings are read live (203's are gone, so they match nothing).
    assert [int(i) for i in ours[1]["user_id"]] == AUDIENCE_KNOWN
    assert rows(ours[1], "user_id", "lesson_types", "last_activity")[2:4] == [
        (203, None, utc("2026-10-22 18:00")), (204, "python", utc("2026-11-24 15:00"))]
    assert picked(engine, attended=True) == [201, 207]
    assert [int(i) for i in raw[1]["user_id"]] == [201, 202, 204, 206, 207, 208, EO, late]
    with raw_path():
        assert picked(engine, attended=True) == [201, 204, 207]
    refresh(engine, "UTC")
    assert_same(*both_paths(engine, AudienceFilter(), "UTC"))
    assert_same(*both_paths(engine, flt, "UTC"))
    assert picked(engine, attended=True) == [201, 204, 207]
    assert rows(export_audience(engine, ANALYST, AudienceFilter(user_ids=(204, late)), now=NOW),
                "user_id", "last_activity") == [
        (204, utc("2026-11-25 11:30")), (late, utc("2026-11-25 11:00"))]


def test_a_clock_before_the_last_refresh_reads_last_activity_from_the_events(engine):
    load_rows(engine, AUDIENCE_ROWS)
    refresh(engine, "UTC")
    now = utc("2026-11-22 10:07")  # 201 and 202 have events after it
    ours, raw = both_paths(engine, AudienceFilter(user_ids=(201, 202, 204)), "UTC", now)
    assert_same(ours, raw)
    assert rows(ours[1], "user_id", "last_activity") == [
        (201, utc("2026-11-22 10:05")), (202, utc("2026-11-22 10:05")), (204, None)]
