"""Widgets the Users, Audience and Audit log pages share.

Filters that live in the URL beyond `hsl_ui.params` (free text, optional dates, pasted ids,
a page number), people tables without contact columns for viewers, the profile's header and
its audited stream-change form, and the audit log made readable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from datetime import date

import pandas as pd
import streamlit as st

from hsl import admin, export
from hsl.auth import CONTACT_COLUMNS, Actor, Permission, can
from hsl.errors import HslError
from hsl.metrics.users import (
    MAX_USER_ID,
    PAGE_SIZE,
    TOKEN_SEPARATORS,
    IdCheck,
    Identity,
    tme_links,
)
from hsl_ui import banners, params, state, tables
from hsl_ui import format as fmt
from hsl_ui.params import Param

EARLIEST_DATE = date(2000, 1, 1)
IDS_IN_URL_MAX = 2000  # characters of pasted ids kept in the link (a longer URL breaks reloads)
ID_COLUMNS = ("user_id", "id")  # shown as text: no thousands separators, read left to right
AUDIT_CELL_CHARS = 1000  # a reason or change longer than this is cut on screen (CSV keeps all)
SHOWN_TOKENS = 10  # malformed / unknown ids listed by name
_CHANGED = "_hsl_stream_changed"  # session key: the success sentence shown after the rerun
_SAVED = "_hsl_stream_changes"  # session key: stream changes saved in this session
_PAGED = "_hsl_paged_for"  # session key: the filters each page number belongs to


# ---------------------------------------------------------------- filters in the URL


def text_filter(key: str, label: str, **kwargs: object) -> str:
    """A text box in `?key=text` (left out of the URL when empty); returns the trimmed text."""
    param = Param((key,), "", lambda texts: texts[-1] if texts else "", lambda v: (v,),
                  "an empty box")
    return params.bind(param, "text_input", label, **kwargs).strip()


def optional_date(key: str, label: str, **kwargs: object) -> date | None:
    """A date input in `?key=YYYY-MM-DD` that may stay empty (None)."""

    def parse(texts: list[str]) -> date:
        try:
            return date.fromisoformat(texts[-1])
        except (IndexError, ValueError):
            raise ValueError("it is not a date in YYYY-MM-DD form.") from None

    param = Param((key,), None, parse, lambda v: (v.isoformat() if v else "",), "no date")
    return params.bind(param, "date_input", label, value=None, min_value=EARLIEST_DATE,
                       format="YYYY-MM-DD", **kwargs)


def user_id_param(key: str = "user", what: str = "user id") -> int | None:
    """The id in `?key=ID` (1 .. 2^63−1), or None; a malformed one is dropped with a notice."""
    text = st.query_params.get(key)
    if text is None:
        return None
    if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_USER_ID:
        return int(text)
    st.query_params.pop(key)
    st.info(f"Ignored {fmt.code(key + '=' + text)} from the link: it is not a {what}.",
            icon=":material/link_off:")
    return None


def id_list(key: str, label: str, **kwargs: object) -> str:
    """A text area for pasted user ids, kept in `?key=1,2,3` while the list is short."""
    widget = f"url:{key}"
    if widget not in st.session_state:
        st.session_state[widget] = st.query_params.get(key, "")
    text = st.text_area(label, key=widget, **kwargs)
    compact = ",".join(t for t in TOKEN_SEPARATORS.split(text) if t)
    if compact and len(compact) <= IDS_IN_URL_MAX:
        if st.query_params.get(key) != compact:
            st.query_params[key] = compact
    else:
        st.query_params.pop(key, None)
        if compact:
            st.caption("This list is too long for the page address: a copied link leaves it out.")
    return text


def show_id_check(check: IdCheck) -> None:
    """Say which pasted ids are used, and which are malformed or unknown (and left out)."""
    st.caption(f"{fmt.count(len(check.valid))} known "
               f"{'id' if len(check.valid) == 1 else 'ids'} used.")
    for tokens, what in ((check.malformed, "not user ids"), (check.unknown, "unknown")):
        if tokens:
            listed = ", ".join(fmt.code(t, 40) for t in tokens[:SHOWN_TOKENS])
            more = f" and {len(tokens) - SHOWN_TOKENS:,} more" if len(tokens) > SHOWN_TOKENS else ""
            st.warning(f"Left out, {what}: {listed}{more}.", icon=":material/warning:")


def _page_in_url(key: str, pages: int) -> tuple[int, str | None]:
    """The page number `?key=N` asks for (1 when absent) and a notice when it is no page."""
    text = st.query_params.get(key)
    if text is None:
        return 1, None
    if text.isascii() and text.isdigit() and 1 <= int(text) <= pages:
        return int(text), None
    why = (f"there are {fmt.count(pages)} pages." if text.isascii() and text.isdigit()
           else "it is not a page number.")
    return 1, f"Ignored {fmt.code(key + '=' + text, 40)} from the link: {why} Showing page 1."


def _go_to_page(key: str, page: int) -> None:
    """Button callback: put `page` into the URL (page 1 is left out) before the rerun."""
    wanted = None if page == 1 else str(page)
    if st.query_params.get(key) == wanted:
        return  # unchanged: no new browser history entry
    if wanted is None:
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = wanted


def pager(key: str, total: int, depends_on: Hashable, page_size: int = PAGE_SIZE) -> int:
    """"51–100 of 3,000" with First / Previous / Next / Last buttons; returns the offset.

    The page lives in `?key=N`, so a link opens that page; it goes back to 1 when
    `depends_on` (the search, the filters) changes. A page the link cannot have is
    replaced by page 1 with a notice.
    """
    memory = st.session_state.setdefault(_PAGED, {})
    if key in memory and memory[key] != depends_on:
        st.query_params.pop(key, None)
    memory[key] = depends_on
    pages = max(1, -(-total // page_size))
    page, notice = _page_in_url(key, pages)
    if notice:
        st.info(notice, icon=":material/link_off:")
    _go_to_page(key, page)  # drops a bad or single page from the URL
    if pages == 1:
        return 0
    first = (page - 1) * page_size
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    row.caption(f"{fmt.count(first + 1)}–{fmt.count(min(first + page_size, total))} "
                f"of {fmt.count(total)}", width="content")
    for label, icon, target in (("First", "first_page", 1), ("Previous", "chevron_left", page - 1),
                                ("Next", "chevron_right", page + 1), ("Last", "last_page", pages)):
        row.button(label, key=f"{key}:{label}", icon=f":material/{icon}:", type="tertiary",
                   disabled=target == page or not 1 <= target <= pages,
                   on_click=_go_to_page, args=(key, target))
    return first


# ---------------------------------------------------------------- people tables


def without_contacts(frame: pd.DataFrame, actor: Actor) -> pd.DataFrame:
    """`frame` without username, email and t.me link unless the actor may see contacts."""
    return frame if can(actor, Permission.VIEW_CONTACTS) else _no_contacts(frame)


def _no_contacts(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in CONTACT_COLUMNS if c in frame.columns])


def with_links(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the `t.me` link of each username beside it (third column)."""
    frame = frame.copy()
    frame.insert(2, "tme_link", tme_links(frame["username"]))
    return frame


