"""Summaries, incremental at scale (SPEC §9): a per-day fingerprint and a covering index.

`summary_days.id_sum` (the sum of the day's event ids) lets a refresh tell, from one
index-only pass over the trailing window, whether a day changed other than by new rows
(a late commit with a lower id, a delete): only such days are recounted whole; new rows
are added. The summaries written before this revision have no fingerprint, so their
state is cleared: the next refresh rebuilds them.

On PostgreSQL, `ix_events_created_at_id` on events (created_at) INCLUDE (id) makes that
pass index-only (on SQLite the created_at index already holds the rowid, which is `id`).
An index is the only thing this revision adds to a bot table. And
`ix_summary_user_days_day_cover` on summary_user_days (day, user_id) INCLUDE (events,
last_at) lets a window of days (leads, retention) be read from the index alone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEX = "ix_events_created_at_id"
COVER = "ix_summary_user_days_day_cover"


def upgrade() -> None:
    bind = op.get_bind()
    found = sa.inspect(bind)
    if "id_sum" not in {c["name"] for c in found.get_columns("summary_days")}:
        op.add_column("summary_days", sa.Column("id_sum", sa.BigInteger))
    op.execute("DELETE FROM summary_state")
    if bind.dialect.name == "postgresql" and INDEX not in {
            i["name"] for i in found.get_indexes("events")}:
        op.create_index(INDEX, "events", ["created_at"], postgresql_include=["id"])
    if bind.dialect.name == "postgresql" and COVER not in {
            i["name"] for i in found.get_indexes("summary_user_days")}:
        op.create_index(COVER, "summary_user_days", ["day", "user_id"],
                        postgresql_include=["events", "last_at"])


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
        op.execute(f"DROP INDEX IF EXISTS {COVER}")
    with op.batch_alter_table("summary_days") as batch:
        batch.drop_column("id_sum")
