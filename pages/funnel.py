"""Funnel: registered → attended → booked → paid for the free-lesson cohort, by lesson type."""

import pandas as pd
import streamlit as st

from hsl.metrics.common import rate
from hsl.metrics.funnel import STEPS
from hsl_ui import charts, params, state, tables
from hsl_ui import charts_analytics as ca
from hsl_ui import format as fmt

period = state.period()

st.title("Funnel")
st.caption(
    f"People who registered for a free lesson {fmt.date_range(period.start, period.end)}. "
    "Each step counts only people who also did the step before (bookings and payments at "
    "any time); “did it at all” counts everyone in the cohort who did the step."
)

# ---- Filter
lesson_types = state.report("attendance", period)["lesson_type"].tolist()
left, _ = st.columns([1, 2])
lesson_type = params.select(
    "lesson_type", "Lesson type", [None, *lesson_types], container=left,
    format_func=lambda t: "All lesson types" if t is None else fmt.human(t),
)
funnel = state.report("funnel", period, lesson_type=lesson_type)

# ---- Numbers, chart and table
if funnel["users"].iloc[0] == 0:
    charts.no_data()
else:
    cards = st.columns(len(funnel), gap="xsmall")
    for i, (card, row) in enumerate(zip(cards, funnel.itertuples(), strict=True)):
        card.metric(
            fmt.human(row.step), fmt.count(row.users),
            f"{fmt.pct(row.pct_of_previous)} of previous" if i else "the cohort",
            delta_color="off", delta_arrow="off", border=True, height="stretch",
            help=f"{fmt.people(row.open_users)} in the cohort did this step at all.",
        )
    charts.show(charts.funnel, funnel)
    tables.show(funnel)
    tables.download(funnel, "funnel", period, lesson_type=lesson_type)

# ---- Lesson types side by side
st.subheader("Lesson types side by side")
st.caption("The closed funnel of each lesson type's cohort: the share of its registrants "
           "who reached each step. A person who registered for two types is in both.")
if not lesson_types:
    charts.no_data()
else:
    compare = pd.concat(
        [state.report("funnel", period, lesson_type=t).assign(lesson_type=t)
         for t in lesson_types],
        ignore_index=True,
    )
    charts.show(ca.funnel_comparison, compare)
    wide = compare.pivot(index="lesson_type", columns="step", values="users")
    wide = wide[STEPS].reset_index().rename_axis(columns=None)
    wide["conversion"] = rate(wide["paid"], wide["registered"])
    tables.show(wide)
    tables.download(wide, "funnel_by_lesson_type", period)
