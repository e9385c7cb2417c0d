"""Leads at scale (SPEC §9): a lead window's whole days added up per user, ahead of time.

`summary_user_recent` holds, per user, their summary_user_days rows summed over the local
days `summary_state.recent_from .. recent_to`: the whole days a default lead window spans
between its two edge days, as of the last refresh (hsl.summaries.refresh keeps it). With
it the Leads report reads one row per person instead of one per person and day.

On PostgreSQL `ix_summary_user_days_day_cover` also carries `first_at`, so a window's edge
day is read from the index alone too. Neither touches the bot's tables; the next refresh
fills the new table (the state's new columns start empty).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from hsl.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COVER = "ix_summary_user_days_day_cover"


def upgrade() -> None:
    bind = op.get_bind()
    found = sa.inspect(bind)
    if "summary_user_recent" not in found.get_table_names():
        op.create_table(
            "summary_user_recent",
            sa.Column("user_id", sa.BigInteger, autoincrement=False),
            sa.Column("events", sa.BigInteger, nullable=False),
            sa.Column("active_days", sa.Integer, nullable=False),
            sa.Column("last_at", UTCDateTime, nullable=False),
            sa.PrimaryKeyConstraint("user_id", name="pk_summary_user_recent"),
        )
    columns = {c["name"] for c in found.get_columns("summary_state")}
    with op.batch_alter_table("summary_state") as batch:
        for name in ("recent_from", "recent_to"):
            if name not in columns:
                batch.add_column(sa.Column(name, sa.Date))
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {COVER}")
        op.create_index(COVER, "summary_user_days", ["day", "user_id"],
                        postgresql_include=["events", "first_at", "last_at"])


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {COVER}")
        op.create_index(COVER, "summary_user_days", ["day", "user_id"],
                        postgresql_include=["events", "last_at"])
    with op.batch_alter_table("summary_state") as batch:
        batch.drop_column("recent_to")
        batch.drop_column("recent_from")
    op.drop_table("summary_user_recent")
