"""`python -m hsl`: init-db, demo, report (SPEC §7), message and send-worker (SPEC §8).

Bad arguments exit 2 with one sentence."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl, unquote

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from hsl import auth, bootstrap, demo, export, migrate
from hsl.alert_commands import add_alerts_parser, run_alerts
from hsl.bench import add_bench_parser
from hsl.bench import run as run_bench
from hsl.config import load_settings
from hsl.db import check_connection, make_engine, printable, refuses_writes, safe_url
from hsl.digest_commands import add_digest_parser, run_digest
from hsl.errors import HslError, ValidationError
from hsl.filters import DEFAULT_RANGE_DAYS, Period
from hsl.messaging.commands import add_message_parser, run_message
from hsl.reports import REPORTS, report_options, run_report
from hsl.summaries import has_tables, read_state
from hsl.summaries.refresh import refresh, refresh_command
from hsl.views_commands import add_views_parser, run_views
from hsl.worker import add_worker_parser, run_worker


class UsageError(Exception):
    """Bad command-line arguments; argparse would otherwise print usage and a traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message[0].upper() + message[1:].rstrip(".") + ".")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `python -m hsl`."""
    parser = _Parser(prog="python -m hsl", description="HSL Analytics command line.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    init = sub.add_parser("init-db", help="create or migrate the schema (idempotent)")
    init.add_argument("--db", help="database URL (default: DATABASE_URL, secrets, demo file)")

    fill = sub.add_parser("demo", help="fill an empty database with deterministic demo data")
    fill.add_argument("--db")
    fill.add_argument("--users", type=int, default=demo.DemoSize.users)
    fill.add_argument("--events", type=int, default=demo.DemoSize.events)
    fill.add_argument("--seed", type=int, default=demo.DemoSize.seed)
    fill.add_argument("--anchor", help="last day of demo activity, YYYY-MM-DD (default today)")

    rep = sub.add_parser("report", help="print a report as CSV or JSON")
    rep.add_argument("name", help="one of: " + ", ".join(REPORTS))
    rep.add_argument("--db")
    rep.add_argument("--start", help="first local date, YYYY-MM-DD (default: 29 days ago)")
    rep.add_argument("--end", help="last local date, YYYY-MM-DD (default: today)")
    rep.add_argument("--tz", help="reporting timezone (default: the app setting, UTC)")
    rep.add_argument("--now", help="the clock, ISO 8601 (default: now)")
    rep.add_argument("--format", choices=["csv", "json"], default="csv")
    rep.add_argument("--lesson-type")
    rep.add_argument("--stream", help="roster: the course stream, e.g. 3rd_stream")
    rep.add_argument("--window-days", help="leads: the activity window in days (default 7)")
    rep.add_argument("--include-paying", action="store_true", help="leads: keep paying users")
    rep.add_argument("--search", help="users: name, @username, email or id; several words must "
                     "each match (default: everyone)")

    ref = sub.add_parser("refresh", help="bring the summary tables up to date (one transaction)")
    ref.add_argument("--db")
    ref.add_argument("--full", action="store_true", help="rebuild every summary from all history")

    add_message_parser(sub)
    add_views_parser(sub)
    add_digest_parser(sub)
    add_alerts_parser(sub)
    add_worker_parser(sub)
    add_bench_parser(sub)

    pw = sub.add_parser(
        "hash-password", help="hash a password (asked without echo, or read from stdin)"
    )
    pw.add_argument("--user", default="NAME", help="the login name for the example entry")
    pw.add_argument("--role", choices=auth.ROLES, default=auth.DEFAULT_ROLE)
    return parser


# The dates and clock a report accepts: every `date ± timedelta` in Period and the metrics
# (the day after --end, the week after it, --now minus a 36,500-day lead window, a
# timezone's offset) stays inside Python's years 1..9999, PostgreSQL's and pandas' ranges.
EARLIEST = date(1970, 1, 1)
LATEST = date(9000, 12, 31)
# A longer range asks for hundreds of thousands of day buckets: too slow to be useful.
MAX_RANGE_DAYS = 36_525
BOUNDS = f"use a date from {EARLIEST} to {LATEST}"
MAX_WINDOW_DAYS = 36_500  # LeadRules' bound
DEMO_LIMITS = {"--users": (1, 1_000_000), "--events": (1, 10_000_000), "--seed": (0, 2**63 - 1)}


def _shown(text: str) -> str:
    """`text` quoted for a message, cut short so a huge argument stays a short sentence."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _text(value: str | None, flag: str) -> str | None:
    """A text option as given, refused when no database text could hold it."""
    if value is None:
        return None
    if "\x00" in value:
        # PostgreSQL text cannot hold one (psycopg2 refuses it): refused on every database.
        raise ValidationError(f"{flag} holds a NUL character, which no option may contain.")
    try:
        value.encode("utf-8")
    except UnicodeError:
        raise ValidationError(f"{flag} is not valid UTF-8 text.") from None
    return value


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"{flag} {_shown(text)} is not a date; use YYYY-MM-DD.") from None
    if not EARLIEST <= value <= LATEST:
        raise ValidationError(f"{flag} {_shown(text)} is out of range; {BOUNDS}.")
    return value


