"""Drill-down: from a count on a page to the people behind it, on the Audience page.

One function a kind of count returns the AudienceFilter that reproduces it exactly (the
Audience page counts people, so a count of rows links to its people); `link` draws the
"See these N people" page link with that filter in the Audience page's query string, and
`sentence` says on the Audience page who the filter picks.

    drill.link(drill.funnel_step(period, "booked", lesson_type), row.users)
"""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qsl, urlencode

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from hsl.audience import RULE_KEYS, AudienceFilter
from hsl.errors import ValidationError
from hsl.filters import Period
from hsl.metrics.funnel import STEPS
from hsl.metrics.leads import DEFAULT_RULES, LeadRules
from hsl.schema import BOOKING_STATUS
from hsl_ui import format as fmt
from hsl_ui import state, tables

AUDIENCE_PAGE = "pages/audience.py"
PAID = 2  # the `confirmed` code of a paid booking


# ---------------------------------------------------------------- the filters behind counts


def new_users(period: Period) -> AudienceFilter:
    """People first seen in the period (the New users card)."""
    return AudienceFilter(first_seen_from=period.start, first_seen_to=period.end)


def registrants(period: Period, lesson_type: str | None = None,
                **narrower: object) -> AudienceFilter:
    """People who registered in the period (for `lesson_type`): the Registrations card's people.

    `narrower`: more AudienceFilter fields, e.g. attended=True.
    """
    return AudienceFilter(lesson_types=() if lesson_type is None else (lesson_type,),
                          registered_from=period.start, registered_to=period.end, **narrower)


def attended(period: Period, lesson_type: str | None = None) -> AudienceFilter:
    """Registrants in the period who clicked the link of a lesson type they registered for."""
    return registrants(period, lesson_type, attended=True)


def active_bookers(period: Period) -> AudienceFilter:
    """People with a booking made in the period and not cancelled (Active bookings' people)."""
    return AudienceFilter(booking_from=period.start, booking_to=period.end, booked=True)


def payers(period: Period) -> AudienceFilter:
    """People with a paid booking made in the period (Confirmed payments' people)."""
    return AudienceFilter(booking_from=period.start, booking_to=period.end, statuses=(PAID,))


def funnel_step(period: Period, step: str, lesson_type: str | None = None) -> AudienceFilter:
    """The people a closed-funnel step counts: the cohort, narrowed by each step up to `step`.

    Registered: a registration in the period (of `lesson_type`); attended: clicked the link
    of such a registration; booked: also a booking that is not cancelled; paid: also a paid
    booking (any time, as the funnel counts them; a paid booking is an active one).
    """
    if step not in STEPS:
        raise ValidationError(f"The funnel has no step {step!r}; its steps are "
                              f"{', '.join(STEPS)}.")
    reached = STEPS.index(step)
    return registrants(period, lesson_type, attended=True if reached >= 1 else None,
                       booked=True if reached == 2 else None,
                       statuses=(PAID,) if reached == 3 else ())


def lead_tier(tier: str, rules: LeadRules = DEFAULT_RULES,
              include_paying: bool = False) -> AudienceFilter:
    """Leads of `tier` at now, scored as the Leads page scores them."""
    return AudienceFilter(tiers=(tier,), lead_rules=rules, lead_payers=include_paying)


def stream_students(stream: str) -> AudienceFilter:
    """People with any booking in the stream: its students, the roster's people."""
    return AudienceFilter(streams=(stream,))


# ---------------------------------------------------------------- links


def query_params(flt: AudienceFilter) -> list[tuple[str, str]]:
    """The Audience page's query parameters for the filter (repeated keys kept)."""
    return parse_qsl(flt.to_query(), keep_blank_values=True)


def link(flt: AudienceFilter, people: int, *, label: str | None = None,
         container: DeltaGenerator | None = None) -> None:
    """A page link "See these N people" to the Audience page showing exactly the filter.

    `label` replaces the words; it is Markdown, so text from the data in it must be
    `fmt.md`. Nobody to see (0 people): the link is drawn disabled.
    """
    where = container or st.container()
    words = label or ("See this person" if people == 1 else f"See these {fmt.people(people)}")
    where.page_link(state.page_target(AUDIENCE_PAGE), label=words, icon=":material/groups:",
                    query_params=query_params(flt), disabled=not people,
                    help="Open them on the Audience page, to export or message them.")


