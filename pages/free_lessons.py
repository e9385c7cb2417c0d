"""Free lessons: registrations, registrants, attendance and notifications by type and date."""

from datetime import date

import pandas as pd
import streamlit as st

from hsl.filters import local_today
from hsl_ui import charts, drill, layout, params, state, tables
from hsl_ui import charts_analytics as ca
from hsl_ui import format as fmt


def marked_upcoming(frame: pd.DataFrame, today: date) -> pd.DataFrame:
    """The by-date table as shown: a `lesson_status` column (held or upcoming) after the
    date, and no attended count or rate for an upcoming lesson (it has not happened yet)."""
    later = ca.upcoming(frame, today)
    shown = frame.assign(attended=frame["attended"].astype("Int64").mask(later),
                         attendance_rate=frame["attendance_rate"].mask(later))
    shown.insert(shown.columns.get_loc("lesson_date") + 1, "lesson_status",
                 later.map({True: ca.UPCOMING, False: "Held"}))
    return shown


period = state.period()
today = local_today(period.tz, period.now)

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
cards = layout.cards(5)
cards[0].metric("Registrations", fmt.count(total.registrations), border=True,
                help="Registrations made in these dates; one person may register for "
                     "several lessons.")
cards[1].metric("Registrants", fmt.count(total.registrants), border=True,
                help="Distinct people behind those registrations.")
cards[2].metric("Attended", fmt.count(total.attended), border=True,
                help="Registrants who clicked the link of a lesson type they registered for.")
cards[3].metric("Attendance rate", fmt.pct_of(total.attendance_rate, total.registrants),
                border=True,
                help="Attended ÷ registrants (people, never above 100%).")
cards[4].metric("Notified", fmt.pct_of(total.notified_share, total.registrations), border=True,
                help=f"Registrations whose reminder was sent: {fmt.count(total.notified)} of "
                     f"{fmt.count(total.registrations)}.")
drill.lesson_links(period, total, lesson_type)

# ---- Charts and tables
if by_date.empty:
    charts.no_data(period)
else:
    later = ca.upcoming(by_date, today)
    st.subheader("Registrants per lesson date")
    charts.show(ca.registrants_by_lesson_date, by_date, today)
    if later.any():
        st.caption(f"Lessons after today ({fmt.day(today)}) are upcoming: their bars are "
                   "lighter, and they get no attendance rate until they have taken place.")
    st.subheader("Attendance rate per lesson date")
    if later.all():
        st.info("None of these lessons has taken place yet.", icon=":material/event_upcoming:")
    else:
        charts.show(ca.attendance_by_lesson_date, by_date, today)

    st.subheader("By lesson type")
    tables.show(by_type)
    tables.download(by_type, "free_lessons_by_type", period, lesson_type=lesson_type)

    st.subheader("By lesson type and lesson date")
    tables.show(marked_upcoming(by_date, today))
    tables.download(by_date, "free_lessons_by_date", period, lesson_type=lesson_type)
