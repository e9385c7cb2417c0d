"""Settings from the environment and `.streamlit/secrets.toml`: one frozen dataclass."""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hsl.db import normalize_url, sqlite_file
from hsl.errors import ValidationError
from hsl.messaging.transports import DEFAULT_API_URL as DEFAULT_TELEGRAM_API_URL

PROJECT_DIR = Path(__file__).resolve().parent.parent
SECRETS_FILE = PROJECT_DIR / ".streamlit" / "secrets.toml"
DEFAULT_DEMO_PATH = PROJECT_DIR / ".data" / "hsl_demo.sqlite"
DEFAULT_STATEMENT_TIMEOUT_MS = 30_000
MAX_STATEMENT_TIMEOUT_MS = 2_147_483_647  # PostgreSQL's largest statement_timeout
DEFAULT_TELEGRAM_RATE = 25.0  # messages a second overall; Telegram allows about 30
DEFAULT_REFRESH_SECONDS = 60  # the app's and the worker's summary refresh timer (0: off)
MAX_REFRESH_SECONDS = 86_400


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its surroundings, resolved once."""

    database_url: str
    timezone: str = "UTC"
    is_demo: bool = True
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    auth_disabled: bool = False
    # The bot token is never shown: not in repr, logs or errors (SPEC §8).
    telegram_token: str | None = field(default=None, repr=False)
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    telegram_rate: float = DEFAULT_TELEGRAM_RATE
    refresh_seconds: int = DEFAULT_REFRESH_SECONDS
    # Reports and summaries are read here when set (a read replica); writes go to database_url.
    read_database_url: str | None = None
    # The address people open the app at (digests link to their view there); "" unknown.
    public_url: str = ""
    secrets: dict = field(default_factory=dict, repr=False, compare=False, hash=False)


def demo_url(path: Path | None = None) -> str:
    """Return the SQLAlchemy URL of the embedded demo SQLite file."""
    return f"sqlite:///{path or Path(os.environ.get('HSL_DEMO_DB', DEFAULT_DEMO_PATH))}"


def read_secrets(path: Path = SECRETS_FILE) -> dict:
    """Return the parsed secrets file, or an empty dict when there is none."""
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"The secrets file {path} is not valid TOML: {exc}.") from exc


def check_timezone(name: str) -> str:
    """Return `name` if it is a known IANA timezone, else raise ValidationError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError(
            f"Unknown timezone {name!r}; use an IANA name such as Europe/Moscow."
        ) from None
    return name


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _timeout_ms(value: object) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isascii() or not text.isdigit() or len(text) > 10 \
            or not 1 <= int(text) <= MAX_STATEMENT_TIMEOUT_MS:
        raise ValidationError(
            "The statement timeout (HSL_STATEMENT_TIMEOUT_MS or statement_timeout_ms) must be "
            f"a whole number of milliseconds from 1 to {MAX_STATEMENT_TIMEOUT_MS}."
        )
    return int(text)


def _rate(value: object) -> float:
    try:
        rate = float(str(value).strip()) if not isinstance(value, bool) else math.nan
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise ValidationError(
            "The Telegram send rate (HSL_TELEGRAM_RATE) must be a number of messages a "
            "second above 0, such as 25."
        )
    return rate


def _refresh_seconds(value: object) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isascii() or not text.isdigit() or len(text) > 10 \
            or int(text) > MAX_REFRESH_SECONDS:
        raise ValidationError(
            "The summary refresh interval (HSL_REFRESH_SECONDS or refresh_seconds) must be a "
            f"whole number of seconds from 0 (off) to {MAX_REFRESH_SECONDS}."
        )
    return int(text)


def _read_url(raw: object, primary: str | None, db_flag: str | None) -> str | None:
    """The read replica's URL (checked now), or None: not set, or `--db` names the database."""
    if raw is None or str(raw).strip() == "" or db_flag:
        return None
    if not primary:
        raise ValidationError(
            "HSL_READ_DATABASE_URL (read_database_url) names a read replica of DATABASE_URL; "
            "set DATABASE_URL too."
        )
    try:
        normalize_url(raw)
    except ValidationError as err:
        reason = str(err)
        raise ValidationError(
            "HSL_READ_DATABASE_URL (read_database_url) cannot be used: "
            f"{reason[0].lower()}{reason[1:]}"
        ) from None
    return existing_only(str(raw).strip())


