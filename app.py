"""HSL Analytics: the list of pages, the auth gate and the shared sidebar.

Run with `streamlit run app.py`. Each page file in pages/ draws one screen.
"""

import streamlit as st

from hsl.auth import Permission, can
from hsl.errors import DatabaseUnavailable, HslError
from hsl.filters import local_today
from hsl_ui import auth, banners, layout, sidebar, state
from hsl_ui import views as saved_views
from hsl_ui.sidebar import COMPARE, NONE, RANGE, PageLink

# One line a page: navigation section, file, title, icon, the permission it needs, and
# what it does with the sidebar's shared dates: COMPARE (uses them and compares them with an
# earlier period), RANGE (uses them) or NONE (does not use them; the sidebar says so).
PAGES = [
    ("Dashboards", "pages/overview.py", "Overview", ":material/dashboard:",
     Permission.VIEW_DASHBOARDS, COMPARE),
    ("Dashboards", "pages/free_lessons.py", "Free lessons", ":material/co_present:",
     Permission.VIEW_DASHBOARDS, RANGE),
    ("Dashboards", "pages/funnel.py", "Funnel", ":material/filter_alt:",
     Permission.VIEW_DASHBOARDS, COMPARE),
    ("Dashboards", "pages/activity.py", "Activity", ":material/monitoring:",
     Permission.VIEW_DASHBOARDS, RANGE),
    ("Dashboards", "pages/streams.py", "Streams", ":material/school:",
     Permission.VIEW_DASHBOARDS, NONE),
    ("Dashboards", "pages/leads.py", "Leads", ":material/local_fire_department:",
     Permission.VIEW_DASHBOARDS, NONE),
    ("People", "pages/users.py", "Users", ":material/person_search:",
     Permission.VIEW_DASHBOARDS, NONE),
    ("People", "pages/audience.py", "Audience", ":material/groups:",
     Permission.VIEW_DASHBOARDS, NONE),
    ("People", "pages/messages.py", "Messages", ":material/send:",
     Permission.COMPOSE_MESSAGES, NONE),
    ("People", "pages/audit_log.py", "Audit log", ":material/history:",
     Permission.VIEW_AUDIT_LOG, RANGE),
    ("People", "pages/subscriptions.py", "Subscriptions & alerts", ":material/notifications:",
     Permission.VIEW_DASHBOARDS, NONE),
]

SIDEBAR_PX = 280  # leaves room for five KPI cards side by side at 1280 px

st.set_page_config(page_title="HSL Analytics", page_icon=":material/insights:", layout="wide",
                   initial_sidebar_state=SIDEBAR_PX)
layout.apply()  # headline cards that wrap; the sidebar starts closed on narrow screens


def main() -> None:
    """Gate, navigation, sidebar and the chosen page; typed errors become one sentence."""
    try:
        settings = state.settings(fresh=True)
    except HslError as err:
        banners.error(err)
        st.stop()

    user = auth.current_user(settings)
    sections: dict[str, list[PageLink]] = {}
    for section, path, title, icon, permission, dates in PAGES:
        if can(user, permission):
            link = PageLink(st.Page(path, title=title, icon=icon), dates, path)
            sections.setdefault(section, []).append(link)
    # The sidebar draws the page links itself, each carrying the shared dates.
    page = st.navigation({section: [link.page for link in links]
                          for section, links in sections.items()}, position="hidden")
    state.remember_pages({link.file: link.page for links in sections.values() for link in links})
    allowed = [path for _, path, _, _, perm, _ in PAGES if can(user, perm)]
    state.resume_wanted_page(allowed)

    current = next(link for links in sections.values() for link in links if link.page is page)
    top = st.container()
    try:
        # `?view=ID`: a saved view's short link opens its page with its filters.
        saved_views.open_from_link(user, local_today(settings.timezone), allowed)
    except DatabaseUnavailable:
        with top:
            banners.database_down()
        st.stop()
    shared, loaded_slot = sidebar.render(settings, user, sections, current.dates, current.file)
    state.begin_run(shared)
    if settings.is_demo:
        with top:
            banners.demo()
    with top:
        banners.show_left()  # what the last change did (a saved view, a subscription)
    try:
        # One round trip a run: with the database down, a page must not draw cached numbers
        # as if nothing were wrong, nor half of itself above the banner.
        state.check_connections()
        page.run()
    except DatabaseUnavailable:
        with top:
            banners.database_down()
    except HslError as err:
        with top:
            banners.error(err)
    except Exception:  # noqa: BLE001 - logged, and one sentence on screen (banners)
        with top:
            banners.unexpected()
    sidebar.show_loaded_at(loaded_slot, state.oldest_load(), settings.timezone,
                           state.summaries_as_of())


# Anything unexpected is logged for the operator and shown as one sentence, never as a
# traceback (Streamlit's own error box is also turned off: client.showErrorDetails).
with banners.no_traceback():
    main()
