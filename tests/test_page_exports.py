"""Page downloads: labels and words as on screen, local times to the second, rates to 0.1 %,
the Excel file beside each CSV (read back with openpyxl), and the columns an analyst joins on.

The small dataset below is counted by hand. Times are UTC; Moscow is UTC+3.

| user           | rows                                                                     |
|----------------|--------------------------------------------------------------------------|
| 1 anna         | Анна Иванова; python_basics for 11-10 registered 11-02 09:00:05.7;       |
|                | web_design for 11-12 registered 11-03 12:00 (newest: anna2@…);           |
|                | 10th_stream new 11-05 10:00, confirmed 11-06 11:30:30 (newest there)     |
| 2 `=cmd`       | Bob, no last name, no registration; 10th_stream cancelled 11-07 10:00    |
| 3 (no name)    | Cara -Smith; python_basics for 11-10 registered 11-04 08:00;             |
|                | 2nd_stream pending 11-08 10:00                                           |
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date, datetime

import openpyxl
import pandas as pd
import pytest

from hsl.audience import AUDIENCE_DETAIL_COLUMNS, AudienceFilter, export_audience
from hsl.auth import Actor
from hsl.export_xlsx import MAX_CELL_CHARS, to_xlsx_bytes
from hsl.filters import Period
from hsl.metrics.leads import lead_details
from hsl.metrics.streams import roster_details
from hsl_ui import downloads
from tests.conftest import loaded_engine, url_of
from tests.fixtures import utc
from tests.hostile import CORPUS
from tests.pages_support import (  # noqa: F401 - clean_env and navigation_as_served are autouse
    clean_env,
    navigation_as_served,
    open_page,
    spy_downloads,
)

MOSCOW = "Europe/Moscow"
ANALYST = Actor("Ann Alyst", "analyst")


def _user(user_id: int, username: str | None, first: str, last: str | None) -> dict:
    return {"user_id": user_id, "username": username, "first_name": first, "last_name": last,
            "language_code": "ru", "first_seen_at": utc("2026-11-01 10:00"),
            "updated_at": utc("2026-11-01 10:00")}


def _reg(user_id: int, lesson: str, day: date, at: datetime, email: str) -> dict:
    return {"user_id": user_id, "username": None, "first_name": None, "email": email,
            "registered_at": at, "notification_sent": False, "lesson_type": lesson,
            "lesson_date": day}


def _booking(user_id: int, stream: str, confirmed: int, at: str) -> dict:
    return {"user_id": user_id, "course_id": 1, "course_stream": stream, "confirmed": confirmed,
            "created_at": utc(at), "referral_code": None, "discount_percent": None}


ROWS = {
    "users": [_user(1, "anna", "Анна", "Иванова"), _user(2, "=cmd", "Bob", None),
              _user(3, None, "Cara", "-Smith")],
    "free_lesson_registrations": [
        _reg(1, "python_basics", date(2026, 11, 10), utc("2026-11-02 09:00:05.700000"),
             "anna@example.org"),
        _reg(1, "web_design", date(2026, 11, 12), utc("2026-11-03 12:00"), "anna2@example.org"),
        _reg(3, "python_basics", date(2026, 11, 10), utc("2026-11-04 08:00"),
             "cara@example.org"),
    ],
    "bookings": [
        _booking(1, "10th_stream", 0, "2026-11-05 10:00"),
        _booking(1, "10th_stream", 2, "2026-11-06 11:30:30"),
        _booking(2, "10th_stream", -1, "2026-11-07 10:00"),
        _booking(3, "2nd_stream", 1, "2026-11-08 10:00"),
    ],
}


@pytest.fixture(scope="module")
def db(module_engine):
    return module_engine(ROWS)


def moscow(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=MOSCOW)


def records(frame: pd.DataFrame) -> list[list]:
    return [[None if not isinstance(v, str) and pd.isna(v) else v for v in row]
            for row in frame.astype(object).values.tolist()]


def parse_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def as_excel_reads(text: str) -> str:
    """A cell's text as Excel reads it: `_xHHHH_` is the character HHHH (ECMA-376 ST_Xstring;
    openpyxl leaves inline strings escaped)."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m[1], 16)), text)


def workbook_rows(body: bytes) -> list[list]:
    """Every row's cells of the first sheet (openpyxl), checking that none is a formula."""
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    return [list(row) for row in sheet.iter_rows()]


# ---------------------------------------------------------------- the columns analysts join on


def test_lead_details_are_the_newest_registration_and_booking(db):
    frame = lead_details(db, [3, 2, 1], MOSCOW)
    # User 2 registered for nothing: not a lead, left out.
    assert records(frame) == [
        [1, "Иванова", "anna2@example.org", moscow("2026-11-03 15:00"),
         moscow("2026-11-06 14:30:30")],
        [3, "-Smith", "cara@example.org", moscow("2026-11-04 11:00"), moscow("2026-11-08 13:00")],
    ]
    assert lead_details(db, [], MOSCOW).empty