def _positive_int(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    digits = text.strip()
    if not re.fullmatch(r"[0-9]+", digits) or not digits.strip("0"):
        raise ValidationError(f"{flag} {_shown(text)} is not a positive whole number.")
    digits = digits.lstrip("0")
    if len(digits) > 12:  # int() of thousands of digits is an error of its own
        raise ValidationError(
            f"The lead window days must be a whole number from 1 to {MAX_WINDOW_DAYS}, "
            f"not {_shown(digits)}."
        )
    return int(digits)


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"--now {_shown(text)} is not an ISO 8601 timestamp.") from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        day = value.astimezone(UTC).date()
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        day = None
    if day is None or not EARLIEST <= day <= LATEST:
        raise ValidationError(
            f"--now {_shown(text)} is out of range; use a time from {EARLIEST} to {LATEST}."
        )
    return value


def period_from_args(args: argparse.Namespace, default_tz: str) -> Period:
    """Build the report period: by default the 30 local days up to today (or --end)."""
    tz = _text(args.tz, "--tz") or default_tz
    start = _date(args.start, "--start")
    end = _date(args.end, "--end")
    now = _now(args.now)
    default = Period.last_days(DEFAULT_RANGE_DAYS, tz, now)
    if end is None:
        end = default.end
        if start is not None and start > end:
            raise ValidationError(
                f"The start date {start} is after today ({end} in {tz}); give --end as well."
            )
    if start is None:
        start = end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    days = (end - start).days + 1
    if days > MAX_RANGE_DAYS:
        raise ValidationError(
            f"The range {start} to {end} has {days:,} days; a report covers at most "
            f"{MAX_RANGE_DAYS:,} days (100 years)."
        )
    return Period(start, end, tz, now)


def _demo_size(args: argparse.Namespace) -> demo.DemoSize:
    for flag, value in (("--users", args.users), ("--events", args.events),
                        ("--seed", args.seed)):
        least, most = DEMO_LIMITS[flag]
        if not least <= value <= most:
            raise ValidationError(f"{flag} must be a whole number from {least} to {most}.")
    return demo.DemoSize(args.users, args.events, args.seed, _date(args.anchor, "--anchor"))


