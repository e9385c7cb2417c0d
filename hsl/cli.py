"""`python -m hsl`: init-db, demo and report (SPEC §7). Bad arguments exit 2 with one sentence."""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
import time
from datetime import UTC, date, datetime

from sqlalchemy.exc import SQLAlchemyError

from hsl import auth, bootstrap, demo, export, migrate
from hsl.config import load_settings
from hsl.db import check_connection, make_engine
from hsl.errors import HslError, ValidationError
from hsl.filters import DEFAULT_RANGE_DAYS, Period
from hsl.reports import REPORTS, report_options, run_report


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
    rep.add_argument("--search", help="users: name, @username, email or id (default: everyone)")

    pw = sub.add_parser(
        "hash-password", help="hash a password (asked without echo, or read from stdin)"
    )
    pw.add_argument("--user", default="NAME", help="the login name for the example entry")
    pw.add_argument("--role", choices=auth.ROLES, default=auth.DEFAULT_ROLE)
    return parser


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{flag} {text!r} is not a date; use YYYY-MM-DD.") from None


def _positive_int(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    if not text.strip().isdecimal() or int(text) < 1:
        raise ValidationError(f"{flag} {text!r} is not a positive whole number.")
    return int(text)


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"--now {text!r} is not an ISO 8601 timestamp.") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def period_from_args(args: argparse.Namespace, default_tz: str) -> Period:
    """Build the report period: defaults are the last 30 local days up to today."""
    default = Period.last_days(DEFAULT_RANGE_DAYS, args.tz or default_tz, _now(args.now))
    start = _date(args.start, "--start") or default.start
    end = _date(args.end, "--end") or default.end
    return Period(start, end, default.tz, default.now)


def _read_password() -> str:
    """The password: asked twice without echo on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat it: ") != first:
            raise ValidationError("The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def password_entry(password: str, user: str, role: str) -> str:
    """The bcrypt hash on one line, then the secrets.toml entry that uses it."""
    hashed = auth.hash_password(password)
    key = user if re.fullmatch(r"[A-Za-z0-9_-]+", user) else json.dumps(user)
    return (
        f"{hashed}\n"
        f"# add to .streamlit/secrets.toml:\n"
        f'[auth.users.{key}]\npassword_hash = "{hashed}"\nrole = "{role}"'
    )


def _connect(url: str | None):
    settings = load_settings(url)
    engine = make_engine(settings.database_url, settings.statement_timeout_ms)
    check_connection(engine)
    return settings, engine


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "report":
            if args.name not in REPORTS:
                raise ValidationError(
                    f"Unknown report {args.name!r}; choose one of: {', '.join(REPORTS)}."
                )
            # Arguments are checked before the database is touched.
            period = period_from_args(args, load_settings(args.db).timezone)
            options = report_options(
                args.name,
                lesson_type=args.lesson_type,
                stream=args.stream,
                window_days=_positive_int(args.window_days, "--window-days"),
                include_paying=args.include_paying or None,
                search=args.search,
            )
            settings, engine = _connect(args.db)
            bootstrap.prepare(engine, is_demo=settings.is_demo)
            frame = run_report(engine, args.name, period, **options)
            out = export.to_json(frame) if args.format == "json" else export.to_csv(
                frame, for_excel=False)
            sys.stdout.write(out if out.endswith("\n") else out + "\n")
        elif args.command == "hash-password":
            print(password_entry(_read_password(), args.user, args.role))
        elif args.command == "init-db":
            settings, engine = _connect(args.db)
            migrate.upgrade(engine)
            print(f"Schema is up to date at {engine.url.render_as_string(hide_password=True)}.")
        elif args.command == "demo":
            settings, engine = _connect(args.db)
            migrate.upgrade(engine)
            size = demo.DemoSize(args.users, args.events, args.seed, _date(args.anchor, "--anchor"))
            started = time.perf_counter()
            counts = demo.load(engine, size)
            took = time.perf_counter() - started
            rows = ", ".join(f"{n} {t}" for t, n in counts.items())
            print(f"Loaded demo data ({rows}) in {took:.1f} s.")
        return 0
    except (UsageError, HslError) as err:
        print(str(err), file=sys.stderr)
        return 2
    except SQLAlchemyError as err:
        # Not the person's fault (a timeout, a broken row): one line, never a traceback.
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        print(f"The database reported an error: {reason.rstrip('.')}.", file=sys.stderr)
        return 1
