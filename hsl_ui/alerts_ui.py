"""The alerts part of the Subscriptions & alerts page (filled in with hsl.alerts)."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from hsl.auth import Actor


def section(actor: Actor, tz: str, now: datetime) -> None:
    """One's alert rules (admins: everyone's), with pause and delete, and a form for a new one."""
    st.caption("Alerts arrive with the next version.")