def existing_only(raw: str) -> str:
    """A SQLite file URL rewritten to SQLite's URI form with `mode=rw`: never created.

    A configured database is the bot's: reading it must not leave an empty file behind a
    typo. Only `make_engine(..., create=True)` (init-db, demo) turns `rw` back into `rwc`.
    Other URLs, `mode=ro`, in-memory databases and URLs that do not parse are unchanged.
    """
    try:
        url = normalize_url(raw)
    except ValidationError:
        return raw  # make_engine refuses it with the sentence
    path = sqlite_file(url) if url.get_backend_name() == "sqlite" else None
    if path is None or url.query.get("mode") == "ro":
        return raw
    if path == url.database:  # the plain form, not yet a `file:` URI
        url = url.set(database="file:" + quote(path), query={**url.query, "uri": "true"})
    return url.update_query_dict({"mode": "rw"}).render_as_string(hide_password=False)


def _public_url(text: object) -> str:
    """The app's public address without a trailing slash; one sentence unless http(s)."""
    url = str(text).strip().rstrip("/")
    if url and not (url.startswith(("http://", "https://")) and " " not in url
                    and len(url) <= 300 and url.isprintable()):
        raise ValidationError("HSL_PUBLIC_URL (public_url) must be the app's address, such as "
                              "https://analytics.example.org.")
    return url


def load_settings(db_url: str | None = None, secrets: dict | None = None) -> Settings:
    """Resolve settings: `--db` beats `DATABASE_URL` beats secrets beats the demo file.

    A configured SQLite file is opened, never created (`existing_only`); only the embedded
    demo file is created and filled on first use.
    """
    secrets = read_secrets() if secrets is None else secrets
    database = secrets.get("database")
    url = (
        db_url
        or os.environ.get("DATABASE_URL")
        or secrets.get("DATABASE_URL")
        or (database.get("url") if isinstance(database, dict) else None)
    )
    timezone = os.environ.get("HSL_TIMEZONE") or secrets.get("timezone") or "UTC"
    timeout = os.environ.get("HSL_STATEMENT_TIMEOUT_MS") or secrets.get(
        "statement_timeout_ms", DEFAULT_STATEMENT_TIMEOUT_MS
    )
    auth_off = os.environ.get("HSL_AUTH_DISABLED") or secrets.get("auth_disabled", False)
    telegram = secrets.get("telegram") if isinstance(secrets.get("telegram"), dict) else {}
    token = os.environ.get("HSL_TELEGRAM_BOT_TOKEN") or telegram.get("bot_token")
    api_url = os.environ.get("HSL_TELEGRAM_API_URL") or telegram.get("api_url")
    rate = os.environ.get("HSL_TELEGRAM_RATE") or telegram.get("rate", DEFAULT_TELEGRAM_RATE)
    every = os.environ.get("HSL_REFRESH_SECONDS") or secrets.get(
        "refresh_seconds", DEFAULT_REFRESH_SECONDS)
    read_url = os.environ.get("HSL_READ_DATABASE_URL") or secrets.get("read_database_url")
    public = os.environ.get("HSL_PUBLIC_URL") or secrets.get("public_url") or ""
    return Settings(
        database_url=existing_only(url) if url else demo_url(),
        timezone=check_timezone(timezone),
        is_demo=not url,
        statement_timeout_ms=_timeout_ms(timeout),
        auth_disabled=_truthy(auth_off),
        telegram_token=(token.strip() or None) if isinstance(token, str) else None,
        telegram_api_url=str(api_url).strip() if api_url else DEFAULT_TELEGRAM_API_URL,
        telegram_rate=_rate(rate),
        refresh_seconds=_refresh_seconds(every),
        read_database_url=_read_url(read_url, url, db_url),
        public_url=_public_url(public),
        secrets=secrets,
    )
