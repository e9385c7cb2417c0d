"""Users (SPEC §4): search, the pieces of a profile, and checking pasted user ids.

Every known user (over the four bot tables) is a person here, including users who exist
only in `events` or only in `bookings`: their name fields are empty and they are found by
their numeric id. Names are the latest known (the users row, else the newest
registration); the email is the newest registration's. Who is known, and since when, comes
from summary_users when the summaries are there (SPEC §9), else from the four tables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import and_, case, exists, func, literal, or_, select, union
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from hsl.db import fold, reading, utc
from hsl.errors import NotFoundError
from hsl.filters import Period
from hsl.metrics.common import (
    SEEN_AT,
    fetch,
    fetch_scalar,
    first_seen,
    local_times,
)
from hsl.metrics.funnel import STEPS
from hsl.metrics.leads import DEFAULT_RULES, LeadRules, lead_scores
from hsl.metrics.lessons import clicked_lesson
from hsl.schema import bookings, events, free_lesson_registrations, status_word, users
from hsl.summaries import SummaryState, current

PAGE_SIZE = 50
MAX_USER_ID = 2**63 - 1  # BIGINT
USER_COLUMNS = ["user_id", "username", "first_name", "last_name", "email", "first_seen"]
BOOKING_COLUMNS = [
    "id", "course_id", "course_stream", "status", "created_at", "referral_code",
    "discount_percent",
]
REGISTRATION_COLUMNS = [
    "id", "lesson_type", "lesson_date", "registered_at", "email", "notification_sent", "attended",
]
EVENT_COLUMNS = ["id", "event_type", "created_at", "details"]
LIKE_ESCAPE = "!"

regs = free_lesson_registrations.c
b = bookings.c
e = events.c


# Telegram usernames are Latin letters, digits and underscores (at most 32); anything
# else the bot may have stored gets no link, so no crafted text ever becomes a URL.
TELEGRAM_USERNAME = re.compile(r"[A-Za-z0-9_]{1,32}")


def tme_link(username: str | None) -> str | None:
    """Return `https://t.me/<username>`, or None without a valid Telegram username."""
    valid = isinstance(username, str) and TELEGRAM_USERNAME.fullmatch(username)
    return f"https://t.me/{username}" if valid else None


def tme_links(usernames: pd.Series) -> pd.Series:
    """`tme_link` of each username, at once (100,000 one by one took 0.1 s)."""
    text = usernames.astype("str")
    valid = text.str.fullmatch(TELEGRAM_USERNAME.pattern, na=False) & usernames.notna()
    return ("https://t.me/" + text).where(valid)


def newest_registrations() -> Subquery:
    """Subquery: each registrant's newest registration (registered_at, id): username..email."""
    newest_first = (utc(regs.registered_at).desc(), regs.id.desc())
    ranked = select(
        regs.user_id,
        regs.username,
        regs.first_name,
        regs.email,
        func.row_number().over(partition_by=regs.user_id, order_by=newest_first).label("n"),
    ).subquery("ranked_registrations")
    return select(*ranked.c).where(ranked.c.n == 1).subquery("newest_registration")


def people(state: SummaryState | None = None) -> Subquery:
    """Subquery, one row per known user: user_id, latest names, newest email, first_seen.

    The same rule as `common.latest_names`, written as joins: one pass instead of a lookup
    per user and field, which search over every user needs. The users and their first
    seen come from summary_users when `state` is given.
    """
    fs = first_seen(state)
    reg = newest_registrations()
    return (
        select(
            fs.c.user_id,
            func.coalesce(users.c.username, reg.c.username).label("username"),
            func.coalesce(users.c.first_name, reg.c.first_name).label("first_name"),
            users.c.last_name,
            reg.c.email,
            fs.c.first_seen,
        )
        .select_from(
            fs.outerjoin(users, users.c.user_id == fs.c.user_id).outerjoin(
                reg, reg.c.user_id == fs.c.user_id
            )
        )
        .subquery("people")
    )


# ---------------------------------------------------------------- search


def search_text(query: str | None) -> str:
    """The query as searched: NULs dropped (no stored text holds one), whitespace trimmed
    and one leading `@` removed."""
    return (query or "").replace("\x00", "").strip().removeprefix("@").strip()


MAX_WORDS = 20  # words searched; the rest of a longer text is ignored (the page says so)


