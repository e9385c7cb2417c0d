"""Summaries (SPEC §9): the app's own tables for everything a report needs from all of
history, kept by `hsl.summaries.refresh`. The bot's tables are not touched.

Creates each table only when it does not exist yet. The tables are spelled out here rather
than taken from hsl.schema, so this revision keeps meaning what it meant.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from hsl.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _tables() -> dict[str, tuple]:
    return {
        "summary_state": (
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("tz", sa.Text, nullable=False),
            sa.Column("events_max_id", sa.BigInteger, nullable=False),
            sa.Column("events_high_at", UTCDateTime),
            sa.Column("refreshed_at", UTCDateTime, nullable=False),
            sa.Column("rebuilt_at", UTCDateTime, nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_summary_state"),
        ),
        "summary_users": (
            sa.Column("user_id", sa.BigInteger, autoincrement=False),
            sa.Column("known_elsewhere", sa.Boolean, nullable=False, server_default="0"),
            sa.Column("seen_elsewhere_at", UTCDateTime),
            sa.Column("events", sa.BigInteger, nullable=False, server_default="0"),
            sa.Column("first_event_at", UTCDateTime),
            sa.Column("last_event_at", UTCDateTime),
            sa.Column("first_seen_at", UTCDateTime),
            sa.PrimaryKeyConstraint("user_id", name="pk_summary_users"),
            sa.Index("ix_summary_users_first_seen_at", "first_seen_at"),
        ),
        "summary_user_days": (
            sa.Column("user_id", sa.BigInteger, autoincrement=False),
            sa.Column("day", sa.Date),
            sa.Column("events", sa.BigInteger, nullable=False),
            sa.Column("first_at", UTCDateTime, nullable=False),
            sa.Column("last_at", UTCDateTime, nullable=False),
            sa.PrimaryKeyConstraint("user_id", "day", name="pk_summary_user_days"),
            sa.Index("ix_summary_user_days_day", "day"),
        ),
        "summary_days": (
            sa.Column("day", sa.Date),
            sa.Column("events", sa.BigInteger, nullable=False),
            sa.Column("active_users", sa.BigInteger, nullable=False),
            sa.PrimaryKeyConstraint("day", name="pk_summary_days"),
        ),
        "summary_day_types": (
            sa.Column("day", sa.Date),
            sa.Column("event_type", sa.Text),
            sa.Column("events", sa.BigInteger, nullable=False),
            sa.PrimaryKeyConstraint("day", "event_type", name="pk_summary_day_types"),
        ),
        "summary_lesson_clicks": (
            sa.Column("user_id", sa.BigInteger, autoincrement=False),
            sa.Column("lesson_type", sa.Text),
            sa.PrimaryKeyConstraint("user_id", "lesson_type", name="pk_summary_lesson_clicks"),
        ),
    }


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns in _tables().items():
        if name not in existing:
            op.create_table(name, *columns)


def downgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name in reversed(list(_tables())):
        if name in existing:
            op.drop_table(name)
