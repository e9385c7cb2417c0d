"""Lead scoring against the hand-counted dataset: candidates, window edges, tiers, order."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from hsl.errors import ValidationError
from hsl.filters import Period
from hsl.metrics.common import fetch
from hsl.metrics.leads import TIERS, LeadRules, lead_scores, leads, tier_counts
from hsl.reports import run_report
from tests.fixtures.analytics import (
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    LEAD_ROWS,
    MOSCOW,
    NOW,
    X,
    records,
)

COLUMNS = ["user_id", "username", "first_name", "events", "active_days", "last_activity", "tier"]


@pytest.fixture(scope="module")
def db(module_engine):
    return module_engine(LEAD_ROWS)


def period(tz: str = "UTC") -> Period:
    # The date range is irrelevant to leads: the window hangs off NOW.
    return Period(date(2026, 1, 1), date(2026, 1, 31), tz, NOW)


def iso(value) -> str | None:
    return None if value is None else value.isoformat()


def rows(frame) -> list[tuple]:
    """(user_id, events, active_days, last_activity ISO, tier) per row."""
    return [(r[0], r[3], r[4], iso(r[5]), r[6]) for r in records(frame)]


# Default rules, UTC. Ordered by tier, events DESC, last activity DESC (empty last), user_id.
DEFAULT_UTC = [
    (L1, 20, 5, "2026-11-23T10:03:00+00:00", "hot"),  # exactly 20 events on 5 days
    (L2, 20, 4, "2026-11-22T10:04:00+00:00", "warm"),  # 20 events but 4 days: not hot
    (L3, 10, 3, "2026-11-21T10:02:00+00:00", "warm"),  # exactly 10 on 3 days
    (L4, 10, 2, "2026-11-20T10:04:00+00:00", "cool"),  # 10 events but 2 days: not warm
    (L5, 5, 1, "2026-11-19T10:04:00+00:00", "cool"),  # exactly 5
    (L6, 4, 1, "2026-11-19T10:03:00+00:00", "cold"),  # one short of cool; 11-01 is outside
    (L10, 2, 1, "2026-11-20T22:00:00+00:00", "cold"),  # two events, one UTC date
    (L8, 1, 1, "2026-11-25T12:00:00+00:00", "cold"),  # now − 7 d excluded, now included
    (L11, 0, 0, "2026-11-01T10:00:00+00:00", "cold"),  # nothing in the window
    (L12, 0, 0, None, "cold"),  # no events at all: empty last activity, last
    (L9, 0, 0, None, "cold"),  # the same, a larger user_id
]


def test_default_leads_utc(db):
    frame = leads(db, period())
    assert list(frame.columns) == COLUMNS
    # L7 paid (confirmed = 2) so is not a candidate; X never registered.
    assert rows(frame) == DEFAULT_UTC


def test_names_are_the_latest_known(db):
    names = {r[0]: (r[1], r[2]) for r in records(leads(db, period()))}
    assert names[L1] == ("hot_one", "Hana")  # users row
    assert names[L2] == ("warm_two", "Wanda")  # no users row: the registration
    assert names[L3] == ("carol_now", "Carol")  # the users row beats the registration
    assert names[L5] == ("eve_new", "Eva")  # the newer of two registrations
    assert names[L6] == ("fedor_reg", "Fedor")  # users.username is NULL: the registration's


def test_one_row_per_user(db):
    # L1 and L5 registered twice; L6 and L7 have bookings.
    user_ids = leads(db, period(), include_paying=True)["user_id"]
    assert user_ids.is_unique
    assert len(user_ids) == 12 and X not in set(user_ids)


def test_include_paying_adds_the_payer(db):
    frame = leads(db, period(), include_paying=True)
    # L7: 12 events on 3 days → warm, between L2 (20 events) and L3 (10).
    assert rows(frame)[1:4] == [
        DEFAULT_UTC[1],
        (L7, 12, 3, "2026-11-21T10:03:00+00:00", "warm"),
        DEFAULT_UTC[2],
    ]
    assert len(frame) == len(DEFAULT_UTC) + 1


def test_active_days_are_local_dates(db):
    frame = leads(db, period(MOSCOW))
    by_user = {r[0]: r for r in rows(frame)}
    # L10's 20:00 and 22:00 UTC are 23:00 on 11-20 and 01:00 on 11-21 in Moscow.
    assert by_user[L10][2] == 2
    assert by_user[L10][3] == "2026-11-21T01:00:00+03:00"
    # Everyone else's events are at 10:xx UTC = 13:xx Moscow: same dates as in UTC.
    assert [r[:3] for r in rows(frame)] == [r[:3] if r[0] != L10 else (L10, 2, 2)
                                            for r in DEFAULT_UTC]


def test_wider_window_takes_the_edge_event(db):
    frame = leads(db, period(), window_days=8)
    cold = [r for r in rows(frame) if r[4] == "cold"]
    # The window is now (11-17 12:00, 11-25 12:00]: L8 has 11-18 12:00 and 11-25 12:00,
    # 2 events on 2 days, and ties L10 on events: the later last activity (L8) goes first.
    assert [r[:3] for r in cold[:3]] == [(L6, 4, 1), (L8, 2, 2), (L10, 2, 1)]


def test_one_day_window_orders_by_last_activity(db):
    frame = leads(db, period(), window_days=1)
    # Only L8 (11-25 12:00) has an event in (11-24 12:00, 11-25 12:00]; everyone is cold and
    # the rest order by last activity: L1 11-23, L2 11-22, L3 11-21, L10 11-20 22:00,
    # L4 11-20 10:04, L5 11-19 10:04, L6 11-19 10:03, L11 11-01, then the empty ones.
    assert frame["user_id"].tolist() == [L8, L1, L2, L3, L10, L4, L5, L6, L11, L12, L9]
    assert set(frame["tier"]) == {"cold"}


def test_thresholds_are_parameters(db):
    rules = LeadRules(hot_events=21, warm_days=4, cool_events=4)
    tiers = {r[0]: r[4] for r in rows(leads(db, period(), rules=rules))}
    # L1 (20 events) drops to warm (≥10 on ≥4 days: 5 days); L2 (20 on 4 days) stays warm;
    # L3 (3 days) drops to cool; L6 (4 events) rises to cool.
    assert (tiers[L1], tiers[L2], tiers[L3], tiers[L6]) == ("warm", "warm", "cool", "cool")


def test_rules_validation():
    with pytest.raises(ValidationError, match="window days"):
        LeadRules(window_days=0)
    with pytest.raises(ValidationError, match="window days"):
        LeadRules(window_days=36_501)
    with pytest.raises(ValidationError, match="hot events"):
        LeadRules(hot_events=-1)
    with pytest.raises(ValidationError, match="cool events"):
        LeadRules(cool_events=2.5)
    with pytest.raises(ValidationError, match="given twice"):
        leads(None, period(), window_days=3, rules=LeadRules(window_days=14))


def test_lead_scores_subquery(db):
    scores = lead_scores(period()).c
    frame = fetch(db, select(scores.user_id, scores.tier).order_by(scores.user_id))
    # The subquery the audience builder joins: one row per candidate, tier as text.
    assert dict(zip(frame["user_id"], frame["tier"], strict=True)) == {
        r[0]: r[4] for r in DEFAULT_UTC
    }


def test_tier_counts(db):
    frame = tier_counts(db, period())
    # hot L1; warm L2 L3; cool L4 L5; cold L6 L8 L9 L10 L11 L12.
    assert records(frame) == [("hot", 1), ("warm", 2), ("cool", 2), ("cold", 6)]
    assert tuple(frame["tier"]) == TIERS


def test_empty_database(empty_db):
    frame = leads(empty_db, period())
    assert frame.empty and list(frame.columns) == COLUMNS
    assert records(tier_counts(empty_db, period())) == [
        ("hot", 0), ("warm", 0), ("cool", 0), ("cold", 0),
    ]


def test_clock_before_all_events(db):
    early = Period(date(2026, 1, 1), date(2026, 1, 1), "UTC", NOW - timedelta(days=60))
    frame = leads(db, early)
    # Nothing has happened yet: every candidate cold, no last activity, ordered by user_id.
    assert frame["events"].sum() == 0 and frame["last_activity"].isna().all()
    assert frame["user_id"].tolist() == sorted(r[0] for r in DEFAULT_UTC)


def test_report_registered(db):
    frame = run_report(db, "leads", period(), window_days=8, include_paying=True)
    assert list(frame.columns) == COLUMNS
    assert L7 in set(frame["user_id"])
