"""Benchmark the send-worker on PostgreSQL: `python scripts/bench_messaging.py [--pg URL]`.

Makes a throw-away database next to --pg (default HSL_TEST_PG_URL or the local server's
`test` database), queues --recipients people (default 10,000) twice and prints:

1. the engine's own cost per message, claim + record (and the rest of a turn: heartbeat,
   finishing campaigns), with the dry-run transport: no HTTP at all;
2. the end-to-end rate through the real TelegramTransport to the stand-in Bot API
   (tests/telegram_standin.py, in a process of its own), rate set to --rate (100,000);
3. the worker process's resident memory (VmRSS, peak VmHWM from /proc/self/status)
   before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from hsl import migrate  # noqa: E402
from hsl.db import make_engine, normalize_url  # noqa: E402
from hsl.messaging import delivery  # noqa: E402
from hsl.messaging.transports import DryRunTransport, TelegramTransport  # noqa: E402
from hsl.schema import campaign_recipients, campaigns  # noqa: E402
from hsl.worker import Worker  # noqa: E402

TOKEN = "8123456789:AAHsl-SECRET-standin-token-xyzzy-9876543"
STANDIN = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
import tests.telegram_standin as standin

# The stand-in writes headers and body separately; without TCP_NODELAY every answer then
# waits ~40 ms for the client's delayed ACK (Nagle), which would be all this measures.
_handler_for = standin._handler_for
def _no_nagle(server):
    handler = _handler_for(server)
    handler.disable_nagle_algorithm = True
    return handler
standin._handler_for = _no_nagle
with standin.TelegramStandin({TOKEN!r}) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()
    chats = [m.chat_id for m in server.messages]
    print(json.dumps({{"messages": len(chats), "distinct": len(set(chats))}}), flush=True)
"""


def memory() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process in MiB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) // 1024
    return found


class Timed:
    """Wraps the delivery steps the worker calls, adding up their wall time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        for name in ("claim", "record_many", "finish_done_campaigns", "recover_stale"):
            original = getattr(delivery, name)
            setattr(delivery, name, self._wrap(name, original))

    def _wrap(self, name, original):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1

        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


def queue(engine, people: int, *, dry_run: bool) -> int:
    moment = datetime.now(UTC)
    with engine.begin() as conn:
        campaign_id = conn.execute(insert(campaigns).values(
            status="scheduled", text="<b>Hi {first_name|friend}</b>, the new stream starts "
            "on Monday!", audience_kind="ids", audience="bench", created_at=moment,
            created_by="bench", queued_at=moment, dry_run=dry_run,
        )).inserted_primary_key[0]
        conn.execute(insert(campaign_recipients), [
            {"campaign_id": campaign_id, "user_id": 10_000_000 + i, "status": "pending",
             "first_name": f"Name{i}", "username": f"user{i}", "next_attempt_at": moment}
            for i in range(people)
        ])
    return campaign_id


def statuses(engine, campaign_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(campaign_recipients.c.status, text("count(*)"))
            .where(campaign_recipients.c.campaign_id == campaign_id)
            .group_by(campaign_recipients.c.status)
        ).all()
    return dict(rows)


def run(engine, transport, rate: float, timed: Timed) -> float:
    timed.reset()
    worker = Worker(engine, lambda dry: DryRunTransport() if dry else transport, rate=rate)
    started = time.perf_counter()
    worker.run(once=True)
    return time.perf_counter() - started


def report(label: str, people: int, took: float, timed: Timed) -> None:
    engine_s = timed.seconds["claim"] + timed.seconds["record_many"]
    print(f"{label}: {people:,} messages in {took:.2f} s = {people / took:,.0f} messages/s")
    claim_us = timed.seconds["claim"] * 1e6 / people
    record_us = timed.seconds["record_many"] * 1e6 / people
    print(f"  claim + record: {engine_s * 1e6 / people:,.0f} µs a message "
          f"(claim {claim_us:,.0f} µs in {timed.calls['claim']:,} claims, record "
          f"{record_us:,.0f} µs in {timed.calls['record_many']:,} transactions) "
          f"= capacity {people / engine_s:,.0f} messages/s")
    rest = took - engine_s
    print(f"  the rest of each turn (heartbeat, finish, render, send, pacing): "
          f"{rest * 1e6 / people:,.0f} µs a message")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get(
        "HSL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=100_000)
    args = parser.parse_args()

    admin = create_engine(normalize_url(args.pg), isolation_level="AUTOCOMMIT")
    name = f"hsl_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    standin = subprocess.Popen([sys.executable, "-c", STANDIN], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        engine = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))
        migrate.upgrade(engine)
        timed = Timed()
        base_url = standin.stdout.readline().strip()
        transport = TelegramTransport(TOKEN, base_url, timeout=10)
        transport.send(1, "warm-up")  # PTB's import and the first connection

        before = memory()
        print(f"PostgreSQL, {args.recipients:,} recipients, rate {args.rate:,.0f}; "
              f"worker memory before: {before['VmRSS']} MiB")

        dry = queue(engine, args.recipients, dry_run=True)
        took = run(engine, transport, args.rate, timed)
        assert statuses(engine, dry) == {"sent": args.recipients}, statuses(engine, dry)
        report("dry run (no HTTP)", args.recipients, took, timed)
        after_dry = memory()

        real = queue(engine, args.recipients, dry_run=False)
        took = run(engine, transport, args.rate, timed)
        assert statuses(engine, real) == {"sent": args.recipients}, statuses(engine, real)
        report("through the stand-in (real TelegramTransport, HTTP)", args.recipients, took,
               timed)
        transport.close()
        after = memory()

        standin.stdin.close()
        seen = json.loads(standin.stdout.readline())
        print(f"  the stand-in received {seen['messages'] - 1:,} messages for "
              f"{seen['distinct'] - 1:,} chats (plus the warm-up)")
        print(f"worker memory: {before['VmRSS']} MiB before, {after_dry['VmRSS']} MiB after "
              f"the dry run, {after['VmRSS']} MiB after both (peak {after['VmHWM']} MiB)")
        engine.dispose()
    finally:
        if standin.poll() is None:
            standin.kill()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
