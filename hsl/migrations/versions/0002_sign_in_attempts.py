"""The app's sign-in throttle: wrong passwords per typed user name (hsl/signin.py).

Creates only `sign_in_attempts`, and only when it does not exist yet, so running it on a
database that already has the table (or again) changes nothing. The table is spelled out
here rather than taken from hsl.schema, so this revision keeps meaning what it meant.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

from hsl.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "sign_in_attempts"


def upgrade() -> None:
    if TABLE in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        TABLE,
        sa.Column("user_name", sa.Text, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_failure_at", UTCDateTime),
        sa.PrimaryKeyConstraint("user_name", name="pk_sign_in_attempts"),
    )


def downgrade() -> None:
    if TABLE in sa.inspect(op.get_bind()).get_table_names():
        op.drop_table(TABLE)
