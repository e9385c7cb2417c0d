"""The send-worker in a process of its own, for tests: `python tests/worker_process.py
[--db URL] [--once]`, as `python -m hsl send-worker` will run it (exit 2 with one
sentence for an HslError). The secrets file is ignored; settings come from the
environment (HSL_TELEGRAM_BOT_TOKEN, HSL_TELEGRAM_API_URL, HSL_TELEGRAM_RATE).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hsl.config import load_settings  # noqa: E402
from hsl.errors import HslError  # noqa: E402
from hsl.worker import add_worker_parser, run_worker  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="worker_process")
    add_worker_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["send-worker", *argv])
    try:
        return run_worker(args, load_settings(args.db, secrets={}))
    except HslError as err:
        print(err, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
