"""Subscriptions & alerts: one's digests of saved views and alert rules (admins: everyone's),
with next and last run, last outcome, pause and delete; new ones are made here too."""

from datetime import datetime

import pandas as pd
import streamlit as st

from hsl import schedules, subscriptions, views
from hsl.errors import HslError
from hsl_ui import alerts_ui, auth, state, tables
from hsl_ui import format as fmt

settings = state.settings()
actor = auth.current_user(settings)
tz = settings.timezone
now = state.period().now  # the sidebar's clock

st.title("Subscriptions & alerts")
st.caption(f"Digests of saved views and alerts, delivered to Telegram by the send-worker "
           f"(times in {tz}). Deliveries are listed on the Messages page like any message.")


def _short(schedule: schedules.Schedule) -> str:
    """The schedule in a table cell: `Daily, 09:00`, `Mondays, 09:00`, `Monthly, day 31, 08:30`
    (the column's help says what day 29–31 do in shorter months)."""
    at = schedule.at.strftime("%H:%M")
    if schedule.every == "daily":
        return f"Daily, {at}"
    if schedule.every == "weekly":
        return f"{schedules.WEEKDAYS[schedule.weekday]}s, {at}"
    return f"Monthly, day {schedule.day}, {at}"


# ---- Digests
st.subheader("Digests")
mine = subscriptions.listed(state.engine(), actor)
state.read_live()  # read now, uncached: a change shows at once
if not mine:
    st.info("No digests yet: subscribe to a saved view below.", icon=":material/inbox:")
else:
    table = pd.DataFrame([{
        "id": s.id, "view": s.view_name, **({"owner": s.owner} if actor.role == "admin" else {}),
        "chat": str(s.chat_id), "schedule": _short(s.schedule),
        "next_run": "Paused" if s.paused else fmt.moment(s.next_run(now), tz),
        "last_run": fmt.moment(s.last_run_at, tz), "last_outcome": s.last_outcome or "",
    } for s in mine])
    text = st.column_config.TextColumn
    tables.draw(table.rename(columns={
        "id": "#", "view": "View", "owner": "Owner", "chat": "Telegram chat",
        "schedule": "Schedule", "next_run": "Next run", "last_run": "Last run",
        "last_outcome": "Last outcome"}), {
        "#": st.column_config.NumberColumn(width=35), "View": text(width=110),
        "Owner": text(width=100),
        "Schedule": text(width=140, help="Local times; a monthly day 29–31 is the last day "
                                         "of a shorter month."),
        "Telegram chat": text(width=115), "Next run": text(width=125),
        "Last run": text(width=125), "Last outcome": text(width=180),
    })
    by_id = {s.id: s for s in mine}
    pick, pause_box, delete_box = st.columns([3, 1, 1], vertical_alignment="bottom")
    chosen = pick.selectbox("Subscription", list(by_id), key="hsl_sub_pick",
                            format_func=lambda i: fmt.plain(
                                f"#{i} · {by_id[i].view_name} · {by_id[i].schedule.describe()}"))
    sub = by_id[chosen]
    if pause_box.button("Resume" if sub.paused else "Pause", width="stretch",
                        icon=":material/play_arrow:" if sub.paused else ":material/pause:"):
        subscriptions.set_paused(state.engine(), actor, sub.id, not sub.paused)
        alerts_ui.done(f"{'Resumed' if sub.paused else 'Paused'} the digest #{sub.id}.")
    if delete_box.button("Delete", width="stretch", icon=":material/delete:"):
        subscriptions.unsubscribe(state.engine(), actor, sub.id)
        alerts_ui.done(f"Deleted the digest #{sub.id} of “{sub.view_name}”.")

with st.expander("Subscribe to a saved view", icon=":material/add_alert:",
                 expanded=not mine):
    shown = views.visible(state.engine(), actor)
    if not shown:
        st.caption("Save a view first: “Save view” in the sidebar of a dashboard page.")
    else:
        by_view = {v.id: v for v in shown}
        with st.form("hsl_subscribe", border=False):
            view_id = st.selectbox("Saved view *", list(by_view),
                                   format_func=lambda i: fmt.plain(by_view[i].name))
            chat = st.text_input("Telegram chat *", placeholder="e.g. 123456789",
                                 help="Your own Telegram user id (ask @userinfobot), or a group "
                                      "chat id (negative) that an admin has allowed.")
            every_box, at_box, weekday_box, day_box = st.columns(4)
            every = every_box.selectbox("Every *", schedules.EVERY,
                                        format_func=lambda e: e.capitalize())
            at = at_box.time_input("At *", value=datetime(2000, 1, 1, 9, 0).time(), step=900)
            weekday = weekday_box.selectbox("Weekday (weekly)", range(7),
                                            format_func=lambda d: schedules.WEEKDAYS[d])
            day = day_box.number_input("Day (monthly)", min_value=1, max_value=31, value=1)
            st.caption(f"Fields marked * are required. Times are in {tz}.")
            if st.form_submit_button("Subscribe", icon=":material/notifications_active:"):
                try:
                    schedule = schedules.Schedule.parse(
                        every, at.strftime("%H:%M"), weekday if every == "weekly" else None,
                        int(day) if every == "monthly" else None, tz=tz)
                    new_id = subscriptions.subscribe(
                        state.engine(), actor, view_id=view_id,
                        chat=subscriptions.chat_id(chat), schedule=schedule)
                except HslError as err:
                    st.error(fmt.md(str(err)))
                else:
                    alerts_ui.done(f"Subscribed: “{by_view[view_id].name}”, {schedule.describe()}, "
                          f"digest #{new_id}.")

# ---- Alerts
st.subheader("Alerts")
alerts_ui.section(actor, tz, now)