def links(items: list[tuple[str, AudienceFilter, int]], title: str = "See the people:") -> None:
    """A row of links (wrapping on narrow screens), one per (Markdown label, filter, people).

    Nothing at all when there are no items.
    """
    if not items:
        return
    row = st.container(horizontal=True, gap="small", vertical_alignment="center")
    row.caption(title, width="content")
    for label, flt, people in items:
        link(flt, people, label=label, container=row)


def kpi_links(period: Period, kpis: pd.Series) -> None:
    """Under the headline cards: the people behind each (a card of rows links to its people)."""
    links([
        (f"Known users: {fmt.people(kpis.known_users)}", AudienceFilter(),
         int(kpis.known_users)),
        (f"New users: {fmt.people(kpis.new_users)}", new_users(period), int(kpis.new_users)),
        (f"Registered: {fmt.people(kpis.registrants)}", registrants(period),
         int(kpis.registrants)),
        (f"Active bookings: {fmt.people(kpis.active_booking_users)}", active_bookers(period),
         int(kpis.active_booking_users)),
        (f"Paid: {fmt.people(kpis.paying_users)}", payers(period), int(kpis.paying_users)),
    ])


def lesson_links(period: Period, total: pd.Series, lesson_type: str | None = None) -> None:
    """Under the Free lessons cards: the registrants and those who attended."""
    links([
        (f"Registrants: {fmt.people(total.registrants)}", registrants(period, lesson_type),
         int(total.registrants)),
        (f"Attended: {fmt.people(total.attended)}", attended(period, lesson_type),
         int(total.attended)),
    ])


def lead_links(counts: pd.DataFrame, rules: LeadRules, include_paying: bool) -> None:
    """Under the lead tier cards (`tier`, `users`): each tier's people, scored the same way."""
    links([(f"{fmt.human(row.tier)}: {fmt.people(row.users)}",
            lead_tier(row.tier, rules, include_paying), int(row.users))
           for row in tables.rows(counts)])


def funnel_links(period: Period, funnel: pd.DataFrame, lesson_type: str | None = None,
                 title: str = "See the people:") -> None:
    """Under a funnel: each closed step's people ("Booked: 12 people")."""
    links([(f"{fmt.human(row.step)}: {fmt.people(row.users)}",
            funnel_step(period, row.step, lesson_type), int(row.users))
           for row in tables.rows(funnel)], title=title)


def funnel_links_by_type(period: Period, compare: pd.DataFrame) -> None:
    """Per lesson type of a side-by-side funnel (`lesson_type` column): its steps' people."""
    with st.expander("See the people of each lesson type's steps"):
        for lesson_type, funnel in compare.groupby("lesson_type", sort=False):
            funnel_links(period, funnel, lesson_type,
                         title=f"{fmt.md(fmt.human(lesson_type))}:")


def attendance_links(period: Period, attendance: pd.DataFrame) -> None:
    """Under attendance bars: per lesson type, the registrants who attended (in bar order).

    Registrations without a lesson type get no link: no Audience filter picks them alone.
    """
    bars = attendance[attendance["lesson_type"].notna()]
    bars = bars.sort_values("attendance_rate", ascending=False, kind="stable")
    links([(f"{fmt.md(fmt.human(row.lesson_type))}: {fmt.count(row.attended)} attended",
            attended(period, row.lesson_type), int(row.attended))
           for row in tables.rows(bars)], title="See who attended:")


# ---------------------------------------------------------------- the Audience page


