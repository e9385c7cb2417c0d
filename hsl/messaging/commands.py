"""`python -m hsl message …` (SPEC §8): create, list, status, cancel and retry campaigns.

hsl/cli.py adds the sub-command with `add_message_parser(sub)` and runs it with
`run_message(args, engine, settings)`. The command line is an operator's tool, run with the
database URL in hand: it acts as an admin, named in the audit log by `--actor` (default
"command line"). Bad input exits 2 with one sentence on stderr; stdout carries only the
result (the new campaign's id alone, a table, or one sentence).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from hsl import export
from hsl.auth import Actor
from hsl.config import Settings
from hsl.db import printable
from hsl.errors import HslError, ValidationError
from hsl.filters import utc_now
from hsl.messaging.campaigns import (
    campaign_list,
    campaign_status,
    cancel,
    create_and_queue,
    local_to_utc,
    retry,
)
from hsl.metrics.users import MAX_USER_ID

CLI_ACTOR = "command line"
EARLIEST, LATEST = date(1970, 1, 1), date(9000, 12, 31)  # as `report --start/--end`


def add_message_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `message create | list | status | cancel | retry` to the sub-commands `sub`.

    The actions' parsers are of the class of `sub`'s parsers (hsl.cli's `_Parser`, whose
    errors are one sentence).
    """
    message = sub.add_parser("message", help="create, list, inspect, cancel or retry campaigns")
    actions = message.add_subparsers(dest="message_command", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="create a campaign and queue it")
    text = create.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help="the message: Telegram HTML with {first_name}, {username}")
    text.add_argument("--text-file", help="a UTF-8 file holding the message")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--ids", metavar="FILE", help="a file of user ids ('-' reads stdin)")
    who.add_argument("--stream", help="everyone with a booking in this course stream")
    who.add_argument("--audience", metavar="QUERY",
                     help="the Audience page's query string, e.g. 'lesson_type=python&booked=no'")
    create.add_argument("--at", metavar="LOCAL_DATETIME",
                        help="send at this local time of the reporting timezone (default: now)")

    listing = actions.add_parser("list", help="every campaign, newest first")
    status = actions.add_parser("status", help="one row per recipient of a campaign")
    status.add_argument("id", help="the campaign id")
    stop = actions.add_parser("cancel", help="cancel a campaign; pending recipients are skipped")
    stop.add_argument("id", help="the campaign id")
    again = actions.add_parser("retry", help="send the failed recipients again")
    again.add_argument("id", help="the campaign id")
    again.add_argument("--unknown", action="store_true",
                       help="retry the recipients whose delivery is unknown instead")
    for parser in (listing, status):
        parser.add_argument("--format", choices=["csv", "json"], default="csv")
    for parser in (create, stop, again):
        parser.add_argument("--actor", default=CLI_ACTOR, help="the name for the audit log")
    for parser in (create, listing, status, stop, again):
        parser.add_argument("--db", help="database URL (default: DATABASE_URL, secrets, demo)")
    return message


def run_message(args: argparse.Namespace, engine: Engine, settings: Settings) -> int:
    """Run the parsed `message` command; return the exit status (2: bad input, one sentence)."""
    try:
        return _ACTIONS[args.message_command](args, engine, settings)
    except HslError as err:
        print(printable(" ".join(str(err).split())), file=sys.stderr)
        return 2


# ---------------------------------------------------------------- arguments


def _shown(text: str) -> str:
    return printable(repr(text if len(text) <= 40 else text[:40] + "…"))


def _option_text(value: str, flag: str) -> str:
    """An option's text, refused when no database text could hold it (as hsl.cli does)."""
    from hsl.cli import _text  # here: hsl.cli imports this module at its top

    return _text(value, flag)


def _read(path: str, flag: str) -> str:
    """The UTF-8 text of the file `path` ('-': stdin), as one sentence when it cannot be read."""
    try:
        if path == "-":
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(f"{flag}: there is no file {_shown(path)}.") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{flag}: the file {_shown(path)} is not UTF-8 text.") from None
    except OSError as err:
        raise ValidationError(
            f"{flag}: the file {_shown(path)} cannot be read ({err.strerror or 'error'})."
        ) from None


