"""`python -m hsl digest run VIEW_ID --dry-run [--now ISO] [--png FILE]` (issue 12)."""

from __future__ import annotations

import argparse

from sqlalchemy.engine import Engine

from hsl.config import Settings


def add_digest_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `digest run` to the sub-commands `sub`."""
    parser = sub.add_parser("digest", help="print a saved view's digest")
    actions = parser.add_subparsers(dest="digest_command", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="build the digest of a saved view")
    run.add_argument("view_id")
    run.add_argument("--db")
    return parser


def run_digest(args: argparse.Namespace, engine: Engine, settings: Settings) -> int:
    raise NotImplementedError
