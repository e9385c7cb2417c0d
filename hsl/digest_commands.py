"""`python -m hsl digest run VIEW_ID --dry-run [--now ISO] [--png FILE]` (issue 12).

hsl/cli.py adds the sub-command with `add_digest_parser(sub)` and runs it with
`run_digest(args, engine, settings)`. It prints the digest of a saved view as it would be
sent (the photo's caption, Telegram HTML) and writes its chart to FILE; it sends nothing:
digests are delivered by the send-worker. The command line reads the view as an admin, in
the reporting timezone, with the app's public URL for the link. Bad input exits 2 with one
sentence on stderr.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from hsl import digests, views
from hsl.auth import Actor
from hsl.config import Settings
from hsl.db import printable
from hsl.errors import HslError, ValidationError
from hsl.filters import utc_now

CLI_ACTOR = Actor("command line", "admin")
FIRST_YEAR, LAST_YEAR = 1970, 9000  # --now: a clock the dates can be computed around
NOT_SENT = "Digests are delivered by the send-worker; use --dry-run to see one."


def add_digest_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `digest run` to the sub-commands `sub`."""
    parser = sub.add_parser("digest", help="print a saved view's digest")
    actions = parser.add_subparsers(dest="digest_command", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="build the digest of a saved view")
    run.add_argument("view_id")
    run.add_argument("--dry-run", action="store_true",
                     help="print the digest and write its chart instead of sending it")
    run.add_argument("--now", metavar="ISO_TIMESTAMP",
                     help="the clock, ISO 8601 (UTC when it names no offset; default: now)")
    run.add_argument("--png", metavar="FILE", help="write the chart picture (PNG) to FILE")
    run.add_argument("--db", help="database URL (default: DATABASE_URL, secrets, demo)")
    return parser


def run_digest(args: argparse.Namespace, engine: Engine, settings: Settings) -> int:
    """Run the parsed `digest run`; return the exit status (2: bad input, one sentence)."""
    try:
        if not args.dry_run:
            raise ValidationError(NOT_SENT)
        now = _moment(args.now)
        view = views.get(engine, CLI_ACTOR, views.view_id(args.view_id))
        digest = digests.build(engine, view, now=now, tz=settings.timezone,
                               public_url=settings.public_url, with_png=args.png is not None)
        if args.png is not None:
            _write(args.png, digest.png)
    except HslError as err:
        print(printable(" ".join(str(err).split())), file=sys.stderr)
        return 2
    print(digest.text)
    return 0


def _moment(text: str | None) -> datetime:
    """`--now` as an aware time (UTC when it names no offset); the clock when not given."""
    if text is None:
        return utc_now()
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"--now {printable(text[:40])!r} is not an ISO 8601 time such as "
                              "2026-12-01T09:00:00+00:00.") from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValidationError(f"--now must be a time between the years {FIRST_YEAR} and "
                              f"{LAST_YEAR}.")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _write(path: str, png: bytes | None) -> None:
    """Write the chart to `path`; without a chart write nothing and say so on stderr."""
    if png is None:
        print("This digest has no chart (no data for these dates); no picture was written.",
              file=sys.stderr)
        return
    try:
        Path(path).write_bytes(png)
    except OSError as err:
        raise ValidationError(f"Cannot write the picture to {printable(path[:200])!r}: "
                              f"{err.strerror or err.__class__.__name__}.") from None
