"""Deterministic, realistic demo data, bulk-loaded (COPY on PostgreSQL, executemany on SQLite).

The same seed, sizes and anchor date always give the same rows. Activity spreads over
the 180 days before the anchor (default: today, UTC) so every chart has a shape.

Events are kept as compact arrays (ids, microseconds, type codes) until they are written,
and turned into text COPY_ROWS at a time: 10M events load in about 1 GB. The load is a
bulk write, not a page read: on PostgreSQL it runs on an engine of its own, disposed
afterwards, without the statement timeout meant for pages (SPEC §9's demo at 2M and 10M
events takes longer than those 30 s).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection, Engine

from hsl.db import is_postgres, make_engine
from hsl.errors import ConflictError, ValidationError
from hsl.schema import (
    BOT_TABLES,
    bookings,
    campaign_recipients,
    campaigns,
    events,
    free_lesson_registrations,
    users,
)

HISTORY_DAYS = 180
LESSON_TYPES = np.array(["python_basics", "data_analytics", "web_design", "qa_testing"])
LESSON_WEIGHTS = np.array([0.4, 0.3, 0.2, 0.1])
LESSON_WEEKDAY = {"python_basics": 1, "data_analytics": 3, "web_design": 5, "qa_testing": 2}
FIRST_NAMES = np.array(
    ["Анна", "Иван", "Maria", "Dmitry", "Ольга", "Alex", "Sergey", "Елена", "Kate", "Pavel",
     "Nikita", "Юлия", "Tom", "Aigerim", "Oleg", None]
)
LAST_NAMES = np.array(["Иванова", "Petrov", "Smith", "Кузнецов", "Lee", None, None])
LANGS = np.array(["ru", "en", "uk", "kk", None])
NICK_PARTS = np.array(["coder", "dev", "anna", "py", "data", "qa", "web", "max", "neo", "zen"])
EVENT_TYPES = np.array(
    ["menu_opened", "course_info_viewed", "schedule_viewed", "review_read", "faq_opened",
     "payment_link_clicked", "support_message", "stream_selected"]
)
EVENT_WEIGHTS = np.array([0.34, 0.2, 0.14, 0.1, 0.08, 0.06, 0.05, 0.03])
# Booking status codes with their shares; 3 is a value the bot should never write.
STATUSES = np.array([-1, 0, 1, 2, 3])
STATUS_WEIGHTS = np.array([0.14, 0.2, 0.14, 0.5, 0.02])
STREAM_DAYS = 16  # a new numbered stream opens every 16 days
# Type codes of the compact event arrays: the activity types, then the two fixed ones.
ALL_EVENT_TYPES = np.array([*EVENT_TYPES, "start_command", "lesson_link_clicked"], dtype=object)
START_CODE, CLICK_CODE = len(EVENT_TYPES), len(EVENT_TYPES) + 1
COPY_ROWS = 500_000  # events turned into text and written at a time


@dataclass(frozen=True)
class DemoSize:
    """How much demo data to make."""

    users: int = 3000
    events: int = 60_000
    seed: int = 42
    anchor: date | None = None


def ordinal(n: int) -> str:
    """Return 1st, 2nd, 3rd, 4th, ... 11th, 12th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _iso(us: np.ndarray) -> np.ndarray:
    """Microseconds since the epoch → 'YYYY-MM-DD HH:MM:SS.ffffff' UTC strings."""
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit="us")
    return np.char.replace(text, "T", " ")


