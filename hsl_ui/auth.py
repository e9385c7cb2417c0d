"""Who is using the app: the demo visitor, an OIDC sign-in (st.login) or a password form.

`current_user(settings)` returns an `hsl.auth.Actor` (name, role viewer/analyst/admin), or
draws the sign-in screen and stops the run; what a role may do is
`hsl.auth.can(actor, Permission.X)`. Sign-in settings are read from Streamlit's secrets
(`.streamlit/secrets.toml`, the file st.login reads too; see docs/DECISIONS.md):

- OIDC when `[auth]` names a provider (`redirect_uri`, `cookie_secret`, `client_id`...):
  roles by email in `[auth.roles]`, everyone else a viewer;
- otherwise password users in `[auth.users.NAME]` (`python -m hsl hash-password`), with
  wrong passwords counted per user name in the database (`hsl.signin`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import streamlit as st
from streamlit.errors import StreamlitAuthError, StreamlitMissingAuthlibError

from hsl import signin
from hsl.auth import DEFAULT_ROLE, Actor, password_users, verify_password
from hsl.config import Settings
from hsl.errors import HslError
from hsl.filters import utc_now
from hsl_ui import format as fmt
from hsl_ui import state, streamlit_adapter

LOGIN_NOT_CONFIGURED = (
    "Login is not configured. Ask the operator to set up sign-in for this app, "
    "or to set HSL_AUTH_DISABLED=1 to run it without login."
)
WRONG_PASSWORD = "Wrong user name or password."
NO_AUTHLIB = (
    "Sign-in with the identity provider needs the Authlib package on the server "
    '(pip install "streamlit[auth]").'
)
DEMO_VISITOR = Actor("Demo visitor", "admin")
ANONYMOUS = "Anonymous (login turned off)"
ROLE_WHEN_AUTH_OFF = "HSL_AUTH_DISABLED_ROLE"  # env / secrets key `auth_disabled_role`
OIDC_KEYS = ("redirect_uri", "cookie_secret")
NOT_PROVIDERS = ("users", "roles")  # our own tables inside [auth]

_SIGNED_IN = "_hsl_signed_in"  # session key: the user name that signed in with a password


def current_user(settings: Settings) -> Actor:
    """Return the person using this session, or show the sign-in screen and stop the run.

    The embedded demo database runs without login: everyone is an admin "Demo visitor".
    A real database needs a sign-in, unless the operator turned login off
    (HSL_AUTH_DISABLED=1; role viewer unless HSL_AUTH_DISABLED_ROLE names another).
    """
    if settings.is_demo:
        return DEMO_VISITOR
    try:
        if settings.auth_disabled:
            role = os.environ.get(ROLE_WHEN_AUTH_OFF) or settings.secrets.get(
                "auth_disabled_role", DEFAULT_ROLE)
            return Actor(ANONYMOUS, str(role))
        secrets = _secrets()
        if providers := oidc_providers(secrets):
            actor = _oidc_user(secrets)
            if actor is None:
                _sign_in_screen(lambda: _provider_buttons(providers))
        elif password_users(secrets):
            actor = _password_user(secrets)
            if actor is None:
                _sign_in_screen(lambda: _password_form(secrets, settings))
        else:
            st.error(LOGIN_NOT_CONFIGURED, icon=":material/lock:")
            st.stop()
    except HslError as err:  # an operator's mistake in the secrets: one sentence
        st.error(fmt.sentence(err), icon=":material/error:")
        st.stop()
    return actor


def sign_out_button() -> None:
    """A Sign out button (sidebar) for people who signed in; none for demo or login off."""
    if _SIGNED_IN not in st.session_state and not st.user.get("is_logged_in"):
        return
    if st.button("Sign out", icon=":material/logout:", width="stretch"):
        if st.user.get("is_logged_in"):
            st.logout()
        for key in list(st.session_state):
            del st.session_state[key]
        st.rerun()


def _secrets() -> dict:
    """Streamlit's secrets as a plain dict (empty when there is no secrets file)."""
    return st.secrets.to_dict() if st.secrets.load_if_toml_exists() else {}


