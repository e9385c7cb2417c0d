"""Audience links read back (AudienceFilter.from_query / to_query) and who a campaign reaches.

The people (names: the users row first, else the newest registration, field by field):

| user | users row  | registrations (oldest → newest)  | bookings   | frozen as  |
|------|------------|----------------------------------|------------|------------|
| 401  | ann_u, Ann | python: ann_reg, Annie           | 10th twice | Ann, ann_u |
| 402  | -          | python: old_b, Bea; js: bee, Bee | 10th       | Bee, bee   |
| 403  | (none), Cy | js: cy_reg, Cyrus                | 3rd        | Cy, cy_reg |
| 404  | -          | - (one `start` event only)       | -          | -, -       |
| 405  | dan, Dan   | -                                | 10th       | Dan, dan   |
| 406  | eve, Eve   | -                                | 3rd        |            |
| 407  | fay, Fay   | -                                | 10th       |            |
| 408  | gus, Gus   | -                                | 3rd        |            |
| 409  | hal, Hal   | -                                | 3rd        |            |
| 410  | ivy, Ivy   | -                                | 3rd        |            |

Earlier deliveries (campaign: status, when — sent_at, else next_attempt_at), and the latest:

| user | c1               | c2                 | c3            | latest delivery          |
|------|------------------|--------------------|---------------|--------------------------|
| 405  | blocked 11-01    |                    |               | blocked (c1)             |
| 406  | blocked 11-01    | sent 11-10         |               | sent                     |
| 407  | sent 11-01       | blocked 11-10      |               | blocked (c2)             |
| 408  | blocked 11-01    | skipped (no time)  | unknown 11-15 | blocked (c1) (1)         |
| 409  | sent 11-05 10:00 | blocked 11-05 10:00|               | blocked (c2) (2)         |
| 410  | sent 11-03       |                    | blocked 11-02 | sent (3)                 |

(1) skipped and unknown rows say nothing about blocking; (2) the same time: the higher
campaign id wins; (3) the time beats the campaign id.
"""

from __future__ import annotations

from datetime import date

import pytest

from hsl.audience import QUERY_KEYS, AudienceFilter
from hsl.errors import ValidationError
from hsl.messaging.audience import check_spec, resolve, sample
from tests.fixtures.messaging import campaign_row, delivery, load_history
from tests.fixtures.people import NOW, booking, event, registration, rows, user

ROWS = {
    "users": [
        user(401, "ann_u", "Ann"),
        user(403, None, "Cy"),
        *(user(uid, name.lower(), name) for uid, name in
          ((405, "Dan"), (406, "Eve"), (407, "Fay"), (408, "Gus"), (409, "Hal"), (410, "Ivy"))),
    ],
    "free_lesson_registrations": [
        registration(401, "2026-10-01 10:00", "python", "2026-10-05", "a@example.com",
                     "ann_reg", "Annie"),
        registration(402, "2026-10-01 10:00", "python", "2026-10-05", "b@example.com",
                     "old_b", "Bea"),
        registration(402, "2026-10-20 10:00", "js", "2026-10-25", "b@example.com", "bee", "Bee"),
        registration(403, "2026-10-02 10:00", "js", "2026-10-05", "c@example.com",
                     "cy_reg", "Cyrus"),
    ],
    "bookings": [
        booking(1, 401, "10th_stream", 0, "2026-10-03 10:00"),
        booking(2, 401, "10th_stream", 2, "2026-10-04 10:00"),
        booking(3, 402, "10th_stream", 1, "2026-10-21 10:00"),
        booking(4, 405, "10th_stream", 0, "2026-10-21 10:00"),
        booking(5, 407, "10th_stream", 0, "2026-10-21 10:00"),
        *(booking(6 + i, uid, "3rd_stream", 0, "2026-10-22 10:00")
          for i, uid in enumerate((403, 406, 408, 409, 410))),
    ],
    "events": [event(404, "start", "2026-11-01 10:00")],
}


HISTORY = {
    "campaigns": [campaign_row(1, "2026-11-01 09:00"), campaign_row(2, "2026-11-05 09:00"),
                  campaign_row(3, "2026-11-15 09:00")],
    "campaign_recipients": [
        delivery(1, 405, "blocked", due="2026-11-01 10:00"),
        delivery(1, 406, "blocked", due="2026-11-01 10:00"),
        delivery(1, 407, "sent", sent="2026-11-01 10:00"),
        delivery(1, 408, "blocked", due="2026-11-01 10:00"),
        delivery(1, 409, "sent", sent="2026-11-05 10:00"),
        delivery(1, 410, "sent", sent="2026-11-03 10:00"),
        delivery(2, 406, "sent", sent="2026-11-10 10:00"),
        delivery(2, 407, "blocked", due="2026-11-10 10:00"),
        delivery(2, 408, "skipped"),
        delivery(2, 409, "blocked", due="2026-11-05 10:00"),
        delivery(3, 408, "unknown", due="2026-11-15 10:00"),
        delivery(3, 410, "blocked", due="2026-11-02 10:00"),
    ],
}


