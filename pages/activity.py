"""Activity: the bot's events and active users per day, event types, and weekly retention."""

from datetime import date

import pandas as pd
import streamlit as st

from hsl.filters import local_today
from hsl.metrics.activity import averaged_days
from hsl_ui import charts, layout, params, state, tables
from hsl_ui import charts_analytics as ca
from hsl_ui import format as fmt


def daily_average(daily: pd.DataFrame, today: date) -> tuple[str, str]:
    """The average of `active_users` a day and the sentence saying over which days
    (hsl.metrics.activity.averaged_days: from the first day with events, today left out
    while it is not over)."""
    days = averaged_days(daily, today)
    if days.empty:
        return "—", "No events in these dates."
    first, last = days["day"].min(), days["day"].max()
    over = fmt.day(first) if first == last else fmt.date_range(first, last)
    return (fmt.count(round(days["active_users"].mean())),
            f"Distinct people with any event on a day, averaged over "
            f"{fmt.counted(len(days), 'day')} ({over}): from the first day with events"
            f"{', without today (not over yet)' if last < daily['day'].max() else ''}.")


period = state.period()
today = local_today(period.tz, period.now)

st.title("Activity")
st.caption(f"Events the bot recorded {fmt.date_range(period.start, period.end)}, "
           "per day in the reporting timezone.")

daily = state.report("activity", period)
types = state.report("event-types", period)
busiest = daily.loc[daily["events"].idxmax()] if daily["events"].sum() else None

# ---- Numbers
average, averaged_over = daily_average(daily, today)
cards = layout.cards(4)
cards[0].metric("Events", fmt.count(daily["events"].sum()), border=True, height="stretch")
cards[1].metric("Event types", fmt.count(len(types)), border=True, height="stretch")
cards[2].metric("Active users a day", average, border=True, height="stretch",
                help=averaged_over)
cards[3].metric("Busiest day", "—" if busiest is None else f"{busiest['day']:%-d %b}",
                None if busiest is None else fmt.counted(busiest["events"], "event"),
                delta_color="off", delta_arrow="off", border=True)

# ---- Events per day by type
st.subheader("Events per day")
left, _ = st.columns([1, 2])
top = params.integer("top", "Event types shown by name", default=5, min_value=1, max_value=20,
                     container=left, help="The most frequent types; the rest add up as “Other”.")
charts.show(ca.events_by_day, state.events_by_day_and_type(period, top=top), today,
            period=period)
if daily["events"].sum():
    charts.today_note(daily, today)

st.subheader("Active users per day")
charts.show(ca.active_users_by_day, daily, today, has_data=bool(daily["events"].sum()),
            period=period)
if daily["events"].sum():
    with st.expander("Numbers per day"):
        tables.show(daily)
        tables.download(daily, "activity", period)

# ---- Event types
st.subheader("Event types")
if types.empty:
    charts.no_data(period)
else:
    chart, table = st.columns(2, gap="large")  # the table fits beside it at 800 px
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
charts.show(ca.retention_heatmap, retention, period=period)
if not retention.empty:
    with st.expander("Retention numbers"):
        tables.show(retention)
        tables.download(retention, "retention", period)
