"""`python -m hsl alerts check | create | list` (issue 12): alert rules from the command line.

hsl/cli.py adds the sub-command with `add_alerts_parser(sub)` and runs it with
`run_alerts(args, engine, settings)`; the days are those of the reporting timezone
(settings.timezone). Bad input exits 2 with one sentence on stderr.

- `alerts check --dry-run [--now ISO_TIMESTAMP]` checks every rule that is not paused and
  writes nothing; it prints CSV `rule_id,name,value,condition,would_fire`, one line a rule
  after the header. Without `--dry-run` it refuses (exit 2): the send-worker checks alerts.
- `alerts create --name NAME --metric METRIC [--params QUERY] --op OP (--threshold NUMBER |
  --vs-before) --chat CHAT_ID [--owner NAME] [--now ISO_TIMESTAMP]` prints the new rule's
  id alone. METRIC is a key of hsl.alerts.METRICS, QUERY its options (e.g.
  `dates=last-7-days`, `lesson_type=python_basics&days=14`, `window_days=7`), OP one of
  `>=`, `>`, `<=`, `<`; `--vs-before` compares with the same number for the period before.
  The command line acts for `--owner` (default "command line") as an admin.
- `alerts list` prints every rule as CSV: `id,name,owner,condition,chat_id,paused,is_true,
  last_checked_at,last_value,last_fired_at`.
"""

from __future__ import annotations

import argparse
import math
import sys

import pandas as pd
from sqlalchemy.engine import Engine

from hsl import alerts, export, subscriptions
from hsl.auth import Actor
from hsl.config import Settings
from hsl.errors import ValidationError
from hsl.filters import utc_now

CLI_OWNER = "command line"
CHECK_COLUMNS = ["rule_id", "name", "value", "condition", "would_fire"]
LIST_COLUMNS = ["id", "name", "owner", "condition", "chat_id", "paused", "is_true",
                "last_checked_at", "last_value", "last_fired_at"]
NOT_DRY = "Alerts are checked by the send-worker; use --dry-run to see them."


def add_alerts_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `alerts check | create | list` to the sub-commands `sub`."""
    parser = sub.add_parser("alerts", help="check, create or list the alert rules")
    actions = parser.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="check every alert rule (with --dry-run)")
    check.add_argument("--dry-run", action="store_true", help="write and send nothing")
    create = actions.add_parser("create", help="make an alert rule; prints its id")
    create.add_argument("--name", required=True)
    create.add_argument("--metric", required=True, help="one of: " + ", ".join(alerts.METRICS))
    create.add_argument("--params", default="", metavar="QUERY_STRING",
                        help="the number's options, e.g. 'dates=last-7-days'")
    create.add_argument("--op", required=True, help="one of: " + ", ".join(alerts.OPS))
    than = create.add_mutually_exclusive_group(required=True)
    than.add_argument("--threshold", metavar="NUMBER")
    than.add_argument("--vs-before", action="store_true",
                      help="compare with the same number for the period before")
    create.add_argument("--chat", required=True, metavar="CHAT_ID",
                        help="a person's Telegram id, or an allowed group chat's")
    create.add_argument("--owner", default=CLI_OWNER, help="the signed-in name it belongs to")
    listing = actions.add_parser("list", help="every alert rule as CSV")
    for each in (check, create):
        each.add_argument("--now", metavar="ISO_TIMESTAMP", help="the time to act at")
    for each in (check, create, listing):
        each.add_argument("--db", help="database URL (default: DATABASE_URL, secrets, demo)")
    return parser


def run_alerts(args: argparse.Namespace, engine: Engine, settings: Settings) -> int:
    """Run the parsed `alerts` command; return the exit status (2: bad input, one sentence;
    an HslError is left to hsl.cli, which prints it as one sentence and exits 2)."""
    if args.alerts_command == "check":
        if not args.dry_run:
            print(NOT_DRY, file=sys.stderr)
            return 2
        sys.stdout.write(export.to_csv(_checked(args, engine, settings), for_excel=False))
    elif args.alerts_command == "create":
        print(_create(args, engine))
    else:
        sys.stdout.write(export.to_csv(_listing(engine), for_excel=False))
    return 0


def _when(args: argparse.Namespace):
    from hsl.cli import _now  # here: hsl.cli imports this module at its top

    return utc_now() if args.now is None else _now(args.now)


def _value(value: float | None) -> str:
    """A number as the CSV shows it: 23, 38.5; empty for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _checked(args: argparse.Namespace, engine: Engine, settings: Settings) -> pd.DataFrame:
    found = alerts.check(engine, now=_when(args), tz=settings.timezone, dry_run=True,
                         public_url=settings.public_url)
    rows = [{"rule_id": r.rule_id, "name": r.name, "value": _value(r.value),
             "condition": r.condition, "would_fire": r.fired} for r in found]
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)


def _threshold(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValidationError(f"--threshold {text[:40]!r} is not a number.")
    return value


def _create(args: argparse.Namespace, engine: Engine) -> int:
    from hsl.cli import _text  # here: hsl.cli imports this module at its top

    owner = " ".join((_text(args.owner, "--owner") or "").split())
    if not owner:
        raise ValidationError("--owner must name the person the rule belongs to.")
    return alerts.create(
        engine, Actor(owner, "admin"), name=_text(args.name, "--name"),
        metric=_text(args.metric, "--metric"), params=_text(args.params, "--params"),
        op=_text(args.op, "--op"), threshold=_threshold(_text(args.threshold, "--threshold")),
        chat_id=subscriptions.chat_id(_text(args.chat, "--chat")), now=_when(args))


def _listing(engine: Engine) -> pd.DataFrame:
    rows = [{"id": r.id, "name": r.name, "owner": r.owner, "condition": r.condition,
             "chat_id": r.chat_id, "paused": r.paused,
             "is_true": "" if r.is_true is None else r.is_true,
             "last_checked_at": r.last_checked_at, "last_value": _value(r.last_value),
             "last_fired_at": r.last_fired_at}
            for r in alerts.rules(engine, Actor(CLI_OWNER, "admin"))]
    return pd.DataFrame(rows, columns=LIST_COLUMNS)
