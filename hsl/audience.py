"""The audience builder (SPEC §5): users picked by filters combined with AND.

Registration filters (lesson types, registration dates, attended) apply to one and the
same registration; stream, status and booking-date filters to one and the same booking
(the booking dates also bound "has an active booking"). Lead tiers are scored by the
filter's own rules, so a Leads page link reproduces its counts. The result has
one row per user: contact fields and the facts that matched (the lesson types of the
matching registrations, the streams and status words of the matching bookings, the lead
tier and the last activity). Exporting needs the analyst role; the data layer checks it.

When the summaries are current for the reporting timezone (SPEC §9), who is known, their
last activity, lead tiers and lesson-link clicks are as of the last refresh (summary_users,
`lead_scores` and `clicked_lesson` on their summary paths); registrations, bookings and
the other event filters are always read live. Inside `hsl.summaries.raw_path()`, or
without summaries, everything comes from the bot's tables.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, quote, urlencode

import pandas as pd
from sqlalchemy import bindparam, case, exists, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.selectable import Subquery

from hsl.auth import Actor, Permission, hide_contacts, require
from hsl.db import reading, utc
from hsl.errors import ValidationError
from hsl.filters import Period, utc_now
from hsl.metrics.common import (
    fetch,
    fetch_scalar,
    first_seen,
    from_newest_registration,
    latest_names,
    local_times,
    plain_rows,
)
from hsl.metrics.leads import DEFAULT_RULES, TIERS, LeadRules, lead_scores
from hsl.metrics.lessons import clicked_lesson
from hsl.metrics.streams import natural_key
from hsl.metrics.users import (
    MAX_USER_ID,
    PAGE_SIZE,
    newest_registrations,
    parse_user_ids,
    tme_links,
)
from hsl.schema import (
    BOOKING_STATUS,
    bookings,
    events,
    free_lesson_registrations,
    status_word,
    summary_day_types,
    users,
)
from hsl.summaries import SummaryState, current

AUDIENCE_COLUMNS = [
    "user_id", "username", "first_name", "email", "tme_link",
    "lesson_types", "streams", "statuses", "tier", "last_activity",
]
# An export with details (the Audience page's files): also what an analyst joins on.
AUDIENCE_DETAIL_COLUMNS = [
    "user_id", "username", "first_name", "last_name", "email", "tme_link",
    "lesson_types", "lesson_dates", "registered_at", "streams", "statuses", "tier",
    "last_activity",
]

regs = free_lesson_registrations.c
b = bookings.c
e = events.c

# The keys of the Audience page's query string, in the order of its widgets.
QUERY_KEYS = ("lesson_type", "registered_from", "registered_to", "attended", "stream", "status",
              "booking_from", "booking_to", "booked", "first_seen_from", "first_seen_to",
              "tier", "active_days", "event_type", "ids")
# Then the lead scoring a Leads page link brings (its own keys, no widget here): query key →
# LeadRules field, and `payers=yes` (payers are candidates too).
RULE_KEYS = {("window" if f.name == "window_days" else f.name): f.name for f in fields(LeadRules)}
ACTIVE_DAYS_MAX = 3650  # the Audience page's "active in the last N days" bound (0 = any)
_ANSWERS = {"": None, "yes": True, "no": False}
_STATUS_CODES = {word: code for code, word in BOOKING_STATUS.items()}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WHOLE = re.compile(r"[0-9]{1,6}")
_NUMBER = re.compile(r"[0-9]{1,10}")


def _quoted(text: str) -> str:
    """A query value quoted for a sentence, cut short so the sentence stays short."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