def search_words(query: str | None) -> list[str]:
    """The words searched: `search_text` split on any run of whitespace, each without one
    leading `@` (as the first word), at most MAX_WORDS of them (none for a blank search)."""
    first, *rest = search_text(query).split() or [""]
    words = [first, *(word.removeprefix("@") for word in rest)]
    return [word for word in words if word][:MAX_WORDS]


def _as_user_id(text: str) -> int | None:
    """The id an all-digits (ASCII) text names, or None when it is no possible BIGINT id."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_USER_ID else None


def _like_literal(text: str) -> str:
    """`text` with LIKE's wildcards (and the escape character) made literal."""
    for char in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(char, LIKE_ESCAPE + char)
    return text


NAME_FIELDS = ("first_name", "last_name")
CONTACT_FIELDS = ("username", "email")


def _fields(p: Subquery, contacts: bool) -> list[ColumnElement]:
    """The searched fields of `p`: the names, plus username and email when `contacts`."""
    return [p.c[name] for name in NAME_FIELDS + (CONTACT_FIELDS if contacts else ())]


def _text_rank(fields: list[ColumnElement], text: str) -> list[tuple[ColumnElement, int]]:
    """CASE branches: 1 when a field equals `text`, 2 when one starts with it, 3 contains it."""
    folded_fields = [fold(f) for f in fields]
    # The input goes through the same fold() as the columns, so both sides agree per dialect.
    needle = fold(literal(text))
    escaped = fold(literal(_like_literal(text)))
    prefix, inside = escaped + "%", "%" + escaped + "%"
    return [
        (or_(*(f == needle for f in folded_fields)), 1),
        (or_(*(f.like(prefix, escape=LIKE_ESCAPE) for f in folded_fields)), 2),
        (or_(*(f.like(inside, escape=LIKE_ESCAPE) for f in folded_fields)), 3),
    ]


def _match_rank(p: Subquery, word: str, contacts: bool) -> ColumnElement:
    """0 for the exact user_id, then 1 exact, 2 prefix, 3 substring of a field; else NULL."""
    whens = []
    user_id = _as_user_id(word)
    if user_id is not None:
        whens.append((p.c.user_id == user_id, 0))
    return case(*whens, *_text_rank(_fields(p, contacts), word))


def _phrase_rank(p: Subquery, words: list[str], contacts: bool) -> ColumnElement:
    """1/2/3 when the words, as one phrase, equal / start / are inside a field or the full
    name ("first last"); else NULL. So "Анна Мария" is exact for a first name of two words."""
    full_name = (p.c.first_name + literal(" ") + p.c.last_name).self_group()
    return case(*_text_rank([*_fields(p, contacts), full_name], " ".join(words)))


def _matches(query: str | None, contacts: bool, state: SummaryState | None) -> Subquery:
    """Subquery of the users matching `query`, each with its `rank` (all users when blank).

    Every word must match some field (in any order). A person's rank is their worst word's
    rank, or the phrase's rank when that is better: "Юлия Иванова" is exact for first name
    Юлия and last name Иванова, "Юли Иванова" a prefix match.
    """
    p = people(state)
    words = search_words(query)
    if not words:
        return select(*p.c, literal(0).label("rank")).subquery("matches")
    if len(words) == 1:
        ranked = select(*p.c, _match_rank(p, words[0], contacts).label("rank")).subquery("ranked")
        return select(ranked).where(ranked.c.rank.is_not(None)).subquery("matches")
    word_ranks = [_match_rank(p, word, contacts).label(f"word_{i}")
                  for i, word in enumerate(words)]
    ranked = select(*p.c, *word_ranks, _phrase_rank(p, words, contacts).label("phrase")
                    ).subquery("ranked")
    each = [ranked.c[f"word_{i}"] for i in range(len(words))]
    phrase = ranked.c.phrase
    rank = case(
        (and_(*(r == 0 for r in each)), 0),
        *((or_(phrase <= level, and_(*(r <= level for r in each))), level)
          for level in (1, 2)),
        else_=3,
    )
    return (select(*(ranked.c[c.name] for c in p.c), rank.label("rank"))
            .where(*(r.is_not(None) for r in each)).subquery("matches"))