def _actor(name: str) -> Actor:
    name = _option_text(name, "--actor").strip()
    if not name:
        raise ValidationError("--actor must name who is acting; it goes into the audit log.")
    return Actor(name, "admin")


def _campaign_id(text: str) -> int:
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19 \
            or not 0 < int(digits) <= MAX_USER_ID:
        raise ValidationError(
            f"{_shown(text)} is not a campaign id; use a number from `message list`."
        )
    return int(digits)


def _at(text: str | None, tz: str) -> datetime | None:
    """--at as UTC: a local date and time in `tz` (an explicit UTC offset is honoured)."""
    if text is None:
        return None
    try:
        local = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"--at {_shown(text)} is not a date and time; use YYYY-MM-DD HH:MM, a local time "
            f"in {tz}."
        ) from None
    if not EARLIEST <= local.date() <= LATEST:
        raise ValidationError(
            f"--at {_shown(text)} is out of range; use a time from {EARLIEST} to {LATEST}."
        )
    return local_to_utc(local, tz)


def _audience(args: argparse.Namespace) -> tuple[str, str]:
    if args.ids is not None:
        return "ids", _read(_option_text(args.ids, "--ids"), "--ids")
    if args.stream is not None:
        return "stream", _option_text(args.stream, "--stream")
    return "audience", _option_text(args.audience, "--audience")


def _listed(label: str, values: list) -> None:
    if values:
        shown = ", ".join(printable(str(v)) for v in values)
        print(f"{label}: {shown}.", file=sys.stderr)


def _table(frame, fmt: str) -> None:
    out = export.to_json(frame) if fmt == "json" else export.to_csv(frame, for_excel=False)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")


# ---------------------------------------------------------------- actions


def _create(args: argparse.Namespace, engine: Engine, settings: Settings) -> int:
    if args.text is not None:
        text = _option_text(args.text, "--text")
    else:
        text = _read(_option_text(args.text_file, "--text-file"), "--text-file").rstrip("\r\n")
    kind, spec = _audience(args)
    actor = _actor(args.actor)
    tz = settings.timezone
    scheduled_at = _at(args.at, tz)
    result = create_and_queue(engine, actor, text, kind, spec, now=utc_now(), tz=tz,
                              dry_run=settings.is_demo, scheduled_at=scheduled_at)
    print(result.campaign_id)
    sys.stdout.flush()
    when = f"at {args.at.strip()} ({tz})" if scheduled_at else "now"
    dry = " (dry run: nothing leaves the machine)" if settings.is_demo else ""
    print(f"Campaign {result.campaign_id} is queued for {result.recipients} "
          f"{'recipient' if result.recipients == 1 else 'recipients'}, to send {when}{dry}.",
          file=sys.stderr)
    _listed("Skipped, blocked the bot", result.skipped)
    _listed("Left out, not user ids", [repr(t) for t in result.malformed])
    _listed("Left out, unknown ids", result.unknown)
    return 0


def _list(args: argparse.Namespace, engine: Engine, settings: Settings) -> int:
    _table(campaign_list(engine, settings.timezone), args.format)
    return 0


def _status(args: argparse.Namespace, engine: Engine, settings: Settings) -> int:
    _table(campaign_status(engine, _campaign_id(args.id), settings.timezone), args.format)
    return 0


def _cancel(args: argparse.Namespace, engine: Engine, settings: Settings) -> int:
    campaign_id, actor = _campaign_id(args.id), _actor(args.actor)
    skipped = cancel(engine, actor, campaign_id, now=utc_now())
    print(f"Campaign {campaign_id} is cancelled; {skipped} pending "
          f"{'recipient was' if skipped == 1 else 'recipients were'} skipped.")
    return 0


def _retry(args: argparse.Namespace, engine: Engine, settings: Settings) -> int:
    campaign_id, actor = _campaign_id(args.id), _actor(args.actor)
    which = "unknown" if args.unknown else "failed"
    count = retry(engine, actor, campaign_id, now=utc_now(), which=which)
    print(f"Campaign {campaign_id}: {count} {which} "
          f"{'recipient is' if count == 1 else 'recipients are'} pending again.")
    return 0


_ACTIONS = {"create": _create, "list": _list, "status": _status, "cancel": _cancel,
            "retry": _retry}
