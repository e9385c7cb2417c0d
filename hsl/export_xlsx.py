"""Excel (.xlsx) writing for page downloads: typed cells under the CSV's injection rules.

Numbers are number cells, dates and timestamps date cells (Excel has no timezones: a
timestamp is written as the wall-clock time it holds), the columns named as percentages
number cells formatted `0.0%`, and text always a text cell, never a formula: the workbook
turns off XlsxWriter's formula and URL guessing, and text is written with `write_string`.
Text gets what the CSV's cells get (SPEC §5: a leading `=`, `+`, `-`, `@`, tab or CR is
neutralised with a `'`), after the characters XML cannot hold are dropped, and is cut at
Excel's 32,767 characters a cell.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime

import numpy as np
import pandas as pd
import xlsxwriter

from hsl.export import FORMULA_START

MAX_CELL_CHARS = 32_767  # Excel keeps at most this many characters in a cell
# Excel keeps 15 significant digits; a whole number with more (a huge id) is written as text.
MAX_EXACT_NUMBER = 10**15 - 1
# What XML 1.0 cannot hold: C0 controls but tab, LF and CR; lone surrogates; U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Excel's day 0 for the 1900 date system; serial numbers from it are right from 1900-03-01.
_EXCEL_EPOCH = np.datetime64("1899-12-30T00:00:00", "us")
_FIRST_EXACT_DAY = np.datetime64("1900-03-01T00:00:00", "us")
_US_A_DAY = 86_400 * 1_000_000
FORMATS = {"datetime": "yyyy-mm-dd hh:mm:ss", "date": "yyyy-mm-dd", "percent": "0.0%"}
WIDEST_COLUMN = 60  # characters; longer text still shows whole in the cell's editor
WIDTH_SAMPLE_ROWS = 200  # column widths are guessed from the header and the first rows


def text_cell(value: str) -> str:
    """The text of a cell: XML-illegal characters dropped, a formula start neutralised, capped."""
    text = _NOT_XML.sub("", value)
    if text.startswith(FORMULA_START):
        text = "'" + text
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return text


def _serials(column: pd.Series) -> list:
    """Excel serial numbers (days since 1899-12-30) of a timestamp column; None where missing.

    Aware timestamps keep their wall-clock time. Instants before 1900-03-01 (Excel's leap
    year bug) become ISO text.
    """
    wall = column.dt.tz_localize(None) if column.dt.tz is not None else column
    stamps = wall.to_numpy(dtype="datetime64[us]")
    missing = np.isnat(stamps)
    early = ~missing & (stamps < _FIRST_EXACT_DAY)
    micros = (np.where(missing | early, _FIRST_EXACT_DAY, stamps) - _EXCEL_EPOCH).astype("int64")
    cells: list = (micros / _US_A_DAY).tolist()
    for i in np.flatnonzero(missing).tolist():
        cells[i] = None
    for i in np.flatnonzero(early).tolist():
        cells[i] = pd.Timestamp(stamps[i]).isoformat()
    return cells


def _cell_of(value: object) -> tuple[str, object]:
    """(kind, value) of one cell of an object column; kind "blank" writes nothing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "blank", None
    if isinstance(value, str):
        return ("text", text_cell(value)) if value else ("blank", None)
    if isinstance(value, bool | np.bool_):
        return "bool", bool(value)
    if isinstance(value, datetime | np.datetime64 | date):
        kind = "date" if isinstance(value, date) and not isinstance(value, datetime) else "datetime"
        stamp = pd.Timestamp(value)
        wall = stamp.tz_localize(None) if stamp.tzinfo else stamp
        if wall < _FIRST_EXACT_DAY:
            return "text", wall.isoformat()
        return kind, (wall - _EXCEL_EPOCH) / pd.Timedelta(days=1)
    if isinstance(value, int | float | np.integer | np.floating):
        number = value.item() if isinstance(value, np.generic) else value
        if isinstance(number, float) and not math.isfinite(number):
            return "blank", None
        if isinstance(number, int) and abs(number) > MAX_EXACT_NUMBER:
            return "text", str(number)
        return "number", number
    return "text", text_cell(str(value))


