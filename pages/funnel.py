"""Funnel: registered → attended → booked → paid for the free-lesson cohort, by lesson type."""

import pandas as pd
import streamlit as st

from hsl.metrics.common import rate
from hsl.metrics.funnel import STEPS
from hsl_ui import charts, drill, layout, params, sidebar, state, tables
from hsl_ui import charts_analytics as ca
from hsl_ui import format as fmt

period = state.period()
comparison, earlier = state.comparison()
COMPARED = ("users", "pct_of_first", "pct_of_previous")  # the earlier funnel's columns shown
EARLIER = " (earlier)"  # their names end so


def side_by_side(now: pd.DataFrame, then: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The funnel table with the earlier period's people and rates beside each step."""
    shown, config = tables.for_display(now)
    earlier_shown, earlier_config = tables.for_display(then[list(COMPARED)])
    shown = pd.concat([shown, earlier_shown.add_suffix(EARLIER)], axis=1)
    return shown, config | {name + EARLIER: c for name, c in earlier_config.items()}


def by_lesson_type(compare: pd.DataFrame) -> pd.DataFrame:
    """One row a lesson type: its people at each step and its conversion to paid."""
    wide = compare.pivot(index="lesson_type", columns="step", values="users")
    wide = wide[STEPS].reset_index().rename_axis(columns=None)
    wide["conversion"] = rate(wide["paid"], wide["registered"])
    return wide


st.title("Funnel")
st.caption(
    f"People who registered for a free lesson {fmt.date_range(period.start, period.end)}, "
    f"{sidebar.compared_with(period, comparison, earlier)}. Each step counts only people "
    "who also did the step before (bookings and payments at any time); “did it at all” "
    "counts everyone in the cohort who did the step."
)

# ---- Filter
lesson_types = state.report("attendance", period)["lesson_type"].tolist()
left, _ = st.columns([1, 2])
lesson_type = params.select(
    "lesson_type", "Lesson type", [None, *lesson_types], container=left,
    format_func=lambda t: "All lesson types" if t is None else fmt.human(t),
)
funnel = state.report("funnel", period, lesson_type=lesson_type)
before = state.report("funnel", earlier, lesson_type=lesson_type)

# ---- Numbers against the earlier period, chart and table
if funnel["users"].iloc[0] == 0:
    charts.no_data()
else:
    cards = layout.cards(len(funnel))
    steps = zip(cards, tables.rows(funnel), tables.rows(before), strict=True)
    for i, (card, row, then) in enumerate(steps):
        rates = (f"{fmt.pct(row.pct_of_previous)} of the step before "
                 f"({fmt.pct(then.pct_of_previous)} earlier). ") if i else ""
        card.metric(
            fmt.human(row.step), fmt.count(row.users), fmt.change(row.users, then.users),
            border=True, height="stretch",
            help=f"{rates}{fmt.people(row.open_users)} in the cohort did this step at all.",
        )
    drill.funnel_links(period, funnel, lesson_type)
    charts.show(charts.funnel, funnel)
    st.caption(f"Earlier: {fmt.date_range(earlier.start, earlier.end)} "
               f"({period.comparison_words(comparison)}).")
    tables.draw(*state.derived(side_by_side, funnel, before))
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
    wide = state.derived(by_lesson_type, compare)
    tables.show(wide)
    tables.download(wide, "funnel_by_lesson_type", period)
    drill.funnel_links_by_type(period, compare)