class _Query:
    """The values of an Audience page query string, read key by key with one-sentence errors."""

    def __init__(self, query: str) -> None:
        if not isinstance(query, str):
            raise ValidationError("The audience query must be text, like lesson_type=python.")
        try:
            self.values = parse_qs(query.strip().removeprefix("?"), keep_blank_values=True,
                                   errors="strict")
        except UnicodeDecodeError:
            raise ValidationError(
                "The audience query holds percent-escapes that are not UTF-8 text."
            ) from None
        for key, texts in self.values.items():
            if any("\x00" in t for t in texts):
                raise ValidationError(f"In the audience query, {key} holds a NUL character.")

    def last(self, key: str) -> str | None:
        """The key's last value (the page reads the last one too), or None when absent."""
        texts = self.values.get(key)
        return texts[-1] if texts else None

    def texts(self, key: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """Every value of a repeatable key, without repeats, each non-empty (and allowed)."""
        found = tuple(dict.fromkeys(self.values.get(key, ())))
        for text in found:
            if not text:
                raise ValidationError(f"In the audience query, {key} has an empty value.")
            if allowed is not None and text not in allowed:
                raise ValidationError(
                    f"In the audience query, {key}={_quoted(text)} is not one of "
                    f"{', '.join(allowed)}."
                )
        return found

    def day(self, key: str) -> date | None:
        text = self.last(key)
        if text is None:
            return None
        try:
            if not _ISO_DATE.fullmatch(text):
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                f"In the audience query, {key}={_quoted(text)} is not a date in YYYY-MM-DD form."
            ) from None

    def answer(self, key: str) -> bool | None:
        text = self.last(key)
        if text is None:
            return None
        if text not in _ANSWERS:
            raise ValidationError(f"In the audience query, {key}={_quoted(text)} is not yes or no.")
        return _ANSWERS[text]

    def active_days(self) -> int | None:
        text = self.last("active_days")
        if text is None:
            return None
        digits = text.strip()
        if not _WHOLE.fullmatch(digits) or int(digits) > ACTIVE_DAYS_MAX:
            raise ValidationError(
                f"In the audience query, active_days={_quoted(text)} is not a whole number "
                f"from 0 to {ACTIVE_DAYS_MAX} (0 means any time)."
            )
        return int(digits) or None

    def lead_rules(self) -> LeadRules:
        """The lead scoring of the link: each LeadRules field given, else its default."""
        given = {}
        for key, name in RULE_KEYS.items():
            text = self.last(key)
            if text is None:
                continue
            if not _NUMBER.fullmatch(text.strip()):
                raise ValidationError(
                    f"In the audience query, {key}={_quoted(text)} is not a whole number."
                )
            given[name] = int(text.strip())
        return replace(DEFAULT_RULES, **given)

    def user_ids(self) -> tuple[int, ...] | None:
        if "ids" not in self.values:
            return None
        ids, malformed = parse_user_ids(self.values["ids"])
        if malformed:
            raise ValidationError(
                f"In the audience query, ids holds {_quoted(malformed[0])}, which is not a user id."
            )
        return tuple(ids)


