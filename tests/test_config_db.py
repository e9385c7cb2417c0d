"""Settings resolution, database URLs, and read-only connections on both databases."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import exc, insert, select, text

from hsl.config import load_settings, read_secrets
from hsl.db import make_engine, normalize_url, reading
from hsl.errors import DatabaseUnavailable, ValidationError
from hsl.filters import Period
from hsl.schema import users
from tests.conftest import PG_ADMIN_URL

# ------------------------------------------------------------------------ URLs


@pytest.mark.parametrize(
    "raw",
    ["postgresql://u:p@db.internal:5432/hsl", "postgres://u:p@db.internal:5432/hsl",
     "postgresql+psycopg2://u:p@db.internal:5432/hsl"],
)
def test_postgres_urls_use_psycopg2(raw):
    url = normalize_url(raw)
    assert url.drivername == "postgresql+psycopg2"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "u", "p", "db.internal", 5432, "hsl")
    engine = make_engine(raw)
    assert engine.dialect.driver == "psycopg2"
    engine.dispose()


def test_ssl_options_pass_through():
    url = normalize_url("postgresql://u@db.internal/hsl?sslmode=require&sslrootcert=/ca.pem")
    assert dict(url.query) == {"sslmode": "require", "sslrootcert": "/ca.pem"}


@pytest.mark.parametrize(
    ("raw", "sentence"),
    [
        ("mysql://u@localhost/hsl", "Unsupported database 'mysql'; use PostgreSQL."),
        ("oracle://u@localhost/hsl", "Unsupported database 'oracle'; use PostgreSQL."),
        ("not a url", "The database URL is not a valid URL; write it like "
                      "postgresql://user:password@host:5432/dbname."),
    ],
)
def test_bad_urls_give_one_sentence(raw, sentence):
    with pytest.raises(ValidationError) as caught:
        normalize_url(raw)
    assert str(caught.value) == sentence


def test_sqlite_url_is_accepted():
    assert normalize_url("sqlite:////tmp/x.sqlite").get_backend_name() == "sqlite"


# -------------------------------------------------------------------- settings


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("DATABASE_URL", "HSL_TIMEZONE", "HSL_STATEMENT_TIMEOUT_MS",
                 "HSL_AUTH_DISABLED", "HSL_DEMO_DB"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_database_url_env_beats_secrets(clean_env):
    clean_env.setenv("DATABASE_URL", "postgresql://env@h/db")
    secrets = {"DATABASE_URL": "postgresql://secret@h/db"}
    settings = load_settings(secrets=secrets)
    assert settings.database_url == "postgresql://env@h/db"
    assert settings.is_demo is False


def test_db_flag_beats_env(clean_env):
    clean_env.setenv("DATABASE_URL", "postgresql://env@h/db")
    assert load_settings("postgresql://flag@h/db", secrets={}).database_url == (
        "postgresql://flag@h/db")


@pytest.mark.parametrize(
    "secrets",
    [{"DATABASE_URL": "postgresql://secret@h/db"}, {"database": {"url": "postgresql://secret@h/db"}}],
)
def test_secrets_are_used_without_env(clean_env, secrets):
    settings = load_settings(secrets=secrets)
    assert settings.database_url == "postgresql://secret@h/db"
    assert settings.is_demo is False


def test_default_is_the_embedded_demo(clean_env, tmp_path):
    clean_env.setenv("HSL_DEMO_DB", str(tmp_path / "demo.sqlite"))
    settings = load_settings(secrets={})
    assert settings.database_url == f"sqlite:///{tmp_path / 'demo.sqlite'}"
    assert settings.is_demo is True
    assert settings.timezone == "UTC"


def test_timezone_and_timeout_settings(clean_env):
    settings = load_settings(secrets={"timezone": "Europe/Moscow", "statement_timeout_ms": 5000})
    assert (settings.timezone, settings.statement_timeout_ms) == ("Europe/Moscow", 5000)
    clean_env.setenv("HSL_TIMEZONE", "Asia/Almaty")
    assert load_settings(secrets={"timezone": "Europe/Moscow"}).timezone == "Asia/Almaty"
    clean_env.delenv("HSL_TIMEZONE")
    with pytest.raises(ValidationError, match="Unknown timezone 'Moon/Base'"):
        load_settings(secrets={"timezone": "Moon/Base"})


def test_auth_is_on_unless_turned_off(clean_env):
    assert load_settings(secrets={}).auth_disabled is False
    assert load_settings(secrets={"auth_disabled": True}).auth_disabled is True
    clean_env.setenv("HSL_AUTH_DISABLED", "no")
    assert load_settings(secrets={"auth_disabled": True}).auth_disabled is False


def test_secrets_file(tmp_path):
    path = tmp_path / "secrets.toml"
    assert read_secrets(path) == {}
    path.write_text('DATABASE_URL = "postgresql://a@b/c"\n', encoding="utf-8")
    assert read_secrets(path) == {"DATABASE_URL": "postgresql://a@b/c"}
    path.write_text("DATABASE_URL = \n", encoding="utf-8")
    with pytest.raises(ValidationError, match="is not valid TOML"):
        read_secrets(path)


# --------------------------------------------------------------------- periods


def test_period_rejects_start_after_end_and_unknown_zones():
    with pytest.raises(ValidationError, match="The start date 2026-11-05 is after"):
        Period(date(2026, 11, 5), date(2026, 11, 1))
    with pytest.raises(ValidationError, match="Unknown timezone"):
        Period(date(2026, 11, 1), date(2026, 11, 5), "Europe/Nowhere")


def test_period_local_bounds_in_moscow():
    period = Period(date(2026, 11, 1), date(2026, 11, 5), "Europe/Moscow")
    assert period.utc_start.isoformat() == "2026-10-31T21:00:00+00:00"
    assert period.utc_end.isoformat() == "2026-11-05T21:00:00+00:00"
    assert period.days == 5
    previous = period.previous()
    assert (previous.start, previous.end) == (date(2026, 10, 27), date(2026, 10, 31))


# ---------------------------------------------------------- read-only reading()


def test_reading_is_read_only(engine):
    with reading(engine) as conn:
        assert conn.execute(select(users.c.user_id)).all() == []
        with pytest.raises(exc.DBAPIError):
            conn.execute(insert(users).values(user_id=1))
    # The pooled connection is writable again afterwards, and nothing was written.
    with engine.begin() as conn:
        conn.execute(insert(users).values(user_id=2))
    with reading(engine) as conn:
        assert conn.execute(select(users.c.user_id)).scalars().all() == [2]


def test_reading_raw_sql_write_fails_too(engine):
    with reading(engine) as conn, pytest.raises(exc.DBAPIError):
        conn.execute(text("DELETE FROM users"))


def test_postgres_sessions_have_a_statement_timeout(pg_admin):
    engine = make_engine(PG_ADMIN_URL, statement_timeout_ms=1234)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "1234ms"
    assert engine.pool._pre_ping is True
    engine.dispose()


def test_unreachable_database_is_one_sentence():
    engine = make_engine("postgresql://nobody@127.0.0.1:1/x")
    with pytest.raises(DatabaseUnavailable) as caught, reading(engine):
        pass
    assert str(caught.value) == "The database cannot be reached right now."
    engine.dispose()
