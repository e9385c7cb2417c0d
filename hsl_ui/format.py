"""Human labels and number/date formats: the one rename map between data columns and screen."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from zoneinfo import ZoneInfo

from hsl.metrics.common import rate

# Every report column of SPEC §7, as a person reads it.
LABELS: dict[str, str] = {
    "known_users": "Known users",
    "new_users": "New users",
    "total_users": "Total users",
    "registrations": "Registrations",
    "registrants": "Registrants",
    "active_bookings": "Active bookings",
    "active_booking_users": "People with active bookings",
    "confirmed_payments": "Confirmed payments",
    "paying_users": "Paying people",
    "day": "Day",
    "lesson_type": "Lesson type",
    "lesson_date": "Lesson date",
    "lesson_status": "Lesson",
    "attended": "Attended",
    "attendance_rate": "Attendance rate",
    "step": "Step",
    "users": "People",
    "pct_of_first": "% of first",
    "pct_of_previous": "% of previous",
    "open_users": "Did it at all",
    "events": "Events",
    "active_users": "Active users",
    "event_type": "Event type",
    "share": "Share of events",
    "course_stream": "Stream",
    "bookings": "Bookings",
    "new": "New",
    "pending": "Pending",
    "confirmed": "Confirmed",
    "cancelled": "Cancelled",
    "students": "Students",
    "paid_rate": "Paid rate",
    "cancel_rate": "Cancellation rate",
    "user_id": "User ID",
    "username": "Username",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "first_seen": "First seen",
    "status": "Status",
    "last_activity": "Last activity",
    "active_days": "Active days",
    "tier": "Tier",
    "cohort_week": "Cohort week",
    "week_offset": "Weeks after",
    "cohort_size": "Cohort size",
    "retention": "Retention",
    "notified": "Notified",
    "notified_share": "Notified share",
    "registered": "Registered",
    "booked": "Booked",
    "paid": "Paid",
    "conversion": "Registered → paid",
    "other_statuses": "Other statuses",
    "tme_link": "Telegram",
    # Users, Audience and Audit log pages
    "name": "Name",
    "id": "ID",
    "course_id": "Course",
    "created_at": "Created",
    "referral_code": "Referral code",
    "discount_percent": "Discount %",
    "registered_at": "Registered at",
    "notification_sent": "Reminder sent",
    "details": "Details",
    "lesson_types": "Lesson types",
    "streams": "Streams",
    "statuses": "Statuses",
    "occurred_at": "When",
    "actor": "By",
    "action": "Action",
    "record": "Record",
    "change": "Change",
    "reason": "Reason",
    # Messages page
    "text": "Message",
    "progress": "Progress",
    "recipients": "Recipients",
    "sent": "Sent",
    "failed": "Failed",
    "blocked": "Blocked",
    "skipped": "Skipped",
    "unknown": "Unknown",
    "attempts": "Attempts",
    "error": "Error",
    "telegram_message_id": "Telegram message",
    "sent_at": "Sent at",
}

# Columns holding fractions 0..1 that are shown as percentages.
RATE_COLUMNS = frozenset(
    {"attendance_rate", "pct_of_first", "pct_of_previous", "share", "paid_rate",
     "cancel_rate", "retention", "notified_share", "conversion"}
)
# Columns whose values are the bot's or the app's snake_case words, shown humanised.
WORD_COLUMNS = frozenset({"step", "lesson_type", "event_type", "course_stream", "tier", "status"})

# Words written upper-case wherever a data word is shown (lesson types, event types, labels).
ACRONYMS = frozenset({"api", "csv", "faq", "id", "qa", "seo", "sql", "ui", "url", "utm", "ux"})


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:@&=])")
# Characters that change how text around them is ordered or read: bidi embeddings,
# overrides, isolates and marks (a U+202E in a lesson type would mirror the numbers next
# to it), and the invisible C0/C1 controls (NUL included). Line breaks and tabs are folded.
_UNSEEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f"
                     "\u202a-\u202e\u2066-\u2069\ufeff]")
# Where Markdown (GFM) would turn escaped text into a link by itself: `scheme://`, `www.`
# and `name@host`. An invisible word joiner after `:` or `@` (or after `www`) breaks each.
_AUTOLINK_TRIGGER = re.compile(r"(\\:)(?=//)|(\\@)|(?i:(?<![^\W_])(www)(?=\\\.))")
WORD_JOINER = "\u2060"
ISOLATE, END_ISOLATE = "\u2068", "\u2069"  # first-strong isolate … pop directional isolate
_RIGHT_TO_LEFT = frozenset({"R", "AL", "AN"})  # bidi classes that reorder text around them
HUMAN_CHARS = 80  # a data word (lesson type, stream) on a chart or in a table
ERROR_CHARS = 600  # an error sentence quoting a huge value from the data is cut
SHOWN_CHARS = 200  # untrusted text longer than this is cut with "…" on screen


def plain(value: object, limit: int | None = SHOWN_CHARS) -> str:
    """`value` as one line of inert text: controls and bidi overrides removed, cut to `limit`.

    For surfaces that do not render Markdown (widget options, chart labels, table cells).
    """
    text = " ".join(_UNSEEN.sub("", str(value)).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


# Text `plain` would change: an unseen character, whitespace that is not one space between
# words (a tab, a newline, two spaces, a space at either end).
_NOT_PLAIN = re.compile(_UNSEEN.pattern + r"|[^\S ]|  |^ | $")


def plain_cells(values: list, limit: int) -> list:
    """`plain(v, limit)` of every str in `values`, the rest as they are: for whole tables.

    Text that is plain already is kept as it is without the work (most cells).
    """
    needs = _NOT_PLAIN.search
    return [plain(v, limit) if isinstance(v, str) and (len(v) > limit or needs(v)) else v
            for v in values]


def md(value: object, limit: int | None = SHOWN_CHARS) -> str:
    """`value` as literal text inside Markdown: never a link, markup or bidi reordering.

    Everything from the bot's data or the page address that ends up in a title, caption or
    notice goes through here: `plain`, then each Markdown special character
    backslash-escaped, autolink triggers broken by an invisible word joiner, and text with
    right-to-left letters wrapped in a directional isolate, so that it cannot reorder the
    app's own words and numbers around it.
    """
    text = plain(value, limit)
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    escaped = _AUTOLINK_TRIGGER.sub(lambda m: m[0] + WORD_JOINER, escaped)
    if any(unicodedata.bidirectional(c) in _RIGHT_TO_LEFT for c in text):
        return f"{ISOLATE}{escaped}{END_ISOLATE}"
    return escaped


def sentence(err: Exception) -> str:
    """A typed error's one sentence as inert Markdown: it may quote a stream or a name."""
    return md(str(err).strip(), ERROR_CHARS)


