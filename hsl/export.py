"""CSV and JSON writing for every table the app exports (SPEC §5: injection-safe, UTF-8)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import date, datetime

import numpy as np
import pandas as pd

# OWASP CSV injection: cells a spreadsheet would read as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
UTF8_BOM = "\ufeff"


def neutralise(value: object) -> object:
    """Prefix a text cell that a spreadsheet would run as a formula with a single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _plain(value: object) -> object:
    """Dates → ISO text, timestamps → ISO 8601 with offset, NaN/None → None."""
    if value is None or (not isinstance(value, str | bytes) and pd.isna(value)):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _offset_text(seconds: int) -> str:
    """A UTC offset as `datetime.isoformat` writes it: ±HH:MM, with :SS when not whole minutes."""
    sign, seconds = ("-", -seconds) if seconds < 0 else ("+", seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _iso_instants(column: pd.Series) -> list | None:
    """`Timestamp.isoformat()` of each cell (None for NaT), built for the whole column at once.

    None when a cell needs what this does not write: nanoseconds, a year outside 1..9999,
    an offset that is not whole seconds.
    """
    if column.empty:
        return []
    parts, present = column.dt, column.notna()
    if (parts.nanosecond[present] != 0).any() or not parts.year[present].between(1, 9999).all():
        return None
    aware = parts.tz is not None
    wall = (parts.tz_localize(None) if aware else column).to_numpy()
    missing = np.isnat(wall)
    # NaT cells become None at the end; meanwhile they stand at the epoch (no NaT arithmetic).
    epoch = np.zeros(1, dtype=wall.dtype)
    wall = np.where(missing, epoch, wall)
    seconds = wall.astype("datetime64[s]")
    micros = (wall - seconds) // np.timedelta64(1, "us")
    # "YYYY-MM-DDTHH:MM:SS", then ".ffffff" unless the microseconds are 0, as datetime does.
    text = np.datetime_as_string(seconds, unit="s")
    fraction = np.strings.add(".", np.strings.zfill(micros.astype(str), 6))
    text = np.strings.add(text, np.where(micros == 0, "", fraction))
    if aware:
        offset = wall - np.where(missing, epoch, parts.tz_convert(None).to_numpy())
        if (offset % np.timedelta64(1, "s")).any():
            return None
        kinds, which = np.unique(offset // np.timedelta64(1, "s"), return_inverse=True)
        text = np.strings.add(text, np.array([_offset_text(int(k)) for k in kinds])[which])
    cells = text.tolist()
    for i in np.flatnonzero(missing).tolist():
        cells[i] = None
    return cells


def _plain_column(column: pd.Series) -> list:
    """`_plain` of each cell of `column`, as `DataFrame.to_dict(orient="records")` hands it over.

    The dtypes reports hold (numbers, text, timestamps, text objects) take a fast path that
    gives the same values; any other column goes through pandas' own conversion.
    """
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        values = column.to_numpy().tolist()  # the Python scalars iterating would give
        return [None if v != v else v for v in values] if dtype.kind == "f" else values
    if isinstance(dtype, pd.StringDtype):  # text, or the dtype's missing value
        missing = dtype.na_value
        return [v if type(v) is str else None if v is missing else _plain(v)
                for v in column.tolist()]
    if isinstance(dtype, pd.DatetimeTZDtype) or isinstance(dtype, np.dtype) and dtype.kind == "M":
        cells = _iso_instants(column)
        if cells is not None:
            return cells
    if dtype == np.dtype(object):
        values = column.tolist()  # the objects themselves
        if all(type(v) is str or v is None for v in values):
            return values
    by_row = column.to_frame(name="cell").to_dict(orient="records")
    return [_plain(row["cell"]) for row in by_row]


def _plain_columns(frame: pd.DataFrame) -> list[list] | None:
    """Each column's `_plain` cells; None when only row by row is exact (no or repeated names)."""
    if frame.columns.empty or not frame.columns.is_unique:
        return None
    return [_plain_column(column) for _, column in frame.items()]


def plain_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain JSON-ready Python values."""
    columns = _plain_columns(frame)
    if columns is None:
        return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    names = list(frame.columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _csv_rows(frame: pd.DataFrame) -> list:
    """The header, then each row's cells: neutralised text, "" for missing, other values as is."""
    columns = _plain_columns(frame)
    if columns is None:
        records = plain_records(frame)
        return [list(frame.columns), *(
            ["" if v is None else neutralise(v) for v in r.values()] for r in records)]
    # `neutralise` written out: a call for each of a million cells would cost ~0.1 s.
    cells = [
        ["" if v is None else "'" + v if isinstance(v, str) and v.startswith(FORMULA_START)
         else v for v in values]
        for values in columns
    ]
    return [list(frame.columns), *zip(*cells, strict=True)]


def to_csv(frame: pd.DataFrame, *, for_excel: bool = True) -> str:
    """Return `frame` as CSV text with formula cells neutralised; a BOM when for Excel."""
    buf = io.StringIO()
    # The writer only quotes a cell holding "\r" when "\r" is in its line terminator.
    writer = csv.writer(buf, lineterminator="\r\n")
    rows = _csv_rows(frame)
    if for_excel:
        writer.writerows(rows)
        return UTF8_BOM + buf.getvalue()
    lines = []
    for row in rows:
        buf.seek(0)
        buf.truncate()
        writer.writerow(row)
        lines.append(buf.getvalue().removesuffix("\r\n"))
    return "\n".join(lines) + "\n"


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV for a download button: UTF-8 with BOM so Excel shows Cyrillic correctly."""
    return to_csv(frame, for_excel=True).encode("utf-8")


def to_json(frame: pd.DataFrame) -> str:
    """Return `frame` as a JSON array of row objects (raw values, nothing neutralised)."""
    return json.dumps(plain_records(frame), ensure_ascii=False, indent=1)


MAX_NAME_CHARS = 100  # a download's file name, ".csv" included


def file_name(report: str, **filters: object) -> str:
    """Return a safe file name such as `funnel_2026-11-01_2026-11-30_python.csv`."""
    parts = [report, *(str(v) for v in filters.values() if v not in (None, "", False))]
    # ASCII letters, digits, `_`, `-`, single dots; no leading dot, nothing like `..`.
    slugs = (re.sub(r"[^\w.-]+", "-", p, flags=re.ASCII) for p in parts)
    slug = "_".join(s for s in (re.sub(r"\.{2,}", ".", s).strip("-.") for s in slugs) if s)
    if len(slug) > MAX_NAME_CHARS - 4:
        # Browsers refuse very long names; keep the start (report, dates, first filters) and
        # a short digest of the whole, so two long names still differ.
        digest = hashlib.sha256(slug.encode()).hexdigest()[:8]
        slug = f"{slug[:MAX_NAME_CHARS - 14].rstrip('-._')}-{digest}"
    return f"{slug or 'export'}.csv"
