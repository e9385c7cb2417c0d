"""Human labels and number/date formats: the one rename map between data columns and screen."""

from __future__ import annotations

import re
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


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:@])")


def md(value: object) -> str:
    """`value` as literal text inside Markdown: no links, emphasis or markup from data.

    Names, usernames, stream names and link parameters come from the bot or the URL;
    Streamlit renders titles, captions and notices as Markdown, so each special character
    is backslash-escaped and line breaks become spaces.
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def label(column: str) -> str:
    """Return the screen name of a data column (unknown ones lose their underscores)."""
    return LABELS.get(column) or human(column)


def human(word: object) -> str:
    """Return a snake_case data word for reading: `python_basics` → `Python basics`.

    Known acronyms stay upper-case: `qa_testing` → `QA testing`, `faq_opened` → `FAQ opened`.
    """
    words = str(word).replace("_", " ").strip().split(" ")
    text = " ".join(w.upper() if w.lower() in ACRONYMS else w for w in words)
    return text[:1].upper() + text[1:] if text else "(none)"


def count(n: int | float) -> str:
    """Return a whole number with thousands separators: 12345 → `12,345`."""
    return f"{int(n):,}"


def people(n: int) -> str:
    """Return a count of people: `1 person`, `1,204 people`."""
    return "1 person" if n == 1 else f"{count(n)} people"


def signed(n: int) -> str:
    """Return a change with its sign (`+12`, `-3`, `0`), the form st.metric colours."""
    return "0" if n == 0 else f"{int(n):+,}"


def pct(fraction: float, digits: int = 1) -> str:
    """Return a 0..1 fraction as a percentage: 0.4567 → `45.7%`, 1.0 → `100%`."""
    text = f"{fraction * 100:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


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


def clock(moment: datetime, tz: str) -> str:
    """Return the wall-clock time `HH:MM:SS` of an aware datetime in timezone `tz`."""
    return moment.astimezone(ZoneInfo(tz)).strftime("%H:%M:%S")
