"""Users: find anyone the bot knows; pick a person to open their profile."""

from functools import partial

import streamlit as st

from hsl.auth import Permission, can
from hsl.errors import NotFoundError
from hsl.metrics.users import MAX_WORDS, PAGE_SIZE, search_text
from hsl_ui import auth, banners, charts, people, state
from hsl_ui import format as fmt

settings = state.settings()
actor = auth.current_user(settings)
tz = settings.timezone
chosen = people.user_id_param("user")


def back_to_search() -> None:
    for key in ("user", "events_page"):
        st.query_params.pop(key, None)


def open_picked(key: str, ids: list[str]) -> None:
    """Selection callback: open the profile of the row picked (its checkbox or any cell).

    It runs before the rerun, so that run draws the profile alone: nothing of the search
    table is left on screen.
    """
    picked = st.session_state[key].selection
    rows = list(picked.rows) or [row for row, _column in picked.cells]
    if rows:
        st.query_params["user"] = ids[rows[0]]


def show_search() -> None:
    """One box, 50 people a page; a click on a row opens the profile."""
    st.title("Users")
    contacts = can(actor, Permission.VIEW_CONTACTS)  # viewers search names and ids only
    query = people.text_filter(
        "q", "Search", placeholder="Name, @username, email or user ID" if contacts
        else "Name or user ID",
        help="Several words each match some field, in any order (“Юлия Иванова”). Exact "
             "matches first, then names that start with the text, then names that contain "
             "it. All digits also find that user ID.",
    )
    if len(search_text(query).split()) > MAX_WORDS:
        st.caption(f"Only the first {MAX_WORDS} words are searched.")
    total = state.count_users(query, contacts=contacts)
    st.caption(f"{fmt.people(total)} match “{fmt.md(query)}”." if query
               else f"Everyone the bot knows: {fmt.people(total)}.")
    if total == 0:
        charts.no_data()
        return
    table = st.container()
    offset = people.pager("page", total, query, PAGE_SIZE)
    found = state.search_users(query, tz, PAGE_SIZE, offset, contacts=contacts)
    found["name"] = [" ".join(n for n in pair if isinstance(n, str) and n)
                     for pair in zip(found["first_name"], found["last_name"], strict=True)]
    key = f"pick:{query}:{offset}"
    with table:
        st.caption("Click a row to open the profile.")
        people.table(
            found[["user_id", "username", "name", "email", "first_seen"]], actor,
            people.SEARCH_WIDTHS,
            on_select=partial(open_picked, key, [str(i) for i in found["user_id"]]),
            selection_mode=["single-row", "single-cell"], key=key,
        )


def show_profile(user_id: int) -> None:
    """Who they are, where they stand, what they did; admins also change their stream."""
    st.button("Back to search", icon=":material/arrow_back:", type="tertiary",
              on_click=back_to_search)
    try:
        identity = state.user_identity(user_id, tz)
    except NotFoundError as err:
        banners.error(err)
        return
    st.title(fmt.md(people.display_name(identity, actor), fmt.HUMAN_CHARS), anchor=False)
    st.markdown(people.identity_line(identity, actor, tz))

    bookings = state.user_bookings(user_id, tz)
    tier = state.lead_tier(user_id, state.period())
    position = state.funnel_position(user_id)
    events_total = state.count_user_events(user_id)
    active = int((bookings["status"] != "cancelled").sum())
    cards = st.columns(4)
    cards[0].metric("Lead tier", fmt.human(tier) if tier else "—", border=True,
                    help="From the last 7 days of events. Only free-lesson registrants who "
                         "have not paid are leads.")
    cards[1].metric("Funnel position", fmt.human(position) if position else "Not started",
                    border=True, help="The furthest step reached, all time: registered, "
                                      "attended, booked, paid.")
    cards[2].metric("Active bookings", f"{active} of {len(bookings)}", border=True,
                    help="Bookings that are not cancelled, of all bookings.")
    cards[3].metric("Events", fmt.count(events_total), border=True)

    st.subheader("Bookings")
    if bookings.empty:
        st.caption("No bookings.")
    else:
        people.table(bookings, actor)

    st.subheader("Free-lesson registrations")
    registrations = state.user_registrations(user_id, tz)
    if registrations.empty:
        st.caption("No registrations.")
    else:
        people.table(registrations, actor)

    st.subheader("Events")
    if events_total == 0:
        st.caption("No events.")
    else:
        st.caption("Newest first.")
        table = st.container()
        offset = people.pager("events_page", events_total, user_id, PAGE_SIZE)
        with table:
            people.table(state.user_events(user_id, tz, PAGE_SIZE, offset), actor,
                         people.EVENT_WIDTHS)

    if can(actor, Permission.VIEW_AUDIT_LOG):
        st.subheader("Audit history")
        history = state.audit_entries(actor, user_id=user_id, tz=tz)
        if history.empty:
            st.caption("No audited changes for this user.")
        else:
            people.show_audit(history, with_user=False)

    if can(actor, Permission.CHANGE_STREAM):
        st.subheader("Change stream")
        people.change_stream_form(actor, user_id, bookings, state.stream_names())


if chosen is None:
    show_search()
else:
    show_profile(chosen)
