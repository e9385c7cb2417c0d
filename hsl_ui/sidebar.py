"""The shared sidebar: the page links, the dates and comparison the dashboards share, the
timezone note and Refresh.

The page links are drawn here (st.navigation is hidden) so that each carries the shared
dates: one click is one browser-history entry holding the whole view, and Back restores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from hsl.auth import Actor
from hsl.config import Settings
from hsl.filters import COMPARISONS, DEFAULT_COMPARISON, PRESETS, Period, local_today, utc_now
from hsl_ui import auth, params, state
from hsl_ui import format as fmt
from hsl_ui import views as saved_views

EARLIEST_DATE = date(2000, 1, 1)
# Streamlit's date input applies typed dates only when it loses focus or on Escape, and
# keeps its calendar open meanwhile. This makes Enter in a typed date do what Escape does:
# apply the dates and close the calendar. A fixed script, run once a browser tab; when a
# Streamlit upgrade renames the field's test id, Enter merely does nothing again.
ENTER_APPLIES_DATES = """<script>
(() => {
  if (document.hslEnterAppliesDates) return;
  document.hslEnterAppliesDates = true;
  document.addEventListener("keydown", (event) => {
    const field = event.target.closest && event.target.closest("[data-testid=stDateInputField]");
    if (event.key !== "Enter" || event.isComposing || !field) return;
    event.preventDefault();
    event.target.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape", code: "Escape",
                                                               bubbles: true}));
  }, true);
})();
</script>"""
COMPARE, RANGE, NONE = "compare", "range", ""  # what a page does with the shared dates


@dataclass(frozen=True)
class PageLink:
    """One entry of the sidebar's page list."""

    page: st.Page
    dates: str  # COMPARE, RANGE or NONE
    file: str  # the page's script, e.g. pages/funnel.py


@dataclass(frozen=True)
class Shared:
    """What the sidebar chose for this run: the dates and what they are compared with."""

    period: Period
    comparison: str  # a key of hsl.filters.COMPARISONS


def render(settings: Settings, user: Actor, sections: dict[str, list[PageLink]],
           dates: str, page_file: str) -> tuple[Shared, DeltaGenerator]:
    """Draw the sidebar for the page `page_file` that does `dates` (COMPARE, RANGE, NONE)
    with the shared dates and the saved views; return what it chose and a slot for the
    freshness captions."""
    now = utc_now().replace(second=0, microsecond=0)
    today = local_today(settings.timezone, now)
    comparison = DEFAULT_COMPARISON
    with st.sidebar:
        links = st.container(key="hsl_nav")
        if dates:
            params.carry_over()
            preset, start, end = params.shared_dates(
                "Dates", today, min_value=EARLIEST_DATE, format="YYYY-MM-DD")
            if dates == COMPARE:
                comparison = params.select(
                    "compare", "Compare with", list(COMPARISONS), format_func=COMPARISONS.get,
                    sticky=True, fallback="the period before",
                    help="The period the changes on this page are counted against.")
        else:
            preset, start, end = params.remembered_dates(today, EARLIEST_DATE)
            st.caption(f":material/event_busy: This page does not use the dates; the "
                       f"dashboards keep {_dates(preset, start, end)}.")
        st.caption(f":material/schedule: Times in {settings.timezone}")
        saved_views.sidebar(user, page_file, today)
        if st.button("Refresh", icon=":material/refresh:", width="stretch",
                     help="Load fresh numbers from the database (results are kept 5 minutes)."):
            state.clear()
        loaded = st.container()
        st.divider()
        st.caption(f":material/person: {fmt.md(user.name)} · {user.role}")
        auth.sign_out_button()
        st.html(ENTER_APPLIES_DATES, unsafe_allow_javascript=True)
    _page_links(links, sections)
    period = Period(start, end, settings.timezone, now)
    return Shared(period, comparison), loaded


def compared_with(period: Period, kind: str, before: Period) -> str:
    """`compared with the 30 days before (2 Oct – 31 Oct 2026)` for the captions."""
    return (f"compared with {period.comparison_words(kind)} "
            f"({fmt.date_range(before.start, before.end)})")


def _dates(preset: str | None, start: date, end: date) -> str:
    """`1 Nov – 30 Nov 2026 (last month)`, or the dates alone when they are custom."""
    shown = fmt.date_range(start, end)
    return f"{shown} ({PRESETS[preset].lower()})" if preset else shown


def _page_links(where: DeltaGenerator, sections: dict[str, list[PageLink]]) -> None:
    """The page list; a link to a page that uses the dates carries them (and the comparison)."""
    carried = params.carried()
    for section, links in sections.items():
        where.caption(section)
        for link in links:
            where.page_link(link.page, query_params=carried if link.dates else None)


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