@dataclass(frozen=True)
class AudienceFilter:
    """Who to pick; every filter left empty (or None) does not narrow the audience.

    `attended` needs a matching registration: True keeps people who clicked the link of a
    matching registration's lesson type, False those with a matching one they did not click.
    `booking_from` / `booking_to` (local dates the booking was made) join the stream and
    status filters on one and the same booking, and also bound `booked`: True then keeps
    people with an active booking made in those dates, False people with none made in them.
    `booked` True keeps people with an active booking (not cancelled), False people without.
    `first_seen_from` / `first_seen_to`: the local date the person was first seen (SPEC §3).
    `tiers` are scored by `lead_rules` at now, payers among the candidates with `lead_payers`.
    `active_within_days` N keeps people with an event in (now − N days, now].
    `user_ids` None means no id filter; an empty tuple matches nobody.
    """

    lesson_types: tuple[str, ...] = ()
    registered_from: date | None = None
    registered_to: date | None = None
    attended: bool | None = None
    streams: tuple[str, ...] = ()
    statuses: tuple[int, ...] = ()
    booking_from: date | None = None
    booking_to: date | None = None
    booked: bool | None = None
    first_seen_from: date | None = None
    first_seen_to: date | None = None
    tiers: tuple[str, ...] = ()
    lead_rules: LeadRules = DEFAULT_RULES
    lead_payers: bool = False
    active_within_days: int | None = None
    event_types: tuple[str, ...] = ()
    user_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list | set | frozenset):
                object.__setattr__(self, f.name, tuple(value))
        for what, start, end in (
            ("registration", self.registered_from, self.registered_to),
            ("booking", self.booking_from, self.booking_to),
            ("first-seen", self.first_seen_from, self.first_seen_to),
        ):
            if start and end and start > end:
                raise ValidationError(f"The {what} start {start} is after its end {end}.")
        if not isinstance(self.lead_rules, LeadRules) or not isinstance(self.lead_payers, bool):
            raise ValidationError("The lead scoring must be LeadRules and whether payers count.")
        unknown_tiers = [t for t in self.tiers if t not in TIERS]
        if unknown_tiers:
            raise ValidationError(
                f"Unknown lead tier {unknown_tiers[0]!r}; choose from {', '.join(TIERS)}."
            )
        odd = [s for s in self.statuses if isinstance(s, bool) or not isinstance(s, int)]
        if odd:
            known = ", ".join(f"{code} ({word})" for code, word in BOOKING_STATUS.items())
            raise ValidationError(f"The booking status {odd[0]!r} is not one of {known}.")
        days = self.active_within_days
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
            raise ValidationError(f"Active within {days!r} days must be a whole number ≥ 1.")
        bad_ids = [
            i for i in self.user_ids or ()
            if isinstance(i, bool) or not isinstance(i, int) or not 0 < i <= MAX_USER_ID
        ]
        if bad_ids:
            raise ValidationError(f"{bad_ids[0]!r} is not a user id.")

    @classmethod
    def from_query(cls, query: str) -> AudienceFilter:
        """The filter an Audience page address holds: its query string (a leading `?` is fine).

        Keys as the page writes them: lesson_type, stream, event_type, tier and status
        (status words) repeat; registered_, booking_ and first_seen_ from / to are
        YYYY-MM-DD; attended, booked and payers are yes or no; window, hot_events, hot_days,
        warm_events, warm_days and cool_events are whole numbers (LeadRules); active_days is
        0..3650 (0 = any); ids is a comma list (an empty `ids=` matches nobody). start, end,
        page and unknown keys are ignored; of a repeated single-value key the last value
        counts, as on the page. A malformed value is a ValidationError naming its key.
        Whether the ids exist is the caller's check.
        """
        q = _Query(query)
        return cls(
            lesson_types=q.texts("lesson_type"),
            registered_from=q.day("registered_from"),
            registered_to=q.day("registered_to"),
            attended=q.answer("attended"),
            streams=q.texts("stream"),
            statuses=tuple(_STATUS_CODES[w] for w in q.texts("status", tuple(_STATUS_CODES))),
            booking_from=q.day("booking_from"),
            booking_to=q.day("booking_to"),
            booked=q.answer("booked"),
            first_seen_from=q.day("first_seen_from"),
            first_seen_to=q.day("first_seen_to"),
            tiers=q.texts("tier", TIERS),
            lead_rules=q.lead_rules(),
            lead_payers=bool(q.answer("payers")),
            active_within_days=q.active_days(),
            event_types=q.texts("event_type"),
            user_ids=q.user_ids(),
        )

    def to_query(self) -> str:
        """The query string the Audience page writes for this filter (`from_query` reads it back).

        Raises ValidationError for what the page cannot spell: a booking status code
        without a word, or more than 3650 active days.
        """
        unspellable = [code for code in self.statuses if code not in BOOKING_STATUS]
        if unspellable:
            raise ValidationError(
                f"The booking status {unspellable[0]} has no word an Audience link can hold."
            )
        days = self.active_within_days
        if days is not None and days > ACTIVE_DAYS_MAX:
            raise ValidationError(
                f"An Audience link holds at most {ACTIVE_DAYS_MAX} active days, not {days}."
            )
        words = {True: "yes", False: "no"}
        single = {
            key: getattr(self, key) and getattr(self, key).isoformat()
            for key in ("registered_from", "registered_to", "booking_from", "booking_to",
                        "first_seen_from", "first_seen_to")
        }
        single |= {
            "attended": words.get(self.attended),
            "booked": words.get(self.booked),
            "active_days": None if days is None else str(days),
            "ids": None if self.user_ids is None else ",".join(map(str, self.user_ids)),
        }
        repeated = {
            "lesson_type": self.lesson_types,
            "stream": self.streams,
            "status": tuple(BOOKING_STATUS[code] for code in self.statuses),
            "tier": self.tiers,
            "event_type": self.event_types,
        }
        pairs = []
        for key in QUERY_KEYS:  # the order of the page's widgets
            values = repeated[key] if key in repeated else (single[key],)
            pairs += [(key, v) for v in values if v is not None]
        pairs += [(key, str(getattr(self.lead_rules, name))) for key, name in RULE_KEYS.items()
                  if getattr(self.lead_rules, name) != getattr(DEFAULT_RULES, name)]
        pairs += [("payers", "yes")] if self.lead_payers else []
        return urlencode(pairs, safe=",", quote_via=quote)

    def describe(self) -> dict[str, str]:
        """The filters that are set, as short text (for file names and captions)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default or value == ():
                continue
            if isinstance(value, LeadRules):
                out[f.name] = (f"window-{value.window_days}d-hot-{value.hot_events}ev-"
                               f"{value.hot_days}d-warm-{value.warm_events}ev-"
                               f"{value.warm_days}d-cool-{value.cool_events}ev")
            elif isinstance(value, tuple):
                shown = value if f.name != "user_ids" else (f"{len(value)} ids",)
                out[f.name] = "+".join(str(v) for v in shown)
            else:
                out[f.name] = str(value).lower() if isinstance(value, bool) else str(value)
        return out


def _clock(tz: str, now: datetime | None) -> Period:
    """A one-day Period carrying the reporting timezone and the clock."""
    return Period.last_days(1, tz, now or utc_now())


def _on_dates(ts: ColumnElement, start: date | None, end: date | None,
              clock: Period) -> list[ColumnElement]:
    """Conditions: the instant `ts` falls on local dates start..end (either may be open)."""
    found = []
    if start:
        found.append(utc(ts) >= clock.local_midnight_utc(start))
    if end:
        found.append(utc(ts) < clock.local_midnight_utc(end + timedelta(days=1)))
    return found


def _registration_match(
    flt: AudienceFilter, clock: Period, state: SummaryState | None
) -> list[ColumnElement]:
    """Conditions on one registration row; empty when no registration filter is set."""
    found = _on_dates(regs.registered_at, flt.registered_from, flt.registered_to, clock)
    if flt.lesson_types:
        found.append(regs.lesson_type.in_(flt.lesson_types))
    if flt.attended is not None:
        clicked = clicked_lesson(regs.user_id, regs.lesson_type, state=state)
        found.append(clicked if flt.attended else ~clicked)
    return found


def _booking_dates(flt: AudienceFilter, clock: Period) -> list[ColumnElement]:
    """Conditions: a booking made on the filter's booking dates (none when they are open)."""
    return _on_dates(b.created_at, flt.booking_from, flt.booking_to, clock)


