"""Activity: the bot's events and active users per day, event types, and weekly retention."""

import streamlit as st

from hsl_ui import charts, params, state, tables
from hsl_ui import charts_analytics as ca
from hsl_ui import format as fmt

period = state.period()

st.title("Activity")
st.caption(f"Events the bot recorded {fmt.date_range(period.start, period.end)}, "
           "per day in the reporting timezone.")

daily = state.report("activity", period)
types = state.report("event-types", period)
busiest = daily.loc[daily["events"].idxmax()] if daily["events"].sum() else None

# ---- Numbers
cards = st.columns(4, gap="xsmall")
cards[0].metric("Events", fmt.count(daily["events"].sum()), border=True, height="stretch")
cards[1].metric("Event types", fmt.count(len(types)), border=True, height="stretch")
cards[2].metric("Active users a day", fmt.count(round(daily["active_users"].mean())),
                border=True, height="stretch",
                help="Distinct people with any event on a day, averaged over the days.")
cards[3].metric("Busiest day", "—" if busiest is None else f"{busiest['day']:%-d %b}",
                None if busiest is None else f"{fmt.count(busiest['events'])} events",
                delta_color="off", delta_arrow="off", border=True)

# ---- Events per day by type
st.subheader("Events per day")
left, _ = st.columns([1, 2])
top = params.integer("top", "Event types shown by name", default=5, min_value=1, max_value=20,
                     container=left, help="The most frequent types; the rest add up as “Other”.")
charts.show(ca.events_by_day, state.events_by_day_and_type(period, top=top))

st.subheader("Active users per day")
charts.show(ca.active_users_by_day, daily, has_data=bool(daily["events"].sum()))
if daily["events"].sum():
    with st.expander("Numbers per day"):
        tables.show(daily)
        tables.download(daily, "activity", period)

# ---- Event types
st.subheader("Event types")
if types.empty:
    charts.no_data()
else:
    chart, table = st.columns([3, 2], gap="large")
    with chart:
        charts.show(ca.event_type_shares, types)
    with table:
        tables.show(types)
        tables.download(types, "event_types", period)

# ---- Retention
st.subheader("Weekly cohort retention")
st.caption("Cohorts are the people first seen in a week (Monday to Sunday) that starts in "
           "these dates; each cell is the share of the cohort with any event that many weeks "
           "later (week 0: the first week).")
retention = state.report("retention", period)
charts.show(ca.retention_heatmap, retention)
if not retention.empty:
    with st.expander("Retention numbers"):
        tables.show(retention)
        tables.download(retention, "retention", period)