def _column_cells(column: pd.Series, percent: bool) -> tuple[str, list]:
    """One column's cells as (kind, values), None where blank; or ("mixed", (kind, value)s).

    A column is one kind where its dtype says so: numbers (or percentages), timestamps,
    text; anything else, and a number column holding a whole number too big for Excel's 15
    digits (written as text, so a column of ids stays one type), goes cell by cell.
    """
    dtype = column.dtype
    plain = not isinstance(dtype, pd.CategoricalDtype)
    if plain and (isinstance(dtype, pd.DatetimeTZDtype)
                  or isinstance(dtype, np.dtype) and dtype.kind == "M"):
        cells = _serials(column)
        if not any(isinstance(v, str) for v in cells):
            return "datetime", cells
    elif plain and pd.api.types.is_float_dtype(dtype):
        cells = [None if v is None or v is pd.NA or not math.isfinite(v) else v
                 for v in column.astype(object).tolist()]  # NaN, ±inf → blank
        return ("percent" if percent else "number"), cells
    elif plain and pd.api.types.is_integer_dtype(dtype):  # numpy or nullable (Int64)
        cells = [None if v is pd.NA else int(v) for v in column.astype(object).tolist()]
        if any(v is not None and abs(v) > MAX_EXACT_NUMBER for v in cells):
            return "text", [None if v is None else str(v) for v in cells]
        return ("percent" if percent else "number"), cells
    values = column.astype(object).tolist()
    if all(type(v) is str or v is None for v in values):
        return "text", [text_cell(v) if v else None for v in values]  # "" is a blank cell
    if all(type(v) is date or v is None for v in values):  # a column of local dates
        cells = _serials(pd.Series(pd.to_datetime(values)))
        if not any(isinstance(v, str) for v in cells):
            return "date", cells
    return "mixed", [_cell_of(v) for v in values]


def _width(header: str, kind: str, cells: list) -> float:
    """A column width in characters: the header's or the widest of the first rows' values."""
    longest = len(header) + 2
    if kind in FORMATS or kind in ("number", "bool"):
        return float(max(longest, 20 if kind == "datetime" else 12))
    for cell in cells[:WIDTH_SAMPLE_ROWS]:
        value = cell[1] if kind == "mixed" else cell
        longest = max(longest, len(value) + 1 if isinstance(value, str) else 12)
    return float(min(longest, WIDEST_COLUMN))


def to_xlsx_bytes(frame: pd.DataFrame, percent_columns: Iterable[str] = (),
                  sheet: str = "Data") -> bytes:
    """Return `frame` as an .xlsx workbook of one sheet: a bold, frozen, filterable header
    row, then one row a record with typed cells (see the module docstring).

    `percent_columns` name the columns holding fractions (0.706), shown as `70.6%`.
    """
    percent = set(percent_columns)
    columns = [_column_cells(frame.iloc[:, i], frame.columns[i] in percent)
               for i in range(frame.shape[1])]
    headers = [text_cell(str(name)) for name in frame.columns]
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {
        "constant_memory": True,  # rows are written in order and flushed: little memory
        "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
    })
    page = book.add_worksheet(text_cell(sheet)[:31] or "Data")
    bold = book.add_format({"bold": True})
    formats = {kind: book.add_format({"num_format": spec}) for kind, spec in FORMATS.items()}
    write = {"text": page.write_string, "number": page.write_number, "bool": page.write_boolean,
             **{kind: _with_format(page.write_number, f) for kind, f in formats.items()}}
    for i, (header, (kind, cells)) in enumerate(zip(headers, columns, strict=True)):
        page.set_column(i, i, _width(header, kind, cells))
    page.write_row(0, 0, headers, bold)
    page.freeze_panes(1, 0)
    if headers:
        page.autofilter(0, 0, max(len(frame), 1), len(headers) - 1)
    plan = [(c, kind, write.get(kind), cells) for c, (kind, cells) in enumerate(columns)]
    for r in range(len(frame)):
        for c, kind, writer, cells in plan:
            value = cells[r]
            if kind == "mixed":
                cell_kind, value = value
                if cell_kind != "blank":
                    write[cell_kind](r + 1, c, value)
            elif value is not None:
                writer(r + 1, c, value)
    book.close()
    return out.getvalue()


def _with_format(write: Callable, cell_format: object) -> Callable:
    """`write(row, col, value)` with the cell format `cell_format`."""
    return lambda row, col, value: write(row, col, value, cell_format)
