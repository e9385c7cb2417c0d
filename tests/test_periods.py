"""Date presets and comparisons (hsl.filters): what each preset means on a given day in the
reporting timezone, across month and year ends and daylight-saving changes, and which
period each comparison picks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hsl.errors import ValidationError
from hsl.filters import PRESETS, Period, local_today, preset_dates

D = date


@pytest.mark.parametrize(("today", "expected"), [
    # A day in the middle of a quarter.
    (D(2026, 11, 18), {
        "today": (D(2026, 11, 18), D(2026, 11, 18)),
        "yesterday": (D(2026, 11, 17), D(2026, 11, 17)),
        "last-7-days": (D(2026, 11, 12), D(2026, 11, 18)),
        "last-30-days": (D(2026, 10, 20), D(2026, 11, 18)),
        "last-90-days": (D(2026, 8, 21), D(2026, 11, 18)),
        "this-month": (D(2026, 11, 1), D(2026, 11, 18)),
        "last-month": (D(2026, 10, 1), D(2026, 10, 31)),
        "this-quarter": (D(2026, 10, 1), D(2026, 11, 18)),
        "last-quarter": (D(2026, 7, 1), D(2026, 9, 30)),
        "year-to-date": (D(2026, 1, 1), D(2026, 11, 18)),
        "last-year": (D(2025, 1, 1), D(2025, 12, 31)),
    }),
    # New Year's Day: yesterday, last month and last quarter are all last year.
    (D(2027, 1, 1), {
        "today": (D(2027, 1, 1), D(2027, 1, 1)),
        "yesterday": (D(2026, 12, 31), D(2026, 12, 31)),
        "last-7-days": (D(2026, 12, 26), D(2027, 1, 1)),
        "last-30-days": (D(2026, 12, 3), D(2027, 1, 1)),
        "last-90-days": (D(2026, 10, 4), D(2027, 1, 1)),
        "this-month": (D(2027, 1, 1), D(2027, 1, 1)),
        "last-month": (D(2026, 12, 1), D(2026, 12, 31)),
        "this-quarter": (D(2027, 1, 1), D(2027, 1, 1)),
        "last-quarter": (D(2026, 10, 1), D(2026, 12, 31)),
        "year-to-date": (D(2027, 1, 1), D(2027, 1, 1)),
        "last-year": (D(2026, 1, 1), D(2026, 12, 31)),
    }),
    # 1 March of a leap year: last month is February's 29 days, the quarter began in January.
    (D(2028, 3, 1), {
        "today": (D(2028, 3, 1), D(2028, 3, 1)),
        "yesterday": (D(2028, 2, 29), D(2028, 2, 29)),
        "last-7-days": (D(2028, 2, 24), D(2028, 3, 1)),
        "last-30-days": (D(2028, 2, 1), D(2028, 3, 1)),
        "last-90-days": (D(2027, 12, 3), D(2028, 3, 1)),
        "this-month": (D(2028, 3, 1), D(2028, 3, 1)),
        "last-month": (D(2028, 2, 1), D(2028, 2, 29)),
        "this-quarter": (D(2028, 1, 1), D(2028, 3, 1)),
        "last-quarter": (D(2027, 10, 1), D(2027, 12, 31)),
        "year-to-date": (D(2028, 1, 1), D(2028, 3, 1)),
        "last-year": (D(2027, 1, 1), D(2027, 12, 31)),
    }),
], ids=["mid-quarter", "new-year", "leap-march"])
def test_each_preset_on_a_given_day(today, expected):
    assert list(expected) == list(PRESETS)  # every preset, in the order the sidebar lists them
    assert {name: preset_dates(name, today) for name in PRESETS} == expected


def test_the_first_day_of_a_quarter_and_the_last_day_of_a_month():
    assert preset_dates("this-quarter", D(2026, 7, 1)) == (D(2026, 7, 1), D(2026, 7, 1))
    assert preset_dates("last-quarter", D(2026, 7, 1)) == (D(2026, 4, 1), D(2026, 6, 30))
    assert preset_dates("last-month", D(2026, 3, 31)) == (D(2026, 2, 1), D(2026, 2, 28))
    assert preset_dates("this-month", D(2026, 3, 31)) == (D(2026, 3, 1), D(2026, 3, 31))


def test_an_unknown_preset_is_one_sentence():
    with pytest.raises(ValidationError, match="“next-week” is not a date preset; the presets "
                                              "are today, yesterday, last-7-days"):
        preset_dates("next-week", D(2026, 11, 18))


@pytest.mark.parametrize(("now", "tz", "today"), [
    # 21:30 UTC on 31 Dec is already 1 Jan in Moscow (UTC+3 all year, no DST).
    (datetime(2026, 12, 31, 21, 30, tzinfo=UTC), "Europe/Moscow", D(2027, 1, 1)),
    (datetime(2026, 12, 31, 20, 59, tzinfo=UTC), "Europe/Moscow", D(2026, 12, 31)),
    # New York: 04:30 UTC on 1 Jan is still 31 Dec (EST, UTC−5).
    (datetime(2027, 1, 1, 4, 30, tzinfo=UTC), "America/New_York", D(2026, 12, 31)),
    # Summer time (EDT, UTC−4): 03:30 UTC on 1 Jul is 23:30 on 30 Jun.
    (datetime(2026, 7, 1, 3, 30, tzinfo=UTC), "America/New_York", D(2026, 6, 30)),
    (datetime(2026, 7, 1, 4, 30, tzinfo=UTC), "America/New_York", D(2026, 7, 1)),
])
def test_today_is_the_date_in_the_reporting_timezone(now, tz, today):
    assert local_today(tz, now) == today
    assert Period.from_preset("today", tz, now).start == today


def test_presets_over_the_daylight_saving_changes_keep_whole_local_days():
    # Clocks go forward on Sunday 8 March 2026 in New York (a 23-hour day) and back on
    # Sunday 1 November 2026 (a 25-hour day). "Yesterday" on the Monday is that Sunday.
    spring = Period.from_preset("yesterday", "America/New_York",
                                datetime(2026, 3, 9, 15, 0, tzinfo=UTC))
    assert (spring.start, spring.end) == (D(2026, 3, 8), D(2026, 3, 8))
    assert spring.utc_start == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # midnight EST
    assert spring.utc_end - spring.utc_start == timedelta(hours=23)  # to midnight EDT
    autumn = Period.from_preset("yesterday", "America/New_York",
                                datetime(2026, 11, 2, 15, 0, tzinfo=UTC))
    assert autumn.utc_end - autumn.utc_start == timedelta(hours=25)
    # Last month seen from 5 April: all of March, from midnight EST to midnight EDT.
    march = Period.from_preset("last-month", "America/New_York",
                               datetime(2026, 4, 5, 12, 0, tzinfo=UTC))
    assert (march.start, march.end) == (D(2026, 3, 1), D(2026, 3, 31))
    assert (march.utc_start, march.utc_end) == (datetime(2026, 3, 1, 5, 0, tzinfo=UTC),
                                                datetime(2026, 4, 1, 4, 0, tzinfo=UTC))
    # Moscow has no DST: every day is 24 hours, 21:00 UTC the day before.
    moscow = Period.from_preset("last-month", "Europe/Moscow",
                                datetime(2026, 4, 5, 12, 0, tzinfo=UTC))
    assert moscow.utc_start == datetime(2026, 2, 28, 21, 0, tzinfo=UTC)
    assert moscow.utc_end - moscow.utc_start == timedelta(days=31)


def _compared(start: date, end: date, kind: str) -> tuple[date, date]:
    earlier = Period(start, end).compared(kind)
    return earlier.start, earlier.end


@pytest.mark.parametrize(("start", "end", "kind", "expected"), [
    # The period before: the same number of days, ending the day before.
    (D(2026, 11, 1), D(2026, 11, 30), "previous", (D(2026, 10, 2), D(2026, 10, 31))),
    (D(2026, 1, 1), D(2026, 1, 1), "previous", (D(2025, 12, 31), D(2025, 12, 31))),
    # A month earlier: a whole month against the whole month before, whatever its length.
    (D(2026, 11, 1), D(2026, 11, 30), "month", (D(2026, 10, 1), D(2026, 10, 31))),
    (D(2026, 3, 1), D(2026, 3, 31), "month", (D(2026, 2, 1), D(2026, 2, 28))),
    (D(2026, 1, 1), D(2026, 1, 31), "month", (D(2025, 12, 1), D(2025, 12, 31))),
    # ... the same dates otherwise, a day past a shorter month's end clipped to it.
    (D(2026, 3, 10), D(2026, 3, 20), "month", (D(2026, 2, 10), D(2026, 2, 20))),
    (D(2026, 3, 29), D(2026, 3, 30), "month", (D(2026, 2, 28), D(2026, 2, 28))),
    (D(2026, 12, 1), D(2026, 12, 3), "month", (D(2026, 11, 1), D(2026, 11, 3))),
    # A year earlier: 29 February becomes 28 February; a whole quarter a whole quarter.
    (D(2028, 2, 29), D(2028, 2, 29), "year", (D(2027, 2, 28), D(2027, 2, 28))),
    (D(2027, 2, 1), D(2027, 2, 28), "year", (D(2026, 2, 1), D(2026, 2, 28))),
    (D(2029, 2, 1), D(2029, 2, 28), "year", (D(2028, 2, 1), D(2028, 2, 29))),
    (D(2026, 7, 1), D(2026, 9, 30), "year", (D(2025, 7, 1), D(2025, 9, 30))),
])
def test_each_comparison_picks_the_earlier_dates(start, end, kind, expected):
    assert _compared(start, end, kind) == expected


def test_comparisons_read_with_correct_plurals():
    one_day, thirty = Period(D(2026, 3, 20), D(2026, 3, 20)), Period(D(2026, 11, 1),
                                                                   D(2026, 11, 30))
    assert one_day.comparison_words("previous") == "the day before"
    assert thirty.comparison_words("previous") == "the 30 days before"
    assert one_day.comparison_words("month") == "the same day a month earlier"
    assert thirty.comparison_words("year") == "the same dates a year earlier"
    with pytest.raises(ValidationError, match="“week” is not a comparison"):
        thirty.compared("week")
