"""Overview: headline numbers, growth, attendance and the closed funnel for the chosen dates."""

import streamlit as st

from hsl_ui import charts, drill, layout, params, sidebar, state, tables
from hsl_ui import format as fmt

period = state.period()
comparison, previous = state.comparison()

st.title("Overview")
st.caption(f"{fmt.date_range(period.start, period.end)}, "
           f"{sidebar.compared_with(period, comparison, previous)}.")

# ---- Headline numbers, each against the period they are compared with (sidebar)
now = state.report("kpis", period).iloc[0]
before = state.report("kpis", previous).iloc[0]
cards = layout.cards(5)
cards[0].metric("Known users", fmt.count(now.known_users), f"{fmt.signed(now.new_users)} new",
                delta_color="normal" if now.new_users else "off",
                delta_arrow="auto" if now.new_users else "off", border=True)
for card, column, label in [
    (cards[1], "new_users", "New users"),
    (cards[2], "registrations", "Registrations"),
    (cards[3], "active_bookings", "Active bookings"),
    (cards[4], "confirmed_payments", "Confirmed payments"),
]:
    card.metric(label, fmt.count(now[column]), fmt.change(now[column], before[column]),
                border=True)
drill.kpi_links(period, now)
with st.expander("How these numbers are counted"):
    st.markdown(
        f"""
- **Known users**: distinct people in any of the bot's tables, all time; the change is
  the people first seen in these dates.
- **New users**: people first seen in these dates.
- **Registrations**: free-lesson registrations made in these dates, by
  {fmt.people(now.registrants)}.
- **Active bookings**: bookings made in these dates and not cancelled, by
  {fmt.people(now.active_booking_users)}.
- **Confirmed payments**: bookings made in these dates and paid, by
  {fmt.people(now.paying_users)}.

Changes are {sidebar.compared_with(period, comparison, previous)}.
"""
    )

# ---- Growth
st.subheader("New users per day")
growth = state.report("growth", period)
charts.show(charts.growth, growth, has_data=bool(growth["total_users"].max()))

# ---- Attendance and the funnel
left, right = st.columns([2, 3], gap="large")
with left:
    st.subheader("Attendance")
    st.caption("By lesson type: registrants in these dates who clicked the link of their lesson.")
    attendance = state.report("attendance", period)
    charts.show(charts.attendance, attendance)
    drill.attendance_links(period, attendance)

with right:
    st.subheader("Funnel")
    lesson_type = params.select(
        "lesson_type", "Lesson type", [None, *attendance["lesson_type"]],
        format_func=lambda t: "All lesson types" if t is None else fmt.human(t),
    )
    st.caption("People who registered in these dates; each step counts only people "
               "who also did the step before.")
    funnel = state.report("funnel", period, lesson_type=lesson_type)
    if funnel["users"].iloc[0] == 0:
        charts.no_data()
    else:
        charts.show(charts.funnel, funnel)
        drill.funnel_links(period, funnel, lesson_type)
        tables.show(funnel)
        tables.download(funnel, "funnel", period, lesson_type=lesson_type)
