"""Digests (issue 12, item 2): a saved view's headline numbers, top rows, chart and link.

`build(engine, view, now=…, tz=…, public_url=…)` reads the view's page with its filters and
its dates as of `now` (a preset rolls), computes the page's numbers with the same report
functions the page uses (so they equal what the page shows), and returns a `Digest`: the
caption of a Telegram photo in Telegram HTML (at most 1,024 characters as Telegram counts
them), the numbers, the PNG of the page's main chart (`hsl.digest_png`) and the link to the
view. Every value from the database, and the view's name, is HTML-escaped; the only link is
the view's. A filter the page would not accept any more (a lesson type gone, a stream
renamed) is left out with a note in the text, as the page drops it with a notice.

Sending is the send-worker's; this module only says what would be sent.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy.engine import Engine

from hsl.filters import (
    COMPARISONS,
    DEFAULT_COMPARISON,
    DEFAULT_RANGE_DAYS,
    PRESETS,
    Period,
    local_today,
)
from hsl.messaging.template import inert, telegram_length
from hsl.metrics import activity, leads, lessons, streams
from hsl.metrics.funnel import STEPS
from hsl.reports import run_report
from hsl.views import MAX_NAME, SavedView
from hsl_ui import format as fmt  # plain words and numbers only: no Streamlit

CAPTION_LIMIT = 1024  # Telegram's limit for a photo's caption, after entity parsing
NOTE_ROOM = 120  # characters left free for a line the sender adds (a late digest's note)
TOP_ROWS = 5  # rows of a page's list in a digest
NAME_CHARS = 40  # a name or data word from the database, at most, in a digest
NO_DATA = "No data for these dates."
MINUS = "\u2212"
KPIS = {  # kpis column → label, in the Overview page's order
    "known_users": "Known users", "new_users": "New users", "registrations": "Registrations",
    "active_bookings": "Active bookings", "confirmed_payments": "Confirmed payments",
}
THRESHOLDS = ("hot_events", "hot_days", "warm_events", "warm_days", "cool_events")
MAX_THRESHOLD = 100_000  # as the Leads page's inputs


@dataclass(frozen=True)
class ChartData:
    """A page's main chart to draw: its builder (`kind`, the name of the page's builder in
    hsl_ui/charts*.py; see hsl.digest_png), the frame and extra arguments it is given, and
    the title above it."""

    kind: str
    frame: pd.DataFrame
    args: tuple = ()
    title: str = ""


@dataclass(frozen=True)
class Digest:
    """A saved view's digest: `text` is the photo caption (Telegram HTML), `numbers` the
    headline numbers, `png` the chart (None: no data), `link` the view's address ("" when
    the app has no public URL). `chart` is what the PNG was drawn from."""

    view_id: int
    title: str
    text: str
    numbers: dict[str, int | float]
    png: bytes | None
    link: str
    chart: ChartData | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class _Content:
    """What a page puts in its digest: the dates line, the body lines, the numbers, the chart
    (None: nothing to draw, the body says so)."""

    when: str
    lines: list[str]
    numbers: dict[str, int | float]
    chart: ChartData | None


# ---------------------------------------------------------------- words


def safe(value: object, limit: int = NAME_CHARS) -> str:
    """`value` as inert Telegram HTML text on one line: control and bidi characters removed,
    spaces collapsed, cut to `limit` characters with "…", then HTML-escaped with link
    triggers broken (hsl.messaging.template.inert)."""
    return inert(fmt.plain(value, limit))


def word(value: object) -> str:
    """A data word (lesson type, stream) as the pages write it, escaped: `python_basics` →
    `Python basics`."""
    return safe(fmt.human(value), fmt.HUMAN_CHARS)


def _signed(n: int) -> str:
    return "0" if n == 0 else f"{'+' if n > 0 else MINUS}{abs(int(n)):,}"


def change(now: int, before: int) -> str:
    """The change from `before` to `now`: `+12, +8%`, `−9, −1%`; no % when before is 0;
    `no change`."""
    delta = int(now) - int(before)
    if delta == 0:
        return "no change"
    if not before:
        return _signed(delta)
    share = fmt.pct(abs(delta) / before, 0)
    return f"{_signed(delta)}, {'+' if delta > 0 else MINUS}{share}"


# ---------------------------------------------------------------- the view's filters


class Filters:
    """A view's filters as its page reads them: the last value of a key; a value the page
    would not accept (a lesson type gone, a number out of range) gives its default and a
    note; keys the page does not know are ignored, as the page ignores them."""

    def __init__(self, query: str) -> None:
        self._values = dict(parse_qsl(query, keep_blank_values=True))
        self.notes: list[str] = []

    def _given(self, key: str) -> str | None:
        value = self._values.get(key, "")
        return value if value.strip() else None

    def _stale(self, key: str, value: str) -> None:
        self.notes.append(f"(filter {safe(f'{key}={value}')} no longer applies)")

    def choice(self, key: str, allowed: list[str], default: str | None = None) -> str | None:
        """The value of `key` if it is one of `allowed`, else `default`."""
        value = self._given(key)
        if value is None:
            return default
        if value in allowed:
            return value
        self._stale(key, value)
        return default

    def integer(self, key: str, default: int, least: int, most: int) -> int:
        """The whole number in `key` if it lies in least..most, else `default`."""
        value = self._given(key)
        if value is None:
            return default
        text = value.strip()
        if text.lstrip("-").isdigit() and len(text) < 12 and least <= int(text) <= most:
            return int(text)
        self._stale(key, value)
        return default

    def toggle(self, key: str, default: bool = False) -> bool:
        """The on/off value in `key` (1, 0, true, false), else `default`."""
        value = self._given(key)
        if value is None:
            return default
        if value.strip().lower() in {"1", "0", "true", "false"}:
            return value.strip().lower() in {"1", "true"}
        self._stale(key, value)
        return default

    def comparison(self) -> str:
        """What the dates are compared with (`compare=`, hsl.filters.COMPARISONS)."""
        return self.choice("compare", list(COMPARISONS), DEFAULT_COMPARISON) or DEFAULT_COMPARISON


# ---------------------------------------------------------------- building a digest


def build(engine: Engine, view: SavedView, *, now: datetime, tz: str, public_url: str,
          with_png: bool = True) -> Digest:
    """The digest of `view` as of `now`: its dates on `now`'s local date in `tz` (a preset
    rolls), its page's filters, numbers, top rows and chart (a PNG unless `with_png` is
    False or there is nothing to draw), and a link to the view under `public_url`."""
    dates = view.dates_on(local_today(tz, now))
    period = (Period(*dates, tz, now) if dates is not None
              else Period.last_days(DEFAULT_RANGE_DAYS, tz, now))
    filters = Filters(view.query)
    shown = fmt.date_range(period.start, period.end)
    if view.dates_preset:
        shown += f" ({PRESETS[view.dates_preset].lower()})"
    content = PAGES[view.page](engine, period, filters, shown)
    link = f"{public_url.rstrip('/')}/?view={view.id}" if public_url else ""
    head = [f"<b>{safe(view.name, MAX_NAME)}</b>", content.when, *filters.notes]
    tail = [f'<a href="{html.escape(link, quote=True)}">Open the view</a>'] if link else []
    text = _caption(head, content.lines, tail)
    png = None
    if with_png and content.chart is not None:
        from hsl import digest_png  # Altair and the chart builders only when drawing

        png = digest_png.render(content.chart)
    return Digest(view.id, view.name, text, content.numbers, png, link, content.chart)


def _caption(head: list[str], body: list[str], tail: list[str]) -> str:
    """The lines as one caption within CAPTION_LIMIT − NOTE_ROOM: body lines are dropped from
    the end (with "…") while it is too long; the head and the link always stay."""
    def joined(lines: list[str]) -> str:
        return "\n\n".join("\n".join(part) for part in (head, lines, tail) if part)

    lines = list(body)
    while lines and telegram_length(joined(lines)) > CAPTION_LIMIT - NOTE_ROOM:
        lines = [*lines[:-2], "…"] if len(lines) > 1 else []
    return joined(lines)


def _compared(period: Period, kind: str, dates: str) -> tuple[Period, str]:
    """The earlier period and the dates line: `1 Nov – 30 Nov 2026, compared with the 31 days
    before (1 Oct – 31 Oct 2026)`."""
    before = period.compared(kind)
    return before, (f"{dates}, compared with "
                    f"{period.comparison_words(kind)} ({fmt.date_range(before.start, before.end)})")


def _lesson_type(engine: Engine, period: Period, filters: Filters) -> str | None:
    """The view's lesson type if the period has registrations of it (the pages' choices)."""
    known = run_report(engine, "attendance", period)["lesson_type"].tolist()
    return filters.choice("lesson_type", known)


def overview(engine: Engine, period: Period, filters: Filters, dates: str) -> _Content:
    """Overview: the five headline numbers with their change; chart: growth."""
    before, when = _compared(period, filters.comparison(), dates)
    now_row = run_report(engine, "kpis", period).iloc[0]
    then_row = run_report(engine, "kpis", before).iloc[0]
    numbers: dict[str, int | float] = {}
    lines = []
    for column, label in KPIS.items():
        numbers[column], numbers[f"{column}_before"] = int(now_row[column]), int(then_row[column])
        if column == "known_users":  # all time: its change is the people new in these dates
            lines.append(f"{label}: {fmt.count(now_row[column])} "
                         f"({_signed(int(now_row.new_users))} new)")
        else:
            lines.append(f"{label}: {fmt.count(now_row[column])} "
                         f"({change(now_row[column], then_row[column])})")
    growth = run_report(engine, "growth", period)
    today = local_today(period.tz, period.now)
    chart = (ChartData("growth", growth, (today,), "New users per day")
             if len(growth) and growth["total_users"].max() else None)
    return _Content(when, lines if chart else [NO_DATA], numbers, chart)


def free_lessons(engine: Engine, period: Period, filters: Filters, dates: str) -> _Content:
    """Free lessons: registrations, registrants, attended and the rate, by lesson type;
    chart: registrants per lesson date."""
    by_type = lessons.lesson_registrations(engine, period, ("lesson_type",))
    lesson_type = filters.choice("lesson_type", by_type["lesson_type"].tolist())
    total = lessons.lesson_registrations(engine, period, (), lesson_type).iloc[0]
    by_date = lessons.lesson_registrations(engine, period, ("lesson_type", "lesson_date"),
                                           lesson_type)
    if lesson_type is not None:
        by_type = by_type[by_type["lesson_type"] == lesson_type]
    when = dates
    if lesson_type is not None:
        when += f", {word(lesson_type)}"
    numbers = {"registrations": int(total.registrations), "registrants": int(total.registrants),
               "attended": int(total.attended),
               "attendance_rate": float(total.attendance_rate)}
    if by_date.empty:
        return _Content(when, [NO_DATA], numbers, None)
    lines = [f"Registrations: {fmt.count(total.registrations)}",
             f"Registrants: {fmt.count(total.registrants)}",
             f"Attended: {fmt.count(total.attended)}",
             f"Attendance rate: {fmt.pct_of(total.attendance_rate, total.registrants)}",
             "", "By lesson type:"]
    top = by_type.sort_values(["registrants", "lesson_type"], ascending=[False, True],
                              kind="stable").head(TOP_ROWS)
    lines += [f"• {word(row.lesson_type)}: {fmt.counted(row.registrants, 'registrant')}, "
              f"{fmt.count(row.attended)} attended "
              f"({fmt.pct_of(row.attendance_rate, row.registrants)})" for row in top.itertuples()]
    today = local_today(period.tz, period.now)
    chart = ChartData("registrants_by_lesson_date", by_date, (today,),
                      "Registrants per lesson date")
    return _Content(when, lines, numbers, chart)


def funnel(engine: Engine, period: Period, filters: Filters, dates: str) -> _Content:
    """Funnel: the four steps with people and their change; chart: the funnel."""
    lesson_type = _lesson_type(engine, period, filters)
    before, when = _compared(period, filters.comparison(), dates)
    if lesson_type is not None:
        when += f"; {word(lesson_type)}"
    now_steps = run_report(engine, "funnel", period, lesson_type=lesson_type)
    then_steps = run_report(engine, "funnel", before, lesson_type=lesson_type)
    numbers: dict[str, int | float] = {}
    lines = []
    for step, users, earlier in zip(STEPS, now_steps["users"], then_steps["users"], strict=True):
        numbers[step], numbers[f"{step}_before"] = int(users), int(earlier)
        lines.append(f"{step.capitalize()}: {fmt.counted(users, 'person', 'people')} "
                     f"({change(users, earlier)})")
    if not now_steps["users"].iloc[0]:
        return _Content(when, [NO_DATA], numbers, None)
    return _Content(when, lines, numbers, ChartData("funnel", now_steps, (), "Funnel"))


def active_users_a_day(daily: pd.DataFrame, today: date) -> int | None:
    """The average of `active_users` a day, rounded, as the Activity page shows it (over
    hsl.metrics.activity.averaged_days); None without events."""
    days = activity.averaged_days(daily, today)
    return None if days.empty else int(round(days["active_users"].mean()))


def activity_page(engine: Engine, period: Period, filters: Filters, dates: str) -> _Content:
    """Activity: events, event types, active users a day and the busiest day; chart: events
    per day by type."""
    top = filters.integer("top", 5, 1, 20)
    daily = run_report(engine, "activity", period)
    types = run_report(engine, "event-types", period)
    today = local_today(period.tz, period.now)
    average = active_users_a_day(daily, today)
    events = int(daily["events"].sum())
    numbers: dict[str, int | float] = {"events": events, "event_types": len(types),
                                       "active_users_a_day": average or 0}
    when = dates
    if not events:
        return _Content(when, [NO_DATA], numbers, None)
    busiest = daily.loc[daily["events"].idxmax()]
    lines = [f"Events: {fmt.count(events)}", f"Event types: {fmt.count(len(types))}",
             f"Active users a day: {fmt.count(average)}",
             f"Busiest day: {busiest['day'].day} {busiest['day']:%b} "
             f"({fmt.counted(busiest['events'], 'event')})"]
    chart = ChartData("events_by_day", activity.events_by_day_and_type(engine, period, top=top),
                      (today,), "Events per day")
    return _Content(when, lines, numbers, chart)


def _stream(name: object) -> str:
    return word(name) if isinstance(name, str) and name else "(no stream)"


def streams_page(engine: Engine, period: Period, filters: Filters, dates: str) -> _Content:
    """Streams: bookings in all, the top streams by bookings with their paid rate; chart:
    bookings by status (the view's stream drawn solid)."""
    known = streams.list_streams(engine)
    stream = filters.choice("stream", known)
    summary = run_report(engine, "streams", period)
    when = "All bookings ever made"
    numbers: dict[str, int | float] = {
        "bookings": int(summary["bookings"].sum()), "confirmed": int(summary["confirmed"].sum()),
        "streams": len(known)}
    if summary.empty:
        return _Content(when, ["No bookings yet."], numbers, None)
    lines = [f"Bookings: {fmt.count(numbers['bookings'])} in "
             f"{fmt.counted(numbers['streams'], 'stream')}, "
             f"{fmt.pct(numbers['confirmed'] / numbers['bookings'])} paid",
             "", "Top streams by bookings:"]
    top = summary.sort_values("bookings", ascending=False, kind="stable").head(TOP_ROWS)
    lines += [f"• {_stream(row.course_stream)}: {fmt.counted(row.bookings, 'booking')}, "
              f"{fmt.pct(row.paid_rate)} paid" for row in top.itertuples()]
    chart = ChartData("stream_statuses", streams.status_counts(engine), (stream,),
                      "Bookings by status")
    return _Content(when, lines, numbers, chart)


def leads_page(engine: Engine, period: Period, filters: Filters, dates: str) -> _Content:
    """Leads: people per tier and the top hot leads; chart: leads by tier."""
    window = filters.integer("window", leads.DEFAULT_RULES.window_days, 1, 365)
    limits = {name: filters.integer(name, getattr(leads.DEFAULT_RULES, name), 0, MAX_THRESHOLD)
              for name in THRESHOLDS}
    paying = filters.toggle("payers")
    rules = leads.LeadRules(window_days=window, **limits)
    everyone = leads.leads(engine, period, include_paying=paying, rules=rules)
    counts = everyone["tier"].value_counts().reindex(leads.TIERS, fill_value=0).rename("users")
    counts = counts.rename_axis("tier").reset_index()
    numbers: dict[str, int | float] = dict(zip(counts["tier"], map(int, counts["users"]),
                                               strict=True))
    moment = period.now.astimezone(ZoneInfo(period.tz))
    when = (f"Events in the last {fmt.counted(window, 'day') if window > 1 else 'day'} up to "
            f"{fmt.day(moment.date())}, {moment:%H:%M}")
    if not len(everyone):
        return _Content(when, ["No free-lesson registrants to score."], numbers, None)
    lines = [" · ".join(f"{tier.capitalize()}: {fmt.count(numbers[tier])}" for tier in leads.TIERS)]
    hot = everyone[everyone["tier"] == "hot"].head(TOP_ROWS)
    if hot.empty:
        lines.append("No hot leads.")
    else:
        lines += ["", "Hot leads:"]
        lines += [f"• {_name(row.first_name)}: {fmt.counted(row.events, 'event')} on "
                  f"{fmt.counted(row.active_days, 'day')}" for row in hot.itertuples()]
    return _Content(when, lines, numbers, ChartData("lead_tiers", counts, (), "Leads by tier"))


def _name(first_name: object) -> str:
    return safe(first_name) if isinstance(first_name, str) and first_name.strip() else "(no name)"


PAGES: dict[str, Callable[[Engine, Period, Filters, str], _Content]] = {  # hsl.views.PAGES' keys
    "overview": overview,
    "free-lessons": free_lessons,
    "funnel": funnel,
    "activity": activity_page,
    "streams": streams_page,
    "leads": leads_page,
}
