"""The one caching module: the engines (st.cache_resource) and query results (st.cache_data).

Pages never touch an engine. They call `report(name, period, **options)`, or a data
function wrapped once here with `@cached`, and get a DataFrame that is kept for five
minutes per database, function, arguments and summary refresh. Exceptions are never
cached, so a database that comes back is used again on the next rerun.

Cached results are read from HSL_READ_DATABASE_URL (a read replica) when it is set;
`engine()` is the primary database, for every write and what belongs to one (stream
changes, messaging, sign-in). The first page run of a process starts the
background refresh of the summaries (hsl.worker.RefreshTimer), and each run reads the
summaries' state once: it is part of every cache key, so a rerun after a refresh shows
the new numbers, and the sidebar says how fresh they are.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from hsl import admin, audience, bootstrap, reports, summaries
from hsl.config import Settings, load_settings
from hsl.db import check_connection, make_engine
from hsl.errors import HslError
from hsl.filters import DEFAULT_COMPARISON, DEFAULT_RANGE_DAYS, Period
from hsl.metrics import activity, coverage, leads, lessons, overview, streams, users
from hsl.summaries import SummaryState
from hsl.worker import RefreshTimer
from hsl_ui import auth, streamlit_adapter

if TYPE_CHECKING:  # the sidebar imports this module: no import back at run time
    from hsl_ui.sidebar import Shared

CACHE_TTL_SECONDS = 300
_LOADS = "_hsl_loads"  # session key: load times of the results used in this run
_PERIOD = "_hsl_period"  # session key: the shared Period the sidebar chose in this run
_COMPARISON = "_hsl_comparison"  # session key: what this run's period is compared with
_WANTED = "_hsl_wanted_page"  # session key: (page file, query) a lone page run asked for
_SUMMARIES = "_hsl_summaries"  # session key: the summaries' state this run reads (or None)
_PAGES = "_hsl_pages"  # session key: this run's st.Page objects by script (app.py)
_SETTINGS = "_hsl_settings"  # session key: this run's settings (read first by app.py)
SUMMARY_TABLES_CHECK_SECONDS = 60  # a database without summary tables is looked at again

R = TypeVar("R")


def settings(fresh: bool = False) -> Settings:
    """Return the app settings (environment and secrets), read fresh on every run: app.py
    asks with `fresh` first, and the rest of the run gets the same (a run asks a dozen times).

    Every page asks for them first, so this is also where a page that Streamlit ran on
    its own is sent back through app.py (see `_page_without_app`).
    """
    alone = _page_without_app()
    if alone:
        # Every value of a repeated key (`?stream=a&stream=b`), not only the last.
        query = {key: st.query_params.get_all(key) for key in st.query_params}
        st.session_state[_WANTED] = (alone, query)
        st.switch_page("app.py")
    if fresh or _SETTINGS not in st.session_state:
        st.session_state.pop(_SETTINGS, None)  # a failed read leaves none behind
        st.session_state[_SETTINGS] = load_settings()
    return st.session_state[_SETTINGS]


def _page_without_app() -> str | None:
    """The page file (relative path) when Streamlit ran it alone instead of through app.py.

    A freshly started server treats the `pages/` folder as Streamlit's legacy automatic
    page list until app.py has called st.navigation once; a first request for, say,
    /activity would then run pages/activity.py without the login gate and sidebar.
    """
    return streamlit_adapter.lone_page_script()


def resume_wanted_page(allowed: list[str]) -> None:
    """After `settings` sent a lone page through app.py, open that page with its filters."""
    wanted = st.session_state.pop(_WANTED, None)
    if wanted and wanted[0] in allowed:
        st.switch_page(wanted[0], query_params=wanted[1])


@st.cache_resource(show_spinner=False)
def _engine(url: str, statement_timeout_ms: int) -> Engine:
    return make_engine(url, statement_timeout_ms)


@st.cache_resource(show_spinner="Preparing the database…")
def _prepared(url: str, statement_timeout_ms: int, is_demo: bool, tz: str) -> bool:
    bootstrap.prepare(_engine(url, statement_timeout_ms), is_demo=is_demo, tz=tz)
    return True


def sign_in_engine(s: Settings) -> Engine:
    """Return the shared engine for the sign-in form: no user check (nobody is signed in
    yet, and `engine()` asks for one) and no bootstrap (signing in needs its own table only).
    """
    return _engine(s.database_url, s.statement_timeout_ms)


def engine() -> Engine:
    """Return the shared engine of the primary database, migrated and filled on a first
    demo run: the one every write goes to. Starts the summaries' refresh timer.

    Raises DatabaseUnavailable while the database cannot be reached (never cached).
    """
    return _primary(settings())


# (url, statement timeout, is_demo, tz) → its prepared engine: process-wide like the
# st.cache_resource functions above, which fill it once; a run asks for an engine several
# times, and a dict lookup spares each ask Streamlit's hashing of the arguments.
_READY: dict[tuple, Engine] = {}


def _ready(url: str, statement_timeout_ms: int, is_demo: bool, tz: str) -> Engine:
    key = (url, statement_timeout_ms, is_demo, tz)
    found = _READY.get(key)
    if found is None:
        _prepared(*key)
        found = _READY[key] = _engine(url, statement_timeout_ms)
    return found


def _primary(s: Settings) -> Engine:
    auth.current_user(s)  # no data without a user, however the page was reached
    found = _ready(s.database_url, s.statement_timeout_ms, s.is_demo, s.timezone)
    _keep_fresh(s)
    return found


def _reader(s: Settings) -> Engine:
    """The engine cached results are read from: the read replica (HSL_READ_DATABASE_URL)
    when one is set, else the primary."""
    primary = _primary(s)
    if not s.read_database_url:
        return primary
    return _ready(s.read_database_url, s.statement_timeout_ms, False, s.timezone)


def check_connections() -> None:
    """Raise DatabaseUnavailable unless the primary database (and the replica) answer.

    The database results are read from answers by giving this run's summaries' state (the
    query every run makes anyway); only without summary tables, or when that read fails,
    is it pinged, for the one sentence that says why.
    """
    s = settings()
    reader = _reader(s)
    try:
        answered = _has_summary_tables(reader, s.read_database_url or s.database_url)
        if answered:
            _summaries_state(s, reader)
    except HslError:
        raise
    except Exception:  # noqa: BLE001 - the ping below says in one sentence what is wrong
        check_connection(reader)
        raise
    if not answered:
        check_connection(reader)
    if s.read_database_url:
        check_connection(_primary(s))


# One refresh timer a database in this process (SPEC §9), replaced when its settings change.
_TIMERS: dict[str, RefreshTimer] = {}
_TIMERS_LOCK = threading.Lock()


def _keep_fresh(s: Settings) -> None:
    """Run the process's background refresh of the primary database's summaries, every
    `refresh_seconds` with the reporting timezone; it never runs in a page run."""
    with _TIMERS_LOCK:
        timer = _TIMERS.get(s.database_url)
        if timer is not None and (timer.tz, timer.seconds) == (s.timezone, s.refresh_seconds):
            return
        if timer is not None:
            timer.stop()
            del _TIMERS[s.database_url]
        if s.refresh_seconds:
            _TIMERS[s.database_url] = RefreshTimer(
                _engine(s.database_url, s.statement_timeout_ms), s.timezone, s.refresh_seconds,
            ).start()


@st.cache_data(ttl=SUMMARY_TABLES_CHECK_SECONDS, show_spinner=False)
def _has_summary_tables(_engine: Engine, database_url: str) -> bool:
    return summaries.has_tables(_engine)


def _summaries_state(s: Settings, source: Engine) -> SummaryState | None:
    """The summaries this run's reports read from `source` (None: the bot's tables).

    Read once a run (one tiny query; none while the database has no summary tables).
    """
    if _SUMMARIES not in st.session_state:
        found = None
        if _has_summary_tables(source, s.read_database_url or s.database_url):
            found = summaries.current(source, s.timezone)
        st.session_state[_SUMMARIES] = found
    return st.session_state[_SUMMARIES]


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=1000, show_spinner="Loading data…")
def _load(key: str, _call: tuple) -> tuple[Any, datetime]:
    """Run `_call` = (function, engine, args, kwargs); return its result and when it was
    loaded. `key` (`_key`) stands for the call: st.cache_data hashes one short string
    instead of every argument (that hashing cost a cached rerun more than its page)."""
    fn, engine_, args, kwargs = _call
    return fn(engine_, *args, **kwargs), datetime.now(UTC)


def _key(*parts: object) -> str:
    """A digest of `parts` (the database, the summaries' refresh, the function and its
    arguments): equal parts give equal keys, so equal calls share a cached result."""
    return hashlib.blake2b(pickle.dumps(parts, protocol=5), digest_size=20).hexdigest()


def fingerprint(frame: pd.DataFrame) -> str:
    """A digest of a frame's contents, to stand for it in a cache key (st.cache_data's own
    hashing of a frame costs ten times more).

    Its column names and types, values and index: numbers and instants as their bytes,
    anything else as the repr of its Python values. Not its pickle, whose bytes also depend
    on which equal values are one object (a frame fresh from the database and the same
    frame out of the data cache pickle differently).
    The columns are read as stored (pandas' _iter_column_arrays): a Series a column costs
    more than the rest together.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((frame.columns.tolist(), frame.dtypes.tolist(), frame.index.dtype,
                        frame.index.names)).encode())
    for values in (*frame._iter_column_arrays(), frame.index.array):
        if isinstance(values, pd.arrays.DatetimeArray | pd.arrays.TimedeltaArray):
            values = values.asi8  # the instants' numbers (the zone is in the dtypes above)
        elif isinstance(values, pd.arrays.NumpyExtensionArray):
            values = values.to_numpy()
        if isinstance(values, np.ndarray) and values.dtype.kind in "biufmM":
            digest.update(values.tobytes())  # its dtype is in the dtypes above
        else:
            digest.update(repr(values.tolist()).encode())
    return digest.hexdigest()


