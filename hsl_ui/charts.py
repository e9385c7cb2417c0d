"""Small Altair chart builders: each takes a report DataFrame and returns a chart."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from altair.utils.schemapi import SchemaBase, validate_jsonschema
from streamlit import dataframe_util
from streamlit.delta_generator import DeltaGenerator

from hsl.filters import Period
from hsl_ui import format as fmt
from hsl_ui import state

PRIMARY = "#2f6f9f"
ACCENT = "#d9822b"
TEXT = "#1f2933"
NO_DATA = "No data for these filters."
PARTIAL_OPACITY = 0.45  # today's bar (the day is not over) and an upcoming lesson's bar
PARTIAL_DASH = [5, 4]  # the line segment into today
_LABEL_PX = 36  # two lines of label at the top of each row of labelled bars
_BAR = 22  # the bar under them
_ROW = _LABEL_PX + _BAR + 8  # a row of labelled bars: label, bar, a gap; nothing is cut off


def no_data(period: Period | None = None) -> None:
    """Say that the filters match nothing (instead of drawing an empty chart).

    With the `period` a page shows: when the data (`state.data_days`) lies wholly outside
    it, say so and when the data starts and ends.
    """
    span = state.data_days(period.tz).iloc[0] if period is not None else None
    if span is not None and pd.notna(span.first_day) and (
            period.end < span.first_day or period.start > span.last_day):
        st.info(f"No data in these dates. Data runs from {fmt.day(span.first_day)} to "
                f"{fmt.day(span.last_day)}.", icon=":material/event_busy:")
    else:
        st.info(NO_DATA, icon=":material/filter_alt_off:")


def show(chart: Callable[..., alt.TopLevelMixin | Layer], frame: pd.DataFrame, *args: Any,
         has_data: bool | None = None, period: Period | None = None) -> None:
    """Draw `chart(frame, *args)` full width, or the no-data notice when there is nothing
    to draw (`no_data(period)`)."""
    if frame.empty or has_data is False:
        no_data(period)
    else:
        draw(chart, frame, *args)


def draw(chart: Callable[..., alt.TopLevelMixin | Layer], frame: pd.DataFrame, *args: Any,
         where: DeltaGenerator | None = None, **options: Any) -> Any:
    """Draw `chart(frame, *args)` full width from its cached Vega-Lite spec.

    Building an Altair chart and validating it against the Vega-Lite schema costs 25-50 ms
    a chart on every rerun; the spec is the same for the same data, so it is made once
    (`_spec`, cached like the data) and drawn with st.vega_lite_chart. `options` go to it
    (key, on_select, ...).
    """
    spec = _spec(state.name_of(chart), state.fingerprint(frame), args, frame, chart)
    return (where or st).vega_lite_chart(spec, width="stretch", **options)


_ALTAIR = threading.Lock()  # Altair's data transformer and theme are process-wide settings


def _named(data: pd.DataFrame, datasets: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Altair data transformer: keep the frame aside under a name (sent as Arrow), one name
    for one frame however many layers draw it."""
    name = next((n for n, known in datasets.items() if known is data), f"data-{len(datasets)}")
    datasets[name] = data
    return {"name": name}


alt.data_transformers.register("hsl_named", _named)
# Altair checks every object it makes against the Vega-Lite schema as it is made (its "debug
# mode"): half the time of building a chart. The app's charts are fixed code; the tests
# validate each whole spec (to_dict()), so the app builds them unchecked.
alt.utils.schemapi.disable_debug_mode()


@st.cache_data(ttl=300, max_entries=500, show_spinner=False)
def _spec(name: str, fingerprint: str, args: tuple, _frame: pd.DataFrame,
          _chart: Callable) -> dict:
    """The Vega-Lite spec of `_chart(_frame, *args)` (named `name`; `fingerprint` stands
    for the frame in the key), its data as datasets already in the Arrow bytes Streamlit
    sends (it would convert each frame again on every rerun)."""
    chart = _chart(_frame, *args)
    datasets: dict[str, pd.DataFrame] = {}
    with _ALTAIR, alt.theme.enable("none"), alt.data_transformers.enable(
            "hsl_named", datasets=datasets):
        spec = chart.to_dict(validate=False)  # our charts are fixed code, tested as drawn
    spec["datasets"] = {**spec.get("datasets", {}), **{
        name: dataframe_util.convert_anything_to_arrow_bytes(data)
        for name, data in datasets.items()}}
    return spec