@pytest.fixture(scope="module")
def db(module_engine):
    engine = module_engine(ROWS)
    load_history(engine, HISTORY)
    return engine


def who(engine, kind: str, spec: str):
    found = resolve(engine, kind, spec, tz="UTC", now=NOW)
    return found, rows(found.recipients, "user_id", "first_name", "username")


# ---------------------------------------------------------------- query strings


def test_from_query_reads_every_key_the_audience_page_writes():
    query = ("lesson_type=python&lesson_type=js%20basics&registered_from=2026-10-01"
             "&registered_to=2026-10-31&attended=no&stream=3rd_stream&stream=10th_stream"
             "&status=new&status=cancelled&booked=yes&tier=hot&tier=warm&active_days=7"
             "&event_type=page_view&ids=5,3,5")
    assert AudienceFilter.from_query(query) == AudienceFilter(
        lesson_types=("python", "js basics"), registered_from=date(2026, 10, 1),
        registered_to=date(2026, 10, 31), attended=False,
        streams=("3rd_stream", "10th_stream"), statuses=(0, -1), booked=True,
        tiers=("hot", "warm"), active_within_days=7, event_types=("page_view",),
        user_ids=(5, 3),
    )


def test_from_query_ignores_the_date_range_the_page_number_and_unknown_keys():
    query = "?start=2026-11-01&end=2026-11-30&page=3&q=anna&user=7&tier=cold"
    assert AudienceFilter.from_query(query) == AudienceFilter(tiers=("cold",))
    assert AudienceFilter.from_query("") == AudienceFilter()


@pytest.mark.parametrize("query, expected", [
    ("attended=&booked=", AudienceFilter()),  # the page's "Any"
    ("active_days=0", AudienceFilter()),  # 0 = any time
    ("active_days=3650", AudienceFilter(active_within_days=3650)),
    ("registered_from=2026-10-01&registered_from=2026-10-05",  # the last one counts
     AudienceFilter(registered_from=date(2026, 10, 5))),
    ("ids=", AudienceFilter(user_ids=())),  # an empty list matches nobody
    ("ids=7%0A8%209", AudienceFilter(user_ids=(7, 8, 9))),
    ("stream=a+b", AudienceFilter(streams=("a b",))),
])
def test_from_query_edge_values(query, expected):
    assert AudienceFilter.from_query(query) == expected


@pytest.mark.parametrize("flt", [
    AudienceFilter(),
    AudienceFilter(lesson_types=("python",), registered_from=date(2026, 1, 2)),
    AudienceFilter(registered_to=date(2026, 12, 31), attended=True, booked=False),
    AudienceFilter(streams=("10th stream", "a&b=c", "Поток #1"), statuses=(2, 1)),
    AudienceFilter(tiers=("cool",), active_within_days=30, event_types=("x/y?z",)),
    AudienceFilter(user_ids=(4_000_000_000, 1)),
    AudienceFilter(user_ids=()),
])
def test_to_query_round_trips(flt):
    assert AudienceFilter.from_query(flt.to_query()) == flt


def test_to_query_writes_the_page_spelling_in_widget_order():
    flt = AudienceFilter(user_ids=(3, 1), event_types=("page view",), statuses=(-1,),
                         attended=True, lesson_types=("python",), active_within_days=7)
    assert flt.to_query() == ("lesson_type=python&attended=yes&status=cancelled"
                              "&active_days=7&event_type=page%20view&ids=3,1")
    assert list(QUERY_KEYS) == ["lesson_type", "registered_from", "registered_to",
                                       "attended", "stream", "status", "booking_from",
                                       "booking_to", "booked", "first_seen_from",
                                       "first_seen_to", "tier", "active_days", "event_type",
                                       "ids"]


@pytest.mark.parametrize("query, sentence", [
    ("registered_from=2026-13-01",
     "In the audience query, registered_from='2026-13-01' is not a date in YYYY-MM-DD form."),
    ("registered_to=20261101",
     "In the audience query, registered_to='20261101' is not a date in YYYY-MM-DD form."),
    ("attended=maybe", "In the audience query, attended='maybe' is not yes or no."),
    ("booked=1", "In the audience query, booked='1' is not yes or no."),
    ("status=paid",
     "In the audience query, status='paid' is not one of cancelled, new, pending, confirmed."),
    ("tier=lukewarm",
     "In the audience query, tier='lukewarm' is not one of hot, warm, cool, cold."),
    ("active_days=-1", "In the audience query, active_days='-1' is not a whole number from 0 to "
                       "3650 (0 means any time)."),
    ("active_days=3651", "In the audience query, active_days='3651' is not a whole number from 0 "
                         "to 3650 (0 means any time)."),
    ("ids=1,abc", "In the audience query, ids holds 'abc', which is not a user id."),
    ("ids=0", "In the audience query, ids holds '0', which is not a user id."),
    ("stream=", "In the audience query, stream has an empty value."),
    ("event_type=a%00b", "In the audience query, event_type holds a NUL character."),
    ("lesson_type=%FF", "The audience query holds percent-escapes that are not UTF-8 text."),
    ("registered_from=2026-11-02&registered_to=2026-11-01",
     "The registration start 2026-11-02 is after its end 2026-11-01."),
])
def test_from_query_refuses_a_malformed_value_naming_its_key(query, sentence):
    with pytest.raises(ValidationError) as err:
        AudienceFilter.from_query(query)
    assert str(err.value) == sentence