def _as_shown(frame: pd.DataFrame, contacts: bool, links: bool) -> pd.DataFrame:
    """The columns `table` shows: contacts only with `contacts`, with `links` the t.me link
    of each username (`with_links`), the link instead of the username, ids as text."""
    if links:
        frame = with_links(frame)
    if not contacts:
        frame = _no_contacts(frame)
    if "tme_link" in frame.columns:
        frame = frame.drop(columns=["username"], errors="ignore")
    return frame.astype({c: "string" for c in ID_COLUMNS if c in frame.columns})


def table(frame: pd.DataFrame, actor: Actor, widths: dict[str, int] | None = None,
          links: bool = False, **kwargs: object):
    """Draw a table (contact columns for analysts+ only, t.me links clickable); return its
    events. With `links`, each username's t.me link is added (`with_links`).

    Where a `tme_link` column is shown, the link (`t.me/<username>`) stands in for the
    username column, so that the table fits at 1280 px; CSVs keep both.
    """
    contacts = can(actor, Permission.VIEW_CONTACTS)
    config = {}
    if contacts and (links or "tme_link" in frame.columns):
        config[fmt.label("tme_link")] = st.column_config.LinkColumn(
            display_text=r"https://(t\.me/.*)")
    for column, pixels in (widths or {}).items():
        if column in frame.columns or (links and column == "tme_link"):
            config.setdefault(fmt.label(column), {})["width"] = pixels
    return tables.show(frame, config, (_as_shown, {"contacts": contacts, "links": links}),
                       **kwargs)