def search_users(
    bind: Engine | Connection,
    query: str | None = None,
    tz: str = "UTC",
    limit: int | None = PAGE_SIZE,
    offset: int = 0,
    contacts: bool = True,
) -> pd.DataFrame:
    """USER_COLUMNS of the matching users: exact id, exact, prefix, substring, then user_id.

    Several words must each match some field, in any order (see `_matches` for the rank).

    With `contacts` false (viewers) only names and ids are matched, never username or
    email, so a search cannot confirm whose contact details those are.
    """
    m = _matches(query, contacts, current(bind))
    stmt = select(*(m.c[c] for c in USER_COLUMNS)).order_by(m.c.rank, m.c.user_id)
    frame = fetch(bind, stmt.limit(limit).offset(offset))
    frame["first_seen"] = local_times(frame["first_seen"], tz)
    return frame[USER_COLUMNS]


def count_users(bind: Engine | Connection, query: str | None = None,
                contacts: bool = True) -> int:
    """How many users match `query` (all known users when blank); `contacts` as in search."""
    matches = _matches(query, contacts, current(bind))
    return fetch_scalar(bind, select(func.count()).select_from(matches))


def users_report(engine: Engine, period: Period, search: str | None = None) -> pd.DataFrame:
    """The `users` report: every match (all known users without `search`), first_seen in tz."""
    return search_users(engine, search, period.tz, limit=None)


# ---------------------------------------------------------------- profile


@dataclass(frozen=True)
class Identity:
    """Who a user is: latest known names, newest email, first seen (reporting timezone)."""

    user_id: int
    username: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    first_seen: datetime | None

    @property
    def tme_link(self) -> str | None:
        """`https://t.me/<username>`, or None without a username."""
        return tme_link(self.username)


def _text(value: object) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def user_identity(bind: Engine | Connection, user_id: int, tz: str = "UTC") -> Identity:
    """Return the user's Identity; NotFoundError when no table knows the id.

    Always from the bot's tables: one person's rows are index look-ups, and a person the
    last refresh has not seen yet is found too.
    """
    p = people()
    frame = fetch(bind, select(p).where(p.c.user_id == user_id))
    if frame.empty:
        raise NotFoundError(f"No user with id {user_id} is known.")
    row = frame.iloc[0]
    seen = local_times(frame["first_seen"], tz).iloc[0]
    return Identity(
        user_id=int(row["user_id"]),
        username=_text(row["username"]),
        first_name=_text(row["first_name"]),
        last_name=_text(row["last_name"]),
        email=_text(row["email"]),
        first_seen=None if pd.isna(seen) else seen.to_pydatetime(),
    )


def user_bookings(bind: Engine | Connection, user_id: int, tz: str = "UTC") -> pd.DataFrame:
    """BOOKING_COLUMNS of the user's bookings, newest first, `status` as a word."""
    stmt = (
        select(b.id, b.course_id, b.course_stream, b.confirmed, b.created_at, b.referral_code,
               b.discount_percent)
        .where(b.user_id == user_id)
        .order_by(utc(b.created_at).desc(), b.id.desc())
    )
    frame = fetch(bind, stmt)
    frame["status"] = [status_word(code) for code in frame["confirmed"]]
    frame["created_at"] = local_times(frame["created_at"], tz)
    return frame[BOOKING_COLUMNS]


def user_registrations(bind: Engine | Connection, user_id: int, tz: str = "UTC") -> pd.DataFrame:
    """REGISTRATION_COLUMNS of the user's free-lesson registrations, newest first."""
    attended = case((clicked_lesson(regs.user_id, regs.lesson_type), True), else_=False)
    stmt = (
        select(regs.id, regs.lesson_type, regs.lesson_date, regs.registered_at, regs.email,
               regs.notification_sent, attended.label("attended"))
        .where(regs.user_id == user_id)
        .order_by(utc(regs.registered_at).desc(), regs.id.desc())
    )
    frame = fetch(bind, stmt)
    frame["registered_at"] = local_times(frame["registered_at"], tz)
    frame["attended"] = frame["attended"].astype(bool)
    return frame[REGISTRATION_COLUMNS]


def user_events(
    bind: Engine | Connection,
    user_id: int,
    tz: str = "UTC",
    limit: int | None = PAGE_SIZE,
    offset: int = 0,
) -> pd.DataFrame:
    """EVENT_COLUMNS of one page of the user's events, newest first; details as JSON text."""
    stmt = (
        select(e.id, e.event_type, e.created_at, e.details)
        .where(e.user_id == user_id)
        .order_by(utc(e.created_at).desc(), e.id.desc())
        .limit(limit)
        .offset(offset)
    )
    frame = fetch(bind, stmt)
    frame["created_at"] = local_times(frame["created_at"], tz)
    frame["details"] = [
        None if d is None else json.dumps(d, ensure_ascii=False, sort_keys=True)
        for d in frame["details"]
    ]
    return frame[EVENT_COLUMNS]


