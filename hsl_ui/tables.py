"""Tables on screen with human column names and formats, and their CSV and Excel downloads."""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable
from datetime import date, datetime
from typing import NamedTuple

import pandas as pd
import pyarrow as pa
import streamlit as st
from streamlit import dataframe_util

from hsl import export
from hsl.auth import CONTACT_COLUMNS, Permission, can
from hsl.filters import Period
from hsl_ui import auth, downloads, state
from hsl_ui import format as fmt


@functools.lru_cache(maxsize=256)
def _row_type(columns: tuple[str, ...]) -> type:
    return namedtuple("Row", columns, rename=True)


def rows(frame: pd.DataFrame) -> list[tuple]:
    """The frame's rows as named tuples (`row.users`), without the index: what
    DataFrame.itertuples gives, in a third of its time."""
    row = _row_type(tuple(map(str, frame.columns)))
    return [row._make(values) for values in zip(
        *(column.tolist() for column in frame._iter_column_arrays()), strict=True)]


def _holds(column: pd.Series, kind: type) -> bool:
    """True when the column's first non-empty value is a `kind` (date or datetime)."""
    values = column.dropna()
    return len(values) > 0 and isinstance(values.iloc[0], kind)


def for_display(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Return the frame with human column names and words, plus its st.column_config."""
    shown = frame.copy()
    config: dict = {}
    for column in frame.columns:
        name = fmt.label(column)
        if column in fmt.RATE_COLUMNS:
            shown[column] = frame[column] * 100
            config[name] = st.column_config.NumberColumn(format="%.1f%%")
        elif column in fmt.WORD_COLUMNS:
            words = {w: fmt.human(w) for w in frame[column].dropna().unique()}
            shown[column] = frame[column].map(words)  # each distinct word once
        elif pd.api.types.is_integer_dtype(frame[column]) and column != "user_id":
            config[name] = st.column_config.NumberColumn(format="localized")
        elif _holds(frame[column], datetime):
            config[name] = st.column_config.DatetimeColumn(format="D MMM YYYY, HH:mm")
        elif _holds(frame[column], date):
            config[name] = st.column_config.DateColumn(format="D MMM YYYY")
    return shown.rename(columns=fmt.label), config


TABLE_CELL_CHARS = 1000  # a longer text from the data is cut on screen (CSVs keep it whole)


def _inert(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell made inert (`fmt.plain`): no controls, no bidi overrides."""
    texts = [i for i, dtype in enumerate(frame.dtypes)
             if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)]
    if not texts:
        return frame
    out = frame.copy()
    for i in texts:
        column = frame.iloc[:, i]
        out.isetitem(i, pd.Series(fmt.plain_cells(column.tolist(), TABLE_CELL_CHARS),
                                  index=column.index, dtype=object))
    return out


ROW_PX = 35  # Streamlit's row (and header) height: 2.1875rem
WRAPPED_ROW_PX = 72  # three lines; Streamlit wraps text only in rows taller than 4rem
LONG_TEXT = 60  # characters: a table holding a longer text cell wraps its rows
ROWS_SHOWN = 50  # a taller table scrolls inside itself; a page of results fits whole


def _longest_text(frame: pd.DataFrame) -> int:
    """The length of the longest text cell of `frame` (0 without any)."""
    return max((len(v) for i, dtype in enumerate(frame.dtypes)
                if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
                for v in frame.iloc[:, i] if isinstance(v, str)), default=0)


def height_for(rows: int, row_px: int = ROW_PX) -> int:
    """Pixels that show the header and up to ROWS_SHOWN rows whole (no inner scrolling)."""
    return ROW_PX + min(max(rows, 1), ROWS_SHOWN) * row_px + 3  # + the grid's borders


def draw(shown: pd.DataFrame, config: dict, **kwargs: object):
    """Draw a frame made by `for_display` read-only, without its index; return its events.

    Every table of the app goes through here: text cells are inert (`_inert`), a missing
    value is an empty cell (Streamlit would write a grey "None" in it), and the table is as
    tall as its rows up to ROWS_SHOWN (Streamlit's default shows about 10 in a scroll box).
    A table with a text longer than LONG_TEXT gets rows of three lines, so long text wraps
    instead of being cut.
    """
    return _drawn(_arrow(state.fingerprint(shown), shown), config, kwargs)


