"""Leads in one row a person (SPEC §9): the default lead window's edge days next to its
whole days.

`summary_user_recent` also holds, per user, their summary_user_days row of the local day
before `summary_state.recent_from` (`low_*`: events, first and last event) and of the day
after `recent_to` (`high_*`: events, last event); NULL when they have none. Those are a
default lead window's two edge days as of the last refresh, so the Leads report reads
each candidate's window from one row instead of joining three. A person with rows on the
edge days only has 0 whole-day events and no `last_at`.

The rows written before this migration lack the new columns: they are removed and the
state's days cleared, so reports read summary_user_days until the next refresh writes
every row again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from hsl.schema import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NEW_COLUMNS = {
    "low_events": sa.BigInteger, "low_first_at": UTCDateTime, "low_last_at": UTCDateTime,
    "high_events": sa.BigInteger, "high_last_at": UTCDateTime,
}


def _forget_recent() -> None:
    op.execute("DELETE FROM summary_user_recent")
    op.execute("UPDATE summary_state SET recent_from = NULL, recent_to = NULL")


def upgrade() -> None:
    found = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("summary_user_recent")}
    _forget_recent()
    with op.batch_alter_table("summary_user_recent") as batch:
        batch.alter_column("last_at", existing_type=UTCDateTime, nullable=True)
        for name, kind in NEW_COLUMNS.items():
            if name not in found:
                batch.add_column(sa.Column(name, kind))


def downgrade() -> None:
    _forget_recent()
    with op.batch_alter_table("summary_user_recent") as batch:
        for name in NEW_COLUMNS:
            batch.drop_column(name)
        batch.alter_column("last_at", existing_type=UTCDateTime, nullable=False)