def lead_scoring() -> tuple[LeadRules, bool]:
    """The lead rules and payers toggle a Leads link put into the URL (else the defaults).

    A malformed value is left out of the URL with a notice; the defaults are used.
    """
    keys = (*RULE_KEYS, "payers")
    given = [(k, v) for k in keys for v in st.query_params.get_all(k)]
    try:
        flt = AudienceFilter.from_query(urlencode(given))
    except ValidationError as err:
        for key in keys:
            st.query_params.pop(key, None)
        st.info(f"Ignored the lead scoring from the link: {fmt.sentence(err)} "
                "Scoring leads with the default rules.", icon=":material/link_off:")
        return DEFAULT_RULES, False
    return flt.lead_rules, flt.lead_payers


def forget_lead_scoring() -> None:
    """Button callback: back to the default lead rules (the link's are taken out of the URL)."""
    for key in (*RULE_KEYS, "payers"):
        st.query_params.pop(key, None)


def scoring_text(rules: LeadRules, include_paying: bool) -> str:
    """The lead rules in words: window, thresholds, whether payers are scored."""
    return (f"events in the last {rules.window_days} "
            f"{'day' if rules.window_days == 1 else 'days'}; hot ≥ {rules.hot_events} events "
            f"on ≥ {rules.hot_days} days, warm ≥ {rules.warm_events} on ≥ {rules.warm_days}, "
            f"cool ≥ {rules.cool_events}; "
            f"{'payers included' if include_paying else 'payers left out'}")


def _dates(start: date | None, end: date | None) -> str:
    """Inclusive local dates in words: `from 1 Nov 2026 to 30 Nov 2026`, `on 2 Nov 2026`."""
    if start and end:
        return f"on {fmt.day(start)}" if start == end else \
            f"from {fmt.day(start)} to {fmt.day(end)}"
    return f"on or after {fmt.day(start)}" if start else f"on or before {fmt.day(end)}"


def _either(words: tuple[str, ...]) -> str:
    """Data words humanised, inert for Markdown, joined with "or"."""
    shown = [fmt.md(fmt.human(w)) for w in words]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def sentence(flt: AudienceFilter) -> str | None:
    """Who the filter picks, as one Markdown sentence (None for the empty filter).

    E.g. "People who registered for Python basics from 1 Nov 2026 to 30 Nov 2026 and
    clicked its link." Data words are shown inert (fmt.md).
    """
    parts = []
    reg = [flt.lesson_types, flt.registered_from, flt.registered_to, flt.attended]
    if any(v not in ((), None) for v in reg):
        what = _either(flt.lesson_types) if flt.lesson_types else "a free lesson"
        text = f"registered for {what}"
        if flt.registered_from or flt.registered_to:
            text += f" {_dates(flt.registered_from, flt.registered_to)}"
        if flt.attended is not None:
            text += " and clicked its link" if flt.attended else " and did not click its link"
        parts.append(text)
    made = (f" made {_dates(flt.booking_from, flt.booking_to)}"
            if flt.booking_from or flt.booking_to else "")
    if flt.streams or flt.statuses or (made and flt.booked is not True):
        words = tuple(BOOKING_STATUS.get(code, f"unknown ({code})") for code in flt.statuses)
        kind = f"{_either(words).lower()} booking" if words else "booking"
        article = "an" if kind[0] in "aeiou" else "a"
        where = f" in {_either(flt.streams)}" if flt.streams else ""
        parts.append(f"have {article} {kind}{where}{made}")
        made = " in those dates" if made else ""
    if flt.booked is not None:
        parts.append(f"have an active booking{made}" if flt.booked
                     else f"have no active booking{made}")
    if flt.first_seen_from or flt.first_seen_to:
        parts.append(f"were first seen {_dates(flt.first_seen_from, flt.first_seen_to)}")
    if flt.tiers:
        parts.append(f"are {_either(flt.tiers).lower()} leads now")
    if flt.active_within_days:
        days = flt.active_within_days
        parts.append(f"were active in the last {days} {'day' if days == 1 else 'days'}")
    if flt.event_types:
        parts.append(f"did {_either(flt.event_types)}")
    if flt.user_ids is not None:
        parts.append(f"are among the {fmt.count(len(flt.user_ids))} pasted ids")
    if not parts:
        return None
    listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    return f"People who {listed}."