def _booking_match(flt: AudienceFilter, clock: Period) -> list[ColumnElement]:
    """Conditions on one booking row; empty when no booking filter is set."""
    found = _booking_dates(flt, clock)
    if flt.streams:
        found.append(b.course_stream.in_(flt.streams))
    if flt.statuses:
        found.append(b.confirmed.in_(flt.statuses))
    return found


def _matching(flt: AudienceFilter, clock: Period, state: SummaryState | None = None) -> Select:
    """SELECT user_id of every known user the filter keeps (`state`: as of the summaries,
    then with their summary_users.last_event_at)."""
    known = first_seen(state)
    uid = known.c.user_id
    stmt = select(uid, *([known.c.last_event_at] if state is not None else [])).where(
        *_on_dates(known.c.first_seen, flt.first_seen_from, flt.first_seen_to, clock))
    if reg := _registration_match(flt, clock, state):
        stmt = stmt.where(exists().where(regs.user_id == uid, *reg))
    if booking := _booking_match(flt, clock):
        stmt = stmt.where(exists().where(b.user_id == uid, *booking))
    if flt.booked is not None:
        active = exists().where(b.user_id == uid, b.confirmed != -1, *_booking_dates(flt, clock))
        stmt = stmt.where(active if flt.booked else ~active)
    if flt.tiers:
        scores = lead_scores(clock, flt.lead_rules, flt.lead_payers, state=state)
        stmt = stmt.where(uid.in_(select(scores.c.user_id).where(scores.c.tier.in_(flt.tiers))))
    if flt.active_within_days is not None:
        since = clock.now - timedelta(days=flt.active_within_days)
        stmt = stmt.where(exists().where(
            e.user_id == uid, utc(e.created_at) > since, utc(e.created_at) <= clock.now
        ))
    if flt.event_types:
        stmt = stmt.where(exists().where(e.user_id == uid, e.event_type.in_(flt.event_types)))
    if flt.user_ids is not None:
        # Validated ints, rendered inline: a pasted list may exceed SQLite's bound-variable limit.
        ids = bindparam("audience_ids", list(flt.user_ids), expanding=True, literal_execute=True)
        stmt = stmt.where(uid.in_(ids))
    return stmt