# Widths that fit the search's columns and its row checkboxes into 840 px (1280 px screen).
SEARCH_WIDTHS = {"user_id": 110, "username": 125, "name": 180, "email": 235, "first_seen": 140}
# A profile's events: room for the details (wrapped past tables.LONG_TEXT characters).
EVENT_WIDTHS = {"id": 80, "event_type": 180, "created_at": 150, "details": 430}
# Widths that fit the nine audience columns into the 840 px beside the sidebar at 1280 px.
AUDIENCE_WIDTHS = {"user_id": 80, "first_name": 76, "email": 175, "tme_link": 108,
                   "lesson_types": 98, "streams": 84, "statuses": 74, "tier": 45,
                   "last_activity": 95}


def audience_view(rows: pd.DataFrame) -> pd.DataFrame:
    """Audience rows for reading: lists of data words humanised, last activity as a day."""
    out = rows.copy()
    for column in ("lesson_types", "streams", "statuses"):
        out[column] = [
            ", ".join(fmt.human(w) for w in value.split(", ")) if isinstance(value, str) and value
            else None
            for value in rows[column]
        ]
    out["last_activity"] = [None if pd.isna(t) else t.date() for t in rows["last_activity"]]
    return out


def csv_button(rows: Callable[[], pd.DataFrame], name: str, **filters: object) -> None:
    """A CSV download made only when clicked (all rows); the file name carries the filters."""
    tables.csv_button(rows, export.file_name(name, **filters))


# ---------------------------------------------------------------- profile


def display_name(identity: Identity, actor: Actor) -> str:
    """The name a profile is titled with: names, else @username (analysts+), else the id."""
    names = " ".join(n for n in (identity.first_name, identity.last_name) if n)
    if names:
        return names
    if identity.username and can(actor, Permission.VIEW_CONTACTS):
        return f"@{identity.username}"
    return f"User {identity.user_id}"


def identity_line(identity: Identity, actor: Actor, tz: str) -> str:
    """One Markdown line: id, t.me link and email (analysts+), first seen."""
    parts = [f"User ID `{identity.user_id}`"]
    if can(actor, Permission.VIEW_CONTACTS):
        if identity.tme_link:
            parts.append(f"[@{fmt.md(identity.username)}]({identity.tme_link})")
        if identity.email:
            parts.append(fmt.md(identity.email))
    if identity.first_seen:
        parts.append(f"first seen {fmt.day(identity.first_seen.date())}, "
                     f"{identity.first_seen:%H:%M} ({tz})")
    return " · ".join(parts)


