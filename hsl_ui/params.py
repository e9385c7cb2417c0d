"""Filters that live in the URL, so a copied link reproduces the view.

Each helper draws one widget whose value starts from the query string, writes the query
string back when the widget changes, and falls back to its default with a small notice
when the link holds a malformed value — never an exception:

    lesson = params.select("lesson_type", "Lesson type", [None, *types],
                           format_func=lambda t: "All lesson types" if t is None else t)

A value equal to its default is left out of the URL; the shared dates (`shared_dates`) are
always written. `sticky` filters (the shared dates and comparison) are carried over to
the next page: the sidebar's page links hold them (`carried`), and a page that uses them,
opened with none of them in its URL, takes the ones last used in the session (`carry_over`).

Every change of the query string is one write (`st.query_params.from_dict`): the browser
adds one history entry per write, so one filter change is one step back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from hsl.filters import DEFAULT_PRESET, PRESETS, preset_dates
from hsl_ui import format as fmt

T = TypeVar("T")
_MEMORY = "_hsl_url_memory"  # session key: query texts of the sticky filters last in use


@dataclass(frozen=True)
class Param(Generic[T]):
    """How one filter is spelled in the query string."""

    keys: tuple[str, ...]  # query-string keys, e.g. ("start", "end")
    default: T
    parse: Callable[..., T]  # one list of texts per key → value; ValueError when malformed
    dump: Callable[[T], tuple[str | list[str], ...]]  # value → one text (or list) per key
    fallback: str  # how the default reads in a notice, e.g. "the last 30 days"
    sticky: bool = False  # carried over to the next page
    accepts: Callable[[Any], bool] = lambda value: True  # is a widget value complete?

    @property
    def widget_key(self) -> str:
        """The session-state key of the widget bound to this filter."""
        return "url:" + "+".join(self.keys)


def _raw(param: Param) -> list[list[str]]:
    return [st.query_params.get_all(key) for key in param.keys]


def _shown(raw: list[list[str]], keys: Sequence[str]) -> str:
    """The offending part of the link as a short, inert code span."""
    text = "&".join(f"{k}={v}" for k, values in zip(keys, raw, strict=True) for v in values)
    return fmt.code(text)


def _remembered() -> dict[str, list[str]]:
    return st.session_state.setdefault(_MEMORY, {})


def carry_over() -> None:
    """On a page opened with none of the sticky filters in its URL, put the ones last used
    in the session there (one write), so the page shows them and its link holds them."""
    memory = carried()
    if memory and not any(st.query_params.get_all(key) for key in _remembered()):
        _set(memory)


def _resolve(param: Param[T]) -> tuple[T, str | None]:
    """Return the filter's value from the URL (or its default) and a notice or None."""
    raw = _raw(param)
    if not any(raw):
        return param.default, None
    try:
        return param.parse(*raw), None
    except ValueError as err:
        return param.default, (
            f"Ignored {_shown(raw, param.keys)} from the link: {err} Showing {param.fallback}."
        )


def _texts(param: Param[T], value: T) -> dict[str, list[str]]:
    """Query key → texts for `value` (no texts: the key is left out)."""
    texts = {key: [text] if isinstance(text, str) else list(text)
             for key, text in zip(param.keys, param.dump(value), strict=True)}
    if value == param.default:
        return dict.fromkeys(param.keys, [])
    return texts


def _set(changes: dict[str, list[str]]) -> None:
    """Apply `changes` (key → texts; none: remove the key) to the URL in one write."""
    current = {key: st.query_params.get_all(key) for key in st.query_params}
    wanted = {key: texts for key, texts in {**current, **changes}.items() if texts}
    if wanted != current:
        st.query_params.from_dict(
            {key: texts[0] if len(texts) == 1 else texts for key, texts in wanted.items()}
        )


def write(param: Param[T], value: T) -> None:
    """Put `value` into the URL (one write); a default is left out."""
    _set(_texts(param, value))


def _remember(changes: dict[str, list[str]]) -> None:
    _remembered().update(changes)


def carried() -> dict[str, list[str]]:
    """The sticky filters last in use (query key → texts), for links to the next page."""
    return {key: list(texts) for key, texts in _remembered().items() if texts}


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
    changes = _texts(param, value)
    _set(changes)
    if param.sticky:
        _remember(changes)
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


CUSTOM = "custom"  # the preset choice "Custom dates": the range as picked, fixed
DATE_KEYS = ("dates", "start", "end")
_CHOICE, _RANGE = "url:dates", "url:start+end"  # session keys of the two date widgets


def _complete(value: object) -> bool:
    return isinstance(value, tuple | list) and len(value) == 2


def _date_texts(preset: str | None, start: date, end: date) -> dict[str, list[str]]:
    return {"dates": [preset] if preset else [], "start": [start.isoformat()],
            "end": [end.isoformat()]}


