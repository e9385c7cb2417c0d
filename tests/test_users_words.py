"""Users search with several words (issue 11): each word matches some field, in any order.

Hand-counted people (names from the users row, emails from a registration):

| id  | username | first name | last name        | email             |
|-----|----------|------------|------------------|-------------------|
| 101 | yulia_i  | Юлия       | Иванова          | yulia@example.com |
| 102 | juliana  | Юлиана     | Иванова-Петрова  |                   |
| 103 | ivan_yu  | Иван       | Юлин             |                   |
| 104 | am       | Anna Maria | Lopez            |                   |
| 105 | ma       | Maria      | Anna             |                   |
| 106 | aj       | Ajohn      | Blacksmith       |                   |
| 107 | jsmith   | John       | Smith            | j.smith@mail.org  |
| 108 | yolka    | Ёлка       | Smith            |                   |
| 109 | johnny   | Johnny     | Smithers         |                   |

A person's rank is their worst word's (exact 1, prefix 2, substring 3), or the rank of the
words read as one phrase against a field or the full name, when that is better.
The database is refreshed, so searches read summary_users; one test checks the raw path
gives the same frames.
"""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from hsl.metrics.users import MAX_WORDS, count_users, search_users, search_words
from hsl.summaries import current, raw_path
from hsl.summaries.refresh import refresh
from tests.fixtures.foundation import run_hsl
from tests.fixtures.people import NOW, event, registration, user

ROWS = {
    "users": [
        user(101, "yulia_i", "Юлия", "Иванова"),
        user(102, "juliana", "Юлиана", "Иванова-Петрова"),
        user(103, "ivan_yu", "Иван", "Юлин"),
        user(104, "am", "Anna Maria", "Lopez"),
        user(105, "ma", "Maria", "Anna"),
        user(106, "aj", "Ajohn", "Blacksmith"),
        user(107, "jsmith", "John", "Smith"),
        user(108, "yolka", "Ёлка", "Smith"),
        user(109, "johnny", "Johnny", "Smithers"),
    ],
    "free_lesson_registrations": [
        registration(101, "2026-10-01 10:00", "python", "2026-10-05", "yulia@example.com"),
        registration(107, "2026-10-02 10:00", "python", "2026-10-05", "j.smith@mail.org"),
    ],
    "events": [event(101, "start", "2026-10-01 09:00"), event(109, "start", "2026-10-03 09:00")],
}
TZ = "UTC"


@pytest.fixture(scope="module")
def db(module_engine):
    engine = module_engine(ROWS)
    refresh(engine, TZ, clock=lambda: NOW)
    assert current(engine, TZ) is not None  # searches read summary_users
    return engine


def ids(db, query, **kw) -> list[int]:
    return [int(i) for i in search_users(db, query, **kw)["user_id"]]


@pytest.mark.parametrize("query", [
    "Юлия Иванова", "Иванова Юлия", "ЮЛИЯ иванова", "  Юлия    Иванова  ",
    "\tЮлия\u00a0\u00a0Иванова\n", "@yulia_i Иванова",
])
def test_a_full_name_in_cyrillic_in_any_order_case_and_spacing(db, query):
    assert ids(db, query) == [101]
    assert count_users(db, query) == 1


def test_each_word_must_match_some_field(db):
    assert ids(db, "Юлия Смирнова") == []  # Смирнова matches nobody
    assert ids(db, "Юли Иванова") == [101, 102]  # both prefix matches: by user_id
    assert ids(db, "иван юлин") == [103]  # first and last name exact


def test_ranking_exact_then_prefix_then_substring(db):
    # 107 exact (John, Smith); 109 prefixes (Johnny, Smithers); 106 substrings (Ajohn,
    # Blacksmith): 106 has the lowest id yet comes last. 108 has no "john".
    assert ids(db, "smith john") == [107, 109, 106]
    assert count_users(db, "smith john") == 3


def test_the_words_as_one_phrase_rank_a_two_word_first_name(db):
    # 104's first name is "Anna Maria" exactly; 105 is Maria Anna, both words exact.
    assert ids(db, "anna maria") == [104, 105]
    # Reversed: 105 still exact; for 104 "maria" is only inside "Anna Maria".
    assert ids(db, "maria anna") == [105, 104]


def test_mixed_scripts(db):
    assert ids(db, "ЁЛКА smith") == [108]  # ё folds like Ё; Latin and Cyrillic words
    assert ids(db, "Smith ёлка") == [108]
    assert ids(db, "yolka SMITH") == [108]  # username and last name


def test_viewers_words_match_names_and_ids_only(db):
    assert ids(db, "yulia Иванова") == [101]  # username / email prefix
    assert ids(db, "yulia Иванова", contacts=False) == []
    assert ids(db, "Юлия Иванова", contacts=False) == [101]


def test_a_digits_word_matches_the_exact_id(db):
    assert ids(db, "101 Иванова") == [101]
    assert ids(db, "Иванова 10") == []  # no partial ids


def test_wildcards_stay_literal_among_several_words(db):
    assert ids(db, "% smith") == []
    assert ids(db, "j_smith smith") == []  # a wildcard "_" would match "j.smith@…"


def test_words_past_the_limit_are_ignored():
    assert search_words("  @anna   @smith ") == ["anna", "smith"]
    assert search_words("a " * (MAX_WORDS + 5)) == ["a"] * MAX_WORDS
    assert search_words(" @ ") == []


def test_the_raw_path_gives_the_same_frames(db):
    queries = ["Юлия Иванова", "smith john", "maria anna", "101 Иванова", "yulia Иванова"]
    ours = {q: search_users(db, q, TZ) for q in queries}
    with raw_path():
        raw = {q: search_users(db, q, TZ) for q in queries}
    for q in queries:
        assert_frame_equal(ours[q], raw[q], obj=q)
    assert not pd.concat(ours.values()).empty


def test_the_command_line_finds_a_full_name(db):
    url = db.url.render_as_string(hide_password=False)
    result = run_hsl("report", "users", "--db", url, "--search", "  иванова   ЮЛИЯ ", "--tz", TZ)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "user_id,username,first_name,last_name,email,first_seen",
        "101,yulia_i,Юлия,Иванова,yulia@example.com,2026-09-01T08:00:00+00:00",
    ]
