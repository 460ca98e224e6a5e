"""100,000 active schedules on one process: restore time, memory, fire lateness.

    uv run --all-packages python bench/cron.py [--schedules 100000] [--jitters 0,30]

For each jitter (seconds; 0 is the schedules' default), in a fresh process: N ``CRON``
triggers, all ``* * * * *`` (every minute, so every one of them is due in the same
second), are written straight into a new SQLite database; then a gateway (recorder
engine, its dispatcher delivering every fire) starts in the process and runs until the
first full minute after start-up has fired. Prints:

- restore: ``Gateway.start()`` — the core rebuilding N triggers, the scheduler planning
  catch-up and adding N APScheduler jobs;
- memory: resident-set growth from before the gateway was built to after start-up;
- lateness of each fire of that minute: from its due time (the slot plus the
  schedule's jitter) to the claim written in the fire's transaction (p50, p99, max),
  and how long the whole minute took to fire.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from highway_triggers_cron.config import CronConfig

from highway_triggers.core.jitter import hash_jitter
from highway_triggers.core.plugins import load_plugins
from highway_triggers.db import migrate
from highway_triggers.db.database import Database
from highway_triggers.gateway import Gateway
from highway_triggers.settings import Settings

EXPRESSION = "* * * * *"


def seed(db_path: Path, count: int, jitter: float) -> None:
    """The schema, then ``count`` active CRON triggers that became active just now."""
    database = Database(f"sqlite:///{db_path}")
    migrate.upgrade(database, load_plugins().migration_locations())
    database.close()
    config = CronConfig(cron_expression=EXPRESSION, jitter_seconds=jitter).model_dump_json()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    conn = sqlite3.connect(db_path)
    conn.executemany(
        "INSERT INTO trigger_index (id, workflow_id, tenant_id, trigger_subtype, trigger_config,"
        " index_key, deployment_status, origin, revision, created_at, updated_at)"
        " VALUES (?, ?, NULL, 'CRON', ?, ?, 'DEPLOYED', 'api', 1, ?, ?)",
        ((uuid.uuid4().hex, f"wf-{i % 1000}", config, EXPRESSION, now, now) for i in range(count)),
    )
    conn.execute(
        "INSERT INTO gateway_state (key, value) VALUES ('index_revision', 1)"
        " ON CONFLICT (key) DO UPDATE SET value = 1"
    )
    conn.commit()
    conn.close()


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run_one(count: int, jitter: float, workdir: Path) -> dict[str, float]:
    db_path = workdir / "cron.db"
    seed(db_path, count, jitter)
    settings = Settings(
        database_url=f"sqlite:///{db_path}",
        secret_key="bench-secret-key",
        secret_key_file=str(workdir / "secret-key"),
        log_level="WARNING",
    )
    gc.collect()
    rss_before = rss_mib()
    gateway = Gateway(settings)
    began = time.perf_counter()
    await gateway.start()
    restore = time.perf_counter() - began
    gc.collect()
    memory = rss_mib() - rss_before
    started = datetime.now(UTC)
    slot = started.replace(second=0, microsecond=0) + timedelta(minutes=1)
    deadline = slot + timedelta(seconds=jitter + 120)
    try:
        while (
            datetime.now(UTC) < deadline
            and await gateway.db.call(claimed, gateway.db, slot) < count
        ):
            await asyncio.sleep(1)
        rows = await gateway.db.call(claim_times, gateway.db, slot)
    finally:
        await gateway.stop()
    lateness = sorted(
        (claimed_at - (slot + timedelta(seconds=hash_jitter(trigger_id, jitter)))).total_seconds()
        for trigger_id, claimed_at in rows
    )
    last = max(claimed_at for _, claimed_at in rows)
    return {
        "schedules": count,
        "jitter": jitter,
        "restore_seconds": restore,
        "memory_mib": memory,
        "fired": len(rows),
        "p50": statistics.median(lateness),
        "p99": lateness[int(len(lateness) * 0.99) - 1],
        "max": lateness[-1],
        "minute_seconds": (last - slot).total_seconds(),
    }


def claimed(db: Database, slot: datetime) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT count(*) FROM cron_claims WHERE scheduled_at = ?", (_stamp(slot),)
            ).scalar_one()
        )


def claim_times(db: Database, slot: datetime) -> list[tuple[str, datetime]]:
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT trigger_id, claimed_at FROM cron_claims WHERE scheduled_at = ?", (_stamp(slot),)
        ).all()
    return [(trigger_id, datetime.fromisoformat(at).replace(tzinfo=UTC)) for trigger_id, at in rows]


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--jitters", default="0,30", help="comma-separated; one process each")
    parser.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(asyncio.run(run_one(args.schedules, args.one, Path(tmp)))))
        return
    print(f"machine: {os.cpu_count()} cpus, {_cpu()}, Python {sys.version.split()[0]}, SQLite")
    for jitter in (float(j) for j in args.jitters.split(",")):
        command = [
            sys.executable,
            __file__,
            "--schedules",
            str(args.schedules),
            "--one",
            str(jitter),
        ]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{result['schedules']:,} schedules, jitter {jitter:g} s: "
            f"restore {result['restore_seconds']:.1f} s, memory +{result['memory_mib']:.0f} MiB; "
            f"one minute: {result['fired']:,} fired in {result['minute_seconds']:.1f} s, lateness "
            f"p50 {_ms(result['p50'])}, p99 {_ms(result['p99'])}, max {_ms(result['max'])}"
        )


def _ms(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown cpu"


if __name__ == "__main__":
    main()