def test_roster_details_carry_the_newest_booking_in_that_stream(db):
    period = Period(date(2026, 11, 1), date(2026, 11, 30), MOSCOW, utc("2026-12-01 00:00"))
    frame = roster_details(db, period, "10th_stream")
    assert records(frame) == [
        [1, "Иванова", "anna2@example.org", moscow("2026-11-06 14:30:30")],
        [2, None, None, moscow("2026-11-07 13:00")],
    ]


def test_audience_export_details_follow_the_matching_registrations(db):
    now = utc("2026-12-01 00:00")
    python = export_audience(db, ANALYST, AudienceFilter(lesson_types=("python_basics",)),
                             MOSCOW, now, details=True)
    assert list(python.columns) == AUDIENCE_DETAIL_COLUMNS
    picked = python[["user_id", "last_name", "lesson_dates", "registered_at"]]
    assert records(picked) == [
        [1, "Иванова", "2026-11-10", moscow("2026-11-02 12:00:05.7")],  # the python one only
        [3, "-Smith", "2026-11-10", moscow("2026-11-04 11:00")],
    ]
    everyone = export_audience(db, ANALYST, AudienceFilter(), MOSCOW, now, details=True)
    picked = everyone[["user_id", "last_name", "lesson_dates", "registered_at"]]
    assert records(picked) == [
        [1, "Иванова", "2026-11-10, 2026-11-12", moscow("2026-11-03 15:00")],
        [2, None, None, None],
        [3, "-Smith", "2026-11-10", moscow("2026-11-04 11:00")],
    ]


# ---------------------------------------------------------------- shaped as the page reads

REPORT_LIKE = pd.DataFrame({
    "user_id": [501.0, None, 503.0],  # a missing id turned the column to floats
    "lesson_type": ["python_basics", "qa_testing", None],
    "course_stream": ["10th_stream", "", None],
    "tier": ["cold", "hot", "=cmd"],
    "statuses": ["new, unknown (3)", None, "cancelled"],
    "lesson_date": [date(2026, 11, 4), None, date(2026, 12, 31)],
    "last_activity": pd.Series([moscow("2026-11-30 14:05:09.999"), pd.NaT,
                                moscow("2026-01-01 00:00:00")]),
    "attendance_rate": [12 / 17, 1 / 3, 0.0],
    "events": [3, 0, 12_345],
})
SHAPED_CSV = [
    ["User ID", "Lesson type", "Stream", "Tier", "Statuses", "Lesson date",
     "Last activity (Europe/Moscow)", "Attendance rate (%)", "Events"],
    ["501", "Python basics", "10th stream", "Cold", "New, Unknown (3)", "2026-11-04",
     "2026-11-30 14:05:09", "70.6", "3"],
    ["", "QA testing", "(no stream)", "Hot", "", "", "", "33.3", "0"],
    ["503", "", "(no stream)", "'=cmd", "Cancelled", "2026-12-31", "2026-01-01 00:00:00", "0.0",
     "12345"],
]


def test_page_csv_has_labels_words_local_seconds_and_rates_in_percent():
    page = downloads.shape(REPORT_LIKE, MOSCOW)
    assert page.percent == ("Attendance rate (%)",)
    assert parse_csv(downloads.csv_bytes(page)) == SHAPED_CSV


def test_a_label_that_says_percent_already_is_kept():
    page = downloads.shape(pd.DataFrame({"pct_of_first": [1.0, 0.8009]}), "UTC")
    assert parse_csv(downloads.csv_bytes(page)) == [["% of first"], ["100.0"], ["80.1"]]
    sheet = openpyxl.load_workbook(io.BytesIO(downloads.xlsx_bytes(page))).worksheets[0]
    assert [c.value for c in sheet["A"]] == ["% of first", 1, 0.801]


def test_page_excel_has_typed_cells_and_the_same_words():
    body = downloads.xlsx_bytes(downloads.shape(REPORT_LIKE, MOSCOW))
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    assert [c.value for c in sheet[1]] == SHAPED_CSV[0]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:I4"
    first = sheet[2]
    assert [c.value for c in first[:5]] == [501, "Python basics", "10th stream", "Cold",
                                            "New, Unknown (3)"]
    assert (first[5].value, first[5].number_format) == (datetime(2026, 11, 4), "yyyy-mm-dd")
    assert first[6].value == datetime(2026, 11, 30, 14, 5, 9)
    assert first[6].number_format == "yyyy-mm-dd hh:mm:ss"
    assert first[7].value == 0.706 and first[7].number_format == "0.0%"  # the CSV's 70.6
    assert first[8].value == 3 and first[8].data_type == "n"
    missing = sheet[3]
    assert [missing[i].value for i in (0, 4, 5, 6)] == [None, None, None, None]
    assert missing[7].value == 0.333
    assert sheet[4][3].value == "'=cmd" and sheet[4][3].data_type == "s"