def count_user_events(bind: Engine | Connection, user_id: int) -> int:
    """How many events the user has (all time)."""
    return fetch_scalar(bind, select(func.count()).where(e.user_id == user_id))


def funnel_position(bind: Engine | Connection, user_id: int) -> str | None:
    """The furthest funnel step the user reached, all time (None when none).

    Steps as in SPEC §3: registered, attended (clicked the link of a lesson type they
    registered for), booked (a booking not cancelled), paid (`confirmed = 2`). Each step
    is checked on its own, so someone who paid without registering reads "paid".
    """
    reached = [
        exists().where(regs.user_id == user_id),
        exists().where(regs.user_id == user_id, clicked_lesson(regs.user_id, regs.lesson_type)),
        exists().where(b.user_id == user_id, b.confirmed != -1),
        exists().where(b.user_id == user_id, b.confirmed == 2),
    ]
    stmt = select(*(case((flag, 1), else_=0).label(step) for step, flag in zip(
        STEPS, reached, strict=True)))
    row = fetch(bind, stmt).iloc[0]
    done = [step for step in STEPS if int(row[step])]
    return done[-1] if done else None


def lead_tier(
    bind: Engine | Connection, user_id: int, period: Period, rules: LeadRules = DEFAULT_RULES
) -> str | None:
    """The user's lead tier at `period.now`; None for non-candidates (no registration, or paid)."""
    s = lead_scores(period, rules, state=current(bind, period.tz), among=[user_id]).c
    frame = fetch(bind, select(s.tier))
    return None if frame.empty else str(frame["tier"].iloc[0])


# ---------------------------------------------------------------- pasted ids


@dataclass(frozen=True)
class IdCheck:
    """Pasted ids sorted out: known ids (input order, no repeats), malformed tokens, unknown ids."""

    valid: tuple[int, ...]
    malformed: tuple[str, ...]
    unknown: tuple[int, ...]


TOKEN_SEPARATORS = re.compile(r"[\s,;]+")
ID_CHUNK = 1000  # ids per existence query: 4 tables x 1000 stays under SQLite's variable limit


def _tokens(raw: str | Iterable[str | int]) -> Iterable[str | int]:
    items = [raw] if isinstance(raw, str) else raw
    for item in items:
        if isinstance(item, str):
            yield from (t for t in TOKEN_SEPARATORS.split(item) if t)
        else:
            yield item


def _well_formed(token: str | int) -> int | None:
    if isinstance(token, bool):
        return None
    if isinstance(token, int):
        return token if 0 < token <= MAX_USER_ID else None
    return _as_user_id(token) if isinstance(token, str) else None


def parse_user_ids(raw: str | Iterable[str | int]) -> tuple[list[int], list[str]]:
    """Split pasted ids on whitespace, commas and semicolons: (well-formed ids, malformed).

    Both lists keep the input order without repeats. An id is 1 .. 2^63-1 written in ASCII
    digits (or an int); `@name`, signs, decimals and anything else are malformed.
    """
    ids: dict[int, None] = {}
    malformed: dict[str, None] = {}
    for token in _tokens(raw):
        value = _well_formed(token)
        if value is None:
            malformed[str(token)] = None
        else:
            ids[value] = None
    return list(ids), list(malformed)


def known_user_ids(bind: Engine | Connection, ids: Iterable[int]) -> set[int]:
    """The ids among `ids` that any of the four bot tables knows (queried in chunks)."""
    if isinstance(bind, Engine):
        with reading(bind) as conn:
            return known_user_ids(conn, ids)
    wanted = list(ids)
    found: set[int] = set()
    for start in range(0, len(wanted), ID_CHUNK):
        chunk = wanted[start:start + ID_CHUNK]
        stmt = union(*(select(uid).where(uid.in_(chunk)) for uid, _ in SEEN_AT))
        found.update(int(row[0]) for row in bind.execute(stmt))
    return found


def validate_user_ids(bind: Engine | Connection, raw: str | Iterable[str | int]) -> IdCheck:
    """Sort pasted text (or a list of str/int) into known ids, malformed tokens, unknown ids."""
    ids, malformed = parse_user_ids(raw)
    known = known_user_ids(bind, ids)
    return IdCheck(
        valid=tuple(i for i in ids if i in known),
        malformed=tuple(malformed),
        unknown=tuple(i for i in ids if i not in known),
    )