class Layer:
    """Charts drawn over one another (a Vega-Lite layer), put together as plain dicts.

    alt.layer deep-copies every sub-chart twice to lift selection parameters, which these
    charts do not have: 0.1-0.2 s for a month of days. This is the same spec in a
    millisecond. Sub-charts may be Layers; datasets and the theme's config go to the top.
    """

    def __init__(self, *charts: alt.TopLevelMixin | Layer) -> None:
        self.charts = charts
        self.extra: dict[str, Any] = {}

    def properties(self, **properties: Any) -> Layer:
        self.extra.update(properties)
        return self

    def resolve_scale(self, **scales: str) -> Layer:
        self.extra["resolve"] = {"scale": scales}
        return self

    def to_dict(self, validate: bool = True) -> dict:
        """The layer's Vega-Lite spec; `validate`: checked against the schema first."""
        spec: dict[str, Any] = {"$schema": alt.SCHEMA_URL, "layer": []}
        datasets: dict[str, Any] = {}
        for chart in self.charts:
            sub = chart.to_dict(validate=False)
            sub.pop("$schema", None)
            datasets.update(sub.pop("datasets", {}))
            if "config" in sub:
                spec["config"] = sub.pop("config")
            spec["layer"].append(sub)
        spec.update({key: value.to_dict(validate=False) if isinstance(value, SchemaBase)
                     else value for key, value in self.extra.items()})
        if datasets:
            spec["datasets"] = datasets
        if validate:
            validate_spec(spec)
        return spec


def validate_spec(spec: dict) -> None:
    """Raise jsonschema's ValidationError unless `spec` is valid Vega-Lite (the schema of
    the Altair the app draws with)."""
    schema = alt.vegalite.v6.schema.core.load_schema()
    validate_jsonschema(spec, schema, rootschema=schema)


def layer(*charts: alt.TopLevelMixin | Layer) -> Layer:
    """`charts` drawn over one another, first at the bottom (see Layer)."""
    return Layer(*charts)


def _stamp(day: date, hours: int = 0, minutes: int = 0) -> dict[str, int]:
    """A local calendar day (at `hours`) as Vega-Lite reads the charts' day columns: its
    DateTime object, as a plain dict (Altair copies a chart's objects each time layers are
    put together; a month of alt.DateTime ticks made that 0.2 s a chart)."""
    return {"year": day.year, "month": day.month, "date": day.day, "hours": hours,
            "minutes": minutes}


def _day_end(day: date) -> dict[str, int]:
    """The end of `day` (the start of the next; the last minute of the calendar's last day)."""
    return _stamp(day + timedelta(days=1)) if day < date.max else _stamp(day, 23, 59)


