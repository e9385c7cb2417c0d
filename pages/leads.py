"""Leads: free-lesson registrants tiered by their activity in the last days before now."""

from zoneinfo import ZoneInfo

import streamlit as st

from hsl.metrics.leads import DEFAULT_RULES, TIERS, LeadRules, lead_details
from hsl.metrics.users import PAGE_SIZE
from hsl_ui import (
    auth,
    charts,
    charts_streams,
    downloads,
    drill,
    layout,
    params,
    people,
    state,
    tables,
)
from hsl_ui import format as fmt

VIEWS = {"hot": "Hot leads", "all": "All leads"}
THRESHOLDS = {  # LeadRules field → input label
    "hot_events": "Hot: events ≥", "hot_days": "Hot: active days ≥",
    "warm_events": "Warm: events ≥", "warm_days": "Warm: active days ≥",
    "cool_events": "Cool: events ≥",
}
MAX_THRESHOLD = 100_000


def _view(texts: list[str]) -> str:
    if texts[-1] not in VIEWS:
        raise ValueError(f"“{fmt.md(texts[-1])}” is not one of the choices.")
    return texts[-1]


period = state.period()
now = period.now.astimezone(ZoneInfo(period.tz))
user = auth.current_user(state.settings())

st.title("Leads")
inputs = st.columns(6, gap="small")
window = params.integer("window", "Window (days)", default=DEFAULT_RULES.window_days,
                        min_value=1, max_value=365, container=inputs[0])
limits = {name: params.integer(name, label, default=getattr(DEFAULT_RULES, name), min_value=0,
                               max_value=MAX_THRESHOLD, container=column)
          for (name, label), column in zip(THRESHOLDS.items(), inputs[1:], strict=True)}
rules = LeadRules(window_days=window, **limits)
paying = params.toggle("payers", "Include payers",
                       help="Also score registrants who have a confirmed payment.")
st.caption(
    f"Events in the last {'day' if window == 1 else f'{window} days'} up to now "
    f"({fmt.day(now.date())}, {now:%H:%M}); the "
    f"dates in the sidebar do not apply here. Candidates: free-lesson registrants"
    f"{', payers included' if paying else ' without a confirmed payment'}."
)

# ---- How many people in each tier: counted from the one list below (one query, not two)
everyone = state.lead_list(period, include_paying=paying, rules=rules)
counts = everyone["tier"].value_counts().reindex(TIERS, fill_value=0).rename("users")
counts = counts.rename_axis("tier").reset_index()
rule_text = {
    "hot": f"At least {fmt.counted(rules.hot_events, 'event')} on at least "
           f"{fmt.counted(rules.hot_days, 'day')}",
    "warm": f"At least {fmt.counted(rules.warm_events, 'event')} on at least "
            f"{fmt.counted(rules.warm_days, 'day')}",
    "cool": f"At least {fmt.counted(rules.cool_events, 'event')}",
    "cold": "Everyone else",
}
for card, tier, n in zip(layout.cards(len(TIERS)), counts["tier"], counts["users"], strict=True):
    card.metric(fmt.human(tier), fmt.count(n), border=True,
                help=f"{rule_text[tier]} in the window.")
drill.lead_links(counts, rules, paying)
charts.show(charts_streams.lead_tiers, counts, has_data=bool(counts["users"].sum()))

# ---- The people
st.subheader("Lead list")
view = params.bind(
    # `?list=`: `?view=` is a saved view's short link on every page (hsl_ui.views).
    params.Param(("list",), "hot", _view, lambda v: (v,), VIEWS["hot"], accepts=VIEWS.__contains__),
    "segmented_control", "Show", options=list(VIEWS), format_func=VIEWS.get, required=True,
    label_visibility="collapsed",
)
rows = everyone[everyone["tier"].isin(("hot", "warm"))] if view == "hot" else everyone


if rows.empty:
    charts.no_data()
else:
    which = "hot and warm leads only" if view == "hot" else "every candidate"
    st.caption(f"{fmt.people(len(rows))}: {which}, by tier, then most events, then latest "
               "activity.")
    # A page of people on screen (the file has them all), like the Users and Audience lists.
    offset = people.pager("page", len(rows), (view, paying, rules), PAGE_SIZE)
    people.table(rows.iloc[offset:offset + PAGE_SIZE], user, links=True)
    engine = state.engine()  # the file adds last name, email and dates (when clicked)
    tables.download(
        lambda: downloads.with_details(
            people.with_links(rows), lead_details(engine, rows["user_id"].tolist(), period.tz)),
        "leads", None, now=f"{now:%Y-%m-%dT%H%M}", window=f"window-{window}d",
        hot=f"hot-{rules.hot_events}ev-{rules.hot_days}d",
        warm=f"warm-{rules.warm_events}ev-{rules.warm_days}d", cool=f"cool-{rules.cool_events}ev",
        payers="with-payers" if paying else None, view="hot-and-warm" if view == "hot" else "all",
    )
