"""Who is using the app. Today a hook only: real sign-in (st.login / passwords) goes here.

The interface stays this small: `current_user(settings)` returns an `hsl.auth.Actor`
(name, role viewer/analyst/admin); what a role may do is `hsl.auth.can(actor, Permission.X)`.
"""

from __future__ import annotations

import streamlit as st

from hsl.auth import Actor
from hsl.config import Settings

LOGIN_NOT_CONFIGURED = (
    "Login is not configured. Ask the operator to set up sign-in for this app, "
    "or to set HSL_AUTH_DISABLED=1 to run it without login."
)


def current_user(settings: Settings) -> Actor:
    """Return the person using this session, or stop the page when nobody may sign in yet.

    The embedded demo database runs without login: everyone is an anonymous admin. A real
    database needs login, unless the operator turned it off (HSL_AUTH_DISABLED=1).
    """
    if settings.is_demo:
        return Actor("Demo visitor", "admin")
    if settings.auth_disabled:
        return Actor("Anonymous (login turned off)", "admin")
    st.error(LOGIN_NOT_CONFIGURED, icon=":material/lock:")
    st.stop()