def oidc_providers(secrets: Mapping) -> list[str]:
    """The OIDC providers `[auth]` configures for st.login ("default" for top-level keys)."""
    section = secrets.get("auth")
    if not isinstance(section, Mapping) or not all(k in section for k in OIDC_KEYS):
        return []
    found = ["default"] if "client_id" in section else []
    return found + [
        name for name, value in section.items()
        if name not in NOT_PROVIDERS and isinstance(value, Mapping) and "client_id" in value
    ]


def role_for_email(secrets: Mapping, email: str | None) -> str:
    """The role `[auth.roles]` gives `email` (case-insensitive), else the viewer role."""
    roles = secrets.get("auth", {}).get("roles", {})
    by_email = {str(k).strip().lower(): v for k, v in roles.items()} if isinstance(
        roles, Mapping) else {}
    return str(by_email.get((email or "").strip().lower(), DEFAULT_ROLE))


# ---------------------------------------------------------------- OIDC (st.login)


def _oidc_user(secrets: Mapping) -> Actor | None:
    if not st.user.get("is_logged_in"):
        return None
    email = st.user.get("email")
    name = email or st.user.get("name") or st.user.get("sub") or "signed-in user"
    return Actor(str(name), role_for_email(secrets, email))


def _provider_buttons(providers: list[str]) -> None:
    for provider in providers:
        label = "Sign in" if provider == "default" else f"Sign in with {provider.title()}"
        if st.button(label, type="primary", icon=":material/login:", width="stretch"):
            try:
                st.login(None if provider == "default" else provider)
            except StreamlitMissingAuthlibError:
                st.error(NO_AUTHLIB, icon=":material/error:")
            except StreamlitAuthError as err:
                st.error(fmt.sentence(err), icon=":material/error:")


# ---------------------------------------------------------------- passwords


def _password_user(secrets: Mapping) -> Actor | None:
    """The password user of this session, with the role the secrets give them now."""
    name = st.session_state.get(_SIGNED_IN)
    entry = password_users(secrets).get(name) if name else None
    if not isinstance(entry, Mapping):
        st.session_state.pop(_SIGNED_IN, None)  # never signed in, or removed meanwhile
        return None
    return Actor(name, str(entry.get("role", DEFAULT_ROLE)))


def _password_form(secrets: Mapping, settings: Settings) -> None:
    with st.form("sign_in"):
        name = st.text_input("User name", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:",
                                          width="stretch")
    if not submitted:
        return
    try:  # counted per user name in the database: holds across tabs, browsers and restarts
        actor = signin.attempt(state.sign_in_engine(settings), name,
                               lambda: verify_password(secrets, name, password), now=utc_now())
    except signin.TooManyAttempts as err:  # the password was not even checked
        st.error(fmt.sentence(err), icon=":material/timer:")
        return
    except HslError as err:  # database down or not migrated, a broken secrets entry
        st.error(fmt.sentence(err), icon=":material/error:")
        return
    if actor is None:
        st.error(WRONG_PASSWORD, icon=":material/lock:")
        return
    st.session_state[_SIGNED_IN] = actor.name
    st.rerun()


# ---------------------------------------------------------------- the sign-in screen


def _sign_in_screen(draw: Callable[[], None]) -> None:
    """Draw the sign-in screen as the only (hidden) page of this run, then stop the run."""

    def sign_in() -> None:
        _, middle, _ = st.columns([1, 2, 1])
        with middle:
            st.title("HSL Analytics")
            st.caption("Sign in to see the school's numbers.")
            draw()

    # Registered under the path the link asked for too, the sign-in screen keeps the link
    # (path and filters) as it is, with no "page not found", and the page opens right after.
    pages = [st.Page(sign_in, title="Sign in", icon=":material/login:", default=True)]
    if (wanted := streamlit_adapter.requested_page_path()) and wanted != "sign_in":
        pages.append(st.Page(sign_in, title="Sign in", url_path=wanted))
    st.navigation(pages, position="hidden").run()
    st.stop()