def derived(fn: Callable[..., R], *frames: pd.DataFrame, **options: object) -> R:
    """`fn(*frames, **options)`, kept for the same frames (`fingerprint`) and options: a
    page's reshaping of its results (a pivot, two tables side by side, a column of links) is
    done once, not on every rerun. `fn` must depend on nothing else; options are plain
    values (they are part of the key)."""
    return _derived(name_of(fn), tuple(map(fingerprint, frames)), sorted(options.items()), fn,
                    frames)


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=500, show_spinner=False)
def _derived(where: str, fingerprints: tuple[str, ...], options: list, _fn: Callable,
             _frames: tuple) -> Any:
    return _fn(*_frames, **dict(options))


def _cache_friendly(value: object) -> object:
    """A Period's clock is cut to the minute so reruns within a minute hit the cache."""
    if isinstance(value, Period):
        return replace(value, now=value.now.replace(second=0, microsecond=0))
    return value


def name_of(fn: Callable[..., Any]) -> str:
    """The function in a cache key: its file and qualified name (page scripts all run as
    one module, so a module name would let two pages' functions share results)."""
    return f"{fn.__code__.co_filename}:{fn.__qualname__}"


def _cached_call(fn: Callable[..., R], args: tuple, kwargs: dict, *also: object
                 ) -> tuple[R, datetime]:
    """`fn(engine, *args, **kwargs)` on this run's reading engine, cached per database,
    summaries' refresh, function, arguments and `also`; the result and when it was loaded."""
    s = settings()
    source = _reader(s)
    summarised = _summaries_state(s, source)
    args = tuple(_cache_friendly(a) for a in args)
    kwargs = {k: _cache_friendly(v) for k, v in kwargs.items()}
    key = _key(s.read_database_url or s.database_url,
               summarised.refreshed_at if summarised else None, name_of(fn), args,
               sorted(kwargs.items()), *also)
    result, loaded_at = _load(key, (fn, source, args, kwargs))
    st.session_state.setdefault(_LOADS, []).append(loaded_at)
    return result, loaded_at


