"""Bookings per stream and status, summarised (SPEC §9): the Streams report at a glance.

`summary_streams` holds, per course stream (NULL: bookings without one) and status code,
the number of bookings, and the stream's distinct students over every status (the same on
each of its rows). Every refresh rewrites it from `bookings` (a table that grows with
people, not events), and so does an admin's stream change, in its own transaction, so the
Streams page agrees with the roster the moment a booking moves. The next refresh fills it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "summary_streams" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "summary_streams",
        sa.Column("course_stream", sa.Text),
        sa.Column("confirmed", sa.Integer, nullable=False),
        sa.Column("bookings", sa.BigInteger, nullable=False),
        sa.Column("students", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("summary_streams")
