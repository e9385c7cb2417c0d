"""A digest's chart as a PNG (issue 12, item 2): the page's own Altair chart, drawn server-side.

The chart is built by the page's builder in hsl_ui/charts*.py, fixed at WIDTH pixels wide
(the whole picture, axes and legend included) with a title, its data inlined in the
Vega-Lite spec, and rendered by vl-convert (no browser, no network) at SCALE× for phones.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Callable, Iterator
from datetime import date

import altair as alt
import vl_convert as vlc

from hsl.digests import ChartData

WIDTH = 800  # pixels of the picture at scale 1
SCALE = 2


@contextlib.contextmanager
def _quiet_streamlit() -> Iterator[None]:
    """Silence Streamlit's "No runtime found" warnings: the chart builders' module caches
    with st.cache_data, which warns when it is imported outside a Streamlit server."""
    names = [name for name in logging.root.manager.loggerDict if name.startswith("streamlit")]
    loggers = [logging.getLogger(name) for name in ("streamlit", *names)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@functools.cache
def _builders() -> dict[str, Callable[..., alt.TopLevelMixin]]:
    """ChartData.kind → the page's chart builder (imported on first use: it needs Streamlit)."""
    import streamlit  # noqa: F401 - creates Streamlit's loggers, so that they can be quieted

    with _quiet_streamlit():
        from hsl_ui import charts, charts_streams
        from hsl_ui import charts_analytics as ca
    return {
        "growth": charts.growth,
        "registrants_by_lesson_date": ca.registrants_by_lesson_date,
        "funnel": charts.funnel,
        "events_by_day": ca.events_by_day,
        "stream_statuses": charts_streams.stream_statuses,
        "lead_tiers": charts_streams.lead_tiers,
    }


def chart(data: ChartData) -> alt.TopLevelMixin:
    """The page's chart of `data`, WIDTH pixels wide in all, with its title."""
    built = _builders()[data.kind](data.frame, *data.args)
    return built.properties(
        width=WIDTH, title=alt.TitleParams(data.title, anchor="start", fontSize=16, offset=16),
        autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
        background="white", padding=12,
    )


def spec(data: ChartData) -> dict:
    """The Vega-Lite spec of `chart(data)` with its data inlined (Altair's default data
    transformer; the app's named-data transformer is for st.vega_lite_chart only)."""
    built = chart(data)
    from hsl_ui.charts import _ALTAIR  # Altair's transformer and theme are process-wide

    with _ALTAIR, alt.data_transformers.enable("default", max_rows=None), \
            alt.theme.enable("default"):
        return built.to_dict()


def _iso(value: object) -> str:
    """JSON for the values Altair leaves as they are: calendar days (the frames' `day`)."""
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def render(data: ChartData | None) -> bytes | None:
    """The PNG of `data`'s chart at SCALE× (None: there is nothing to draw)."""
    if data is None or data.frame.empty:
        return None
    return vlc.vegalite_to_png(json.dumps(spec(data), default=_iso), scale=SCALE)
