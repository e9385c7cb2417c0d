"""Filters that live in the URL, so a copied link reproduces the view.

Each helper draws one widget whose value starts from the query string, writes the query
string back when the widget changes, and falls back to its default with a small notice
when the link holds a malformed value — never an exception:

    lesson = params.select("lesson_type", "Lesson type", [None, *types],
                           format_func=lambda t: "All lesson types" if t is None else t)

A value equal to its default is left out of the URL, except for `sticky` filters (the
shared date range), which are always written and carried over to the next page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from hsl_ui import format as fmt

T = TypeVar("T")
_MEMORY = "_hsl_url_memory"  # session key: last value of each sticky filter


@dataclass(frozen=True)
class Param(Generic[T]):
    """How one filter is spelled in the query string."""

    keys: tuple[str, ...]  # query-string keys, e.g. ("start", "end")
    default: T
    parse: Callable[..., T]  # one list of texts per key → value; ValueError when malformed
    dump: Callable[[T], tuple[str | list[str], ...]]  # value → one text (or list) per key
    fallback: str  # how the default reads in a notice, e.g. "the last 30 days"
    sticky: bool = False
    accepts: Callable[[Any], bool] = lambda value: True  # is a widget value complete?

    @property
    def widget_key(self) -> str:
        """The session-state key of the widget bound to this filter."""
        return "url:" + "+".join(self.keys)


def _raw(param: Param) -> list[list[str]]:
    return [st.query_params.get_all(key) for key in param.keys]


def _shown(raw: list[list[str]], param: Param) -> str:
    """The offending part of the link as a short, inert code span."""
    text = "&".join(f"{k}={v}" for k, values in zip(param.keys, raw, strict=True) for v in values)
    return fmt.code(text)


def _resolve(param: Param[T]) -> tuple[T, str | None]:
    """Return the filter's value from the URL (or memory, or default) and a notice or None."""
    raw = _raw(param)
    if not any(raw):
        memory = st.session_state.get(_MEMORY, {})
        return (memory.get(param.widget_key, param.default) if param.sticky else param.default,
                None)
    try:
        return param.parse(*raw), None
    except ValueError as err:
        return param.default, (
            f"Ignored {_shown(raw, param)} from the link: {err} Showing {param.fallback}."
        )


def write(param: Param[T], value: T) -> None:
    """Put `value` into the URL; a default is left out unless the filter is sticky."""
    texts = param.dump(value)
    for key, text in zip(param.keys, texts, strict=True):
        wanted = [text] if isinstance(text, str) else list(text)
        if value == param.default and not param.sticky:
            wanted = []
        if st.query_params.get_all(key) == wanted:
            continue
        if wanted:
            st.query_params[key] = wanted if len(wanted) > 1 else wanted[0]
        else:
            st.query_params.pop(key, None)


def _on_change(param: Param) -> None:
    value = st.session_state.get(param.widget_key)
    if param.accepts(value):
        write(param, value)


def bind(param: Param[T], widget: str, label: str, *,
         container: DeltaGenerator | None = None, **kwargs: Any) -> T:
    """Draw `container.<widget>(label, **kwargs)` bound to `param`; return the value in use.

    The widget shows the URL's value; a change is written to the URL before the rerun.
    While the widget holds an incomplete value (half a date range) the previous value
    stays in use.
    """
    where = container or st.container()
    value, notice = _resolve(param)
    key = param.widget_key
    current = st.session_state.get(key)
    if key not in st.session_state or (param.accepts(current) and current != value):
        st.session_state[key] = value
    shown = getattr(where, widget)(label, key=key, on_change=_on_change, args=(param,), **kwargs)
    if param.accepts(shown):
        value = shown
    write(param, value)
    if param.sticky:
        st.session_state.setdefault(_MEMORY, {})[key] = value
    if notice:
        where.info(notice, icon=":material/link_off:")
    return value


# ---------------------------------------------------------------- widgets


def _last(texts: list[str]) -> str:
    if not texts:
        raise ValueError("a value is missing.")
    return texts[-1]


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"“{fmt.md(text)}” is not a date in YYYY-MM-DD form.") from None


def _text(option: object) -> str:
    return "" if option is None else str(option)


