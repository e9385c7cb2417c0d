"""Banners at the top of every page: demo data, the database being down, plain errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from hsl.errors import DatabaseUnavailable, HslError
from hsl_ui import format as fmt
from hsl_ui import state

DATABASE_DOWN = "The database cannot be reached right now; retrying…"
UNEXPECTED = ("Something went wrong while drawing this page. It has been logged for the "
              "operator; try again, or change the filters.")
_log = logging.getLogger("hsl.app")
RETRY_SECONDS = 5
_ARMED = "_hsl_retry_armed"  # session key: the retry fragment has had its first, inline run
_LEFT = "_hsl_left_notice"  # session key: (kind, sentence, icon) for the top of the next run


def leave(kind: str, sentence: str, icon: str = ":material/check_circle:") -> None:
    """Leave one sentence ("success" or "info") for the top of the next run: what a change
    did, said after the rerun that shows it (app.py draws it with `show_left`)."""
    st.session_state[_LEFT] = (kind, sentence, icon)


def show_left() -> None:
    """Draw the sentence the last run left (`leave`), if any, inert: it may quote data."""
    kind, sentence, icon = st.session_state.pop(_LEFT, (None, None, None))
    if kind == "success":
        st.success(fmt.md(sentence), icon=icon)
    elif kind:
        st.info(fmt.md(sentence), icon=icon)


def demo() -> None:
    """Say plainly that the numbers are generated demo data."""
    st.info(
        "**Demo data** — this app runs on the embedded demo database with generated "
        "people and events, not on the school's real data.",
        icon=":material/science:",
    )


def error(err: Exception, icon: str = ":material/error:") -> None:
    """Show a typed error's one sentence, inert: it may quote a stream or name from the data."""
    st.error(fmt.sentence(err), icon=icon)


@contextmanager
def no_traceback() -> Iterator[None]:
    """Run a block; an unexpected exception is logged and shown as one plain sentence.

    Streamlit's stop and rerun signals are BaseExceptions and pass through untouched.
    """
    try:
        yield
    except Exception:  # noqa: BLE001 - the last line of defence before a person's screen
        unexpected()


def unexpected() -> None:
    """Log the exception being handled (with its traceback) and show UNEXPECTED."""
    _log.exception("Unexpected error in a page run")
    st.error(UNEXPECTED, icon=":material/error:")


def database_down() -> None:
    """Show the outage banner and check every few seconds; rerun the app once it is back."""
    st.error(DATABASE_DOWN, icon=":material/cloud_off:")
    st.session_state[_ARMED] = False
    _retry_when_back()


@st.fragment(run_every=RETRY_SECONDS)
def _retry_when_back() -> None:
    with no_traceback():
        _check_again()


def _check_again() -> None:
    if not st.session_state.get(_ARMED):
        # The inline call during the failed run: the check just failed, wait for the timer.
        st.session_state[_ARMED] = True
    else:
        try:
            state.check_connections()
        except DatabaseUnavailable:
            pass  # still down: the timer tries again
        except HslError:
            st.rerun(scope="app")  # reachable, but with another message the full run shows
        else:
            st.rerun(scope="app")
    st.caption(f"Checking again every {RETRY_SECONDS} seconds.")
