"""Audience builder: pick people by what they did, see how many match, export the list."""

import streamlit as st

from hsl import audience
from hsl.audience import AudienceFilter
from hsl.auth import Permission, can
from hsl.errors import ValidationError
from hsl.metrics.leads import DEFAULT_RULES, TIERS
from hsl.metrics.users import PAGE_SIZE
from hsl.schema import BOOKING_STATUS
from hsl_ui import auth, banners, charts, drill, params, people, state
from hsl_ui import format as fmt

settings = state.settings()
actor = auth.current_user(settings)
tz, now = settings.timezone, state.period().now
choices = state.audience_choices()
STATUS_CODES = {word: code for code, word in BOOKING_STATUS.items()}
ANSWERS = {"": None, "yes": True, "no": False}


def answer(key: str, label: str, container) -> bool | None:
    """Any / yes / no in `?key=yes|no`."""
    picked = params.select(key, label, list(ANSWERS), container=container,
                           format_func=lambda a: fmt.human(a) if a else "Any")
    return ANSWERS[picked]


def show_people(flt: AudienceFilter) -> None:
    """The count and who it counts, then one page of people and the CSV of all of them."""
    matched = state.audience_count(flt, tz, now)
    st.subheader(f"{fmt.count(matched)} {'person matches' if matched == 1 else 'people match'}")
    if who := drill.sentence(flt):
        st.caption(who)
    if matched == 0:
        charts.no_data()
        return
    if not can(actor, Permission.VIEW_CONTACTS):
        st.caption(f"Contact details are hidden for your role ({actor.role}).")
    table = st.container()
    offset = people.pager("page", matched, flt, PAGE_SIZE)
    rows = state.audience_rows(actor, flt, tz, now, limit=PAGE_SIZE, offset=offset)
    with table:
        people.table(people.audience_view(rows), actor, people.AUDIENCE_WIDTHS)
    if can(actor, Permission.COMPOSE_MESSAGES):
        st.page_link("pages/messages.py", label="Message these people",
                     icon=":material/send:", query_params={"audience": flt.to_query()})
    if can(actor, Permission.EXPORT):
        engine = state.engine()
        named = {**flt.describe(), **({"statuses": "+".join(statuses)} if statuses else {})}
        people.csv_button(lambda: audience.export_audience(engine, actor, flt, tz, now, True),
                          "audience", **{k: f"{k}-{v}" for k, v in named.items()})


st.title("Audience builder")
st.caption("Every filter you set narrows the list (they combine with AND). "
           f"Dates are local dates in {tz}; the page address keeps the filters.")
rules, payers = drill.lead_scoring()

with st.container(border=True):
    st.markdown("**Free lesson** — one and the same registration")
    lesson, start, end, attend = st.columns([3, 2, 2, 2])
    lesson_types = params.multiselect("lesson_type", "Registered for", choices["lesson_types"],
                                      format_func=fmt.human, container=lesson,
                                      placeholder="Any lesson")
    with start:
        registered_from = people.optional_date("registered_from", "Registered from")
    with end:
        registered_to = people.optional_date("registered_to", "Registered to")
    attended = answer("attended", "Clicked the lesson link", attend)

    st.markdown("**Bookings** — stream, status and dates of one and the same booking")
    stream, status, booked_start, booked_end = st.columns([3, 2, 2, 2])
    streams = params.multiselect("stream", "Stream", state.stream_names(), format_func=fmt.human,
                                 container=stream, placeholder="Any stream")
    statuses = params.multiselect("status", "Booking status", list(STATUS_CODES),
                                  format_func=fmt.human, container=status, placeholder="Any")
    dates_help = "The local date the booking was made; also bounds “Has an active booking”."
    with booked_start:
        booking_from = people.optional_date("booking_from", "Booked from", help=dates_help)
    with booked_end:
        booking_to = people.optional_date("booking_to", "Booked to", help=dates_help)

    st.markdown("**Who they are and what they did**")
    booked_col, seen_start, seen_end, tier = st.columns([3, 2, 2, 2])
    booked = answer("booked", "Has an active booking", booked_col)
    seen_help = "The local date the bot first saw the person, in any of its tables."
    with seen_start:
        first_seen_from = people.optional_date("first_seen_from", "First seen from",
                                               help=seen_help)
    with seen_end:
        first_seen_to = people.optional_date("first_seen_to", "First seen to", help=seen_help)
    tiers = params.multiselect("tier", "Lead tier", TIERS, format_func=fmt.human,
                               container=tier, placeholder="Any")
    if (rules, payers) != (DEFAULT_RULES, False):
        note = st.container(horizontal=True, vertical_alignment="center")
        note.caption(f"Lead tiers as the Leads page scored them: "
                     f"{drill.scoring_text(rules, payers)}.", width="stretch")
        note.button("Default rules", on_click=drill.forget_lead_scoring, type="tertiary",
                    icon=":material/restart_alt:", help="Score lead tiers with the SPEC's rules.")
    active_col, event_col, ids_col = st.columns([2, 3, 4])
    active_days = params.integer("active_days", "Active in the last N days", default=0,
                                 min_value=0, max_value=3650, container=active_col,
                                 help="0 = any time (no activity filter).")
    event_types = params.multiselect("event_type", "Did any of these events",
                                     choices["event_types"], format_func=fmt.human,
                                     container=event_col, placeholder="Any event")
    with ids_col:
        pasted = people.id_list("ids", "Only these user IDs", height=68,
                                placeholder="Paste IDs separated by spaces, commas or lines")
        check = state.validate_user_ids(pasted) if pasted.strip() else None
        if check:
            people.show_id_check(check)

try:
    chosen = AudienceFilter(
        lesson_types=tuple(lesson_types), registered_from=registered_from,
        registered_to=registered_to, attended=attended, streams=tuple(streams),
        statuses=tuple(STATUS_CODES[s] for s in statuses), booking_from=booking_from,
        booking_to=booking_to, booked=booked, first_seen_from=first_seen_from,
        first_seen_to=first_seen_to, tiers=tuple(tiers), lead_rules=rules, lead_payers=payers,
        active_within_days=active_days or None, event_types=tuple(event_types),
        user_ids=check.valid if check else None,
    )
except ValidationError as err:
    banners.error(err)
else:
    show_people(chosen)
