"""Altair builders for the Streams and Leads pages: bookings by status, leads by tier."""

from __future__ import annotations

import altair as alt
import pandas as pd

from hsl_ui import format as fmt
from hsl_ui.charts import TEXT, Layer, layer

# One colour per booking status, the same on every chart: paid green, cancelled red.
STATUS_COLOURS = {
    "New": "#7aa6d6",
    "Pending": "#e3b23c",
    "Confirmed": "#3a9a5b",
    "Cancelled": "#d1495b",
}
UNKNOWN_COLOUR = "#9aa5b1"
TIER_COLOURS = {"Hot": "#d1495b", "Warm": "#e8913a", "Cool": "#7aa6d6", "Cold": "#9aa5b1"}
PICK = "pick"  # the name of the click selection on the status chart
_STREAM_ROW = 32  # pixels per stream on the status chart
_TIER_ROW = 46  # pixels per tier: the label sits above its bar


def stream_name(stream: str | None) -> str:
    """Return a stream as people read it: `10th_stream` → `10th stream` (none: `(no stream)`)."""
    return fmt.human(stream) if isinstance(stream, str) and stream else "(no stream)"


def stream_statuses(frame: pd.DataFrame, chosen: str | None = None) -> alt.Chart:
    """Stacked horizontal bars: bookings per stream by status (status_counts rows).

    Streams keep the frame's (natural) order; the `chosen` stream is drawn solid, the
    others lighter. A click selects the bar's stream (selection `pick`, field course_stream).
    """
    data = frame.assign(
        course_stream=frame["course_stream"].fillna(""),
        name=frame["course_stream"].map(stream_name),
        word=frame["status"].map(fmt.human),
        rank=range(len(frame)),
    )
    data["share"] = data["bookings"] / data.groupby("name")["bookings"].transform("sum")
    words = list(dict.fromkeys([*STATUS_COLOURS, *data["word"]]))
    colours = [STATUS_COLOURS.get(word, UNKNOWN_COLOUR) for word in words]
    pick = alt.selection_point(name=PICK, fields=["course_stream"], on="click")
    opacity = (alt.condition(alt.datum.course_stream == chosen, alt.value(1.0), alt.value(0.45))
               if chosen else alt.value(1.0))
    return (
        alt.Chart(data)
        .mark_bar(cursor="pointer")
        .encode(
            y=alt.Y("name:N", sort=list(dict.fromkeys(data["name"])), title=None,
                    axis=alt.Axis(labelLimit=220, labelFontSize=13, labelColor=TEXT)),
            x=alt.X("bookings:Q", title="Bookings", stack="zero",
                    axis=alt.Axis(format=",d", tickMinStep=1, tickCount=10)),
            color=alt.Color("word:N", title=None, scale=alt.Scale(domain=words, range=colours),
                            legend=alt.Legend(orient="top", direction="horizontal")),
            order=alt.Order("rank:Q"),
            opacity=opacity,
            tooltip=[
                alt.Tooltip("name:N", title="Stream"),
                alt.Tooltip("word:N", title="Status"),
                alt.Tooltip("bookings:Q", title="Bookings", format=","),
                alt.Tooltip("share:Q", title="Share of the stream's bookings", format=".1%"),
            ],
        )
        .add_params(pick)
        .properties(height=alt.Step(_STREAM_ROW))
    )


def lead_tiers(frame: pd.DataFrame) -> Layer:
    """Horizontal bars of candidates per tier (tier_counts rows), labelled with count and share."""
    total = int(frame["users"].sum())
    data = frame.assign(name=frame["tier"].map(fmt.human))
    data["share"] = data["users"] / total if total else 0.0
    data["label"] = [f"{name} — {fmt.people(n)} ({fmt.pct(s, 0)})"
                     for name, n, s in zip(data["name"], data["users"], data["share"], strict=True)]
    y = alt.Y("name:N", sort=list(data["name"]), axis=None)
    tooltip = [
        alt.Tooltip("name:N", title="Tier"),
        alt.Tooltip("users:Q", title="People", format=","),
        alt.Tooltip("share:Q", title="Share of candidates", format=".1%"),
    ]
    base = alt.Chart(data).encode(y=y, tooltip=tooltip)
    bars = base.mark_bar(size=18, cornerRadiusEnd=3).encode(
        x=alt.X("users:Q", title="People", axis=alt.Axis(format=",d", tickMinStep=1, tickCount=10)),
        color=alt.Color("name:N", legend=None, scale=alt.Scale(
            domain=list(TIER_COLOURS), range=list(TIER_COLOURS.values()))),
    )
    text = base.mark_text(align="left", baseline="bottom", dy=-11, color=TEXT, fontSize=13).encode(
        x=alt.value(0), text="label:N",
    )
    return layer(bars, text).properties(height=alt.Step(_TIER_ROW))