@dataclass(frozen=True)
class DemoEvents:
    """Every demo event as compact arrays, in load order (created_at, then user_id)."""

    user_id: np.ndarray  # int64
    ts: np.ndarray  # int64 microseconds since the epoch, UTC
    kind: np.ndarray  # int8 codes into ALL_EVENT_TYPES
    details: np.ndarray  # object: JSON text or None

    def __len__(self) -> int:
        return len(self.ts)

    def frame(self, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """Rows start..stop as the `events` table's columns (timestamps as UTC text)."""
        part = slice(start, stop)
        return pd.DataFrame({
            "user_id": self.user_id[part],
            "event_type": ALL_EVENT_TYPES[self.kind[part]],
            "created_at": _iso(self.ts[part]),
            "details": pd.Series(self.details[part], dtype=object),  # None stays None
        })

    def chunks(self, rows: int = COPY_ROWS):
        """The rows as frames of at most `rows` rows each, in order."""
        for start in range(0, len(self), rows):
            yield self.frame(start, start + rows)


def build(size: DemoSize) -> dict[str, pd.DataFrame]:
    """Return the demo rows per table as DataFrames (timestamps as UTC text)."""
    frames, ev = build_compact(size)
    return {**frames, "events": ev.frame()}


def build_compact(size: DemoSize) -> tuple[dict[str, pd.DataFrame], DemoEvents]:
    """The demo rows: users, registrations and bookings as DataFrames, events compact."""
    if size.users < 10 or size.events < size.users:
        raise ValidationError("The demo needs at least 10 users and one event per user.")
    rng = np.random.default_rng(size.seed)
    anchor = size.anchor or datetime.now(UTC).date()
    end_us = int(datetime.combine(anchor, datetime.min.time(), UTC).timestamp() * 1e6)
    span_us = HISTORY_DAYS * 86_400 * 10**6
    n = size.users

    # Telegram-like ids; a third above 2^31, as real ids are.
    ids = 10**8 + np.arange(n, dtype=np.int64) * 9973 + rng.integers(0, 9973, n)
    ids[rng.random(n) < 0.35] += 5 * 10**9
    # Fraction of the history ago, skewed towards recent days: the school is growing.
    first_us = (end_us - (1 - rng.beta(1.6, 1.0, n)) * span_us).astype(np.int64)

    kind = rng.random(n)
    events_only = kind < 0.05
    nick = np.char.add(rng.choice(NICK_PARTS, n).astype(str), (ids % 9999).astype(str))
    usernames = np.where(rng.random(n) < 0.12, None, nick).astype(object)
    usernames[3] = "=HYPERLINK(\"http://x\")"  # a formula-looking name exports must neutralise
    first_names = rng.choice(FIRST_NAMES, n)

    user_rows = pd.DataFrame({
        "user_id": ids,
        "username": usernames,
        "first_name": first_names,
        "last_name": rng.choice(LAST_NAMES, n),
        "language_code": rng.choice(LANGS, n),
        "first_seen_at": _iso(first_us),
        "updated_at": _iso(first_us + rng.integers(0, 30, n) * 86_400 * 10**6),
    })[~events_only]

    regs = _registrations(rng, ids, usernames, first_names, first_us, end_us, ~events_only)
    clicks = _lesson_clicks(rng, regs, end_us)
    book = _bookings(rng, ids, first_us, end_us, regs, clicks, ~events_only)
    fixed = len(ids) + len(clicks)  # a start command per person, and the lesson clicks
    rest = _activity(rng, ids, first_us, end_us, max(size.events - fixed, 0))
    keep = max(size.events, fixed)
    user_id = np.concatenate([ids, clicks["user_id"].to_numpy(np.int64), rest.user_id])[:keep]
    ts = np.concatenate([first_us, clicks["ts"].to_numpy(np.int64), rest.ts])[:keep]
    kind = np.concatenate([np.full(len(ids), START_CODE, np.int8),
                           np.full(len(clicks), CLICK_CODE, np.int8), rest.kind])[:keep]
    details = np.concatenate([np.full(len(ids), None, dtype=object),
                              clicks["details"].to_numpy(object), rest.details])[:keep]
    del rest
    order = np.lexsort((user_id, ts))  # stable: by time, then user, ties as generated
    ev = DemoEvents(user_id[order], ts[order], kind[order], details[order])
    return {
        "users": user_rows,
        "free_lesson_registrations": regs.drop(columns=["ts"]),
        "bookings": book,
    }, ev


def _registrations(rng, ids, usernames, first_names, first_us, end_us, eligible) -> pd.DataFrame:
    who = np.flatnonzero(eligible & (rng.random(len(ids)) < 0.55))
    who = np.concatenate([who, who[rng.random(len(who)) < 0.25]])  # some register twice
    lesson = rng.choice(LESSON_TYPES, len(who), p=LESSON_WEIGHTS)
    ts = first_us[who] + rng.integers(60, 3 * 86_400, len(who)) * 10**6
    ts = np.minimum(ts, end_us - 3600 * 10**6)
    reg_day = pd.to_datetime(ts, unit="us").normalize()
    weekday = np.array([LESSON_WEEKDAY[t] for t in lesson])
    ahead = (weekday - reg_day.day_of_week.to_numpy()) % 7 + 1
    lesson_date = (reg_day + pd.to_timedelta(ahead, unit="D")).date
    email_user = np.where(pd.isna(usernames[who]), "student", usernames[who]).astype(str)
    frame = pd.DataFrame({
        "user_id": ids[who],
        "username": usernames[who],
        "first_name": first_names[who],
        "email": np.char.add(np.char.add(email_user, (ids[who] % 1000).astype(str)),
                             "@example.com"),
        "registered_at": _iso(ts),
        "notification_sent": rng.random(len(who)) < 0.8,
        "lesson_type": lesson,
        "lesson_date": lesson_date,
        "ts": ts,
    })
    return frame.drop_duplicates(["user_id", "lesson_type", "lesson_date"]).reset_index(drop=True)


def _lesson_clicks(rng, regs, end_us) -> pd.DataFrame:
    attended = regs[rng.random(len(regs)) < 0.5]
    twice = attended[rng.random(len(attended)) < 0.3]
    both = pd.concat([attended, twice], ignore_index=True)
    ts = np.minimum(both["ts"].to_numpy() + rng.integers(3600, 6 * 86_400, len(both)) * 10**6,
                    end_us - 60 * 10**6)
    details = [json.dumps({"lesson_type": t}) for t in both["lesson_type"]]
    odd = rng.random(len(both))
    details = np.where(odd < 0.03, None, details)
    details = np.where((odd >= 0.03) & (odd < 0.05), json.dumps({"source": "reminder"}), details)
    return pd.DataFrame({"user_id": both["user_id"].to_numpy(), "event_type": "lesson_link_clicked",
                         "ts": ts, "details": details})


def _bookings(rng, ids, first_us, end_us, regs, clicks, eligible) -> pd.DataFrame:
    clicked = set(clicks["user_id"].tolist())
    p = np.where(np.isin(ids, list(clicked)), 0.4, np.where(np.isin(ids, regs["user_id"]), 0.08,
                                                                0.03))
    who = np.flatnonzero(eligible & (rng.random(len(ids)) < p))
    who = np.concatenate([who, who[rng.random(len(who)) < 0.15]])  # some book twice
    ts = np.minimum(first_us[who] + rng.integers(86_400, 14 * 86_400, len(who)) * 10**6,
                    end_us - 60 * 10**6)
    day_us = 86_400 * 10**6
    stream_no = 1 + (ts - (end_us - HISTORY_DAYS * day_us)) // (STREAM_DAYS * day_us)
    return pd.DataFrame({
        "user_id": ids[who],
        "course_id": rng.choice([101, 102, 103], len(who)),
        "course_stream": [f"{ordinal(int(s))}_stream" for s in stream_no],
        "confirmed": rng.choice(STATUSES, len(who), p=STATUS_WEIGHTS),
        "created_at": _iso(ts),
        "referral_code": np.where(rng.random(len(who)) < 0.2, "FRIEND10", None),
        "discount_percent": np.where(rng.random(len(who)) < 0.2, 10, None),
    })


def _activity(rng, ids, first_us, end_us, count) -> DemoEvents:
    weight = rng.lognormal(0.0, 1.2, len(ids))
    who = rng.choice(len(ids), count, p=weight / weight.sum())
    # Skewed towards recent days so the last week has hot leads.
    offset = rng.beta(2.2, 1.0, count)
    ts = first_us[who] + (offset * (end_us - first_us[who])).astype(np.int64)
    kind = rng.choice(len(EVENT_TYPES), count, p=EVENT_WEIGHTS)
    options = {
        "menu_opened": [None, '{"section": "main"}', '{"section": "courses"}'],
        "course_info_viewed": ['{"course_id": 101}', '{"course_id": 102}', None],
        "stream_selected": ['{"stream": "3rd_stream"}', '{"stream": "10th_stream"}', '"legacy"'],
    }
    details = np.full(count, None, dtype=object)
    for i, name in enumerate(EVENT_TYPES):
        if name in options:
            mask = kind == i
            details[mask] = rng.choice(np.array(options[name], dtype=object), mask.sum())
    return DemoEvents(ids[who], ts, kind.astype(np.int8), details)


def is_empty(bind: Engine | Connection) -> bool:
    """True when none of the bot tables holds a row (or they do not exist yet)."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return is_empty(conn)
    names = set(inspect(bind).get_table_names())
    return all(
        bind.execute(select(func.count()).select_from(t)).scalar() == 0
        for t in BOT_TABLES
        if t.name in names
    )


def load(engine: Engine, size: DemoSize) -> dict[str, int]:
    """Fill an empty, migrated database with demo rows; return the row count per table.

    On PostgreSQL everything runs on one connection of an engine of its own without a
    statement timeout, whatever `engine`'s: the pages' timeout is for reads, and a bulk
    load of millions of rows with its VACUUM ANALYZE takes minutes. That engine is
    disposed at the end; `engine`'s pool is never touched.
    """
    if not is_postgres(engine):
        with engine.connect() as conn:
            return _load(conn, size)
    url = engine.url.render_as_string(hide_password=False)
    loader = make_engine(url, statement_timeout_ms=0)  # 0: no statement timeout
    try:
        with loader.connect() as conn:
            return _load(conn, size)
    finally:
        loader.dispose()


def _load(conn: Connection, size: DemoSize) -> dict[str, int]:
    postgres = is_postgres(conn)
    if not is_empty(conn):
        raise ConflictError("The database already holds data; the demo only fills an empty one.")
    enforced = postgres and bool(inspect(conn).get_foreign_keys("events"))
    has_campaigns = campaigns.name in inspect(conn).get_table_names()
    conn.commit()
    frames, ev = build_compact(size)
    if enforced:
        frames["users"] = _with_user_rows_for_all(frames["users"], ev)
    writer = _copy_postgres if postgres else _insert_sqlite
    raw = conn.connection.dbapi_connection
    for table in (users, free_lesson_registrations, bookings):
        writer(raw, table.name, frames[table.name])
    for chunk in ev.chunks():
        writer(raw, events.name, chunk)
    raw.commit()
    if has_campaigns:
        with conn.begin():
            _past_campaigns(conn, frames, size)
    # Fresh statistics, or both planners pick poor indexes for the first queries.
    conn.execution_options(isolation_level="AUTOCOMMIT")
    conn.exec_driver_sql("VACUUM ANALYZE" if postgres else "ANALYZE")
    return {**{name: len(frame) for name, frame in frames.items()}, "events": len(ev)}


DEMO_CAMPAIGNS = (  # (text, how many recipients, days before the anchor, status)
    ("Hi {first_name|there}! The <b>Python basics</b> free lesson starts on Thursday at "
     "19:00 — the link comes an hour before.", 60, 20, "done"),
    ("{first_name|Friend}, the <i>new stream</i> opens next week: book a place with a 10% "
     "discount until Sunday.", 40, 6, "done"),
    ("Last call: the <b>data analytics</b> webinar is tomorrow.", 25, 1, "draft"),
)


def _past_campaigns(conn: Connection, frames: dict[str, pd.DataFrame], size: DemoSize) -> None:
    """A few dry-run campaigns the Messages page can show: two sent, one draft."""
    anchor = size.anchor or datetime.now(UTC).date()
    people = frames["users"].dropna(subset=["first_seen_at"]).sort_values("user_id")
    start = 0
    for number, (text, count, days_ago, status) in enumerate(DEMO_CAMPAIGNS, start=1):
        at = datetime.combine(anchor, datetime.min.time(), UTC) - pd.Timedelta(
            days=days_ago, hours=-10)
        campaign_id = conn.execute(campaigns.insert().values(
            status=status, text=text, audience_kind="ids", created_by="Demo visitor",
            audience=",".join(str(u) for u in people["user_id"].iloc[start:start + count]),
            created_at=at, queued_at=None if status == "draft" else at,
            started_at=None if status == "draft" else at,
            finished_at=None if status == "draft" else at + pd.Timedelta(minutes=5),
            dry_run=True)).inserted_primary_key[0]
        chosen = people.iloc[start:start + count]
        if status != "draft" and not chosen.empty:
            conn.execute(campaign_recipients.insert(), [
                {"campaign_id": campaign_id, "user_id": int(row.user_id),
                 "first_name": None if pd.isna(row.first_name) else row.first_name,
                 "username": None if pd.isna(row.username) else row.username,
                 "attempts": 1, "next_attempt_at": at,
                 **_demo_outcome(i, number, at)}
                for i, row in enumerate(chosen.itertuples(index=False))])
        start += count


def _demo_outcome(i: int, number: int, at: datetime) -> dict:
    """Mostly sent; every 23rd blocked the bot, every 31st had no chat (dry-run wording)."""
    unsent = {"telegram_message_id": None, "sent_at": None}
    if i % 23 == 22:
        return {"status": "blocked", "error": "Telegram refused to deliver (Forbidden: bot "
                "was blocked by the user).", **unsent}
    if i % 31 == 30:
        return {"status": "failed", "error": "Telegram rejected the message (Chat not found).",
                **unsent}
    return {"status": "sent", "error": None, "telegram_message_id": number * 1000 + i,
            "sent_at": at + pd.Timedelta(seconds=i)}


def _with_user_rows_for_all(people: pd.DataFrame, ev: DemoEvents) -> pd.DataFrame:
    """Enforced foreign keys need a users row for events-only people: add a bare one."""
    unknown = ~np.isin(ev.user_id, people["user_id"].to_numpy())
    firsts = pd.DataFrame({"user_id": ev.user_id[unknown], "ts": ev.ts[unknown]}).groupby(
        "user_id", as_index=False)["ts"].min()
    bare = pd.DataFrame({"user_id": firsts["user_id"],
                         "first_seen_at": _iso(firsts["ts"].to_numpy())})
    return pd.concat([people, bare], ignore_index=True)


def _copy_postgres(raw, table: str, frame: pd.DataFrame) -> None:
    buf = io.StringIO()
    frame.to_csv(buf, index=False, header=False, na_rep="\\N")
    buf.seek(0)
    cols = ", ".join(frame.columns)
    with raw.cursor() as cur:
        cur.copy_expert(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)


def _insert_sqlite(raw, table: str, frame: pd.DataFrame) -> None:
    cols = list(frame.columns)
    out = frame.astype(object).where(frame.notna(), None)
    if "lesson_date" in out:
        out["lesson_date"] = out["lesson_date"].map(lambda d: d.isoformat())
    if "notification_sent" in out:
        out["notification_sent"] = out["notification_sent"].map(int)
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    raw.cursor().executemany(sql, [tuple(map(_plain, r)) for r in out.itertuples(index=False)])


def _plain(value):
    """numpy scalars → Python scalars for sqlite3."""
    return value.item() if isinstance(value, np.generic) else value
