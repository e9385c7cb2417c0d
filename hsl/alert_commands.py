"""`python -m hsl alerts check --dry-run [--now ISO]` (issue 12)."""

from __future__ import annotations

import argparse

from sqlalchemy.engine import Engine

from hsl.config import Settings


def add_alerts_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `alerts check` to the sub-commands `sub`."""
    parser = sub.add_parser("alerts", help="check the alert rules")
    actions = parser.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="check every alert rule")
    check.add_argument("--db")
    return parser


def run_alerts(args: argparse.Namespace, engine: Engine, settings: Settings) -> int:
    raise NotImplementedError