def _tick_days(days: list[date]) -> list[date]:
    """The days that get a tick: every day up to two months, then Mondays up to a year,
    then the first of each month up to ten years, then 1 January of at most 20 years."""
    first, last = days[0], days[-1]
    span = (last - first).days + 1
    if span <= 62:
        return days
    if span <= 366:
        monday = first + timedelta(days=-first.weekday() % 7)
        return [monday + timedelta(weeks=n) for n in range((last - monday).days // 7 + 1)]
    if span <= 3660:
        months = (last.year - first.year) * 12 + last.month - first.month
        starts = [date(first.year + (first.month - 1 + n) // 12, (first.month - 1 + n) % 12 + 1,
                       1) for n in range(months + 1)]
    else:
        step = max(1, (last.year - first.year) // 20)
        starts = [date(y, 1, 1) for y in range(first.year, last.year + 1, step)]
    return [d for d in starts if first <= d <= last]


def day_x(days: Iterable[date], title: str | None = None, field: str = "when",
          middle: bool = False) -> alt.X:
    """The x encoding of a chart by day: the axis runs from the first to the last of `days`
    (no tick past either end) with at most one tick a day, at the middle of its day.

    `middle` puts a point (line marks) in the middle of its day too, above its tick; bars
    fill their day.
    """
    shown = sorted(set(days))
    ticks = _tick_days(shown) if shown else []
    domain = [_stamp(shown[0]), _day_end(shown[-1])] if shown else None
    return alt.X(
        f"yearmonthdate({field}):T", title=title,
        scale=alt.Scale(domain=domain, nice=False) if domain else alt.Undefined,
        # A first or last label near the axis' end is aligned with it rather than centred on
        # its tick, so it is not cut by the chart's edge.
        axis=alt.Axis(values=[_stamp(d, 12) for d in ticks], format="%-d %b", labelAngle=0,
                      labelOverlap=True, grid=False, labelFlush=40),
        bandPosition=0.5 if middle else alt.Undefined,
    )


def today_note(frame: pd.DataFrame, today: date | None, field: str = "day") -> None:
    """A caption under a daily chart whose last day is today: its numbers are so far."""
    if today is not None and not frame.empty and frame[field].max() == today:
        st.caption(f"{fmt.day(today)} is today: its numbers are so far (lighter bars, "
                   "dashed line).")


def partial_line(base: alt.Chart, data: pd.DataFrame, mark: dict) -> Layer:
    """A line of `base` drawn solid over whole days and dashed from the last whole day into
    today (`data` has `partial`: today, and `tail`: the rows of that last segment).

    `mark` are the line's mark properties; today's point is hollow.
    """
    whole = base.transform_filter(~alt.datum.partial).mark_line(**mark)
    if not data["partial"].any():
        return layer(whole)
    tail = base.transform_filter(alt.datum.tail).mark_line(
        **{**mark, "point": False}, strokeDash=PARTIAL_DASH)
    today = base.transform_filter(alt.datum.partial).mark_point(
        color=mark.get("color"), filled=False, size=40, strokeWidth=2, opacity=1)
    return layer(whole, tail, today)


def partial_days(frame: pd.DataFrame, today: date | None, field: str = "day") -> pd.DataFrame:
    """`frame` with `when` (the day as a timestamp), `partial` (the row is today's, a day that
    is not over) and `tail` (today and the day before: the dashed end of a line)."""
    days = frame[field]
    partial = days == today if today is not None else pd.Series(False, index=frame.index)
    tail = partial | (days == today - timedelta(days=1)) if partial.any() else partial
    return frame.assign(when=pd.to_datetime(days), partial=partial, tail=tail)


def growth(frame: pd.DataFrame, today: date | None = None) -> Layer:
    """Bars of new users per day and the cumulative total as a line on a second axis.

    Today's bar (the day is not over) is lighter and the line into it dashed.
    """
    data = partial_days(frame, today)
    tooltip = [
        alt.Tooltip("yearmonthdate(when):T", title="Day", format="%a %d %b %Y"),
        alt.Tooltip("new_users:Q", title="New users", format=","),
        alt.Tooltip("total_users:Q", title="Total users", format=","),
    ]
    bars = alt.Chart(data).mark_bar(color=PRIMARY).encode(
        x=day_x(data["day"]),
        y=alt.Y("new_users:Q", title="New users per day",
                axis=alt.Axis(titleColor=PRIMARY, format=",d", tickMinStep=1)),
        opacity=alt.condition(alt.datum.partial, alt.value(PARTIAL_OPACITY), alt.value(0.85)),
        tooltip=tooltip,
    )
    line_base = alt.Chart(data).encode(
        x=day_x(data["day"], middle=True),
        y=alt.Y("total_users:Q", title="Total known users", scale=alt.Scale(zero=False),
                axis=alt.Axis(titleColor=ACCENT, orient="right", format=",d")),
        tooltip=tooltip,
    )
    line = partial_line(line_base, data, {"color": ACCENT, "strokeWidth": 2.5,
                                          "point": alt.OverlayMarkDef(size=18, color=ACCENT)})
    return layer(bars, line).resolve_scale(y="independent").properties(height=320)


def _labelled_bars(data: pd.DataFrame, x: alt.X, order: list[str],
                   tooltip: list[alt.Tooltip]) -> Layer:
    """Horizontal bars, one per `name`, each with its `label` (one or two lines) above it.

    A label never makes the chart narrower: it is at most the chart's width (a longer one
    ends in "…"; the tooltip has it whole).
    """
    y = alt.Y("name:N", sort=order, axis=None, bandPosition=0,
              scale=alt.Scale(paddingInner=0, paddingOuter=0))
    base = alt.Chart(data).encode(y=y, tooltip=tooltip)
    bars = base.mark_bar(color=PRIMARY, size=_BAR, cornerRadiusEnd=3,
                         yOffset=_LABEL_PX + 2 + _BAR / 2 - _ROW / 2).encode(x=x)
    text = base.mark_text(align="left", baseline="top", dy=2, color=TEXT, fontSize=13,
                          lineBreak="\n", lineHeight=16,
                          limit=alt.ExprRef(expr="width")).encode(x=alt.value(0), text="label:N")
    # Only the width fits the page: the rows keep their height, the axis goes under them.
    return layer(bars, text).properties(
        height=_ROW * len(data), autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))


def attendance(frame: pd.DataFrame) -> Layer:
    """Attendance rate per lesson type as labelled horizontal bars on a 0–100 % axis."""
    data = frame.assign(name=frame["lesson_type"].map(fmt.human))
    data["label"] = [
        f"{name}\n{fmt.pct_of(r, n, 0)} · {fmt.count(a)} of {fmt.count(n)} attended"
        for name, r, a, n in zip(data["name"], data["attendance_rate"], data["attended"],
                                 data["registrants"], strict=True)
    ]
    x = alt.X("attendance_rate:Q", title="Attendance rate", scale=alt.Scale(domain=[0, 1]),
              axis=alt.Axis(format="%"))
    tooltip = [
        alt.Tooltip("name:N", title="Lesson type"),
        alt.Tooltip("registrants:Q", title="Registrants", format=","),
        alt.Tooltip("attended:Q", title="Attended", format=","),
        alt.Tooltip("attendance_rate:Q", title="Attendance rate", format=".1%"),
    ]
    order = data.sort_values("attendance_rate", ascending=False)["name"].tolist()
    return _labelled_bars(data, x, order, tooltip)


def funnel(frame: pd.DataFrame) -> Layer:
    """The closed funnel as horizontal bars: count, % of first and % of previous step.

    A share of a step nobody reached reads "—" (no data), not 0 %.
    """
    data = frame.assign(name=frame["step"].map(fmt.human))
    labels = []
    first = previous = None
    for row in data.itertuples():
        text = f"{row.name} — {fmt.people(row.users)}"
        if first is not None:
            text += (f"\n{fmt.pct_of(row.pct_of_first, first)} of first step"
                     f" · {fmt.pct_of(row.pct_of_previous, previous)} of previous")
        else:
            text += "\nthe cohort"
            first = row.users
        previous = row.users
        labels.append(text)
    data["label"] = labels
    x = alt.X("users:Q", title="People", axis=alt.Axis(format=",d", tickMinStep=1, tickCount=10))
    tooltip = [
        alt.Tooltip("name:N", title="Step"),
        alt.Tooltip("users:Q", title="People", format=","),
        alt.Tooltip("pct_of_first:Q", title="% of first step", format=".1%"),
        alt.Tooltip("pct_of_previous:Q", title="% of previous step", format=".1%"),
        alt.Tooltip("open_users:Q", title="Did the step at all (any path)", format=","),
    ]
    return _labelled_bars(data, x, data["name"].tolist(), tooltip)
