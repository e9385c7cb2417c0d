"""Saved views in the sidebar (issue 12, item 1): the list, "Save view", renaming and
deleting, and opening a view by its short link `?view=ID`.

The data rules (who may open, share, change) are hsl.views'; this module draws them. A
view opens as a page link carrying its page's query string, so Back and a copied address
work as for any page; `?view=ID` on any page opens the view for whoever may open it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from urllib.parse import urlencode

import streamlit as st
from sqlalchemy.engine import Engine

from hsl import views
from hsl.auth import Actor, Permission, can
from hsl.errors import DatabaseUnavailable, HslError, QueryTimeout
from hsl.filters import PRESETS
from hsl_ui import banners, state
from hsl_ui import format as fmt

BOOKMARK = ":material/bookmark:"
BY_FILE = {page.file: key for key, page in views.PAGES.items()}
VIEWS_SECONDS = 60  # how long a sidebar keeps its list of views (a colleague's new one)


def open_from_link(user: Actor, today: date, allowed: list[str]) -> None:
    """With `?view=ID` in the address, open that view's page with its filters (a preset's
    dates as of `today`), or say in one sentence why not and carry on with the page."""
    if "view" not in st.query_params:
        return
    text = st.query_params.get("view", "")
    st.query_params.pop("view", None)
    try:
        view = views.get(state.engine(), user, views.view_id(text))
    except (DatabaseUnavailable, QueryTimeout):
        raise
    except HslError as err:
        banners.leave("info", str(err), BOOKMARK)
        return
    if view.page_file not in allowed:
        banners.leave("info", f"The saved view “{view.name}” opens a page your role "
                              f"({user.role}) cannot see.", BOOKMARK)
        return
    banners.leave("success", f"Opened the saved view “{view.name}”.", BOOKMARK)
    st.switch_page(view.page_file, query_params=view.query_params(today))


def sidebar(user: Actor, page_file: str, today: date) -> None:
    """The sidebar's "Saved views": each view as a link, and on a dashboard page "Save view"
    and "Manage views". A database that cannot be read says so in one caption."""
    try:
        shown = _visible(state.engine(), state.settings().database_url, user.name, user.role)
    except HslError:
        st.caption(":material/bookmarks: Saved views cannot be read right now.")
        return
    if shown:
        st.caption("Saved views")
        for view in shown:
            owner = "" if view.owner == user.name else f" · {view.owner}"
            st.page_link(view.page_file, label=fmt.md(f"{view.name}{owner}", fmt.HUMAN_CHARS),
                         icon=":material/group:" if view.shared else ":material/bookmark:",
                         query_params=view.query_params(today),
                         help=_describe(view, today))
    row = st.container(horizontal=True, gap="small")
    if page_file in BY_FILE:
        with row.popover("Save view", icon=":material/bookmark_add:", width="stretch"):
            _save_form(user, BY_FILE[page_file], today)
    mine = [v for v in shown if v.owner == user.name or user.role == "admin"]
    if mine:
        with row.popover("Manage", icon=":material/edit:", width="stretch"):
            _manage_form(user, mine)


@st.cache_data(ttl=VIEWS_SECONDS, show_spinner=False)
def _visible(_engine: Engine, database_url: str, name: str, role: str) -> list[views.SavedView]:
    """`views.visible` for the person, kept VIEWS_SECONDS (one query less a run); this
    session's own changes clear it (`_changed`)."""
    return views.visible(_engine, Actor(name, role))


def _changed() -> None:
    """After a view was saved, changed or deleted: the sidebar lists read afresh."""
    _visible.clear()


def _describe(view: views.SavedView, today: date) -> str:
    """`October · Funnel · Last month (rolls; now 1 Oct – 31 Oct 2026) · shared by bob`."""
    parts = [view.name, views.PAGES[view.page].title]
    dates = view.dates_on(today)
    if view.dates_preset and dates:
        parts.append(f"{PRESETS[view.dates_preset]} (rolls; now {fmt.date_range(*dates)})")
    elif dates:
        parts.append(f"{fmt.date_range(*dates)} (fixed)")
    parts.append(f"shared by {view.owner}" if view.shared else "only you")
    return fmt.md(" · ".join(parts))


def _save_form(user: Actor, page: str, today: date) -> None:
    with st.form("hsl_save_view", border=False):
        name = st.text_input("Name *", max_chars=views.MAX_NAME)
        preset = st.query_params.get("dates") if views.PAGES[page].dates else None
        rolling = False
        if views.PAGES[page].dates:
            start, end = st.query_params.get("start"), st.query_params.get("end")
            fixed = (f"Fixed: {fmt.date_range(date.fromisoformat(start), date.fromisoformat(end))}"
                     if start and end else "Fixed dates")
            choices = [f"Rolling: {PRESETS[preset]}", fixed] if preset in PRESETS else [fixed]
            rolling = st.radio("Dates", choices, help="Rolling dates follow the calendar: "
                               "“Last month” shows the month before the day the view is "
                               "opened.") != fixed
        shared = st.checkbox("Share with everyone") if can(user, Permission.EXPORT) else False
        if not st.form_submit_button("Save", icon=":material/bookmark_add:"):
            return
    query = [(k, v) for k in st.query_params for v in st.query_params.get_all(k)]
    try:
        dated = views.PAGES[page].dates
        start = end = None
        if dated and not rolling:
            start = date.fromisoformat(st.query_params.get("start"))
            end = date.fromisoformat(st.query_params.get("end"))
        view_id = views.create(state.engine(), user, name=name, page=page,
                               query=urlencode(query), preset=preset if rolling else None,
                               start=start, end=end, shared=shared)
    except (HslError, TypeError, ValueError) as err:
        sentence = str(err) if isinstance(err, HslError) else "The page's dates are not set."
        st.error(fmt.md(sentence))
        return
    _changed()
    banners.leave("success", f"Saved the view “{views.clean_name(name)}”: it is in the "
                             f"sidebar, and ?view={view_id} opens it.", BOOKMARK)
    st.rerun()


def _manage_form(user: Actor, mine: list[views.SavedView]) -> None:
    by_id = {v.id: v for v in mine}
    chosen = st.selectbox("View", list(by_id), key="hsl_manage_view",
                          format_func=lambda i: fmt.plain(by_id[i].name))
    view = by_id[chosen]
    with st.form("hsl_change_view", border=False):
        name = st.text_input("New name *", value=view.name, max_chars=views.MAX_NAME)
        shared = (st.checkbox("Shared with everyone", value=view.shared)
                  if can(user, Permission.EXPORT) else None)
        rename = st.form_submit_button("Save changes", icon=":material/save:")
    if st.button("Delete this view", icon=":material/delete:", type="tertiary",
                 key="hsl_delete_view"):
        _apply(lambda: views.remove(state.engine(), user, view.id),
               lambda gone: f"Deleted the saved view “{gone.name}”.")
    if rename:
        _apply(lambda: views.change(state.engine(), user, view.id, name=name, shared=shared),
               lambda saved: f"Saved the changes to “{saved.name}”.")


def _apply(action: Callable[[], views.SavedView],
           sentence: Callable[[views.SavedView], str]) -> None:
    """Run a change; on success leave its sentence for the next run and rerun."""
    try:
        done = action()
    except HslError as err:
        st.error(fmt.md(str(err)))
        return
    _changed()
    banners.leave("success", sentence(done), BOOKMARK)
    st.rerun()
