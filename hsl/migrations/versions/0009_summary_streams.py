"""Streams summarised (SPEC §9): bookings per stream and status, and each stream's roster.

`summary_streams` holds, per course stream (NULL: bookings without one) and status code,
the number of bookings, and the stream's distinct students over every status (the same on
each of its rows). Every refresh rewrites it from `bookings` (a table that grows with
people, not events), and so does an admin's stream change, in its own transaction, so the
Streams page agrees with the roster the moment a booking moves.

`summary_stream_students` holds, per named stream and student, the status of their newest
booking there, their name (the users row, else their newest registration's), events and
last event, rewritten at the same moments: a roster is one range of its rows. The next
refresh fills both.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from hsl.schema import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    found = sa.inspect(op.get_bind()).get_table_names()
    if "summary_streams" not in found:
        op.create_table(
            "summary_streams",
            sa.Column("course_stream", sa.Text),
            sa.Column("confirmed", sa.Integer, nullable=False),
            sa.Column("bookings", sa.BigInteger, nullable=False),
            sa.Column("students", sa.BigInteger, nullable=False),
        )
    if "summary_stream_students" not in found:
        op.create_table(
            "summary_stream_students",
            sa.Column("course_stream", sa.Text),
            sa.Column("user_id", sa.BigInteger, autoincrement=False),
            sa.Column("confirmed", sa.Integer, nullable=False),
            sa.Column("username", sa.Text),
            sa.Column("first_name", sa.Text),
            sa.Column("events", sa.BigInteger, nullable=False),
            sa.Column("last_event_at", UTCDateTime),
            sa.PrimaryKeyConstraint("course_stream", "user_id",
                                    name="pk_summary_stream_students"),
        )


def downgrade() -> None:
    op.drop_table("summary_stream_students")
    op.drop_table("summary_streams")