def cached(fn: Callable[..., R]) -> Callable[..., R]:
    """Wrap a data function `fn(engine, *args, **kwargs)` as `fn(*args, **kwargs)`, cached.

    Arguments must be picklable values (dates, strings, numbers, tuples, Period); results
    are kept CACHE_TTL_SECONDS per database URL, summary refresh and arguments.
    """

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> R:
        return _cached_call(fn, args, kwargs)[0]

    return wrapper


_run_report = cached(reports.run_report)
# Both derive from one all-time count of people by first-seen day; sharing it makes the
# current and previous period's KPIs and growth one read per timezone.
_FROM_FIRST_SEEN = {"kpis": overview.kpis, "growth": overview.growth}


def _from_first_seen(name: str, period: Period) -> pd.DataFrame:
    """KPIs or growth from the shared first-seen counts: when those were loaded stands for
    them in the key (the frame itself is not hashed)."""
    seen, seen_at = _cached_call(overview.first_seen_by_day, (period.tz,), {})
    fn = _FROM_FIRST_SEEN[name]
    return _cached_call(lambda engine_, p: fn(engine_, p, seen=seen), (period,), {},
                        name, seen_at)[0]


def report(name: str, period: Period, **options: object) -> pd.DataFrame:
    """Return SPEC §7 report `name` for `period` (hsl.reports.run_report), cached 5 minutes."""
    period = reports.clock_free(name, period)
    if name in _FROM_FIRST_SEEN and not options:
        return _from_first_seen(name, period)
    return _run_report(name, period, **options)


