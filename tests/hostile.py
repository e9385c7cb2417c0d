"""The hostile-input corpus: values a careless bot or a hostile person could put in front of
the app, the bot rows that carry them, and the query parameters of every page.

One corpus serves every surface: it is planted in every text column of the four bot tables
(and the audit log), and sent as every query parameter of every page. What must hold is
the same everywhere (see tests/test_hostile_pages.py and tests/e2e/test_browser_hostile.py):
no exception and no traceback, no link but the app's own pages and `t.me/<valid username>`,
no markup and no bidi reordering from the data.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

MAX_ID = 2**63 - 1
EVIL = "evil.example"

# name → value. Names are short and stable: they label the parametrized test cases.
CORPUS: dict[str, str] = {
    "md_link": f"[Sign in again](https://{EVIL}/login)",
    "md_image": f"![logo](https://{EVIL}/x.png) <https://{EVIL}/auto>",
    "bare_url": f"https://{EVIL}/path?next=/admin",
    "www": f"www.{EVIL}",
    "email": f"victim@{EVIL}",
    "mailto": f"mailto:victim@{EVIL}",
    "javascript": "javascript:alert(document.cookie)",
    "html": f'<a href="https://{EVIL}">click</a><img src=x onerror=alert(1)><script>alert(1)'
            "</script>",
    "markdown": "**bold** _it_ `code` ~~s~~ # Heading\n> quote\n- item\n1. one | a | b |",
    "streamlit_md": ":red[red] :material/warning: :smile: $x^2$ $$y$$",
    "entity": "&#x202E;&lt;b&gt;&amp;",
    "formula": f'=HYPERLINK("http://{EVIL}","click")',
    "formula_cmd": "@SUM(1+1)*cmd|' /C calc'!A0",
    "plus_minus": "+1-2",
    "nul": "nul\x00inside",
    "controls": "bell\x07tab\tcr\rlf\nesc\x1b[31m",
    "rtl_override": "\u202eattended 1 of 0\u202c",
    "bidi_isolates": "abc\u2066\u2067\u2068\u200f\u061c",
    "mixed_scripts": "Юлия Иванова 🤖 مرحبا עברית",
    "sql": "'; DROP TABLE users; --",
    "braces": "{first_name} {{x}} %s %(x)s",
    "huge": "A" * 10_000,
    "huge_words": "word " * 2_000,
    "whitespace": "   ",
}
# Most of the above in one value, for walks that cost a page run per value.
CORPUS["combo"] = (f"[x](https://{EVIL}) www.{EVIL} v@{EVIL} <a href='https://{EVIL}'>a</a> "
                   ":red[r] &#x202E; **b** =HYPERLINK(\"x\") \u202eflip\u202c `tick")

# Values only a query parameter can carry: ids, numbers and dates at and past their limits.
URL_EXTRAS: dict[str, str] = {
    "max_id": str(MAX_ID),
    "past_max_id": str(MAX_ID + 1),
    "negative": "-1",
    "huge_number": "9" * 40,
    "far_future": "9999-12-31",
    "year_one": "0001-01-01",
    "not_a_day": "2026-02-30",
}
URL_VALUES = {**CORPUS, **URL_EXTRAS}
# One value of each kind, for walks that cost a page run per value and page.
URL_WALK = {name: URL_VALUES[name] for name in (
    "combo", "nul", "controls", "huge", "mixed_scripts", *URL_EXTRAS)}

# Every query parameter each page reads (the shared dates and comparison, and a saved view's
# short link `view`, on all of them: a page that does not use the dates must ignore them as
# safely).
DATES = ("dates", "start", "end", "compare", "view")
PAGE_PARAMS: dict[str, tuple[str, ...]] = {
    "pages/overview.py": (*DATES, "lesson_type"),
    "pages/free_lessons.py": (*DATES, "lesson_type"),
    "pages/funnel.py": (*DATES, "lesson_type"),
    "pages/activity.py": (*DATES, "top"),
    "pages/streams.py": (*DATES, "stream"),
    "pages/leads.py": (*DATES, "window", "hot_events", "hot_days", "warm_events", "warm_days",
                       "cool_events", "payers", "list"),
    "pages/users.py": (*DATES, "q", "page", "user", "events_page"),
    "pages/audience.py": (*DATES, "lesson_type", "registered_from", "registered_to", "attended",
                          "booked", "stream", "status", "booking_from", "booking_to",
                          "first_seen_from", "first_seen_to", "tier", "window", "hot_events",
                          "hot_days", "warm_events", "warm_days", "cool_events", "payers",
                          "active_days", "event_type", "ids", "page"),
    "pages/messages.py": (*DATES, "audience", "campaign"),
    "pages/audit_log.py": (*DATES, "user", "actor"),
    "pages/subscriptions.py": DATES,
}
# The pages a role may open (the rest are not in its navigation).
ROLE_PAGES = {
    "viewer": [p for p in PAGE_PARAMS if p not in ("pages/audit_log.py", "pages/messages.py")],
    "analyst": [p for p in PAGE_PARAMS if p != "pages/audit_log.py"],
    "admin": list(PAGE_PARAMS),
}
URL_PATHS = {script: script.removeprefix("pages/").removesuffix(".py") for script in PAGE_PARAMS}
URL_PATHS["pages/overview.py"] = ""  # the default page lives at the app's root

# Characters that reorder text (embeddings, overrides, marks); isolates are checked apart.
REORDERING = re.compile("[\u202a-\u202e\u200e\u200f\u061c]")
TELEGRAM_LINK = re.compile(r"https://t\.me/[A-Za-z0-9_]{1,32}")


def storable(value: str, backend: str) -> str:
    """`value` as the backend can store it: PostgreSQL text cannot hold a NUL."""
    return value.replace("\x00", "") if backend == "postgresql" else value


def hostile_rows(backend: str, now: datetime) -> dict[str, list[dict]]:
    """Bot rows (and audit entries) with a corpus value in every text column.

    Person 9000 + i carries corpus value i in every text column of their users row, a
    registration, a booking and two events (one a lesson-link click naming the value as
    lesson type); their times fall in the 30 days before `now`, so the default range shows
    them. Besides: the largest possible id, unknown booking statuses, `details` that are
    not objects, and times and lesson dates at the ends of the calendar.
    """
    rows: dict[str, list[dict]] = {"users": [], "free_lesson_registrations": [],
                                   "bookings": [], "events": [], "audit_log": []}
    for i, value in enumerate(CORPUS.values()):
        text = storable(value, backend)
        uid, when = 9000 + i, now - timedelta(days=1 + i % 20, hours=i)
        rows["users"].append({
            "user_id": uid, "username": text, "first_name": text, "last_name": text,
            "language_code": text[:64], "first_seen_at": when, "updated_at": when})
        rows["free_lesson_registrations"].append({
            "user_id": uid, "username": text, "first_name": text, "email": text,
            "registered_at": when, "notification_sent": bool(i % 2), "lesson_type": text,
            "lesson_date": (when + timedelta(days=2)).date()})
        rows["bookings"].append({
            "user_id": uid, "course_id": i, "course_stream": text,
            "confirmed": (-1, 0, 1, 2, 7)[i % 5], "created_at": when, "referral_code": text,
            "discount_percent": (None, 0, 100, 2**31 - 1)[i % 4]})
        rows["events"] += [
            {"user_id": uid, "event_type": text, "created_at": when,
             "details": {"lesson_type": text, text[:100]: text}},
            {"user_id": uid, "event_type": "lesson_link_clicked",
             "created_at": when + timedelta(minutes=5), "details": {"lesson_type": text}},
        ]
        rows["audit_log"].append({
            "occurred_at": when, "actor": text, "action": "change_stream", "entity": "booking",
            "entity_id": str(i), "before": {"user_id": uid, "course_stream": text},
            "after": {"user_id": uid, "course_stream": f"{text} (new)"}, "reason": text})
    # The largest id a Telegram user can have, a username that may get a t.me link.
    rows["users"].append({
        "user_id": MAX_ID, "username": "valid_user_name", "first_name": CORPUS["md_link"],
        "last_name": CORPUS["formula"], "language_code": None, "first_seen_at": now,
        "updated_at": now})
    rows["events"] += [
        {"user_id": MAX_ID, "event_type": "menu_opened", "created_at": now - timedelta(hours=1),
         "details": details}
        for details in ("just a string", [1, 2, {"lesson_type": "x"}], None, {"nested": {"a": 1}})
    ]
    # The ends of the calendar: a bot that wrote nonsense times or lesson dates.
    rows["users"].append({
        "user_id": 8999, "username": None, "first_name": None, "last_name": None,
        "language_code": None, "first_seen_at": datetime(1, 1, 1, tzinfo=UTC),
        "updated_at": datetime(9999, 12, 31, 12, tzinfo=UTC)})
    rows["events"].append({"user_id": 8999, "event_type": "menu_opened",
                           "created_at": datetime(9999, 12, 31, 12, tzinfo=UTC),
                           "details": None})
    rows["free_lesson_registrations"] += [
        {"user_id": 8999, "username": None, "first_name": None, "email": "",
         "registered_at": now - timedelta(days=2), "notification_sent": False,
         "lesson_type": "python_basics", "lesson_date": day}
        for day in (date(1, 1, 1), date(9999, 12, 31))
    ]
    return rows
