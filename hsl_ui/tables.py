"""Tables on screen with human column names and formats, and their CSV download."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pandas as pd
import streamlit as st

from hsl import export
from hsl.auth import Permission, can
from hsl.filters import Period
from hsl_ui import auth, state
from hsl_ui import format as fmt


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


def draw(shown: pd.DataFrame, config: dict, **kwargs: object):
    """Draw a frame made by `for_display` read-only, without its index; return its events.

    Every table of the app goes through here: text cells are inert (`_inert`) and a missing
    value is an empty cell (Streamlit would write a grey "None" in it).
    """
    return st.dataframe(_inert(shown), column_config=config, hide_index=True, placeholder="",
                        **kwargs)


def show(frame: pd.DataFrame, **kwargs: object):
    """Draw `frame` as a read-only table with human column names and formatted numbers."""
    return draw(*for_display(frame), **kwargs)


def download(frame: pd.DataFrame, report: str, period: Period | None, **filters: object) -> None:
    """A CSV download of all of `frame`'s rows (analysts and admins); the name has the filters.

    The file name starts with the period's dates; pass None for data that ignores them.
    """
    if not can(auth.current_user(state.settings()), Permission.EXPORT):
        return
    csv_button(frame, export.file_name(report, period=period and period.describe(), **filters))


def csv_button(rows: pd.DataFrame | Callable[[], pd.DataFrame], file_name: str) -> None:
    """"Download CSV" of `rows` (or of what `rows()` returns), made only when clicked."""
    st.download_button(
        "Download CSV",
        data=lambda: export.to_csv_bytes(rows() if callable(rows) else rows),
        file_name=file_name,
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )
