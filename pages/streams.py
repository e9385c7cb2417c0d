"""Streams: bookings by status for every course stream, and the roster of the chosen stream."""

import pandas as pd
import streamlit as st

from hsl.metrics.streams import STATUS_COLUMNS, roster_details
from hsl_ui import auth, charts, charts_streams, downloads, drill, params, people, state, tables
from hsl_ui import format as fmt

period = state.period()
user = auth.current_user(state.settings())


def other_statuses(summary: pd.DataFrame, counts: pd.DataFrame) -> pd.Series:
    """Per summary row, the bookings with unknown status codes: `Unknown (3): 2` (else empty)."""
    odd = counts[~counts["confirmed"].isin(STATUS_COLUMNS.values())]
    cells: dict[str, list[str]] = {}
    for stream, word, n in zip(odd["course_stream"].fillna(""), odd["status"], odd["bookings"],
                               strict=True):
        cells.setdefault(stream, []).append(f"{fmt.human(word)}: {fmt.count(n)}")
    return pd.Series([", ".join(cells.get(stream, [])) for stream in
                      summary["course_stream"].fillna("")], index=summary.index, dtype=object)


def pick_from_chart(key: str, known: list[str]) -> None:
    """A click on a bar puts its stream into the URL, which the Stream select then shows."""
    picked = [point.get("course_stream") for point in
              st.session_state[key]["selection"].get(charts_streams.PICK, [])]
    if picked and picked[0] in known:
        st.query_params["stream"] = picked[0]


st.title("Streams")
st.caption("All bookings ever made, whatever the dates in the sidebar. Paid rate: confirmed "
           "bookings of all bookings; cancellation rate: cancelled of all.")

summary = state.report("streams", period)
if summary.empty:
    charts.no_data()
else:
    counts = state.stream_status_counts()
    extra = other_statuses(summary, counts)
    if extra.any():
        summary.insert(summary.columns.get_loc("cancelled") + 1, "other_statuses", extra)
    tables.show(summary.assign(
        course_stream=summary["course_stream"].map(charts_streams.stream_name)), height="content")
    tables.download(summary, "streams", None)

    st.subheader("Bookings by status")
    st.caption("Click a bar to see that stream's students below.")
    chart_slot = st.container()

    st.subheader("Roster")
    known = state.stream_names()  # bookings without a stream have no roster
    stream = params.select("stream", "Stream", known, default=known[-1],
                           format_func=charts_streams.stream_name, width=320) if known else None
    key = f"status_chart:{stream}"  # a new chart per stream: a click always registers
    charts.draw(charts_streams.stream_statuses, counts, stream, where=chart_slot, key=key,
                on_select=lambda: pick_from_chart(key, known))
    if stream is None:
        charts.no_data()
    else:
        roster = state.report("roster", period, stream=stream)
        st.caption(f"{fmt.people(len(roster))} with a booking in the "
                   f"{fmt.md(charts_streams.stream_name(stream))}. Status: their newest "
                   "booking in this stream; events and last activity: all time.")
        drill.link(drill.stream_students(stream), len(roster))
        people.table(roster, user, links=True)
        engine = state.engine()  # the file adds last name, email and booking date (when clicked)
        tables.download(lambda: downloads.with_details(
            people.with_links(roster), roster_details(engine, period, stream)), "roster", None,
            stream=stream)
