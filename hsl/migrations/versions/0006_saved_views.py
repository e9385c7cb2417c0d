"""Saved views (issue 12): a page with its filters under a name, owned by a person.

Creates the table only when it does not exist yet; spelled out here rather than taken from
hsl.schema, so this revision keeps meaning what it meant. The bot's tables are not touched.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from hsl.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if "saved_views" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "saved_views",
        sa.Column("id", KEY, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("page", sa.Text, nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("dates_preset", sa.Text),
        sa.Column("start_date", sa.Date),
        sa.Column("end_date", sa.Date),
        sa.Column("shared", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_saved_views"),
        sa.UniqueConstraint("owner", "name", name="uq_saved_views_owner_name"),
    )


def downgrade() -> None:
    op.drop_table("saved_views")
