"""Altair builders of the Free lessons, Funnel and Activity pages: DataFrame in, chart out."""

from __future__ import annotations

from datetime import date

import altair as alt
import pandas as pd

from hsl.metrics.activity import OTHER
from hsl.metrics.funnel import STEPS
from hsl_ui import format as fmt
from hsl_ui.charts import (
    PARTIAL_OPACITY,
    PRIMARY,
    TEXT,
    Layer,
    day_x,
    layer,
    partial_days,
    partial_line,
)

UPCOMING = "Upcoming"  # a lesson whose date is after today: no attendance yet

OTHER_COLOUR = "#b8bec6"
PALETTE = ["#2f6f9f", "#d9822b", "#4f9d69", "#9b5fb5", "#c44e52", "#3aa8b5", "#8c7a3c",
           "#e377c2", "#5d6d7e", "#a0c95b"]
_LEGEND = alt.Legend(orient="top", title=None, labelLimit=260, symbolType="square")
_ROW_PX = 34  # pixels per row of horizontal bars
_CELL_PX = 40  # pixels per cohort row of the retention heatmap


def _colours(names: list[str]) -> alt.Scale:
    """One colour per name in order, "Other" always grey."""
    colours = [OTHER_COLOUR if n == fmt.human(OTHER) else PALETTE[i % len(PALETTE)]
               for i, n in enumerate(names)]
    return alt.Scale(domain=names, range=colours)


def upcoming(frame: pd.DataFrame, today: date | None) -> pd.Series:
    """True on the rows of lessons that have not happened yet (lesson date after `today`)."""
    if today is None:
        return pd.Series(False, index=frame.index)
    return frame["lesson_date"] > today


def _types(frame: pd.DataFrame, today: date | None) -> pd.DataFrame:
    """`frame` with `name` (the human lesson type), `when` (lesson date as a timestamp),
    `upcoming` and `attendance` (the rate as text, or "Upcoming")."""
    later = upcoming(frame, today)
    return frame.assign(
        name=frame["lesson_type"].map(fmt.human), when=pd.to_datetime(frame["lesson_date"]),
        upcoming=later,
        attendance=[UPCOMING if u else fmt.pct(r) for u, r in
                    zip(later, frame["attendance_rate"], strict=True)],
    )


_LESSON_TOOLTIP = [
    alt.Tooltip("name:N", title="Lesson type"),
    alt.Tooltip("yearmonthdate(when):T", title="Lesson date", format="%a %d %b %Y"),
    alt.Tooltip("registrations:Q", title="Registrations", format=","),
    alt.Tooltip("registrants:Q", title="Registrants", format=","),
    alt.Tooltip("attendance:N", title="Attendance rate"),
    alt.Tooltip("notified_share:Q", title="Notified", format=".1%"),
]


def registrants_by_lesson_date(frame: pd.DataFrame, today: date | None = None) -> alt.Chart:
    """Registrants per lesson date as bars, stacked and coloured by lesson type.

    Lessons after `today` (upcoming) are drawn lighter.
    """
    data = _types(frame, today)
    names = sorted(data["name"].unique())
    return alt.Chart(data).mark_bar().encode(
        x=day_x(data["lesson_date"], "Lesson date"),
        y=alt.Y("registrants:Q", title="Registrants", axis=alt.Axis(format=",d", tickMinStep=1)),
        color=alt.Color("name:N", scale=_colours(names), legend=_LEGEND),
        opacity=alt.condition(alt.datum.upcoming, alt.value(PARTIAL_OPACITY), alt.value(0.9)),
        order=alt.Order("name:N"),
        tooltip=_LESSON_TOOLTIP,
    ).properties(height=320)


