"""Free lessons: registrations, registrants, attendance and notifications by type and date."""

import streamlit as st

from hsl_ui import charts, params, state, tables
from hsl_ui import charts_analytics as ca
from hsl_ui import format as fmt

period = state.period()

st.title("Free lessons")
st.caption(
    f"Registrations made {fmt.date_range(period.start, period.end)}. A registrant attended "
    "when they clicked the link of the lesson type they registered for; rates count people, "
    "not clicks."
)

# ---- Filter
by_type = state.lesson_registrations(period, ("lesson_type",))
left, _ = st.columns([1, 2])
lesson_type = params.select(
    "lesson_type", "Lesson type", [None, *by_type["lesson_type"]], container=left,
    format_func=lambda t: "All lesson types" if t is None else fmt.human(t),
)
total = state.lesson_registrations(period, (), lesson_type).iloc[0]
by_date = state.lesson_registrations(period, ("lesson_type", "lesson_date"), lesson_type)
if lesson_type is not None:
    by_type = by_type[by_type["lesson_type"] == lesson_type]

# ---- Numbers
cards = st.columns(5, gap="xsmall")
cards[0].metric("Registrations", fmt.count(total.registrations), border=True,
                help="Registrations made in these dates; one person may register for "
                     "several lessons.")
cards[1].metric("Registrants", fmt.count(total.registrants), border=True,
                help="Distinct people behind those registrations.")
cards[2].metric("Attended", fmt.count(total.attended), border=True,
                help="Registrants who clicked the link of a lesson type they registered for.")
cards[3].metric("Attendance rate", fmt.pct(total.attendance_rate), border=True,
                help="Attended ÷ registrants (people, never above 100%).")
cards[4].metric("Notified", fmt.pct(total.notified_share), border=True,
                help=f"Registrations whose reminder was sent: {fmt.count(total.notified)} of "
                     f"{fmt.count(total.registrations)}.")

# ---- Charts and tables
if by_date.empty:
    charts.no_data()
else:
    st.subheader("Registrants per lesson date")
    charts.show(ca.registrants_by_lesson_date, by_date)
    st.subheader("Attendance rate per lesson date")
    charts.show(ca.attendance_by_lesson_date, by_date)

    st.subheader("By lesson type")
    tables.show(by_type)
    tables.download(by_type, "free_lessons_by_type", period, lesson_type=lesson_type)

    st.subheader("By lesson type and lesson date")
    tables.show(by_date)
    tables.download(by_date, "free_lessons_by_date", period, lesson_type=lesson_type)
