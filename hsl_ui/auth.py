"""Who is using the app. Today a hook only: real sign-in (st.login / passwords) goes here.

The interface stays this small: `current_user()` returns a `User`, and `User.can(role)`
answers whether the user may see what that role may see.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from hsl.config import Settings

ROLES = ("viewer", "analyst", "admin")  # each role may do everything the ones before may


@dataclass(frozen=True)
class User:
    """A signed-in person: display name and role (viewer, analyst or admin)."""

    name: str
    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"Unknown role {self.role!r}; use one of {', '.join(ROLES)}.")

    def can(self, role: str) -> bool:
        """True when this user's role includes everything `role` may do."""
        return ROLES.index(self.role) >= ROLES.index(role)


def current_user(settings: Settings) -> User:
    """Return the user of this session, or stop the page when nobody may sign in yet.

    The embedded demo database runs without login: everyone is an anonymous admin. A real
    database needs login, unless the operator turned it off (HSL_AUTH_DISABLED=1).
    """
    if settings.is_demo:
        return User("Demo visitor", "admin")
    if settings.auth_disabled:
        return User("Anonymous (login turned off)", "admin")
    st.error(
        "Login is not configured. Ask the operator to set up sign-in for this app, "
        "or to set HSL_AUTH_DISABLED=1 to run it without login.",
        icon=":material/lock:",
    )
    st.stop()