def show(frame: pd.DataFrame, config: dict | None = None,
         prepare: tuple[Callable[..., pd.DataFrame], dict] | None = None, **kwargs: object):
    """Draw `frame` as a read-only table with human column names and formatted numbers;
    `config` (by shown column name) adds to the column configs of `for_display`.

    `prepare` = (fn, options): draw `fn(frame, **options)` instead, made once with the rest
    (`fn` must depend on nothing but its arguments; the options are part of the key).
    """
    fn, options = prepare or (None, {})
    table, shown_config = _displayed(
        state.fingerprint(frame), fn and state.name_of(fn),
        sorted(options.items()), frame, fn)
    for name, extra in (config or {}).items():
        shown_config[name] = {**shown_config.get(name, {}), **extra}
    return _drawn(table, shown_config, kwargs)


class _Table(NamedTuple):
    """A table ready to draw: its cells as Streamlit sends them, and its longest text."""

    arrow: pa.Table
    longest_text: int


@st.cache_data(ttl=state.CACHE_TTL_SECONDS, max_entries=500, show_spinner=False)
def _arrow(fingerprint: str, _shown: pd.DataFrame) -> _Table:
    """`_shown` made inert and converted as st.dataframe converts a frame, once for the
    same cells (`fingerprint`) instead of on every rerun."""
    inert = _inert(_shown)
    return _Table(dataframe_util.convert_pandas_df_to_arrow_table(inert), _longest_text(inert))


@st.cache_data(ttl=state.CACHE_TTL_SECONDS, max_entries=500, show_spinner=False)
def _displayed(fingerprint: str, prepared_by: str | None, options: list,
               _frame: pd.DataFrame, _prepare: Callable | None) -> tuple[_Table, dict]:
    """`for_display` of the frame (`_prepare`d first) ready to draw (`_arrow`), with its
    column configs."""
    shown, config = for_display(_prepare(_frame, **dict(options)) if _prepare else _frame)
    return _arrow(state.fingerprint(shown), shown), config


def _drawn(table: _Table, config: dict, kwargs: dict):
    if "row_height" not in kwargs and table.longest_text > LONG_TEXT:
        kwargs["row_height"] = WRAPPED_ROW_PX
    kwargs.setdefault("height", height_for(table.arrow.num_rows,
                                           kwargs.get("row_height") or ROW_PX))
    return st.dataframe(table.arrow, column_config=config, hide_index=True, placeholder="",
                        **kwargs)


Rows = pd.DataFrame | Callable[[], pd.DataFrame]


def download(rows: Rows, report: str, period: Period | None, **filters: object) -> None:
    """CSV and Excel downloads of all of `rows` (or of what `rows()` returns, made when
    clicked) for analysts and admins; the name has the filters.

    The file name starts with the period's dates; pass None for data that ignores them.
    Contact columns are left out for a role that may not see them.
    """
    actor = auth.current_user(state.settings())
    if not can(actor, Permission.EXPORT):
        return
    if not can(actor, Permission.VIEW_CONTACTS):
        rows = _without_contacts(rows)
    csv_button(rows, export.file_name(report, period=period and period.describe(), **filters))


def _without_contacts(rows: Rows) -> Callable[[], pd.DataFrame]:
    """`rows` (made when asked for) without CONTACT_COLUMNS."""
    def made() -> pd.DataFrame:
        frame = rows() if callable(rows) else rows
        return frame.drop(columns=[c for c in CONTACT_COLUMNS if c in frame.columns])
    return made


def csv_button(rows: Rows, file_name: str) -> None:
    """"Download CSV" and "Download Excel" of `rows` (or of what `rows()` returns), each
    made only when clicked, shaped as the page reads (`hsl_ui.downloads`)."""
    tz = state.settings().timezone

    def page_file() -> downloads.PageFile:
        return downloads.shape(rows() if callable(rows) else rows, tz)

    with st.container(horizontal=True, gap="small"):
        st.download_button(
            "Download CSV", data=lambda: downloads.csv_bytes(page_file()),
            file_name=file_name, mime="text/csv", icon=":material/download:",
            on_click="ignore",
            help=f"Every row, as on the page; times in {tz}, rates in % (one decimal).",
        )
        st.download_button(
            "Download Excel", data=lambda: downloads.xlsx_bytes(page_file()),
            file_name=downloads.excel_name(file_name), mime=downloads.EXCEL_MIME,
            icon=":material/table_view:", on_click="ignore",
            help="Every row, with date, number and percentage cells. Made when you click: "
                 "100,000 rows take about 10 seconds.",
        )
