"""Leads at scale (SPEC §9): a lead window's whole days added up per user, ahead of time.

`summary_user_recent` holds, per user, their summary_user_days rows summed over the local
days `summary_state.recent_from .. recent_to`: the whole days a default lead window spans
between its two edge days, as of the last refresh (hsl.summaries.refresh keeps it). With
it the Leads report reads one row per person instead of one per person and day.

`summary_users.registered`: the person has a free-lesson registration (the leads'
candidates), kept by the refresh's pass over registrations like `seen_elsewhere_at`.

On PostgreSQL `ix_summary_user_days_day_cover` also carries `first_at`, so a window's edge
day is read from the index alone too. The next refresh fills the new table and column
(the state's new columns start empty).

Indexes on two bot tables (nothing else of theirs changes), so the reports that read
them live answer from an index alone on PostgreSQL:
- `ix_free_lesson_registrations_newest` (user_id, registered_at, id) INCLUDE (username,
  first_name, email): a person's newest registration (names, email) in one probe;
- `ix_free_lesson_registrations_registered_cover` (registered_at) INCLUDE (user_id,
  lesson_type, lesson_date, notification_sent): the registrations of a date range;
- `ix_bookings_stream_newest` (course_stream, user_id, created_at DESC, id DESC) INCLUDE
  (confirmed): a stream's bookings in the order its roster and summary read them.
On SQLite the first and last are plain indexes on their key columns.

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
# name: (table, key columns, columns carried on PostgreSQL, PostgreSQL only)
BOT_INDEXES = {
    "ix_free_lesson_registrations_newest": (
        "free_lesson_registrations", ["user_id", "registered_at", "id"],
        ["username", "first_name", "email"], False),
    "ix_free_lesson_registrations_registered_cover": (
        "free_lesson_registrations", ["registered_at"],
        ["user_id", "lesson_type", "lesson_date", "notification_sent"], True),
    "ix_bookings_stream_newest": (
        "bookings", ["course_stream", "user_id", sa.text("created_at DESC"), sa.text("id DESC")],
        ["confirmed"], False),
}


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
    if "registered" not in {c["name"] for c in found.get_columns("summary_users")}:
        with op.batch_alter_table("summary_users") as batch:
            batch.add_column(sa.Column("registered", sa.Boolean, nullable=False,
                                       server_default="0"))
    columns = {c["name"] for c in found.get_columns("summary_state")}
    with op.batch_alter_table("summary_state") as batch:
        for name in ("recent_from", "recent_to"):
            if name not in columns:
                batch.add_column(sa.Column(name, sa.Date))
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute(f"DROP INDEX IF EXISTS {COVER}")
        op.create_index(COVER, "summary_user_days", ["day", "user_id"],
                        postgresql_include=["events", "first_at", "last_at"])
    for name, (table, keys, carried, postgres_only) in BOT_INDEXES.items():
        if name in {i["name"] for i in found.get_indexes(table)} or (
                postgres_only and not postgres):
            continue
        op.create_index(name, table, keys, postgresql_include=carried)


def downgrade() -> None:
    for name in BOT_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {COVER}")
        op.create_index(COVER, "summary_user_days", ["day", "user_id"],
                        postgresql_include=["events", "last_at"])
    with op.batch_alter_table("summary_state") as batch:
        batch.drop_column("recent_to")
        batch.drop_column("recent_from")
    with op.batch_alter_table("summary_users") as batch:
        batch.drop_column("registered")
    op.drop_table("summary_user_recent")