def audience_count(
    bind: Engine | Connection,
    flt: AudienceFilter,
    tz: str = "UTC",
    now: datetime | None = None,
) -> int:
    """How many users match the filter (all known users for an empty filter)."""
    matched = _matching(flt, _clock(tz, now), current(bind, tz)).subquery("audience")
    return fetch_scalar(bind, select(func.count()).select_from(matched))


def _joined(per_user: dict[int, set[str]], key=None) -> pd.Series:
    """Per user (the index): their values, distinct, sorted by `key`, joined by ", "."""
    joined = [", ".join(sorted(values, key=key)) if len(values) > 1 else next(iter(values))
              for values in per_user.values()]
    return pd.Series(joined, index=pd.Index(list(per_user), dtype="int64"), dtype="str")


def _facts(
    conn: Connection, flt: AudienceFilter, clock: Period, ids: list[int] | None,
    state: SummaryState | None, details: bool = False,
) -> pd.DataFrame:
    """Per user (all users when `ids` is None): lesson types, streams, status words matched.

    With `details` also the matching registrations' `lesson_dates` (ISO dates) and the
    newest one's `registered_at` (UTC), read in the same pass.
    """
    reg_stmt = select(regs.user_id, regs.lesson_type).distinct()
    if details:
        reg_stmt = (select(regs.user_id, regs.lesson_type, regs.lesson_date,
                           func.max(utc(regs.registered_at)))
                    .group_by(regs.user_id, regs.lesson_type, regs.lesson_date))
    reg_stmt = reg_stmt.where(*_registration_match(flt, clock, state))
    booking_stmt = select(b.user_id, b.course_stream, b.confirmed).distinct()
    booking_stmt = booking_stmt.where(*_booking_match(flt, clock))
    if ids is not None:
        reg_stmt = reg_stmt.where(regs.user_id.in_(ids))
        booking_stmt = booking_stmt.where(b.user_id.in_(ids))
    # Gathered in plain dicts: grouping ~100k users in pandas costs seconds.
    lesson_types, streams, statuses = defaultdict(set), defaultdict(set), defaultdict(set)
    dates, newest = defaultdict(set), {}
    for user_id, lesson_type, *more in plain_rows(conn.execute(reg_stmt)):
        lesson_types[user_id].add(lesson_type)
        if more:
            day, at = more
            if day is not None:
                dates[user_id].add(day.isoformat())
            if at is not None and (user_id not in newest or at > newest[user_id]):
                newest[user_id] = at
    for user_id, stream, code in plain_rows(conn.execute(booking_stmt)):
        if stream is not None:
            streams[user_id].add(stream)
        statuses[user_id].add(status_word(code))
    rank = {status_word(code): i for i, code in enumerate(sorted(BOOKING_STATUS))}
    per_user = [
        _joined(lesson_types).rename("lesson_types"),
        _joined(streams, natural_key).rename("streams"),
        _joined(statuses, lambda w: (rank.get(w, len(rank)), w)).rename("statuses"),
    ]
    if details:
        at = pd.Series(newest, dtype=object, name="registered_at")
        per_user += [_joined(dates).rename("lesson_dates"),
                     at.set_axis(at.index.astype("int64"))]
    return pd.concat(per_user, axis=1)


def _people(page: Subquery, clock: Period, state: SummaryState | None, per_row: bool) -> Select:
    """Per user of `page`, by user_id: user_id, username, first_name, email, last_activity
    (and last_name, the users row's, when not `per_row`).

    Names and email follow `latest_names`: looked up row by row when `per_row` (a page of
    50), for everyone in one pass of joins otherwise (an export). Last activity is the
    latest event up to now: summary_users' when `state` is given (`page` then carries it,
    from `_matching`), unless that is later than now (a clock in the past), when it is read
    from the events as without summaries.
    """
    uid = page.c.user_id
    source = page
    if per_row:
        names, email = latest_names(uid), from_newest_registration("email", uid)
    else:
        reg = newest_registrations()
        names = [func.coalesce(users.c[n], reg.c[n]).label(n) for n in ("username", "first_name")]
        names.append(users.c.last_name)  # only an export with details keeps it
        email = reg.c.email
        source = source.outerjoin(users, users.c.user_id == uid).outerjoin(
            reg, reg.c.user_id == uid)
    last = (
        select(func.max(utc(e.created_at)))
        .where(e.user_id == uid, utc(e.created_at) <= clock.now)
        .scalar_subquery()
    )
    if state is not None:
        known = page.c.last_event_at
        last = case((utc(known) > clock.now, last), else_=known)
    return (select(uid, *names, email.label("email"), last.label("last_activity"))
            .select_from(source).order_by(uid))