def change_stream_form(actor: Actor, user_id: int, bookings: pd.DataFrame,
                       streams: list[str]) -> None:
    """Admins: move the user's newest active booking to another known stream, audited."""
    if message := st.session_state.pop(_CHANGED, None):
        st.success(message, icon=":material/check_circle:")
    active = bookings[bookings["status"] != "cancelled"]
    if active.empty:
        st.info("This user has no active booking, so there is no stream to change.",
                icon=":material/info:")
        return
    newest = active.iloc[0]
    current = newest["course_stream"]
    targets = [stream for stream in streams if stream != current]
    if not targets:
        st.info(f"There is no other stream to move this booking to: "
                f"{fmt.md(fmt.human(current))} is the only known stream.", icon=":material/info:")
        return
    st.caption(
        f"Moves booking #{newest['id']} ({fmt.md(fmt.human(current))}, "
        f"{newest['status']}, made {fmt.day(newest['created_at'].date())}): the newest booking "
        "that is not cancelled. The change and its audit-log entry are saved together. "
        "Fields marked * are required."
    )
    # A new form (key) after each saved change, so it starts empty again.
    with st.form(f"change_stream:{st.session_state.get(_SAVED, 0)}"):
        target = st.selectbox("Move to stream *", targets, index=None, format_func=fmt.human,
                              placeholder="Choose a stream",
                              help="Every known stream except the one the booking is in.")
        reason = st.text_input("Reason *", help="Required: written to the audit log with your "
                               "name.", placeholder="e.g. asked to move to the evening group")
        confirmed = st.checkbox("I confirm this change *")
        submitted = st.form_submit_button("Change stream", type="primary",
                                          icon=":material/swap_horiz:")
    if not submitted:
        return
    if target is None:
        st.error("Choose the stream to move to.", icon=":material/error:")
        return
    if not confirmed:
        st.warning("Tick “I confirm this change” to save it.", icon=":material/warning:")
        return
    try:
        entry = admin.change_stream(state.engine(), actor, user_id, target, reason)
    except HslError as err:
        banners.error(err)
        return
    state.clear()
    st.session_state[_SAVED] = st.session_state.get(_SAVED, 0) + 1
    st.session_state[_CHANGED] = (
        f"Moved booking #{entry.after['booking_id']} of user {user_id} from "
        f"{fmt.md(fmt.human(entry.before['course_stream']))} to "
        f"{fmt.md(fmt.human(entry.after['course_stream']))}."
    )
    st.rerun()


# ---------------------------------------------------------------- audit log


def _value_text(key: str, value: object) -> str:
    """One audited value for reading: data words (streams) humanised, the rest as stored."""
    if value is None:
        return "—"
    return fmt.human(value) if key in fmt.WORD_COLUMNS and isinstance(value, str) else str(value)


def change_text(before: str | None, after: str | None) -> str:
    """What an audit entry changed, e.g. `Stream: 3rd stream → 10th stream`."""
    old, new = (json.loads(v) if v else {} for v in (before, after))
    old, new = (v if isinstance(v, dict) else {} for v in (old, new))
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return "; ".join(
        f"{fmt.label(k)}: {_value_text(k, old.get(k))} → {_value_text(k, new.get(k))}"
        for k in changed
    )


PROFILE_PAGE = "users"  # the Users page's address (pages/users.py), relative to any page


def profile_link(user_id: object) -> str:
    """Markdown: the user id as a link to their profile on the Users page ("" for none)."""
    if user_id is None or pd.isna(user_id):
        return ""
    return f"[{int(user_id)}]({PROFILE_PAGE}?user={int(user_id)})"


def show_audit(entries: pd.DataFrame, with_user: bool = True) -> None:
    """Audit entries as a person reads them (when, by, action, user, record, change, reason).

    A static table: the cells wrap, so a long reason or change is never cut off. User IDs
    link to the profile (a link opens in a new tab).
    """
    shown = pd.DataFrame({
        "occurred_at": [f"{fmt.day(t.date())}, {t:%H:%M}" for t in entries["occurred_at"]],
        "actor": entries["actor"].map(lambda a: fmt.md(a, fmt.HUMAN_CHARS)),
        "action": entries["action"].map(lambda a: fmt.md(fmt.human(a))),
        "user_id": [profile_link(u) for u in entries["user_id"]],
        "record": [fmt.md(f"{fmt.human(entity)} #{entity_id}")
                   for entity, entity_id in zip(entries["entity"], entries["entity_id"],
                                                strict=True)],
        "change": [fmt.md(change_text(b, a), AUDIT_CELL_CHARS)
                   for b, a in zip(entries["before"], entries["after"], strict=True)],
        "reason": [fmt.md(r, AUDIT_CELL_CHARS) for r in entries["reason"]],
    })
    if not with_user:
        shown = shown.drop(columns=["user_id"])
    st.table(shown.rename(columns=fmt.label), hide_index=True)