def attendance_by_lesson_date(frame: pd.DataFrame, today: date | None = None) -> alt.Chart:
    """Attendance rate (0–100 %) per lesson date, one line with points per lesson type.

    Upcoming lessons (after `today`) have no rate yet and are not drawn; the axis still
    spans every lesson date, like the registrants chart above it.
    """
    data = _types(frame, today)
    names = sorted(data["name"].unique())
    return alt.Chart(data[~data["upcoming"]]).mark_line(
        point=alt.OverlayMarkDef(size=50), strokeWidth=2).encode(
        x=day_x(data["lesson_date"], "Lesson date", middle=True),
        y=alt.Y("attendance_rate:Q", title="Attendance rate", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        color=alt.Color("name:N", scale=_colours(names), legend=_LEGEND),
        tooltip=_LESSON_TOOLTIP,
    ).properties(height=280)


def funnel_comparison(frame: pd.DataFrame) -> Layer:
    """Grouped bars: % of registered reaching each step after the first, one bar a lesson type.

    `frame` holds the funnel report of each lesson type with a `lesson_type` column; the
    legend names each type with its cohort size (the first step, always 100 %, is not drawn).
    """
    cohort = frame[frame["step"] == STEPS[0]].set_index("lesson_type")["users"]
    data = frame[frame["step"] != STEPS[0]]
    data = data.assign(
        name=[f"{fmt.human(t)} · {fmt.count(cohort[t])} registered" for t in data["lesson_type"]],
        step_name=data["step"].map(fmt.human),
    )
    data["label"] = [fmt.pct(p, 0) for p in data["pct_of_first"]]
    steps = list(dict.fromkeys(data["step_name"]))
    names = list(dict.fromkeys(data["name"]))
    base = alt.Chart(data).encode(
        x=alt.X("step_name:N", sort=steps, title=None,
                axis=alt.Axis(labelAngle=0, labelFontSize=13)),
        xOffset=alt.XOffset("name:N", sort=names),
        y=alt.Y("pct_of_first:Q", title="% of registered",
                axis=alt.Axis(format="%", tickCount=5)),
        tooltip=[
            alt.Tooltip("name:N", title="Lesson type"),
            alt.Tooltip("step_name:N", title="Step"),
            alt.Tooltip("users:Q", title="People", format=","),
            alt.Tooltip("pct_of_first:Q", title="% of registered", format=".1%"),
            alt.Tooltip("pct_of_previous:Q", title="% of previous step", format=".1%"),
        ],
    )
    # Two names a legend row: four long "Web design · 93 registered" fit at 800 px.
    legend = alt.Legend(orient="top", title=None, labelLimit=260, symbolType="square",
                        columns=2)
    bars = base.mark_bar().encode(color=alt.Color("name:N", scale=_colours(names),
                                                  legend=legend))
    text = base.mark_text(baseline="bottom", dy=-3, color=TEXT, fontSize=11).encode(
        text="label:N")
    return layer(bars, text).properties(height=300)


def events_by_day(frame: pd.DataFrame, today: date | None = None) -> alt.Chart:
    """Events per day as bars stacked by event type, in the frame's order ("Other" last).

    Today's bars (the day is not over) are lighter.
    """
    data = partial_days(frame, today).assign(name=frame["event_type"].map(fmt.human))
    names = list(dict.fromkeys(data["name"]))
    data["rank"] = data["name"].map({n: i for i, n in enumerate(names)})
    return alt.Chart(data).mark_bar().encode(
        x=day_x(data["day"]),
        y=alt.Y("events:Q", title="Events", axis=alt.Axis(format=",d", tickMinStep=1)),
        color=alt.Color("name:N", scale=_colours(names), sort=names, legend=_LEGEND),
        opacity=alt.condition(alt.datum.partial, alt.value(PARTIAL_OPACITY), alt.value(1.0)),
        order=alt.Order("rank:Q"),
        tooltip=[
            alt.Tooltip("yearmonthdate(when):T", title="Day", format="%a %d %b %Y"),
            alt.Tooltip("name:N", title="Event type"),
            alt.Tooltip("events:Q", title="Events", format=","),
        ],
    ).properties(height=300)


def active_users_by_day(frame: pd.DataFrame, today: date | None = None) -> Layer:
    """Distinct active users per day as a line with points, dashed into today (not over)."""
    data = partial_days(frame, today)
    base = alt.Chart(data).encode(
        x=day_x(data["day"], middle=True),
        y=alt.Y("active_users:Q", title="Active users",
                axis=alt.Axis(format=",d", tickMinStep=1)),
        tooltip=[
            alt.Tooltip("yearmonthdate(when):T", title="Day", format="%a %d %b %Y"),
            alt.Tooltip("active_users:Q", title="Active users", format=","),
            alt.Tooltip("events:Q", title="Events", format=","),
        ],
    )
    return partial_line(base, data, {
        "color": PRIMARY, "strokeWidth": 2.5,
        "point": alt.OverlayMarkDef(size=30, color=PRIMARY),
    }).properties(height=220)


def event_type_shares(frame: pd.DataFrame) -> Layer:
    """Horizontal bars of events per type, each labelled with its count and share."""
    data = frame.assign(name=frame["event_type"].map(fmt.human))
    data["label"] = [f"{fmt.count(n)} · {fmt.pct(s)}" for n, s in
                     zip(data["events"], data["share"], strict=True)]
    base = alt.Chart(data).encode(
        y=alt.Y("name:N", sort=data["name"].tolist(), title=None,
                axis=alt.Axis(labelLimit=220, labelFontSize=12)),
        # Each bar carries its count as a label; the longest bar leaves room for its label
        # when the chart is half of an 800 px page.
        x=alt.X("events:Q", axis=None,
                scale=alt.Scale(domain=[0, float(data["events"].max()) * 1.75])),
        tooltip=[
            alt.Tooltip("name:N", title="Event type"),
            alt.Tooltip("events:Q", title="Events", format=","),
            alt.Tooltip("share:Q", title="Share of events", format=".1%"),
        ],
    )
    bars = base.mark_bar(color=PRIMARY, cornerRadiusEnd=3)
    text = base.mark_text(align="left", dx=4, color=TEXT, fontSize=12).encode(text="label:N")
    return layer(bars, text).properties(height=_ROW_PX * len(data) + 20)


def retention_heatmap(frame: pd.DataFrame) -> Layer:
    """Cohorts (rows, labelled with their size) × weeks after (columns), coloured and labelled %."""
    data = frame.assign(
        cohort=[f"Week of {fmt.day(w)} · {fmt.people(n)}"
                for w, n in zip(frame["cohort_week"], frame["cohort_size"], strict=True)],
        offset=[f"Week {k}" for k in frame["week_offset"]],
        label=[fmt.pct(r, 0) for r in frame["retention"]],
    )
    cohorts = list(dict.fromkeys(data["cohort"]))
    offsets = [f"Week {k}" for k in sorted(frame["week_offset"].unique())]
    base = alt.Chart(data).encode(
        x=alt.X("offset:O", sort=offsets, title="Weeks after the first-seen week",
                axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("cohort:O", sort=cohorts, title=None,
                axis=alt.Axis(labelLimit=320, labelFontSize=12, labelOverlap=False)),
        tooltip=[
            alt.Tooltip("cohort:N", title="Cohort"),
            alt.Tooltip("offset:N", title="Weeks after"),
            alt.Tooltip("active_users:Q", title="Active users", format=","),
            alt.Tooltip("retention:Q", title="Retention", format=".1%"),
        ],
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("retention:Q", title="Retention",
                        scale=alt.Scale(domain=[0, 1], scheme="blues"), legend=None),
    )
    text = base.mark_text(fontSize=13).encode(
        text="label:N",
        color=alt.condition(alt.datum.retention > 0.55, alt.value("white"), alt.value(TEXT)),
    )
    return layer(cells, text).properties(height=alt.Step(_CELL_PX))
