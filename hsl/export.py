"""CSV and JSON writing for every table the app exports (SPEC §5: injection-safe, UTF-8)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import date, datetime

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


def plain_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain JSON-ready Python values."""
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def to_csv(frame: pd.DataFrame, *, for_excel: bool = True) -> str:
    """Return `frame` as CSV text with formula cells neutralised; a BOM when for Excel."""
    buf = io.StringIO()
    # The writer only quotes a cell holding "\r" when "\r" is in its line terminator.
    writer = csv.writer(buf, lineterminator="\r\n")
    rows = [list(frame.columns)]
    rows += [["" if v is None else neutralise(v) for v in r.values()] for r in plain_records(frame)]
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
