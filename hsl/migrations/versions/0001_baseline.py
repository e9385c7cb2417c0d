"""Baseline: the bot's four tables, the app's audit_log, and the indexes reports rely on.

Against an existing bot database this only adds what is missing: tables that do not
exist yet (e.g. `users`, `audit_log`) and indexes whose columns are not yet indexed.
It never drops, rewrites or constrains bot data: no foreign keys or unique constraints
are added to tables that already exist, because old rows may not satisfy them.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from hsl.schema import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# This revision's tables; later revisions create the tables they add themselves.
TABLES = ("users", "bookings", "events", "free_lesson_registrations", "audit_log")


def _indexed_column_lists(inspector: sa.Inspector, table: str) -> set[tuple[str, ...]]:
    found = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
    found |= {tuple(uq["column_names"]) for uq in inspector.get_unique_constraints(table)}
    pk = inspector.get_pk_constraint(table).get("constrained_columns") or []
    return found | {tuple(pk)}


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    existing = set(inspector.get_table_names())
    for table in (t for t in metadata.sorted_tables if t.name in TABLES):
        if table.name not in existing:
            table.create(bind)
            continue
        indexed = _indexed_column_lists(inspector, table.name)
        for index in table.indexes:
            columns = tuple(c.name for c in index.columns)
            if not any(cols[: len(columns)] == columns for cols in indexed):
                index.create(bind)


def downgrade() -> None:
    # Only the app's own table is safe to remove; bot tables and data stay.
    op.drop_table("audit_log")
