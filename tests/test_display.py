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
    assert fmt.md("[x](https://e.example) *b* _i_ `c` a@b.c") == (
        r"\[x\]\(https\://e\.example\) \*b\* \_i\_ \`c\` a\@b\.c"
    )
    assert fmt.md("two\nlines") == "two lines"
    assert fmt.md("Анна Петрова") == "Анна Петрова"
