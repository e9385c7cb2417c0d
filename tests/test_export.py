"""CSV / JSON export: injection-safe cells, Excel-friendly bytes, plain CLI text, safe names."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
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


# ---------------------------------------------------------------- every column kind, fast

MOSCOW = ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize(("stamp", "expected"), [
    (datetime(2026, 11, 3, 21, 30, tzinfo=UTC), "2026-11-03T21:30:00+00:00"),
    (datetime(2026, 11, 3, 21, 30, 0, 5, tzinfo=UTC), "2026-11-03T21:30:00.000005+00:00"),
    (datetime(2026, 11, 3, 21, 30, tzinfo=UTC).astimezone(MOSCOW), "2026-11-04T00:30:00+03:00"),
    # Moscow's local mean time: an offset of whole seconds, written as datetime writes it.
    (datetime(1880, 1, 1, 12, tzinfo=UTC).astimezone(MOSCOW), "1880-01-01T14:30:17+02:30:17"),
    (datetime(2026, 7, 1, 12, tzinfo=UTC).astimezone(ZoneInfo("America/St_Johns")),
     "2026-07-01T09:30:00-02:30"),
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin")),
     "2026-10-25T02:30:00+02:00"),  # the first of the two 02:30s that night
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin")),
     "2026-10-25T02:30:00+01:00"),
    (pd.Timestamp("2026-11-03 21:30:00.000000001", tz="UTC"),
     "2026-11-03T21:30:00.000000001+00:00"),  # nanoseconds survive
    (pd.Timestamp("2026-11-03 21:30:00.25"), "2026-11-03T21:30:00.250000"),  # naive
])
def test_timestamp_columns_are_iso_8601(stamp, expected):
    frame = pd.DataFrame({"at": pd.Series([stamp, None, stamp]), "n": [1, 2, 3]})
    assert to_csv(frame, for_excel=False) == f"at,n\n{expected},1\n,2\n{expected},3\n"
    assert [r["at"] for r in json.loads(to_json(frame))] == [expected, None, expected]


@pytest.mark.parametrize("dtype", ["str", "string", "object", "category"])
def test_text_columns_of_every_kind_are_neutralised(dtype):
    cells = ["=1+1", None, "-x", "Юля", "", "a\"b,c"]
    frame = pd.DataFrame({"t": pd.Series(cells, dtype=dtype)})
    assert parse(to_csv(frame, for_excel=False)) == [
        ["t"], ["'=1+1"], [""], ["'-x"], ["Юля"], [""], ["a\"b,c"]]
    assert json.loads(to_json(frame)) == [
        {"t": "=1+1"}, {"t": None}, {"t": "-x"}, {"t": "Юля"}, {"t": ""}, {"t": "a\"b,c"}]


def test_odd_cells_in_object_columns():
    frame = pd.DataFrame({"x": pd.Series(
        [np.int64(7), np.str_("@cmd"), date(2026, 1, 2), pd.NaT, np.float64("nan"), True,
         np.datetime64("2026-01-02T03:04:05"), pd.NA, 2.5], dtype=object)})
    assert parse(to_csv(frame, for_excel=False))[1:] == [
        ["7"], ["'@cmd"], ["2026-01-02"], [""], [""], ["True"], ["2026-01-02T03:04:05"], [""],
        ["2.5"]]


def test_number_columns():
    frame = pd.DataFrame({
        "n": pd.Series([1, -2, 2**62]), "f": [0.5, float("nan"), -0.25],
        "b": [True, False, True], "m": pd.array([1, None, 3], dtype="Int64"),
    })
    assert to_csv(frame, for_excel=False) == (
        "n,f,b,m\n1,0.5,True,1\n-2,,False,\n4611686018427387904,-0.25,True,3\n")


def reference_csv(frame: pd.DataFrame) -> str:
    """The SPEC §5 rules applied row by row, straight from `to_dict`: what to_csv must write."""
    def cell(value):
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return ""
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value
        return value
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(frame.columns)
    writer.writerows([cell(v) for v in row.values()] for row in frame.to_dict(orient="records"))
    return "\ufeff" + buf.getvalue()


def test_a_large_export_follows_the_rules_cell_by_cell():
    rng = np.random.default_rng(7)
    n = 20_000
    texts = np.array(["anna", "=SUM(A1)", "+7 999", "-1", "@x", "\tx", "\rx", "a,b", 'q"q',
                      "Юлия", "", "line\nbreak", "'quoted"], dtype=object)
    text = texts[rng.integers(0, len(texts), n)]
    text[rng.random(n) < 0.2] = None
    stamps = pd.Series(pd.to_datetime(
        rng.integers(1_600_000_000, 1_800_000_000, n) * 1_000_000
        + rng.choice([0, 123_456], n), unit="us", utc=True)).dt.tz_convert(MOSCOW)
    stamps[rng.random(n) < 0.2] = pd.NaT
    frame = pd.DataFrame({
        "user_id": rng.integers(1, 2**62, n), "name": pd.Series(text, dtype="str"),
        "raw": pd.Series(text, dtype=object), "rate": rng.random(n), "last_activity": stamps,
    })
    assert to_csv(frame) == reference_csv(frame)
