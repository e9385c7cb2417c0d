"""Messages: write a Telegram message to any audience, send it through the worker, follow it."""

import streamlit as st

from hsl.auth import Permission, can
from hsl_ui import auth, messaging, people, state

settings = state.settings()
actor = auth.current_user(settings)
chosen = people.user_id_param("campaign", "campaign number")

st.title("Messages")
can_send = messaging.sending_note(settings)
messaging.worker_warning()
messaging.notice()

if chosen is not None:
    st.button("All campaigns", icon=":material/arrow_back:", type="tertiary",
              on_click=lambda: st.query_params.pop("campaign", None))
    messaging.campaign_detail(chosen, actor, settings.timezone)
else:
    if can(actor, Permission.COMPOSE_MESSAGES):
        with st.expander("New message", expanded=True, icon=":material/edit:"):
            messaging.compose(actor, settings, can_send)
    st.subheader("Campaigns")
    st.caption("Progress updates while the worker sends. Click a row to see its recipients.")
    messaging.campaign_list()
