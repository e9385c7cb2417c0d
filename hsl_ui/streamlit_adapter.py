"""Which page a run is about: the one place the app reads Streamlit's page routing.

Two questions have no answer in Streamlit's public API, or only a partial one:

- `lone_page_script()` — did Streamlit run a page file on its own, outside app.py? A
  freshly started server treats the `pages/` folder as the legacy automatic page list until
  app.py has called st.navigation once (docs/DECISIONS.md, "Legacy `pages/` folder"). No
  public API says which script a run executes, so this reads Streamlit internals:
  `PagesManager.uses_pages_directory` (the legacy mode flag), `get_script_run_ctx()` and
  its `pages_manager.get_pages()`, `page_script_hash` and `main_script_path`.
  tests/test_streamlit_adapter.py checks that they still exist as used here. If they break
  (a Streamlit upgrade), the answer is None: the page then runs alone on that first request,
  without the sidebar, but still behind the login gate (every page and `state.engine()` ask
  `auth.current_user` themselves).
- `requested_page_path()` — the page address the visitor asked for, so the sign-in screen
  can be registered under it. Public API only: `st.context.url` (the browser's address,
  no query string) and the `server.baseUrlPath` option. None (the main page) when the client
  sends no address; the link then opens the main page after signing in.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import streamlit as st

try:  # Streamlit internals, see above; a Streamlit that moved them is treated as "no answer"
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx
except ImportError:  # pragma: no cover - only on a Streamlit without these modules
    PagesManager = get_script_run_ctx = None


def lone_page_script() -> str | None:
    """The page file (POSIX path relative to app.py's folder) Streamlit ran alone, else None."""
    try:
        ctx = get_script_run_ctx()
        if ctx is None or not PagesManager.uses_pages_directory:
            return None
        # Streamlit keeps the main script path as it was given (`app.py` when started from
        # the repository root) but the legacy page list holds resolved paths.
        main = Path(ctx.main_script_path).resolve()
        running = ctx.pages_manager.get_pages().get(ctx.page_script_hash, {})
        script = Path(running.get("script_path", main)).resolve()
        return None if script == main else script.relative_to(main.parent).as_posix()
    except Exception:  # noqa: BLE001 - changed internals or an odd path: fail safe
        return None


def requested_page_path() -> str | None:
    """The URL path segment of the page the browser asked for (None: the main page)."""
    url = st.context.url
    if not url:
        return None
    path = urlsplit(url).path.strip("/")
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    if base and (path == base or path.startswith(f"{base}/")):
        path = path[len(base):].strip("/")
    # Page paths are one segment; anything before it is a prefix a proxy added.
    return path.rsplit("/", 1)[-1] or None