def _rows(
    bind: Engine | Connection,
    flt: AudienceFilter,
    tz: str,
    now: datetime | None,
    limit: int | None,
    offset: int,
    details: bool = False,
) -> pd.DataFrame:
    """AUDIENCE_COLUMNS (AUDIENCE_DETAIL_COLUMNS with `details`, for an export)."""
    if isinstance(bind, Engine):
        with reading(bind) as conn:
            return _rows(conn, flt, tz, now, limit, offset, details)
    clock, state = _clock(tz, now), current(bind, tz)
    matched = _matching(flt, clock, state)
    if limit is not None:
        matched = matched.order_by("user_id").limit(limit).offset(offset)
    frame = fetch(bind, _people(matched.subquery("page"), clock, state, limit is not None),
                  bulk=limit is None)
    # A page asks for its own users' facts and tiers; an export for everyone's.
    page_ids = [int(i) for i in frame["user_id"]] if limit is not None else None
    frame = frame.join(_facts(bind, flt, clock, page_ids, state, details), on="user_id")
    frame = frame.join(_tiers(bind, flt, clock, page_ids, state), on="user_id")
    frame["tme_link"] = tme_links(frame["username"])
    frame["last_activity"] = local_times(frame["last_activity"], tz)
    if not details:
        return frame[AUDIENCE_COLUMNS]
    frame["registered_at"] = local_times(frame["registered_at"], tz)
    return frame[AUDIENCE_DETAIL_COLUMNS]


def _tiers(
    conn: Connection, flt: AudienceFilter, clock: Period, ids: list[int] | None,
    state: SummaryState | None,
) -> pd.DataFrame:
    """Lead tier per candidate (of `ids`, or all) by the filter's lead scoring, by user_id."""
    s = lead_scores(clock, flt.lead_rules, flt.lead_payers, state=state, among=ids).c
    return fetch(conn, select(s.user_id, s.tier), bulk=ids is None).set_index("user_id")


def audience_rows(
    bind: Engine | Connection,
    actor: Actor,
    flt: AudienceFilter,
    tz: str = "UTC",
    now: datetime | None = None,
    limit: int | None = PAGE_SIZE,
    offset: int = 0,
) -> pd.DataFrame:
    """One page of AUDIENCE_COLUMNS by user_id; contact fields blank for viewers."""
    return hide_contacts(_rows(bind, flt, tz, now, limit, offset), actor)


def export_audience(
    bind: Engine | Connection,
    actor: Actor,
    flt: AudienceFilter,
    tz: str = "UTC",
    now: datetime | None = None,
    details: bool = False,
) -> pd.DataFrame:
    """Every matching row (AUDIENCE_COLUMNS) for a CSV; PermissionDenied below analyst.

    With `details`, AUDIENCE_DETAIL_COLUMNS: also `last_name` (the users row), the
    `lesson_dates` of the matching registrations (ISO dates, ", "-joined, ascending) and
    `registered_at`, the newest of them (in `tz`).
    """
    require(actor, Permission.EXPORT)
    return _rows(bind, flt, tz, now, None, 0, details)


def audience_choices(bind: Engine | Connection) -> dict[str, list[str]]:
    """The values the filters offer, all time: `lesson_types` and `event_types` (code point order).

    Streams come from `hsl.metrics.streams.list_streams` (natural order). Event types are
    read from summary_day_types when the summaries are current (as of the last refresh;
    all of events has to be read otherwise: 0.6 s at 10M events).
    """
    lesson_types = select(regs.lesson_type).where(regs.lesson_type.is_not(None)).distinct()
    if current(bind) is not None:
        event_types = select(summary_day_types.c.event_type).distinct()
    else:
        event_types = select(e.event_type).where(e.event_type.is_not(None)).distinct()
    return {
        "lesson_types": sorted(fetch(bind, lesson_types)["lesson_type"]),
        "event_types": sorted(fetch(bind, event_types)["event_type"]),
    }
