"""Page downloads shaped the way the page reads: labels, words, local times, rounded rates.

A page's table becomes a `PageFile` once (`shape`), then CSV (`csv_bytes`) or Excel
(`xlsx_bytes`). Both carry the screen's column names (`format.label`), the words shown
for data codes (`python_basics` → "Python basics", `10th_stream` → "10th stream"),
timestamps to the second in the reporting timezone (named in the header:
"Last activity (Europe/Moscow)"), and rates as percentages rounded to 0.1 % in a column
named "… (%)" (a label that says % already, "% of first", stays): the number 70.6 in
the CSV, a percentage cell holding 0.706 and showing 70.6% in Excel. A
rate with no denominator stays the SPEC's 0. The command line's CSV (SPEC §7) is not
shaped: it keeps the report's codes, columns and fractions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from hsl import export, export_xlsx
from hsl_ui import format as fmt
from hsl_ui.charts_streams import stream_name

# Data words shown humanised on the pages (beyond format.WORD_COLUMNS), and the audience's
# comma-separated lists of them.
WORDS = fmt.WORD_COLUMNS | {"action", "entity"}
WORD_LISTS = frozenset({"lesson_types", "streams", "statuses"})
# Whole numbers that a missing value turned into floats (501.0) are written as whole numbers.
ID_COLUMNS = frozenset({"user_id", "id", "entity_id", "telegram_message_id", "course_id"})
# Columns that name the person: in a file they sit right after the first name.
NAME_COLUMNS = ("last_name", "email")
TIMESTAMP_TEXT = "%Y-%m-%d %H:%M:%S"  # the CSV's timestamps, e.g. 2026-11-30 14:05:09
EXCEL_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class PageFile:
    """A table as a person downloads it: screen labels; `percent` names the columns holding
    percentages (70.6); timestamps are naive wall-clock times of the reporting timezone."""

    frame: pd.DataFrame
    percent: tuple[str, ...]


def _holds(values: list, kind: type) -> bool:
    """True when every non-empty value is a `kind` and there is one."""
    present = [v for v in values if v is not None and v is not pd.NaT and v == v]
    return bool(present) and all(isinstance(v, kind) for v in present)


def _local_seconds(column: pd.Series, tz: str) -> pd.Series:
    """Timestamps (aware, or naive UTC) as naive wall-clock times in `tz`, cut to the second."""
    stamps = pd.to_datetime(column, utc=True)
    return stamps.dt.tz_convert(tz).dt.tz_localize(None).dt.floor("s")


def _words(column: pd.Series, name: str) -> pd.Series:
    """Each distinct data word once through the screen's wording; empty cells stay empty."""
    if name == "course_stream":  # as on screen: no stream reads "(no stream)"
        words = {w: stream_name(w) for w in column.dropna().unique() if isinstance(w, str)}
        return pd.Series([words.get(v, v) if isinstance(v, str) else stream_name(None)
                          for v in column.tolist()], index=column.index, dtype=object)
    if name in WORD_LISTS:
        words = {w: ", ".join(fmt.human(part) for part in w.split(", "))
                 for w in column.dropna().unique() if isinstance(w, str) and w}
    else:
        words = {w: fmt.human(w) for w in column.dropna().unique()}
    return pd.Series([words.get(v) if isinstance(v, str) and v in words else
                      None if v is None or v != v else v for v in column.tolist()],
                     index=column.index, dtype=object)


def shape(frame: pd.DataFrame, tz: str) -> PageFile:
    """`frame` (data columns, as the data layer returns them) shaped for a person's file."""
    columns, percent = {}, []
    for name in frame.columns:
        column = frame[name]
        label = fmt.label(name)
        if name in fmt.RATE_COLUMNS:
            label = label if "%" in label else f"{label} (%)"
            column = (column.astype("float64") * 100).round(1)
            percent.append(label)
        elif name in WORDS or name in WORD_LISTS:
            column = _words(column, name)
        elif pd.api.types.is_datetime64_any_dtype(column.dtype) or (
                column.dtype == object and _holds(column.tolist(), datetime)):
            label = f"{label} ({tz})"
            column = _local_seconds(column, tz)
        elif name in ID_COLUMNS and pd.api.types.is_float_dtype(column.dtype):
            column = column.astype("Int64")
        columns[label] = column
    shaped = pd.DataFrame(columns, index=frame.index).reset_index(drop=True)
    return PageFile(shaped, tuple(percent))


def _timestamp_texts(column: pd.Series) -> pd.Series:
    """Naive timestamps as `2026-11-30 14:05:09` text (None where missing), all at once."""
    stamps = column.to_numpy(dtype="datetime64[s]")
    text = np.strings.replace(np.datetime_as_string(stamps, unit="s"), "T", " ")
    return pd.Series(np.where(np.isnat(stamps), None, text), index=column.index, dtype=object)


def csv_bytes(page: PageFile) -> bytes:
    """The CSV a page offers: UTF-8 with a BOM, formula cells neutralised (`hsl.export`)."""
    frame = page.frame.copy()
    for i, dtype in enumerate(frame.dtypes):
        if pd.api.types.is_datetime64_any_dtype(dtype):
            frame.isetitem(i, _timestamp_texts(frame.iloc[:, i]))
    return export.to_csv_bytes(frame)


def xlsx_bytes(page: PageFile, sheet: str = "Data") -> bytes:
    """The Excel workbook a page offers: date, number and 0.0 % cells (`hsl.export_xlsx`)."""
    frame = page.frame.copy()
    for label in page.percent:
        frame[label] = (frame[label] / 100).round(3)  # 70.6 → 0.706, not 0.7059999…
    return export_xlsx.to_xlsx_bytes(frame, page.percent, sheet)


def excel_name(csv_name: str) -> str:
    """The Excel file's name beside a CSV's: `leads_….csv` → `leads_….xlsx`."""
    return csv_name.removesuffix(".csv") + ".xlsx"


def with_details(rows: pd.DataFrame, details: pd.DataFrame) -> pd.DataFrame:
    """`rows` with the columns of `details` (one row a user_id) matched on user_id.

    Name columns (last name, email) follow the first name (or user_id); the rest go last.
    """
    extra = [c for c in details.columns if c != "user_id" and c not in rows.columns]
    out = rows.merge(details[["user_id", *extra]], on="user_id", how="left")
    names = [c for c in NAME_COLUMNS if c in extra]
    order = list(rows.columns)
    at = order.index("first_name") + 1 if "first_name" in order else 1
    order[at:at] = names
    return out[order + [c for c in extra if c not in names]]

