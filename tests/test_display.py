"""How tables and data words read on screen: empty cells for missing values, acronyms kept."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from hsl_ui import format as fmt


@pytest.mark.parametrize(("word", "shown"), [
    ("python_basics", "Python basics"),
    ("qa_testing", "QA testing"),
    ("faq_opened", "FAQ opened"),
    ("csv_export", "CSV export"),
    ("user_id", "User ID"),
    ("utm_source_url", "UTM source URL"),
    ("quality_assurance", "Quality assurance"),  # only whole words are acronyms
    ("10th_stream", "10th stream"),
    ("", "(none)"),
])
def test_human_keeps_known_acronyms_upper_case(word, shown):
    assert fmt.human(word) == shown


def test_unknown_columns_are_labelled_with_their_acronyms():
    assert fmt.label("qa_score") == "QA score"


def _tables_app() -> None:
    from datetime import date, datetime

    import pandas as pd

    from hsl.auth import Actor
    from hsl_ui import people, tables

    frame = pd.DataFrame({
        "user_id": [1, 2], "first_name": ["Ann", None], "events": [3.0, None],
        "lesson_date": [date(2026, 3, 1), None],
        "last_activity": [pd.Timestamp(datetime(2026, 3, 1, 10, 0)), pd.NaT],
    })
    tables.show(frame)
    people.table(frame.assign(username=["ann", None], tme_link=["https://t.me/ann", None]),
                 Actor("ada", "analyst"))


def test_missing_values_show_as_empty_cells_in_every_table():
    at = AppTest.from_function(_tables_app).run()
    assert not at.exception
    assert len(at.dataframe) == 2  # tables.show and the people table
    for table in at.dataframe:
        # What the browser writes in a cell without a value: nothing. Unset, Streamlit's
        # default, it writes a grey "None".
        assert table.proto.HasField("placeholder") and table.proto.placeholder == ""
        second = table.value.iloc[1]
        for column in ("First name", "Events", "Lesson date", "Last activity"):
            assert _missing(second[column])  # the data stays missing: only the cell is blank
    assert _missing(at.dataframe[1].value["Telegram"].iloc[1])


def _missing(value: object) -> bool:
    return value is None or value != value  # None, NaN and NaT


def test_md_escapes_every_markdown_special_character_from_data():
    # Escaped, with a word joiner (J) where GFM would autolink the escaped text by itself.
    joined = fmt.md("[x](https://e.example) *b* _i_ `c` a@b.c www.w.org").replace("\u2060", "J")
    assert joined == r"\[x\]\(https\:J//e\.example\) \*b\* \_i\_ \`c\` a\@Jb\.c wwwJ\.w\.org"
    assert fmt.md("two\nlines") == "two lines"
    assert fmt.md("Анна Петрова") == "Анна Петрова"
    assert fmt.md("Stream: 3rd_stream") == r"Stream\: 3rd\_stream"  # no joiner needed


def test_md_isolates_right_to_left_text_and_drops_reordering_controls():
    assert fmt.md("مرحبا 5") == "\u2068مرحبا 5\u2069"  # cannot pull the app's numbers along
    assert fmt.md("\u202eattended 1 of 0\u202c") == "attended 1 of 0"
    assert fmt.md("a\x00b\x07c\u200fd") == "abcd"
    assert fmt.md("A" * 500) == "A" * 199 + "…"
    assert fmt.plain("x" * 50, 10) == "x" * 9 + "…"


def test_a_frames_fingerprint_follows_its_contents_not_its_objects():
    """The cache key standing for a frame (charts, tables): equal for a frame fresh from the
    database and the same frame out of the data cache (its pickle can differ: one date object
    twice, or two equal ones), different when anything shown changes."""
    import pickle
    from datetime import UTC, date, datetime

    import pandas as pd

    from hsl_ui.state import fingerprint

    first = date(2026, 3, 1)
    fresh = pd.DataFrame({
        "step": ["registered", "registered", "paid"], "users": [3, 3, 1],
        "rate": [1.0, 0.5, float("nan")], "day": [first, first, date(2026, 3, 2)],
        "at": pd.to_datetime([datetime(2026, 3, 1, 9, tzinfo=UTC), None,
                              datetime(2026, 3, 2, 9, tzinfo=UTC)]),
    })
    separate = fresh.assign(day=[date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 2)])
    cached = pickle.loads(pickle.dumps(fresh))
    assert pickle.dumps(fresh) != pickle.dumps(separate)  # why the pickle would not do
    assert fingerprint(fresh) == fingerprint(cached) == fingerprint(separate)
    changed = [
        fresh.assign(users=[3, 3, 2]), fresh.assign(rate=[1.0, 0.5, 0.0]),
        fresh.rename(columns={"users": "people"}), fresh.astype({"users": "float64"}),
        fresh.iloc[::-1], fresh.set_index("step"), fresh[["users", "step", "rate", "day", "at"]],
        fresh.assign(at=fresh["at"].dt.tz_convert("Europe/Moscow")),
        fresh.assign(day=[first, None, date(2026, 3, 2)]),
    ]
    prints = {fingerprint(frame) for frame in changed}
    assert len(prints) == len(changed) and fingerprint(fresh) not in prints
