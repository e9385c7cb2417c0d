"""`init-db` on fresh, baseline-only and old bot databases, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import BigInteger, inspect, text
from sqlalchemy.engine import Engine

from hsl import migrate
from hsl.filters import Period
from hsl.metrics.lessons import attendance
from hsl.metrics.overview import kpis
from hsl.schema import sign_in_attempts
from tests.fixtures.foundation import records, run_hsl

APP_TABLES = {"users", "bookings", "events", "free_lesson_registrations", "audit_log",
              "sign_in_attempts"}
CHILD_TABLES = ("bookings", "events", "free_lesson_registrations")
# SPEC §1: (table, columns) that must lead some index (or the primary key).
SPEC_INDEXES = [
    ("bookings", ("user_id",)),
    ("events", ("user_id",)),
    ("free_lesson_registrations", ("user_id",)),
    ("bookings", ("course_stream",)),
    ("bookings", ("created_at",)),
    ("events", ("created_at",)),
    ("events", ("event_type", "created_at")),
    ("free_lesson_registrations", ("registered_at",)),
]

# An older bot database, written by hand: no users table, no foreign keys, no unique
# constraint, one index of its own on bookings.user_id, and timestamps as the bot wrote them.
OLD_BOT_DDL = {
    "postgresql": [
        """CREATE TABLE bookings (id BIGSERIAL PRIMARY KEY, user_id BIGINT NOT NULL,
           course_id INT, course_stream TEXT, confirmed INT NOT NULL DEFAULT 0,
           created_at TIMESTAMPTZ NOT NULL, referral_code TEXT, discount_percent INT)""",
        """CREATE TABLE events (id BIGSERIAL PRIMARY KEY, user_id BIGINT NOT NULL,
           event_type TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, details JSONB)""",
        """CREATE TABLE free_lesson_registrations (id BIGSERIAL PRIMARY KEY,
           user_id BIGINT NOT NULL, username TEXT, first_name TEXT, email TEXT NOT NULL,
           registered_at TIMESTAMPTZ NOT NULL, notification_sent BOOLEAN NOT NULL DEFAULT false,
           lesson_type TEXT NOT NULL, lesson_date DATE NOT NULL)""",
        "CREATE INDEX bot_bookings_user ON bookings (user_id)",
    ],
    "sqlite": [
        """CREATE TABLE bookings (id INTEGER PRIMARY KEY, user_id BIGINT NOT NULL,
           course_id INT, course_stream TEXT, confirmed INT NOT NULL DEFAULT 0,
           created_at TIMESTAMP NOT NULL, referral_code TEXT, discount_percent INT)""",
        """CREATE TABLE events (id INTEGER PRIMARY KEY, user_id BIGINT NOT NULL,
           event_type TEXT NOT NULL, created_at TIMESTAMP NOT NULL, details TEXT)""",
        """CREATE TABLE free_lesson_registrations (id INTEGER PRIMARY KEY,
           user_id BIGINT NOT NULL, username TEXT, first_name TEXT, email TEXT NOT NULL,
           registered_at TIMESTAMP NOT NULL, notification_sent BOOLEAN NOT NULL DEFAULT 0,
           lesson_type TEXT NOT NULL, lesson_date DATE NOT NULL)""",
        "CREATE INDEX bot_bookings_user ON bookings (user_id)",
    ],
}
# 7001 registered python, clicked it, paid; 7002 registered python twice for the same
# lesson (no unique constraint in this old database), one cancelled booking; 7003 has one
# event at 23:30 UTC. Timestamps use the spellings an old bot leaves behind.
OLD_BOT_ROWS = [
    """INSERT INTO bookings (id, user_id, course_id, course_stream, confirmed, created_at)
       VALUES (1, 7001, 101, '3rd_stream', 2, '2026-11-02T10:00:00+00:00'),
              (2, 7002, 101, '10th_stream', -1, '2026-11-03 11:00:00')""",
    """INSERT INTO events (id, user_id, event_type, created_at, details)
       VALUES (1, 7001, 'lesson_link_clicked', '2026-11-02 09:00:00+00:00',
               '{"lesson_type": "python_basics"}'),
              (2, 7003, 'menu_opened', '2026-11-03T23:30:00Z', NULL)""",
    """INSERT INTO free_lesson_registrations (id, user_id, username, first_name, email,
           registered_at, notification_sent, lesson_type, lesson_date)
       VALUES (1, 7001, 'anna', 'Анна', 'a@example.com', '2026-11-01 08:00:00',
               true, 'python_basics', '2026-11-04'),
              (2, 7002, NULL, NULL, 'b@example.com', '2026-11-01 09:00:00',
               false, 'python_basics', '2026-11-04'),
              (3, 7002, NULL, NULL, 'b@example.com', '2026-11-01 09:05:00',
               false, 'python_basics', '2026-11-04')""",
]


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def head_revision() -> str:
    return ScriptDirectory.from_config(migrate._config()).get_current_head()


def version_in(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]


def schema_snapshot(engine: Engine) -> dict:
    """Tables → (columns, indexes, foreign keys, unique constraints) as comparable values."""
    insp = inspect(engine)
    return {
        name: (
            [c["name"] for c in insp.get_columns(name)],
            sorted((ix["name"], tuple(ix["column_names"])) for ix in insp.get_indexes(name)),
            sorted((fk["referred_table"], tuple(fk["constrained_columns"]))
                   for fk in insp.get_foreign_keys(name)),
            sorted(tuple(uq["column_names"]) for uq in insp.get_unique_constraints(name)),
        )
        for name in insp.get_table_names()
    }


def leading_columns(engine: Engine, table: str) -> set[tuple[str, ...]]:
    insp = inspect(engine)
    found = {tuple(ix["column_names"]) for ix in insp.get_indexes(table)}
    found.add(tuple(insp.get_pk_constraint(table)["constrained_columns"]))
    return found


def is_indexed(engine: Engine, table: str, columns: tuple[str, ...]) -> bool:
    return any(cols[: len(columns)] == columns for cols in leading_columns(engine, table))


def dump(engine: Engine, table: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]


# -------------------------------------------------------------- fresh database


def test_init_db_twice_is_a_no_op(empty_engine):
    url = url_of(empty_engine)
    first = run_hsl("init-db", "--db", url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Schema is up to date at ")
    assert APP_TABLES <= set(inspect(empty_engine).get_table_names())
    assert version_in(empty_engine) == [head_revision()]
    before = schema_snapshot(empty_engine)

    second = run_hsl("init-db", "--db", url)
    assert (second.returncode, second.stderr) == (0, "")
    assert schema_snapshot(empty_engine) == before
    assert version_in(empty_engine) == [head_revision()]
    assert migrate.is_current(empty_engine)


def test_fresh_schema_has_foreign_keys_with_cascade(empty_engine):
    migrate.upgrade(empty_engine)
    insp = inspect(empty_engine)
    for table in CHILD_TABLES:
        fks = insp.get_foreign_keys(table)
        assert [(fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                for fk in fks] == [(["user_id"], "users", ["user_id"])], table
        assert fks[0]["options"].get("ondelete", "").upper() == "CASCADE", table
    assert insp.get_foreign_keys("users") == []


def test_fresh_schema_has_the_spec_indexes_and_bigint_ids(empty_engine):
    migrate.upgrade(empty_engine)
    for table, columns in SPEC_INDEXES:
        assert is_indexed(empty_engine, table, columns), (table, columns)
    insp = inspect(empty_engine)
    for table in ("users", *CHILD_TABLES):
        user_id = next(c for c in insp.get_columns(table) if c["name"] == "user_id")
        assert isinstance(user_id["type"], BigInteger), table
    uniques = [tuple(u["column_names"])
               for u in insp.get_unique_constraints("free_lesson_registrations")]
    assert ("user_id", "lesson_type", "lesson_date") in uniques


def test_cascade_deletes_a_users_rows(empty_engine):
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as conn:
        if empty_engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
        conn.execute(text("INSERT INTO users (user_id) VALUES (5000000001)"))
        conn.execute(text("INSERT INTO events (user_id, event_type, created_at) "
                          "VALUES (5000000001, 'menu_opened', '2026-11-01 10:00:00')"))
        conn.execute(text("DELETE FROM users WHERE user_id = 5000000001"))
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 0


# ----------------------------------------------------------- 0002: sign_in_attempts


def downgrade(engine: Engine, revision: str) -> None:
    cfg = migrate._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_a_database_at_the_baseline_gets_only_the_app_tables_added_later(empty_engine):
    migrate.upgrade(empty_engine, "0001")
    before = schema_snapshot(empty_engine)
    assert "sign_in_attempts" not in before  # the baseline creates its own tables only
    result = run_hsl("init-db", "--db", url_of(empty_engine))
    assert (result.returncode, result.stderr) == (0, "")
    after = schema_snapshot(empty_engine)
    assert set(after) - set(before) == {  # 0002 sign-in, 0003 messaging, 0004 summaries
        "sign_in_attempts", "campaigns", "campaign_recipients", "worker_heartbeats",
        "summary_state", "summary_users", "summary_user_days", "summary_days",
        "summary_day_types", "summary_lesson_clicks",
        "saved_views",  # 0006
        "subscriptions", "digest_runs", "alert_rules", "alert_firings", "allowed_chats",  # 0007
        "summary_user_recent",  # 0008
        "summary_streams", "summary_stream_students"}  # 0009
    postgres = empty_engine.dialect.name == "postgresql"
    added = {  # indexes on bot tables (0005 and 0008); nothing else of theirs changes
        "events": {"ix_events_created_at_id": ("created_at",)} if postgres else {},
        "free_lesson_registrations": {
            "ix_free_lesson_registrations_newest": ("user_id", "registered_at", "id"),
            **({"ix_free_lesson_registrations_registered_cover": ("registered_at",)}
               if postgres else {})},
        "bookings": {
            "ix_bookings_stream_newest": ("course_stream", "user_id", "created_at", "id")},
    }
    for table, indexes_added in added.items():
        columns, indexes, *rest = after[table]
        assert {i for i in indexes if i[0] in indexes_added} == set(indexes_added.items())
        after[table] = (columns, [i for i in indexes if i[0] not in indexes_added], *rest)
    assert {t: after[t] for t in before} == before
    assert version_in(empty_engine) == ["0010"] == [head_revision()]


def test_the_sign_in_table_matches_the_schema(empty_engine):
    migrate.upgrade(empty_engine)
    insp = inspect(empty_engine)
    columns = {c["name"]: c for c in insp.get_columns("sign_in_attempts")}
    assert list(columns) == [c.name for c in sign_in_attempts.columns]
    assert [name for name, c in columns.items() if not c["nullable"]] == [
        "user_name", "failures"]
    assert insp.get_pk_constraint("sign_in_attempts")["constrained_columns"] == ["user_name"]


def test_0002_keeps_a_table_that_already_exists_and_downgrades(empty_engine):
    migrate.upgrade(empty_engine, "0001")
    sign_in_attempts.create(empty_engine)  # e.g. made by hand before the migration
    with empty_engine.begin() as conn:
        conn.execute(sign_in_attempts.insert().values(user_name="alice", failures=3))
    migrate.upgrade(empty_engine)
    assert dump(empty_engine, "sign_in_attempts") == [("alice", 3, None)]
    downgrade(empty_engine, "0001")
    assert "sign_in_attempts" not in inspect(empty_engine).get_table_names()
    assert version_in(empty_engine) == ["0001"]
    migrate.upgrade(empty_engine)
    assert dump(empty_engine, "sign_in_attempts") == []


# ----------------------------------------------------------- old bot database


@pytest.fixture
def old_bot(empty_engine) -> Engine:
    """A bot database created by hand, as it exists before the app ever ran."""
    with empty_engine.begin() as conn:
        for statement in OLD_BOT_DDL[empty_engine.dialect.name] + OLD_BOT_ROWS:
            conn.exec_driver_sql(statement)
    return empty_engine


def test_0010_forgets_the_whole_days_added_up_before_it_and_downgrades(empty_engine):
    """Rows written before the edge-day columns are removed and the state's days cleared,
    so no report reads them; the next refresh writes every row again."""
    migrate.upgrade(empty_engine, "0009")
    with empty_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO summary_state (id, tz, events_max_id, refreshed_at, rebuilt_at, "
            "recent_from, recent_to) VALUES (1, 'UTC', 5, :t, :t, :a, :b)"),
            {"t": "2026-12-04 10:00:00+00:00", "a": date(2026, 11, 28), "b": date(2026, 12, 3)})
        conn.execute(text("INSERT INTO summary_user_recent (user_id, events, active_days, "
                          "last_at) VALUES (1, 3, 2, :t)"), {"t": "2026-12-03 09:00:00+00:00"})
    migrate.upgrade(empty_engine)
    columns = {c["name"]: c["nullable"]
               for c in inspect(empty_engine).get_columns("summary_user_recent")}
    assert columns == {"user_id": False, "events": False, "active_days": False,
                       "last_at": True, "low_events": True, "low_first_at": True,
                       "low_last_at": True, "high_events": True, "high_last_at": True}
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM summary_user_recent")).scalar() == 0
        assert conn.execute(text("SELECT recent_from, recent_to, events_max_id "
                                 "FROM summary_state")).one() == (None, None, 5)
    downgrade(empty_engine, "0009")
    assert [c["name"] for c in inspect(empty_engine).get_columns("summary_user_recent")] == [
        "user_id", "events", "active_days", "last_at"]
    migrate.upgrade(empty_engine)
    assert version_in(empty_engine) == [head_revision()]


def test_init_db_on_an_old_bot_database_adds_only_what_the_app_owns(old_bot):
    tables = ("bookings", "events", "free_lesson_registrations")
    rows_before = {t: dump(old_bot, t) for t in tables}
    columns_before = {t: schema_snapshot(old_bot)[t][0] for t in tables}

    result = run_hsl("init-db", "--db", url_of(old_bot))
    assert (result.returncode, result.stderr) == (0, "")

    insp = inspect(old_bot)
    assert APP_TABLES <= set(insp.get_table_names())
    assert version_in(old_bot) == [head_revision()]
    for table in tables:
        assert dump(old_bot, table) == rows_before[table], table
        assert schema_snapshot(old_bot)[table][0] == columns_before[table], table
        assert insp.get_foreign_keys(table) == [], table
        assert insp.get_unique_constraints(table) == [], table
    for table, columns in SPEC_INDEXES:
        assert is_indexed(old_bot, table, columns), (table, columns)
    # The bot's own index on bookings.user_id is reused, not duplicated.
    user_indexes = [ix["name"] for ix in insp.get_indexes("bookings")
                    if ix["column_names"][0] == "user_id"]
    assert user_indexes == ["bot_bookings_user"]
    assert dump(old_bot, "users") == []
    assert dump(old_bot, "audit_log") == []
    assert dump(old_bot, "sign_in_attempts") == []

    again = run_hsl("init-db", "--db", url_of(old_bot))
    assert (again.returncode, again.stderr) == (0, "")
    assert {t: dump(old_bot, t) for t in tables} == rows_before


def test_reports_read_an_old_bot_database_after_init_db(old_bot):
    migrate.upgrade(old_bot)
    period = Period(date(2026, 11, 1), date(2026, 11, 5), "UTC")
    # Known: 7001 7002 7003, all first seen in range; 3 registration rows by 2 people;
    # active bookings: 7001's paid one (7002's is cancelled).
    assert records(kpis(old_bot, period)) == [(3, 3, 3, 2, 1, 1, 1, 1)]
    # 7001 clicked python, 7002 did not.
    assert records(attendance(old_bot, period)) == [("python_basics", 2, 1, 0.5)]
    # 7003's event ('2026-11-03T23:30:00Z') is on 11-04 in Moscow but 11-03 in UTC.
    late = date(2026, 11, 4), date(2026, 11, 5)
    assert records(kpis(old_bot, Period(*late, "UTC"))) == [(3, 0, 0, 0, 0, 0, 0, 0)]
    assert records(kpis(old_bot, Period(*late, "Europe/Moscow"))) == [(3, 1, 0, 0, 0, 0, 0, 0)]