def _resolve_dates(today: date, min_value: date, texts: dict[str, list[str]] | None = None,
                   ) -> tuple[str | None, date, date, str | None]:
    """(preset or None, start, end, notice or None) from `?dates=&start=&end=` (or `texts`)."""
    named, first, last = (st.query_params.get_all(key) if texts is None else texts.get(key, [])
                          for key in DATE_KEYS)
    fallback = f"Showing the {PRESETS[DEFAULT_PRESET].lower()}."
    default = (DEFAULT_PRESET, *preset_dates(DEFAULT_PRESET, today))
    if named and named[-1] != CUSTOM:
        if named[-1] in PRESETS:
            return (named[-1], *preset_dates(named[-1], today), None)
        return (*default, f"Ignored {_shown([named], ['dates'])} from the link: "
                          f"“{fmt.md(named[-1])}” is not one of the date presets. {fallback}")
    if not (first or last):
        return (*default, None)
    try:
        start, end = _iso_date(_last(first)), _iso_date(_last(last))
        if start > end:
            raise ValueError("the start date is after the end date.")
        if start < min_value or end > today:
            raise ValueError(f"dates must lie between {min_value} and {today}.")
    except ValueError as err:
        return (*default, f"Ignored {_shown([first, last], DATE_KEYS[1:])} from the link: "
                          f"{err} {fallback}")
    return None, start, end, None


def remembered_dates(today: date, min_value: date) -> tuple[str | None, date, date]:
    """The shared dates last used in the session (a preset rolls to `today`), for a page
    that does not show them; the default preset when none were used yet."""
    preset, start, end, _ = _resolve_dates(today, min_value, carried())
    _remember(_date_texts(preset, start, end))  # so the page links carry them too
    return preset, start, end


def _preset_picked(today: date) -> None:
    name = st.session_state[_CHOICE]
    if name == CUSTOM:  # the dates shown stay, fixed from now on
        _set({"dates": []})
        return
    start, end = preset_dates(name, today)
    st.session_state[_RANGE] = (start, end)
    _set(_date_texts(name, start, end))


def _range_picked() -> None:
    picked = st.session_state.get(_RANGE)
    if _complete(picked):  # half a range (the start only) waits for its end
        st.session_state[_CHOICE] = CUSTOM
        _set(_date_texts(None, *picked))


def shared_dates(label: str, today: date, *, min_value: date,
                 container: DeltaGenerator | None = None,
                 **kwargs: Any) -> tuple[str | None, date, date]:
    """The shared dates: a preset in `?dates=NAME` and the inclusive range in
    `?start=YYYY-MM-DD&end=YYYY-MM-DD`; returns (preset, or None for custom dates, start, end).

    A preset in the link wins over its start and end, which are rewritten to what the preset
    means `today` (a saved link rolls); a link without one keeps its dates (custom). Picking
    a preset shows its dates; picking or typing dates makes them custom. Start and end are
    always written, the preset whenever one is in use (the default, too). `kwargs` go to the
    date input.
    """
    where = container or st.container()
    preset, start, end, notice = _resolve_dates(today, min_value)
    st.session_state[_CHOICE] = preset or CUSTOM
    shown = st.session_state.get(_RANGE)
    if _RANGE not in st.session_state or (_complete(shown) and tuple(shown) != (start, end)):
        st.session_state[_RANGE] = (start, end)
    where.selectbox(label, [*PRESETS, CUSTOM], key=_CHOICE,
                    format_func=lambda name: PRESETS.get(name, "Custom dates"),
                    on_change=_preset_picked, args=(today,),
                    help="A preset follows the calendar: a link to “Last month” shows the "
                         "month before the day it is opened. Picked or typed dates stay fixed.")
    where.date_input("Date range", key=_RANGE, min_value=min_value, max_value=today,
                     on_change=_range_picked, label_visibility="collapsed", **kwargs)
    texts = _date_texts(preset, start, end)
    _set(texts)
    _remember(texts)
    if notice:
        where.info(notice, icon=":material/link_off:")
    return preset, start, end


def select(key: str, label: str, options: Sequence[T], *, default: T | None = None,
           format_func: Callable[[T], str] = str, container: DeltaGenerator | None = None,
           sticky: bool = False, fallback: str | None = None, **kwargs: Any) -> T:
    """A selectbox in `?key=value`; a value that is not among `options` falls back.

    Options may include None (e.g. "all lesson types"): the widget works on their texts,
    None being the empty text. `sticky`: carried over to the next page. `fallback`: how
    the default reads in a notice (default: its option text).
    """
    by_text = {_text(option): option for option in options}
    default_text = _text(next(iter(options)) if default is None else default)

    def parse(texts: list[str]) -> str:
        text = _last(texts)
        if text not in by_text:
            raise ValueError(f"“{fmt.md(text)}” is not one of the choices.")
        return text

    param = Param((key,), default_text, parse, lambda v: (v,),
                  fallback or format_func(by_text[default_text]), sticky=sticky)
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
