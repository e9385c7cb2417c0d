"""Audit log (admins): every audited change and password sign-in in the chosen dates."""

import streamlit as st

from hsl.metrics.users import MAX_USER_ID
from hsl_ui import auth, charts, params, people, state, tables
from hsl_ui import format as fmt

settings = state.settings()
actor = auth.current_user(settings)
period = state.period()

st.title("Audit log")
st.caption(f"Changes made {fmt.date_range(period.start, period.end)} (dates in "
           f"{settings.timezone}), newest first. Every stream change is written here together "
           "with the change itself, and every password sign-in under the user name typed. "
           "A user ID opens that person's profile.")

in_range = state.audit_entries(actor, period)
user_box, actor_box = st.columns(2)
with user_box:
    user_text = people.text_filter("user", "User ID", placeholder="Any user")
actor_name = params.select("actor", "Changed by", [None, *sorted(set(in_range["actor"]))],
                           format_func=lambda a: "Anyone" if a is None else fmt.plain(a),
                           container=actor_box)
user_id = None
if user_text:
    if user_text.isascii() and user_text.isdigit() and 0 < int(user_text) <= MAX_USER_ID:
        user_id = int(user_text)
    else:
        st.warning(f"“{fmt.md(user_text)}” is not a user ID; showing every user.",
                   icon=":material/warning:")

entries = state.audit_entries(actor, period, user_id=user_id, actor_name=actor_name)
if user_id is not None:
    st.page_link("pages/users.py", label=f"Open the profile of user {user_id}",
                 icon=":material/person:", query_params={"user": str(user_id)})
if entries.empty:
    charts.no_data()
else:
    st.caption(f"{fmt.count(len(entries))} {'change' if len(entries) == 1 else 'changes'}.")
    people.show_audit(entries)
    tables.download(entries, "audit_log", period, user=user_id, actor=actor_name)
