"""Small Altair chart builders: each takes a report DataFrame and returns a chart."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from hsl_ui import format as fmt

PRIMARY = "#2f6f9f"
ACCENT = "#d9822b"
TEXT = "#1f2933"
NO_DATA = "No data for these filters."
_ROW = 58  # pixels per labelled bar: the label sits above its bar, so nothing is cut off


def no_data() -> None:
    """Say that the filters match nothing (instead of drawing an empty chart)."""
    st.info(NO_DATA, icon=":material/filter_alt_off:")


def show(chart: Callable[[pd.DataFrame], alt.TopLevelMixin], frame: pd.DataFrame,
         has_data: bool | None = None) -> None:
    """Draw `chart(frame)` full width, or the no-data notice when there is nothing to draw."""
    if frame.empty or has_data is False:
        no_data()
    else:
        draw(chart, frame)


def draw(chart: Callable[..., alt.TopLevelMixin], frame: pd.DataFrame, *args: Any,
         where: DeltaGenerator | None = None, **options: Any) -> Any:
    """Draw `chart(frame, *args)` full width from its cached Vega-Lite spec.

    Building an Altair chart and validating it against the Vega-Lite schema costs 25-50 ms
    a chart on every rerun; the spec is the same for the same data, so it is made once
    (`_spec`, cached like the data) and drawn with st.vega_lite_chart. `options` go to it
    (key, on_select, ...).
    """
    spec = _spec(f"{chart.__module__}.{chart.__qualname__}", frame, args, chart)
    return (where or st).vega_lite_chart(spec, width="stretch", **options)


_ALTAIR = threading.Lock()  # Altair's data transformer and theme are process-wide settings


def _named(data: pd.DataFrame, datasets: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Altair data transformer: keep the frame aside under a name (sent as Arrow)."""
    name = f"data-{len(datasets)}"
    datasets[name] = data
    return {"name": name}


alt.data_transformers.register("hsl_named", _named)


@st.cache_data(ttl=300, max_entries=500, show_spinner=False)
def _spec(name: str, frame: pd.DataFrame, args: tuple, _chart: Callable) -> dict:
    """The Vega-Lite spec of `_chart(frame, *args)` (named `name`), its data as datasets."""
    chart = _chart(frame, *args)
    datasets: dict[str, pd.DataFrame] = {}
    with _ALTAIR, alt.theme.enable("none"), alt.data_transformers.enable(
            "hsl_named", datasets=datasets):
        spec = chart.to_dict(validate=False)  # our charts are fixed code, tested as drawn
    spec["datasets"] = {**spec.get("datasets", {}), **datasets}
    return spec


def growth(frame: pd.DataFrame) -> alt.LayerChart:
    """Bars of new users per day and the cumulative total as a line on a second axis."""
    data = frame.assign(day=pd.to_datetime(frame["day"]))
    x = alt.X("yearmonthdate(day):T", title=None,
              axis=alt.Axis(format="%-d %b", labelAngle=0))
    tooltip = [
        alt.Tooltip("yearmonthdate(day):T", title="Day", format="%a %d %b %Y"),
        alt.Tooltip("new_users:Q", title="New users", format=","),
        alt.Tooltip("total_users:Q", title="Total users", format=","),
    ]
    base = alt.Chart(data).encode(x=x, tooltip=tooltip)
    bars = base.mark_bar(color=PRIMARY, opacity=0.85).encode(
        y=alt.Y("new_users:Q", title="New users per day",
                axis=alt.Axis(titleColor=PRIMARY, format=",d", tickMinStep=1)),
    )
    line = base.mark_line(color=ACCENT, strokeWidth=2.5, point=alt.OverlayMarkDef(size=18)).encode(
        y=alt.Y("total_users:Q", title="Total known users", scale=alt.Scale(zero=False),
                axis=alt.Axis(titleColor=ACCENT, orient="right", format=",d")),
    )
    return alt.layer(bars, line).resolve_scale(y="independent").properties(height=320)


def _labelled_bars(data: pd.DataFrame, x: alt.X, order: list[str],
                   tooltip: list[alt.Tooltip]) -> alt.LayerChart:
    """Horizontal bars, one per `name`, each with its `label` text written above the bar."""
    y = alt.Y("name:N", sort=order, axis=None)
    base = alt.Chart(data).encode(y=y, tooltip=tooltip)
    bars = base.mark_bar(color=PRIMARY, size=22, cornerRadiusEnd=3).encode(x=x)
    text = base.mark_text(align="left", baseline="bottom", dy=-13, color=TEXT, fontSize=13).encode(
        x=alt.value(0), text="label:N",
    )
    return alt.layer(bars, text).properties(height=_ROW * len(data) + 10)


def attendance(frame: pd.DataFrame) -> alt.LayerChart:
    """Attendance rate per lesson type as labelled horizontal bars on a 0–100 % axis."""
    data = frame.assign(name=frame["lesson_type"].map(fmt.human))
    data["label"] = [
        f"{name} — {fmt.pct(r, 0)} ({fmt.count(a)} of {fmt.count(n)} attended)"
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


def funnel(frame: pd.DataFrame) -> alt.LayerChart:
    """The closed funnel as horizontal bars: count, % of first and % of previous step."""
    data = frame.assign(name=frame["step"].map(fmt.human))
    labels = []
    for i, row in enumerate(data.itertuples()):
        text = f"{row.name} — {fmt.people(row.users)}"
        if i > 0:
            text += (f" · {fmt.pct(row.pct_of_first)} of first step"
                     f" · {fmt.pct(row.pct_of_previous)} of previous")
        labels.append(text)
    data["label"] = labels
    x = alt.X("users:Q", title="People", axis=alt.Axis(format=",d", tickMinStep=1))
    tooltip = [
        alt.Tooltip("name:N", title="Step"),
        alt.Tooltip("users:Q", title="People", format=","),
        alt.Tooltip("pct_of_first:Q", title="% of first step", format=".1%"),
        alt.Tooltip("pct_of_previous:Q", title="% of previous step", format=".1%"),
        alt.Tooltip("open_users:Q", title="Did the step at all (any path)", format=","),
    ]
    return _labelled_bars(data, x, data["name"].tolist(), tooltip)
