"""Open the configured database for the app: fill the embedded demo, check a real one."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from hsl import demo, migrate
from hsl.db import check_connection, make_sqlite_folder, sqlite_file
from hsl.errors import ConflictError
from hsl.schema import BOT_TABLES, campaign_recipients, campaigns, worker_heartbeats
from hsl.summaries import read_state
from hsl.summaries.refresh import refresh


def prepare(engine: Engine, *, is_demo: bool, size: demo.DemoSize | None = None,
            messaging: bool = False, tz: str = "UTC") -> None:
    """Make `engine` ready to read, or raise DatabaseUnavailable / ConflictError.

    The embedded demo database is created (its folder too), migrated and, when empty,
    filled with demo data (first run); its summaries are then refreshed for days in `tz`
    (the reporting timezone), so that the pages read them at once. A real database is only
    checked: reachable and at the newest migration; the app never changes a real schema on
    its own, the operator runs `python -m hsl init-db`. A real SQLite file is never created
    (see `load_settings`). `messaging`: the campaign tables (migration 0003) are needed too.
    """
    path = sqlite_file(engine.url) if engine.dialect.name == "sqlite" else None
    if is_demo and path is not None:
        make_sqlite_folder(path)
    check_connection(engine)
    if is_demo:
        migrate.upgrade(engine)
        if demo.is_empty(engine):
            demo.load(engine, size or demo.DemoSize())
        state = read_state(engine)
        if state is None or state.tz != tz:  # just filled, or summarised in another zone
            refresh(engine, tz)
        return
    # Reading needs only the bot's tables; the app's own (audit_log) matter for writes.
    wanted = BOT_TABLES + (MESSAGING_TABLES if messaging else ())
    missing = [t.name for t in wanted if t.name not in inspect(engine).get_table_names()]
    if missing:
        raise ConflictError(
            f"The database lacks the table(s) {', '.join(missing)}; "
            "run `python -m hsl init-db` against it."
        )


MESSAGING_TABLES = (campaigns, campaign_recipients, worker_heartbeats)
