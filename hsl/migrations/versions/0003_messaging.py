"""Messaging (SPEC §8): campaigns, their recipients (one row per campaign × person) and the
send-workers' heartbeats. The bot's tables are not touched.

Creates each table only when it does not exist yet. The tables are spelled out here rather
than taken from hsl.schema, so this revision keeps meaning what it meant.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from hsl.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tables() -> dict[str, tuple]:
    return {
        "campaigns": (
            sa.Column("id", KEY, primary_key=True, autoincrement=True),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("audience_kind", sa.Text, nullable=False),
            sa.Column("audience", sa.Text, nullable=False),
            sa.Column("created_at", UTCDateTime, nullable=False),
            sa.Column("created_by", sa.Text, nullable=False),
            sa.Column("scheduled_at", UTCDateTime),
            sa.Column("queued_at", UTCDateTime),
            sa.Column("started_at", UTCDateTime),
            sa.Column("finished_at", UTCDateTime),
            sa.Column("dry_run", sa.Boolean, nullable=False, server_default="0"),
            sa.Index("ix_campaigns_status_scheduled_at", "status", "scheduled_at"),
        ),
        "campaign_recipients": (
            sa.Column("campaign_id", sa.BigInteger,
                      sa.ForeignKey("campaigns.id", ondelete="CASCADE",
                                    name="fk_campaign_recipients_campaign_id_campaigns"),
                      primary_key=True, autoincrement=False),
            sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("first_name", sa.Text),
            sa.Column("username", sa.Text),
            sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
            sa.Column("error", sa.Text),
            sa.Column("telegram_message_id", sa.BigInteger),
            sa.Column("sent_at", UTCDateTime),
            sa.Column("next_attempt_at", UTCDateTime),
            sa.Column("claimed_by", sa.Text),
            sa.Index("ix_campaign_recipients_campaign_id_status_next_attempt_at",
                     "campaign_id", "status", "next_attempt_at"),
            sa.Index("ix_campaign_recipients_user_id_sent_at", "user_id", "sent_at"),
        ),
        "worker_heartbeats": (
            sa.Column("worker_id", sa.Text, primary_key=True),
            sa.Column("host", sa.Text, nullable=False),
            sa.Column("pid", sa.Integer, nullable=False),
            sa.Column("started_at", UTCDateTime, nullable=False),
            sa.Column("seen_at", UTCDateTime, nullable=False),
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