def remember_pages(pages: dict[str, Any]) -> None:
    """Keep this run's st.Page objects by script path (app.py, after st.navigation)."""
    st.session_state[_PAGES] = pages


def page_target(path: str) -> Any:
    """What st.page_link is given for the page script `path`: this run's st.Page object
    when app.py registered it (Streamlit then skips resolving the path on disk, a cost on
    every one of a page's many links), else the path itself."""
    return (st.session_state.get(_PAGES) or {}).get(path, path)


def clear() -> None:
    """Forget every cached query result (the Refresh button); the engine stays."""
    st.cache_data.clear()


def begin_run(shared: Shared) -> None:
    """Start a script run: remember the shared period and comparison the sidebar chose,
    forget the previous run's loads and summaries' state."""
    st.session_state[_PERIOD] = shared.period
    st.session_state[_COMPARISON] = shared.comparison
    st.session_state[_LOADS] = []
    st.session_state.pop(_SUMMARIES, None)


def period() -> Period:
    """Return the shared date range the sidebar chose (last 30 days outside the app)."""
    timezone = settings().timezone  # also sends a page Streamlit ran alone through app.py
    return st.session_state.get(_PERIOD) or Period.last_days(DEFAULT_RANGE_DAYS, timezone)


def comparison() -> tuple[str, Period]:
    """Return what the shared period is compared with: the kind (a key of
    hsl.filters.COMPARISONS) and that earlier period."""
    kind = st.session_state.get(_COMPARISON, DEFAULT_COMPARISON)
    return kind, period().compared(kind)


def read_live() -> None:
    """Note that this run read the database directly, uncached (the Subscriptions page's
    lists): its "Data loaded at" is now."""
    st.session_state.setdefault(_LOADS, []).append(datetime.now(UTC))


def oldest_load() -> datetime | None:
    """Return when the oldest result shown in this run was loaded (None: nothing loaded)."""
    loads = st.session_state.get(_LOADS) or []
    return min(loads) if loads else None


def summaries_as_of() -> datetime | None:
    """When the summaries behind this run's results were refreshed (None: nothing loaded,
    or the results were read from the bot's tables)."""
    if not st.session_state.get(_LOADS):
        return None
    summarised = st.session_state.get(_SUMMARIES)
    return summarised.refreshed_at if summarised else None


# Streams and Leads pages: data functions beyond the SPEC §7 reports.
stream_names = cached(streams.list_streams)
stream_status_counts = cached(streams.status_counts)
lead_list = cached(leads.leads)


# Free lessons and Activity pages: data functions beyond the SPEC §7 reports.
lesson_registrations = cached(lessons.lesson_registrations)
events_by_day_and_type = cached(activity.events_by_day_and_type)

# Empty ranges say when the data starts and ends (hsl_ui.charts.no_data).
data_days = cached(coverage.data_days)


# Users, Audience and Audit log pages (issue 5): people, their profiles and the audit log.
search_users = cached(users.search_users)
count_users = cached(users.count_users)
user_identity = cached(users.user_identity)
user_bookings = cached(users.user_bookings)
user_registrations = cached(users.user_registrations)
user_events = cached(users.user_events)
count_user_events = cached(users.count_user_events)
funnel_position = cached(users.funnel_position)
lead_tier = cached(users.lead_tier)
validate_user_ids = cached(users.validate_user_ids)
audience_choices = cached(audience.audience_choices)
audience_count = cached(audience.audience_count)
audience_rows = cached(audience.audience_rows)
audit_entries = cached(admin.audit_entries)
