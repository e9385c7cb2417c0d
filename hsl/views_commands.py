"""`python -m hsl views create | list` (issue 12): saved views from the command line.

hsl/cli.py adds the sub-command with `add_views_parser(sub)` and runs it with
`run_views(args, engine)`. `create` prints the new view's id alone; `list` prints every
view as CSV. The command line acts for `--owner` (default "command line") as an admin, so
it may share. Bad input exits 2 with one sentence on stderr.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.engine import Engine

from hsl import export, views
from hsl.auth import Actor
from hsl.db import printable
from hsl.errors import HslError, ValidationError
from hsl.filters import PRESETS

CLI_OWNER = "command line"
LIST_COLUMNS = ["id", "name", "page", "query", "dates", "start", "end", "owner", "shared"]


def add_views_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `views create | list` to the sub-commands `sub` (parsers of `sub`'s class)."""
    parser = sub.add_parser("views", help="create or list saved views")
    actions = parser.add_subparsers(dest="views_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="save a view; prints its id")
    create.add_argument("--name", required=True)
    create.add_argument("--page", required=True, help="one of: " + ", ".join(views.PAGES))
    create.add_argument("--query", default="", metavar="QUERY_STRING",
                        help="the page's filters, e.g. 'lesson_type=python_basics'")
    dates = create.add_mutually_exclusive_group()
    dates.add_argument("--dates", metavar="PRESET", help="rolling dates: " + ", ".join(PRESETS))
    dates.add_argument("--start", help="fixed dates: the first local date, YYYY-MM-DD")
    create.add_argument("--end", help="fixed dates: the last local date, YYYY-MM-DD")
    create.add_argument("--owner", default=CLI_OWNER, help="the signed-in name it belongs to")
    create.add_argument("--shared", action="store_true", help="show it to everyone")
    listing = actions.add_parser("list", help="every saved view as CSV")
    for each in (create, listing):
        each.add_argument("--db", help="database URL (default: DATABASE_URL, secrets, demo)")
    return parser


def run_views(args: argparse.Namespace, engine: Engine) -> int:
    """Run the parsed `views` command; return the exit status (2: bad input, one sentence)."""
    try:
        if args.views_command == "create":
            print(_create(args, engine))
        else:
            sys.stdout.write(export.to_csv(_listing(engine), for_excel=False))
        return 0
    except HslError as err:
        print(printable(" ".join(str(err).split())), file=sys.stderr)
        return 2


def _create(args: argparse.Namespace, engine: Engine) -> int:
    from hsl.cli import _date, _text  # here: hsl.cli imports this module at its top

    owner = " ".join((_text(args.owner, "--owner") or "").split())
    if not owner:
        raise ValidationError("--owner must name the person the view belongs to.")
    if args.end is not None and args.start is None:
        raise ValidationError("--end needs --start: fixed dates are both given.")
    return views.create(
        engine, Actor(owner, "admin"), name=_text(args.name, "--name"), page=args.page,
        query=_text(args.query, "--query"), preset=_text(args.dates, "--dates"),
        start=_date(args.start, "--start"), end=_date(args.end, "--end"), shared=args.shared)


def _listing(engine: Engine):
    import pandas as pd

    rows = [{"id": v.id, "name": v.name, "page": v.page, "query": v.query,
             "dates": v.dates_preset or "", "start": v.start_date, "end": v.end_date,
             "owner": v.owner, "shared": v.shared} for v in views.every(engine)]
    return pd.DataFrame(rows, columns=LIST_COLUMNS)