def test_to_query_refuses_what_a_link_cannot_spell():
    with pytest.raises(ValidationError, match="status 7 has no word"):
        AudienceFilter(statuses=(7,)).to_query()
    with pytest.raises(ValidationError, match="at most 3650 active days"):
        AudienceFilter(active_within_days=4000).to_query()


# ---------------------------------------------------------------- resolve


def test_a_stream_reaches_each_booker_once_with_frozen_names_and_blocked_people_listed(db):
    found, people = who(db, "stream", "10th_stream")
    assert people == [(401, "Ann", "ann_u"), (402, "Bee", "bee"), (405, "Dan", "dan"),
                      (407, "Fay", "fay")]
    assert found.blocked == [405, 407]
    assert found.blocked_in == {405: 1, 407: 2}
    assert (found.malformed, found.unknown, found.sendable) == ([], [], 2)


def test_the_latest_final_delivery_decides_who_is_blocked(db):
    found, people = who(db, "stream", "3rd_stream")
    # 403 takes the users row's first name and the registration's username.
    assert people == [(403, "Cy", "cy_reg"), (406, "Eve", "eve"), (408, "Gus", "gus"),
                      (409, "Hal", "hal"), (410, "Ivy", "ivy")]
    assert found.blocked_in == {408: 1, 409: 2}
    assert found.blocked == [408, 409]


def test_an_audience_query_uses_the_audience_builder(db):
    _, people = who(db, "audience", "lesson_type=python&start=2026-01-01&page=3")
    assert people == [(401, "Ann", "ann_u"), (402, "Bee", "bee")]
    _, people = who(db, "audience", "event_type=start")
    assert people == [(404, None, None)]


def test_ids_in_an_audience_query_that_nobody_knows_are_listed(db):
    found, people = who(db, "audience", "ids=403,999,401&lesson_type=python")
    assert people == [(401, "Ann", "ann_u")]
    assert (found.unknown, found.malformed) == (["999"], [])


def test_pasted_ids_leave_out_malformed_and_unknown_tokens(db):
    found, people = who(db, "ids", "410 402 abc, 999 402;404\n@x -5 405")
    assert people == [(402, "Bee", "bee"), (404, None, None), (405, "Dan", "dan"),
                      (410, "Ivy", "ivy")]
    assert found.malformed == ["abc", "@x", "-5"]
    assert found.unknown == ["999"]
    assert found.blocked == [405]


def test_a_test_chat_is_never_skipped_and_may_be_unknown(db):
    found, people = who(db, "test", "405")
    assert people == [(405, "Dan", "dan")]
    assert found.blocked == []
    _, people = who(db, "test", " 777 ")
    assert people == [(777, None, None)]


def test_nobody_matching_is_an_empty_list_not_an_error(db):
    found, people = who(db, "ids", "999 abc")
    assert people == [] and found.sendable == 0
    assert list(found.recipients.columns) == ["user_id", "first_name", "username"]


def test_sample_takes_the_first_people_who_are_not_blocked(db):
    frame = sample(db, "stream", "3rd_stream", tz="UTC", now=NOW, n=3)
    assert rows(frame, "user_id", "first_name", "username") == [
        (403, "Cy", "cy_reg"), (406, "Eve", "eve"), (410, "Ivy", "ivy")]


@pytest.mark.parametrize("kind, spec, sentence", [
    ("stream", "nope", "'nope' is not a known course stream."),
    ("stream", "", "'' is not a known course stream."),
    ("ids", " \n ", "Paste at least one user id."),
    ("test", "abc", "'abc' is not one Telegram user id."),
    ("test", "1 2", "'1 2' is not one Telegram user id."),
    ("audience", "tier=x", "In the audience query, tier='x' is not one of hot, warm, cool, cold."),
    ("everyone", "", "'everyone' is not an audience kind; use one of audience, stream, ids, "
                     "test, digest, alert."),
])
def test_an_unusable_spec_is_one_sentence(db, kind, spec, sentence):
    with pytest.raises(ValidationError) as err:
        resolve(db, kind, spec, tz="UTC", now=NOW)
    assert str(err.value) == sentence


def test_check_spec_stores_an_audience_query_in_the_page_spelling(db):
    assert check_spec(db, "audience", "?page=2&tier=hot&attended=") == "tier=hot"
    assert check_spec(db, "ids", "1 x") == "1 x"
    assert check_spec(db, "test", " 42") == "42"
