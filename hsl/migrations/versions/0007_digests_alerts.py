"""Digests and alerts (issue 12): subscriptions of saved views, one run a period, alert
rules with their firings, the group chats an admin allows, and `campaigns.photo` (a
digest's chart, sent as a photo with the text as its caption).

Creates each table only when it does not exist yet; spelled out here rather than taken
from hsl.schema, so this revision keeps meaning what it meant. The bot's tables are not
touched.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from hsl.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tables() -> dict[str, tuple]:
    return {
        "subscriptions": (
            sa.Column("id", KEY, primary_key=True, autoincrement=True),
            sa.Column("view_id", sa.BigInteger,
                      sa.ForeignKey("saved_views.id", ondelete="CASCADE",
                                    name="fk_subscriptions_view_id_saved_views"),
                      nullable=False),
            sa.Column("owner", sa.Text, nullable=False),
            sa.Column("chat_id", sa.BigInteger, nullable=False),
            sa.Column("every", sa.Text, nullable=False),
            sa.Column("at_time", sa.Text, nullable=False),
            sa.Column("weekday", sa.Integer),
            sa.Column("day", sa.Integer),
            sa.Column("tz", sa.Text, nullable=False),
            sa.Column("paused", sa.Boolean, nullable=False, server_default="0"),
            sa.Column("created_at", UTCDateTime, nullable=False),
            sa.Column("last_due_at", UTCDateTime),
            sa.Column("last_run_at", UTCDateTime),
            sa.Column("last_outcome", sa.Text),
            sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
            sa.Index("ix_subscriptions_owner", "owner"),
        ),
        "digest_runs": (
            sa.Column("id", KEY, primary_key=True, autoincrement=True),
            sa.Column("subscription_id", sa.BigInteger,
                      sa.ForeignKey("subscriptions.id", ondelete="CASCADE",
                                    name="fk_digest_runs_subscription_id_subscriptions"),
                      nullable=False),
            sa.Column("period_key", sa.Text, nullable=False),
            sa.Column("due_at", UTCDateTime, nullable=False),
            sa.Column("late", sa.Boolean, nullable=False, server_default="0"),
            sa.Column("created_at", UTCDateTime, nullable=False),
            sa.Column("campaign_id", sa.BigInteger),
            sa.Column("outcome", sa.Text),
            sa.PrimaryKeyConstraint("id", name="pk_digest_runs"),
            sa.UniqueConstraint("subscription_id", "period_key",
                                name="uq_digest_runs_subscription_id_period_key"),
        ),
        "alert_rules": (
            sa.Column("id", KEY, primary_key=True, autoincrement=True),
            sa.Column("owner", sa.Text, nullable=False),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("metric", sa.Text, nullable=False),
            sa.Column("params", sa.Text, nullable=False, server_default=""),
            sa.Column("op", sa.Text, nullable=False),
            sa.Column("threshold", sa.Float),
            sa.Column("chat_id", sa.BigInteger, nullable=False),
            sa.Column("paused", sa.Boolean, nullable=False, server_default="0"),
            sa.Column("created_at", UTCDateTime, nullable=False),
            sa.Column("is_true", sa.Boolean),
            sa.Column("last_checked_at", UTCDateTime),
            sa.Column("last_value", sa.Float),
            sa.Column("last_fired_at", UTCDateTime),
            sa.Column("last_outcome", sa.Text),
            sa.PrimaryKeyConstraint("id", name="pk_alert_rules"),
            sa.Index("ix_alert_rules_owner", "owner"),
        ),
        "alert_firings": (
            sa.Column("id", KEY, primary_key=True, autoincrement=True),
            sa.Column("rule_id", sa.BigInteger,
                      sa.ForeignKey("alert_rules.id", ondelete="CASCADE",
                                    name="fk_alert_firings_rule_id_alert_rules"),
                      nullable=False),
            sa.Column("fired_at", UTCDateTime, nullable=False),
            sa.Column("value", sa.Float),
            sa.Column("campaign_id", sa.BigInteger),
            sa.PrimaryKeyConstraint("id", name="pk_alert_firings"),
        ),
        "allowed_chats": (
            sa.Column("chat_id", sa.BigInteger, autoincrement=False),
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("added_by", sa.Text, nullable=False),
            sa.Column("added_at", UTCDateTime, nullable=False),
            sa.PrimaryKeyConstraint("chat_id", name="pk_allowed_chats"),
        ),
    }


def upgrade() -> None:
    found = sa.inspect(op.get_bind())
    existing = set(found.get_table_names())
    for name, columns in _tables().items():
        if name not in existing:
            op.create_table(name, *columns)
    if "photo" not in {c["name"] for c in found.get_columns("campaigns")}:
        op.add_column("campaigns", sa.Column("photo", sa.LargeBinary))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("photo")
    for name in reversed(list(_tables())):
        op.drop_table(name)
