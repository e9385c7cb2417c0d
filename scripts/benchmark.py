"""Time every report in-process against a database: `python scripts/benchmark.py --db URL`.

Prints the median of --repeat runs (after one warm-up) for each report, in milliseconds,
over the default range (last 30 days) and a long one (last 180 days). Load data first
with `python -m hsl demo --db URL --users 100000 --events 2000000`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hsl.config import load_settings  # noqa: E402
from hsl.db import make_engine  # noqa: E402
from hsl.filters import Period  # noqa: E402
from hsl.reports import REPORTS, run_report  # noqa: E402

# Options a report needs to run at all (roster needs a stream that exists in the demo).
REQUIRED_OPTIONS = {"roster": {"stream": "10th_stream"}, "users": {"search": "anna"}}


def time_report(engine, name: str, period: Period, repeat: int) -> tuple[float, int]:
    """Return (median milliseconds, rows) for one report."""
    options = REQUIRED_OPTIONS.get(name, {})
    rows = len(run_report(engine, name, period, **options))  # warm-up
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        run_report(engine, name, period, **options)
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: as the app resolves it)")
    parser.add_argument("--tz", default="Europe/Moscow")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="report names to time (default: all)")
    args = parser.parse_args()
    settings = load_settings(args.db)
    engine = make_engine(settings.database_url, settings.statement_timeout_ms)
    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    print(f"{'report':<20}{'30 days ms':>12}{'rows':>8}{'180 days ms':>13}{'rows':>8}")
    for name in args.only or REPORTS:
        cells = []
        for days in (30, 180):
            ms, rows = time_report(engine, name, Period.last_days(days, args.tz), args.repeat)
            cells.append(f"{ms:>12.0f}{rows:>8}" if days == 30 else f"{ms:>13.0f}{rows:>8}")
        print(f"{name:<20}{''.join(cells)}")


if __name__ == "__main__":
    main()