def test_excel_cells_are_never_formulas_and_hold_only_what_xml_can():
    frame = pd.DataFrame({
        "text": ["=HYPERLINK(\"http://x\",\"y\")", "+7 999", "-2+3", "@SUM(A1)", "\tcmd",
                 "\rcmd", "a\x00b\x07c\x1f", "\x00=cmd", "x" * 40_000, "_x0041_", "Юлия"],
        "big": [2**62, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5],
        "flag": [True, False, None, True, True, True, True, True, True, True, True],
    })
    rows = workbook_rows(to_xlsx_bytes(frame))
    texts = [as_excel_reads(row[0].value) for row in rows[1:]]
    assert texts[:8] == ["'=HYPERLINK(\"http://x\",\"y\")", "'+7 999", "'-2+3", "'@SUM(A1)",
                         "'\tcmd", "'\rcmd", "abc", "'=cmd"]
    assert len(texts[8]) == MAX_CELL_CHARS and texts[8].endswith("x…")
    assert texts[9:] == ["_x0041_", "Юлия"]  # an escape-like text stays that text
    # Ids beyond Excel's 15 exact digits are text, so the whole column is text.
    assert [row[1].value for row in rows[1:3]] == ["4611686018427387904", "5"]
    assert [row[2].value for row in rows[1:4]] == [True, False, None]


def test_excel_keeps_every_row_and_its_header_when_empty():
    rows = workbook_rows(to_xlsx_bytes(pd.DataFrame(columns=["User ID", "Events"])))
    assert [[c.value for c in row] for row in rows] == [["User ID", "Events"]]


def test_excel_name_sits_beside_the_csv_name():
    assert downloads.excel_name("leads_2026-03-20T2100_all.csv") == "leads_2026-03-20T2100_all.xlsx"


# ---------------------------------------------------------------- on the Audience page


@pytest.fixture(scope="module")
def hand_url(backend, database_factory) -> str:
    return url_of(loaded_engine(backend, database_factory, ROWS))


def test_audience_page_offers_both_files_with_the_join_columns(monkeypatch, hand_url):
    excel: dict[str, bytes] = {}
    got = spy_downloads(monkeypatch, excel)
    at = open_page(monkeypatch, hand_url, "pages/audience.py", lesson_type="python_basics")
    assert not at.exception
    assert [b.label for b in at.get("download_button")] == ["Download CSV", "Download Excel"]
    name = "audience_lesson_types-python_basics"
    # Payer 1 has no tier; 3 is a lead with no events: cold. No events: no last activity.
    expected = [
        ["User ID", "Username", "First name", "Last name", "Email", "Telegram", "Lesson types",
         "Lesson dates", "Registered at (Europe/Moscow)", "Streams", "Statuses", "Tier",
         "Last activity (Europe/Moscow)"],
        ["1", "anna", "Анна", "Иванова", "anna2@example.org", "https://t.me/anna",
         "Python basics", "2026-11-10", "2026-11-02 12:00:05", "10th stream", "New, Confirmed",
         "", ""],
        ["3", "", "Cara", "'-Smith", "cara@example.org", "", "Python basics", "2026-11-10",
         "2026-11-04 11:00:00", "2nd stream", "Pending", "Cold", ""],
    ]
    assert got == {f"{name}.csv": expected}
    assert zipfile.is_zipfile(io.BytesIO(excel[f"{name}.xlsx"]))
    rows = workbook_rows(excel[f"{name}.xlsx"])
    assert [c.value for c in rows[0]] == expected[0]
    assert [c.value for c in rows[2]] == [
        3, None, "Cara", "'-Smith", "cara@example.org", None, "Python basics", "2026-11-10",
        datetime(2026, 11, 4, 11, 0), "2nd stream", "Pending", "Cold", None]
    assert rows[1][8].value == datetime(2026, 11, 2, 12, 0, 5)  # cut to the second


def test_hostile_text_makes_both_files_without_a_formula_or_a_control():
    texts = list(CORPUS.values())
    frame = pd.DataFrame({"user_id": range(len(texts)), "first_name": texts,
                          "lesson_type": texts, "lesson_types": texts, "course_stream": texts})
    page = downloads.shape(frame, "UTC")
    rows = parse_csv(downloads.csv_bytes(page))
    assert [row[0] for row in rows[1:]] == [str(i) for i in range(len(texts))]
    assert [row[1] for row in rows[1:]] == [
        "'" + t if t.startswith(("=", "+", "-", "@", "\t", "\r")) else t for t in texts]
    cells = [as_excel_reads(c.value) for row in workbook_rows(downloads.xlsx_bytes(page))[1:]
             for c in row[1:] if isinstance(c.value, str)]
    assert cells and not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert not [c for c in cells if re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", c)]
