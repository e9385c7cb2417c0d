"""CSV / JSON export: injection-safe cells, Excel-friendly bytes, plain CLI text, safe names."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from hsl.export import file_name, neutralise, to_csv, to_csv_bytes, to_json

BOM = b"\xef\xbb\xbf"


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+7 999 123", "'+7 999 123"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("anna", "anna"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_cells_are_neutralised(cell, expected):
    assert neutralise(cell) == expected
    frame = pd.DataFrame({"username": [cell]})
    assert parse(to_csv(frame, for_excel=False)) == [["username"], [expected]]


def test_numbers_are_not_altered():
    frame = pd.DataFrame({"confirmed": [-1, 2], "rate": [-0.25, 0.5], "name": ["x", "y"]})
    assert to_csv(frame, for_excel=False) == "confirmed,rate,name\n-1,-0.25,x\n2,0.5,y\n"
    assert json.loads(to_json(frame)) == [
        {"confirmed": -1, "rate": -0.25, "name": "x"},
        {"confirmed": 2, "rate": 0.5, "name": "y"},
    ]


def test_download_bytes_have_a_bom_and_keep_cyrillic():
    frame = pd.DataFrame({"first_name": ["Анна", "Ёжик"], "user_id": [5_000_000_001, 7]})
    data = to_csv_bytes(frame)
    assert data.startswith(BOM)
    assert data.count(BOM) == 1
    assert data.decode("utf-8-sig") == "first_name,user_id\r\nАнна,5000000001\r\nЁжик,7\r\n"


def test_cli_text_has_no_bom():
    frame = pd.DataFrame({"first_name": ["Анна"]})
    text = to_csv(frame, for_excel=False)
    assert text == "first_name\nАнна\n"
    assert not text.startswith("\ufeff")


def test_none_and_nan_are_empty_cells():
    frame = pd.DataFrame({"username": ["anna", None], "events": [1.5, float("nan")]})
    assert parse(to_csv(frame, for_excel=False)) == [
        ["username", "events"], ["anna", "1.5"], ["", ""],
    ]
    assert json.loads(to_json(frame)) == [
        {"username": "anna", "events": 1.5}, {"username": None, "events": None},
    ]


def test_dates_and_timestamps_are_iso():
    moscow = ZoneInfo("Europe/Moscow")
    stamp = datetime(2026, 11, 3, 21, 30, tzinfo=UTC).astimezone(moscow)
    frame = pd.DataFrame({"day": [date(2026, 11, 4)], "last_activity": [stamp]})
    assert parse(to_csv(frame, for_excel=False))[1] == ["2026-11-04", "2026-11-04T00:30:00+03:00"]
    assert json.loads(to_json(frame)) == [
        {"day": "2026-11-04", "last_activity": "2026-11-04T00:30:00+03:00"}
    ]


def test_json_keeps_raw_text():
    frame = pd.DataFrame({"username": ["=cmd", "Юля"]})
    # JSON is data for programs, not a spreadsheet: nothing is neutralised, no \\u escapes.
    text = to_json(frame)
    assert json.loads(text) == [{"username": "=cmd"}, {"username": "Юля"}]
    assert "Юля" in text


def test_empty_frame_keeps_its_header():
    frame = pd.DataFrame(columns=["lesson_type", "registrants"])
    assert to_csv(frame, for_excel=False) == "lesson_type,registrants\n"
    assert json.loads(to_json(frame)) == []


def test_file_name_holds_the_filters():
    name = file_name("funnel", start=date(2026, 11, 1), end=date(2026, 11, 30),
                     lesson_type="python_basics", paying=False, stream=None)
    assert name == "funnel_2026-11-01_2026-11-30_python_basics.csv"


@pytest.mark.parametrize(
    "nasty",
    ["../../etc/passwd", "a/b\\c", "..", "Python для всех", "x:y*?<>|\"", "\n\t", ".hidden"],
)
def test_file_name_is_safe(nasty):
    name = file_name("users", search=nasty)
    stem = name.removesuffix(".csv")
    assert name.endswith(".csv") and stem
    assert set(stem) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
    assert not name.startswith(".")
    assert ".." not in name
    assert stem.startswith("users")


def test_file_name_without_anything_usable():
    assert file_name("") == "export.csv"
    assert file_name("", search="///") == "export.csv"


@pytest.mark.parametrize("for_excel", [False, True])
def test_line_breaks_inside_cells_survive(for_excel):
    frame = pd.DataFrame({"first_name": ["a\rb", "c\nd", "e\r\nf"], "n": [1, 2, 3]})
    text = to_csv(frame, for_excel=for_excel).removeprefix("\ufeff")
    assert parse(text) == [["first_name", "n"], ["a\rb", "1"], ["c\nd", "2"], ["e\r\nf", "3"]]
