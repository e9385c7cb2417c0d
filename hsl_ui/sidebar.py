"""The shared sidebar: the date range every page uses, the timezone note and Refresh."""

from __future__ import annotations

from datetime import date, datetime

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from hsl.auth import Actor
from hsl.config import Settings
from hsl.filters import DEFAULT_RANGE_DAYS, Period, utc_now
from hsl_ui import auth, params, state
from hsl_ui import format as fmt

EARLIEST_DATE = date(2000, 1, 1)


def render(settings: Settings, user: Actor) -> tuple[Period, DeltaGenerator]:
    """Draw the sidebar; return the chosen Period and a slot for the "data loaded" caption."""
    now = utc_now().replace(second=0, microsecond=0)
    default = Period.last_days(DEFAULT_RANGE_DAYS, settings.timezone, now)
    with st.sidebar:
        start, end = params.date_range(
            "Dates",
            (default.start, default.end),
            min_value=EARLIEST_DATE,
            max_value=default.end,
            fallback=f"the last {DEFAULT_RANGE_DAYS} days",
            format="YYYY-MM-DD",
            help="Inclusive local dates. The range is kept in the page address, "
                 "so a copied link shows the same dates.",
        )
        st.caption(f":material/schedule: Times in {settings.timezone}")
        if st.button("Refresh", icon=":material/refresh:", width="stretch",
                     help="Load fresh numbers from the database (results are kept 5 minutes)."):
            state.clear()
        loaded = st.empty()
        st.divider()
        st.caption(f":material/person: {fmt.md(user.name)} · {user.role}")
        auth.sign_out_button()
    return Period(start, end, settings.timezone, now), loaded


def show_loaded_at(slot: DeltaGenerator, moment: datetime | None, tz: str) -> None:
    """Fill the slot with "Data loaded at HH:MM:SS" (the oldest result on screen)."""
    if moment is not None:
        slot.caption(f"Data loaded at {fmt.clock(moment, tz)}")
