"""The one description of the tables (SPEC §1), as SQLAlchemy Core `Table` objects."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """`timestamptz` on PostgreSQL, naive-UTC text on SQLite; always aware UTC in Python."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(self, dialect, coltype):
        if dialect.name == "postgresql":
            # Sessions run with TimeZone=UTC (hsl.db.make_engine), so psycopg2 already gives
            # aware datetimes in datetime.UTC: no Python call per value (45k rows: ~150 ms).
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# BIGINT surrogate keys on PostgreSQL; SQLite only autoincrements an INTEGER primary key.
SurrogateKey = BigInteger().with_variant(Integer(), "sqlite")
Details = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _user_fk() -> ForeignKey:
    return ForeignKey("users.user_id", ondelete="CASCADE")


users = Table(
    "users",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("username", Text),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("language_code", Text),
    Column("first_seen_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
)

bookings = Table(
    "bookings",
    metadata,
    Column("id", SurrogateKey, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, _user_fk(), nullable=False),
    Column("course_id", Integer),
    Column("course_stream", Text),
    Column("confirmed", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("referral_code", Text),
    Column("discount_percent", Integer),
    Index(None, "user_id"),
    Index(None, "course_stream"),
    Index(None, "created_at"),
)

events = Table(
    "events",
    metadata,
    Column("id", SurrogateKey, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, _user_fk(), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("details", Details),
    # (user_id, created_at) serves every per-user lookup and first-seen / last-activity.
    Index(None, "user_id", "created_at"),
    Index(None, "created_at"),
    Index(None, "event_type", "created_at"),
)

free_lesson_registrations = Table(
    "free_lesson_registrations",
    metadata,
    Column("id", SurrogateKey, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, _user_fk(), nullable=False),
    Column("username", Text),
    Column("first_name", Text),
    Column("email", Text, nullable=False),
    Column("registered_at", UTCDateTime, nullable=False),
    Column("notification_sent", Boolean, nullable=False, server_default="0"),
    Column("lesson_type", Text, nullable=False),
    Column("lesson_date", Date, nullable=False),
    UniqueConstraint("user_id", "lesson_type", "lesson_date"),
    Index(None, "user_id"),
    Index(None, "registered_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", SurrogateKey, primary_key=True, autoincrement=True),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("entity", Text, nullable=False),
    Column("entity_id", Text, nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("reason", Text, nullable=False),
    Index(None, "occurred_at"),
    Index(None, "entity", "entity_id"),
)

# Wrong passwords per typed user name (hsl/signin.py); a right password deletes the row.
sign_in_attempts = Table(
    "sign_in_attempts",
    metadata,
    Column("user_name", Text, primary_key=True),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("last_failure_at", UTCDateTime),
)

# ---- Messaging (SPEC §8): campaigns, one row per campaign × person, and worker heartbeats.
CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "paused", "done", "cancelled")
RECIPIENT_STATUSES = ("pending", "sending", "sent", "failed", "blocked", "skipped", "unknown")

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", SurrogateKey, primary_key=True, autoincrement=True),
    Column("status", Text, nullable=False),
    Column("text", Text, nullable=False),  # the template as written (hsl.messaging.template)
    Column("audience_kind", Text, nullable=False),  # audience | stream | ids
    Column("audience", Text, nullable=False),  # the query string, the stream, or the ids
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("scheduled_at", UTCDateTime),  # not before this moment; NULL: as soon as queued
    Column("queued_at", UTCDateTime),  # recipients frozen
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("dry_run", Boolean, nullable=False, server_default="0"),
    Column("photo", LargeBinary),  # a digest's chart (PNG), sent with the text as caption
    Index(None, "status", "scheduled_at"),
)

campaign_recipients = Table(
    "campaign_recipients",
    metadata,
    Column("campaign_id", BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"),
           primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("status", Text, nullable=False),
    Column("first_name", Text),  # frozen with the list: what {first_name} becomes
    Column("username", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("telegram_message_id", BigInteger),
    Column("sent_at", UTCDateTime),
    Column("next_attempt_at", UTCDateTime),  # due from this moment (retries back off)
    Column("claimed_by", Text),  # the worker holding a `sending` row
    # The worker's claim: due pending rows of one campaign in user order.
    Index(None, "campaign_id", "status", "next_attempt_at"),
    # "Did this person block the bot last time?" when a new list is frozen.
    Index(None, "user_id", "sent_at"),
)

worker_heartbeats = Table(
    "worker_heartbeats",
    metadata,
    Column("worker_id", Text, primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
)

# ---- Summaries (SPEC §9): what needs all history, kept by hsl.summaries.refresh. Days are
# local days of the timezone in `summary_state.tz`; timestamps are UTC like the bot's.
summary_state = Table(
    "summary_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1: one row
    Column("tz", Text, nullable=False),
    Column("events_max_id", BigInteger, nullable=False),  # the highest event id read
    Column("events_high_at", UTCDateTime),  # the newest event time read
    Column("refreshed_at", UTCDateTime, nullable=False),  # when the data read was current
    Column("rebuilt_at", UTCDateTime, nullable=False),  # the last full rebuild
    # The local days summary_user_recent adds up (0008); NULL: it holds nothing yet.
    Column("recent_from", Date),
    Column("recent_to", Date),
)

summary_users = Table(
    "summary_users",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    # In `users`, `bookings` or `free_lesson_registrations`, and the earliest time there.
    Column("known_elsewhere", Boolean, nullable=False, server_default="0"),
    Column("seen_elsewhere_at", UTCDateTime),
    Column("registered", Boolean, nullable=False, server_default="0"),  # a free lesson (0008)
    Column("events", BigInteger, nullable=False, server_default="0"),
    Column("first_event_at", UTCDateTime),
    Column("last_event_at", UTCDateTime),
    Column("first_seen_at", UTCDateTime),  # the earlier of seen_elsewhere_at, first_event_at
    Index(None, "first_seen_at"),
)

summary_user_days = Table(
    "summary_user_days",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("day", Date, primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Index(None, "day"),
)

summary_days = Table(
    "summary_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("active_users", BigInteger, nullable=False),
    Column("id_sum", BigInteger),  # the day's event ids summed: its fingerprint (0005)
)

summary_day_types = Table(
    "summary_day_types",
    metadata,
    Column("day", Date, primary_key=True),
    Column("event_type", Text, primary_key=True),
    Column("events", BigInteger, nullable=False),
)

# Per user, their summary_user_days rows added up over the whole local days a default lead
# window (hsl.metrics.leads) spans inside its two edge days as of the last refresh:
# summary_state.recent_from .. recent_to (0008; 0 and NULL when they have none), and their
# rows of those two edge days: the day before (`low_*`) and after (`high_*`), NULL when
# they have none (0010). A user with none of these rows has no row.
summary_user_recent = Table(
    "summary_user_recent",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("events", BigInteger, nullable=False),
    Column("active_days", Integer, nullable=False),
    Column("last_at", UTCDateTime),
    Column("low_events", BigInteger),
    Column("low_first_at", UTCDateTime),
    Column("low_last_at", UTCDateTime),
    Column("high_events", BigInteger),
    Column("high_last_at", UTCDateTime),
)

# Bookings per stream and status code, all time (0009): rewritten whole by every refresh
# and by an admin's stream change, in their transactions. `students` is the stream's
# distinct students over every status, the same on each of its rows. A NULL stream is the
# bookings without one.
summary_streams = Table(
    "summary_streams",
    metadata,
    Column("course_stream", Text),
    Column("confirmed", Integer, nullable=False),
    Column("bookings", BigInteger, nullable=False),
    Column("students", BigInteger, nullable=False),
)

# Per named stream and student, as of the last refresh or stream change (0009): the status
# of their newest booking there, their name (the users row, else their newest
# registration's), events and last event: a stream's roster in one range of rows.
summary_stream_students = Table(
    "summary_stream_students",
    metadata,
    Column("course_stream", Text, primary_key=True),
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("confirmed", Integer, nullable=False),
    Column("username", Text),
    Column("first_name", Text),
    Column("events", BigInteger, nullable=False),
    Column("last_event_at", UTCDateTime),
)

summary_lesson_clicks = Table(
    "summary_lesson_clicks",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("lesson_type", Text, primary_key=True),
)

# ---- Saved views (issue 12): a page and its filters under a name, the dates rolling (a
# preset of hsl.filters.PRESETS) or fixed; personal to `owner` unless `shared`.
saved_views = Table(
    "saved_views",
    metadata,
    Column("id", SurrogateKey, primary_key=True, autoincrement=True),
    Column("owner", Text, nullable=False),  # the signed-in name (hsl.auth.Actor.name)
    Column("name", Text, nullable=False),
    Column("page", Text, nullable=False),  # a key of hsl.views.PAGES
    Column("query", Text, nullable=False),  # the page's filters as a query string, no dates
    Column("dates_preset", Text),  # rolling dates; NULL: the fixed start_date..end_date
    Column("start_date", Date),
    Column("end_date", Date),
    Column("shared", Boolean, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("owner", "name"),
)

# ---- Digests and alerts (issue 12): the numbers come to the team in Telegram. Delivered
# by the send-worker through campaigns (hsl.messaging), so they show in the Messages history.
subscriptions = Table(  # a saved view's digest on a schedule (hsl.schedules)
    "subscriptions",
    metadata,
    Column("id", SurrogateKey, primary_key=True, autoincrement=True),
    Column("view_id", BigInteger, ForeignKey("saved_views.id", ondelete="CASCADE"),
           nullable=False),
    Column("owner", Text, nullable=False),  # who subscribed (may differ from the view's owner)
    Column("chat_id", BigInteger, nullable=False),  # a person's Telegram id or an allowed group
    Column("every", Text, nullable=False),  # daily | weekly | monthly
    Column("at_time", Text, nullable=False),  # local HH:MM in `tz`
    Column("weekday", Integer),  # weekly: 0 = Monday
    Column("day", Integer),  # monthly: 1..31 (the last day in shorter months)
    Column("tz", Text, nullable=False),
    Column("paused", Boolean, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_due_at", UTCDateTime),  # the last scheduled instant that was handled
    Column("last_run_at", UTCDateTime),  # when it was handled
    Column("last_outcome", Text),  # one sentence: "Sent", "Sent late", "Failed: …"
    Index(None, "owner"),
)

digest_runs = Table(  # one row a subscription and period: the database says "once"
    "digest_runs",
    metadata,
    Column("id", SurrogateKey, primary_key=True, autoincrement=True),
    Column("subscription_id", BigInteger, ForeignKey("subscriptions.id", ondelete="CASCADE"),
           nullable=False),
    Column("period_key", Text, nullable=False),  # hsl.schedules.period_key: 2026-12-03, 2026-W49
    Column("due_at", UTCDateTime, nullable=False),
    Column("late", Boolean, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("campaign_id", BigInteger),  # the delivery, in the Messages history
    Column("outcome", Text),
    UniqueConstraint("subscription_id", "period_key"),
)

alert_rules = Table(  # "hot leads >= 20": notify when it becomes true, again after false
    "alert_rules",
    metadata,
    Column("id", SurrogateKey, primary_key=True, autoincrement=True),
    Column("owner", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("metric", Text, nullable=False),  # a key of hsl.alerts.METRICS
    Column("params", Text, nullable=False, server_default=""),  # the metric's options (query)
    Column("op", Text, nullable=False),  # >=, >, <=, <
    Column("threshold", Float),  # NULL: compared with the same number for the period before
    Column("chat_id", BigInteger, nullable=False),
    Column("paused", Boolean, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("is_true", Boolean),  # the condition at the last check (NULL: never checked)
    Column("last_checked_at", UTCDateTime),
    Column("last_value", Float),
    Column("last_fired_at", UTCDateTime),
    Column("last_outcome", Text),
    Index(None, "owner"),
)

alert_firings = Table(  # each time a rule became true and was sent
    "alert_firings",
    metadata,
    Column("id", SurrogateKey, primary_key=True, autoincrement=True),
    Column("rule_id", BigInteger, ForeignKey("alert_rules.id", ondelete="CASCADE"),
           nullable=False),
    Column("fired_at", UTCDateTime, nullable=False),
    Column("value", Float),
    Column("campaign_id", BigInteger),
)

allowed_chats = Table(  # group chats an admin allows digests and alerts to go to
    "allowed_chats",
    metadata,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("title", Text, nullable=False),
    Column("added_by", Text, nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
)

SUMMARY_TABLES = (summary_users, summary_user_days, summary_days, summary_day_types,
                  summary_lesson_clicks, summary_user_recent, summary_streams,
                  summary_stream_students)

BOT_TABLES = (users, bookings, events, free_lesson_registrations)

BOOKING_STATUS = {-1: "cancelled", 0: "new", 1: "pending", 2: "confirmed"}


def status_word(code: int | None) -> str:
    """Return the word for a booking status; unknown codes read "unknown (N)"."""
    return BOOKING_STATUS.get(code, f"unknown ({code})")