def code(value: object, limit: int | None = 60) -> str:
    """`value` as a Markdown code span (a backtick in it cannot end the span early)."""
    return "`" + plain(value, limit).replace("`", "'") + "`"


def label(column: str) -> str:
    """Return the screen name of a data column (unknown ones lose their underscores)."""
    return LABELS.get(column) or human(column)


def human(word: object) -> str:
    """Return a snake_case data word for reading: `python_basics` → `Python basics`.

    Known acronyms stay upper-case: `qa_testing` → `QA testing`, `faq_opened` → `FAQ opened`.
    """
    words = plain(word, HUMAN_CHARS).replace("_", " ").strip().split(" ")
    text = " ".join(w.upper() if w.lower() in ACRONYMS else w for w in words)
    return text[:1].upper() + text[1:] if text else "(none)"


def count(n: int | float) -> str:
    """Return a whole number with thousands separators: 12345 → `12,345`."""
    return f"{int(n):,}"


def plural(n: int | float, one: str, many: str) -> str:
    """Return the words that go with `n`: `one` for exactly 1, else `many` (0 days, 2 days)."""
    return one if n == 1 else many


def counted(n: int | float, one: str, many: str | None = None) -> str:
    """Return `n` with thousands separators and its words: `1 day`, `12 days`, `1,204 events`.

    `many` defaults to `one` + "s"; the words may hold a verb: `counted(n, "person matches",
    "people match")`.
    """
    return f"{count(n)} {plural(n, one, many or one + 's')}"


def people(n: int) -> str:
    """Return a count of people: `1 person`, `1,204 people`."""
    return counted(n, "person", "people")


def signed(n: int) -> str:
    """Return a change with its sign (`+12`, `-3`, `0`), the form st.metric colours."""
    return "0" if n == 0 else f"{int(n):+,}"


def pct(fraction: float, digits: int = 1) -> str:
    """Return a 0..1 fraction as a percentage: 0.4567 → `45.7%`, 1.0 → `100%`."""
    text = f"{fraction * 100:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


NO_RATE = "—"  # a rate whose denominator is 0, on screen (CSVs and the CLI keep SPEC's 0)


def pct_of(fraction: float, whole: int | float, digits: int = 1) -> str:
    """Return `pct(fraction)`, or "—" when the rate's denominator `whole` is 0 (no data)."""
    return pct(fraction, digits) if whole else NO_RATE


def change(now: int, before: int) -> str:
    """Return the change from `before` to `now` as `+12 (+8%)`; no % when before is 0."""
    delta = now - before
    if delta == 0 or before == 0:
        return signed(delta)
    sign = "+" if delta > 0 else "-"
    return f"{signed(delta)} ({sign}{pct(abs(rate(delta, before)), 0)})"


def day(d: date) -> str:
    """Return a date as `5 Nov 2026`."""
    return f"{d.day} {d:%b %Y}"


def date_range(start: date, end: date) -> str:
    """Return an inclusive date range as `27 Oct – 25 Nov 2026` (year once when shared)."""
    if start == end:
        return day(start)
    if start.year == end.year:
        return f"{start.day} {start:%b} – {day(end)}"
    return f"{day(start)} – {day(end)}"


def moment(when: datetime | None, tz: str) -> str:
    """Return an aware datetime as `3 Dec 2026, 09:00` in timezone `tz` ("" for None)."""
    if when is None:
        return ""
    local = when.astimezone(ZoneInfo(tz))
    return f"{day(local.date())}, {local:%H:%M}"


def clock(moment: datetime, tz: str) -> str:
    """Return the wall-clock time `HH:MM:SS` of an aware datetime in timezone `tz`."""
    return moment.astimezone(ZoneInfo(tz)).strftime("%H:%M:%S")