def _read_password() -> str:
    """The password: asked twice without echo on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat it: ") != first:
            raise ValidationError("The two passwords differ.")
    else:
        try:
            first = sys.stdin.readline().rstrip("\r\n")
        except UnicodeDecodeError:
            raise ValidationError("The password is not valid UTF-8 text.") from None
    if "\x00" in first:  # bcrypt would stop reading at it
        raise ValidationError("The password holds a NUL character; choose one without it.")
    return first


def password_entry(password: str, user: str, role: str) -> str:
    """The bcrypt hash on one line, then the secrets.toml entry that uses it."""
    hashed = auth.hash_password(password)
    key = user if re.fullmatch(r"[A-Za-z0-9_-]+", user) else json.dumps(user)
    return (
        f"{hashed}\n"
        f"# add to .streamlit/secrets.toml:\n"
        f'[auth.users.{key}]\npassword_hash = "{hashed}"\nrole = "{role}"'
    )


def _connect(url: str | None, *, create: bool) -> Engine:
    """The engine of a write command: it may create the SQLite file and its folder."""
    settings = load_settings(url)
    engine = make_engine(settings.database_url, settings.statement_timeout_ms, create=create)
    check_connection(engine)
    return engine


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    args = None
    try:
        args = build_parser().parse_args(argv)
        if args.command == "report":
            _report(args)
        elif args.command == "hash-password":
            print(password_entry(_read_password(), _text(args.user, "--user"), args.role))
        elif args.command == "message":
            settings = load_settings(args.db)
            engine = _connect(args.db, create=settings.is_demo)
            bootstrap.prepare(engine, is_demo=settings.is_demo, messaging=True,
                              tz=settings.timezone)
            return run_message(args, engine, settings)
        elif args.command in ("views", "digest", "alerts"):
            settings = load_settings(args.db)
            engine = _connect(args.db, create=settings.is_demo)
            bootstrap.prepare(engine, is_demo=settings.is_demo, tz=settings.timezone)
            if args.command == "digest":
                return run_digest(args, engine, settings)
            if args.command == "alerts":
                return run_alerts(args, engine, settings)
            return run_views(args, engine)
        elif args.command == "send-worker":
            return run_worker(args, load_settings(args.db))
        elif args.command == "bench":
            return run_bench(args)
        elif args.command == "refresh":
            settings = load_settings(args.db)
            engine = _connect(args.db, create=settings.is_demo)
            bootstrap.prepare(engine, is_demo=settings.is_demo, tz=settings.timezone)
            print(refresh_command(engine, settings.timezone, full=args.full))
        elif args.command == "init-db":
            engine = _connect(args.db, create=True)
            migrate.upgrade(engine)
            print(f"Schema is up to date at {safe_url(engine.url)}.")
        elif args.command == "demo":
            size = _demo_size(args)  # checked before the database is touched
            engine = _connect(args.db, create=True)
            migrate.upgrade(engine)
            started = time.perf_counter()
            counts = demo.load(engine, size)
            took = time.perf_counter() - started
            rows = ", ".join(f"{n} {t}" for t, n in counts.items())
            print(f"Loaded demo data ({rows}) in {took:.1f} s.", flush=True)
            tz = load_settings(args.db).timezone  # so that a fresh demo's pages read summaries
            done = refresh(engine, tz)
            print(f"Built the summaries (days in {tz}) in {done.seconds:.1f} s.")
        sys.stdout.flush()
        return 0
    except (UsageError, HslError) as err:
        return _fail(str(err), 2, args)
    except SQLAlchemyError as err:
        # Not the person's fault (a timeout, a broken row): one line, never a traceback.
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        return _fail(f"The database reported an error: {reason.rstrip('.')}.", 1, args)
    except BrokenPipeError:  # `python -m hsl report … | head`: the reader left early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return _fail("Interrupted.", 130, args)
    except Exception as err:  # noqa: BLE001 - a bug still ends in one sentence
        return _fail(f"The command failed unexpectedly ({type(err).__name__}).", 1, args)


def _report(args: argparse.Namespace) -> None:
    if args.name not in REPORTS:
        raise ValidationError(
            f"Unknown report {_shown(args.name)}; choose one of: {', '.join(REPORTS)}."
        )
    settings = load_settings(args.db)
    # Arguments are checked before the database is touched.
    period = period_from_args(args, settings.timezone)
    options = report_options(
        args.name,
        lesson_type=_text(args.lesson_type, "--lesson-type"),
        stream=_text(args.stream, "--stream"),
        window_days=_positive_int(args.window_days, "--window-days"),
        include_paying=args.include_paying or None,
        search=_text(args.search, "--search"),
    )
    # A read: a SQLite file that is not the embedded demo must exist (load_settings).
    engine = make_engine(settings.database_url, settings.statement_timeout_ms)
    bootstrap.prepare(engine, is_demo=settings.is_demo, tz=settings.timezone)
    reader = engine
    if settings.read_database_url:
        reader = make_engine(settings.read_database_url, settings.statement_timeout_ms)
        bootstrap.prepare(reader, is_demo=False)
    note = refresh_before_report(engine, period.tz)
    frame = run_report(reader, args.name, period, **options)
    out = export.to_json(frame) if args.format == "json" else export.to_csv(
        frame, for_excel=False)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    if note:
        print(note, file=sys.stderr)


def refresh_before_report(engine: Engine, tz: str) -> str | None:
    """Refresh the summaries before a report reads them, so the command line is current.

    Only summaries a report in `tz` would read: ones kept in another timezone (the app's)
    are left as they are (the report reads the bot's tables) rather than rebuilt. A
    database that refuses writes (a replica given as DATABASE_URL, a read-only login) does
    not stop the report: it reads the summaries as they are, and the sentence returned says
    so (None when there is nothing to say).
    """
    if not has_tables(engine):
        return None
    state = read_state(engine)
    if state is not None and state.tz != tz:
        return None
    try:
        refresh(engine, tz)
    except SQLAlchemyError as err:
        if not refuses_writes(err):
            raise
        if state is None:
            return None  # nothing summarised yet: the report read the bot's tables
        return (f"The database refuses writes, so the summaries were not refreshed; this "
                f"report reads them as of {state.refreshed_at:%Y-%m-%d %H:%M:%S} UTC.")
    return None


_SECRET_KEY = re.compile(r"pass|secret|token|key|auth|cred", re.IGNORECASE)


def _secrets_of(raw: object) -> list[str]:
    """The password and secret-looking query values of a database URL, to mask in output."""
    if not isinstance(raw, str):
        return []
    try:
        url = make_url(raw.strip())
        found = [url.password or ""]
        query = list(url.query.items())
    except (ArgumentError, ValueError, TypeError):  # e.g. a port that is not a number
        userinfo = re.search(r"://[^:/@]*:([^@]*)@", raw)
        found = [unquote(userinfo.group(1))] if userinfo else []
        query = parse_qsl(raw.partition("?")[2])
    for key, value in query:
        if _SECRET_KEY.search(key):
            found += list(value) if isinstance(value, tuple) else [value]
    return [secret for secret in found if len(secret) >= 3]


def _fail(message: str, code: int, args: argparse.Namespace | None) -> int:
    """Print `message` as one line on stderr, with no secret of the database URL in it."""
    urls = [getattr(args, "db", None), os.environ.get("DATABASE_URL")]
    try:
        urls.append(load_settings(getattr(args, "db", None)).database_url)
    except Exception:  # noqa: BLE001, S110 - the URLs above are masked all the same
        pass
    text = printable(" ".join(message.split()) if "\n" in message else message)
    for secret in sorted({s for u in urls for s in _secrets_of(u)}, key=len, reverse=True):
        text = text.replace(secret, "***")
    print(text, file=sys.stderr)
    return code
