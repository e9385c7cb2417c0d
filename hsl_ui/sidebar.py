"""The shared sidebar: the date range every page uses, the timezone note and Refresh."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from hsl.auth import Actor
from hsl.config import Settings
from hsl.filters import DEFAULT_RANGE_DAYS, Period, utc_now
from hsl_ui import auth, params, state
from hsl_ui import format as fmt

EARLIEST_DATE = date(2000, 1, 1)


def render(settings: Settings, user: Actor) -> tuple[Period, DeltaGenerator]:
    """Draw the sidebar; return the chosen Period and a slot for the freshness captions."""
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
        loaded = st.container()
        st.divider()
        st.caption(f":material/person: {fmt.md(user.name)} · {user.role}")
        auth.sign_out_button()
    return Period(start, end, settings.timezone, now), loaded


def show_loaded_at(slot: DeltaGenerator, moment: datetime | None, tz: str,
                   summaries_at: datetime | None = None) -> None:
    """Fill the slot with "Summaries as of HH:MM:SS" (the refresh the results on screen
    were computed from, when they read summaries) and "Data loaded at HH:MM:SS" (the oldest
    result on screen), each a caption of its own; the second is the last thing a run draws.
    """
    if summaries_at is not None:
        slot.caption(f"Summaries as of {_moment(summaries_at, tz)}")
    if moment is not None:
        slot.caption(f"Data loaded at {fmt.clock(moment, tz)}")


def _moment(moment: datetime, tz: str) -> str:
    """`HH:MM:SS` in `tz`, with the date in front when it is not today there."""
    today = utc_now().astimezone(ZoneInfo(tz)).date()
    local = moment.astimezone(ZoneInfo(tz))
    shown = fmt.clock(moment, tz)
    return shown if local.date() == today else f"{fmt.day(local.date())} {shown}"