def date_range(label: str, default: tuple[date, date], *, min_value: date, max_value: date,
               keys: tuple[str, str] = ("start", "end"), fallback: str,
               container: DeltaGenerator | None = None, **kwargs: Any) -> tuple[date, date]:
    """A date-range input in `?start=YYYY-MM-DD&end=YYYY-MM-DD` (inclusive, always written)."""

    def parse(start: list[str], end: list[str]) -> tuple[date, date]:
        first, last = _iso_date(_last(start)), _iso_date(_last(end))
        if first > last:
            raise ValueError("the start date is after the end date.")
        if first < min_value or last > max_value:
            raise ValueError(f"dates must lie between {min_value} and {max_value}.")
        return first, last

    param = Param(
        keys, tuple(default), parse, lambda v: (v[0].isoformat(), v[1].isoformat()), fallback,
        sticky=True, accepts=lambda v: isinstance(v, tuple | list) and len(v) == 2,
    )
    start, end = bind(param, "date_input", label, container=container,
                      min_value=min_value, max_value=max_value, **kwargs)
    return start, end


def select(key: str, label: str, options: Sequence[T], *, default: T | None = None,
           format_func: Callable[[T], str] = str, container: DeltaGenerator | None = None,
           **kwargs: Any) -> T:
    """A selectbox in `?key=value`; a value that is not among `options` falls back.

    Options may include None (e.g. "all lesson types"): the widget works on their texts,
    None being the empty text.
    """
    by_text = {_text(option): option for option in options}
    default_text = _text(next(iter(options)) if default is None else default)

    def parse(texts: list[str]) -> str:
        text = _last(texts)
        if text not in by_text:
            raise ValueError(f"“{fmt.md(text)}” is not one of the choices.")
        return text

    param = Param((key,), default_text, parse, lambda v: (v,), format_func(by_text[default_text]))
    text = bind(param, "selectbox", label, container=container, options=list(by_text),
                format_func=lambda t: format_func(by_text[t]), **kwargs)
    return by_text[text]


def multiselect(key: str, label: str, options: Sequence[T], *,
                format_func: Callable[[T], str] = str, container: DeltaGenerator | None = None,
                **kwargs: Any) -> list[T]:
    """A multiselect in `?key=a&key=b` (default: nothing chosen); unknown values fall back."""
    by_text = {_text(option): option for option in options}

    def parse(texts: list[str]) -> list[str]:
        unknown = [t for t in texts if t not in by_text]
        if unknown:
            raise ValueError(f"“{fmt.md(unknown[0])}” is not one of the choices.")
        return list(dict.fromkeys(texts))

    param = Param((key,), [], parse, lambda v: (list(v),), "no selection")
    texts = bind(param, "multiselect", label, container=container, options=list(by_text),
                 format_func=lambda t: format_func(by_text[t]), **kwargs)
    return [by_text[t] for t in texts]


def toggle(key: str, label: str, *, default: bool = False,
           container: DeltaGenerator | None = None, **kwargs: Any) -> bool:
    """An on/off toggle in `?key=1` or `?key=0`."""

    def parse(texts: list[str]) -> bool:
        text = _last(texts).strip().lower()
        if text not in {"1", "0", "true", "false"}:
            raise ValueError(f"“{fmt.md(text)}” is not 1 or 0.")
        return text in {"1", "true"}

    param = Param((key,), default, parse, lambda v: ("1" if v else "0",),
                  "on" if default else "off")
    return bind(param, "toggle", label, container=container, **kwargs)


def integer(key: str, label: str, *, default: int, min_value: int, max_value: int,
            container: DeltaGenerator | None = None, **kwargs: Any) -> int:
    """A whole-number input in `?key=N`, limited to min_value..max_value."""

    def parse(texts: list[str]) -> int:
        text = _last(texts).strip()
        if not text.lstrip("-").isdigit():
            raise ValueError(f"“{fmt.md(text)}” is not a whole number.")
        number = int(text)
        if not min_value <= number <= max_value:
            raise ValueError(f"it must lie between {min_value} and {max_value}.")
        return number

    param = Param((key,), default, parse, lambda v: (str(v),), str(default))
    return bind(param, "number_input", label, container=container, min_value=min_value,
                max_value=max_value, step=1, **kwargs)
