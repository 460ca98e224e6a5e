"""Storage under sustained full-rate ingress: the SQLite file levels off once pruning
deletes what is past its retention.

    uv run --all-packages python bench/soak.py [--minutes 5] [--retention-seconds 30]

Runs the gateway (one worker, SQLite, recorder engine) with short retention periods
(dedup rows, the delivery log, finished dispatches) and pruning every few seconds,
loads it with wrk as ``bench/route.py`` does (unique ``Idempotency-Key`` per request,
~1 KB JSON), and prints after every slice the rows written so far, the database and WAL
sizes and the rows left in each table. Without pruning the file grows with every event
(about 1 KB of payload, plus its dedup and log rows and indexes); with it, the size
stops growing after the first retention period: freed pages are reused.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

from route import SECRET_KEY, TENANT, seed, serve, stop, wrk

from highway_triggers.testing import free_port

TABLES = ("dispatches", "deliveries", "delivery_log")


def sizes(db_path: Path) -> tuple[float, float, dict[str, int]]:
    """Database and WAL size in MB, and rows per table (read-only)."""
    wal = db_path.with_name(db_path.name + "-wal")
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()
    mb = 1024 * 1024
    return db_path.stat().st_size / mb, (wal.stat().st_size if wal.exists() else 0) / mb, rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--slice-seconds", type=int, default=20)
    parser.add_argument("--retention-seconds", type=float, default=30.0)
    parser.add_argument("--prune-seconds", type=float, default=5.0)
    args = parser.parse_args()
    hours = args.retention_seconds / 3600
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db_path = workdir / "soak.db"
        token = seed(f"sqlite:///{db_path}", 1000)
        port = free_port()
        env = {
            "HIGHWAY_DATA_DIR": str(workdir),
            "HIGHWAY_DATABASE_URL": f"sqlite:///{db_path}",
            "HIGHWAY_SECRET_KEY": SECRET_KEY,
            "HIGHWAY_PORT": str(port),
            "HIGHWAY_LOG_LEVEL": "WARNING",
            "HIGHWAY_ACCESS_LOG": "false",
            "HIGHWAY_DELIVERY_RETENTION_HOURS": str(hours),
            "HIGHWAY_DISPATCH_RETENTION_HOURS": str(hours),
            "HIGHWAY_PRUNE_INTERVAL_SECONDS": str(args.prune_seconds),
        }
        command = [sys.executable, "-m", "highway_triggers.cli", "serve"]
        process = serve(command, env, port, workdir)
        url, path = f"http://127.0.0.1:{port}", f"/api/v1/events/{TENANT}"
        print(
            f"retention {args.retention_seconds:g} s, pruning every {args.prune_seconds:g} s,"
            f" {args.slice_seconds} s slices of wrk -t2 -c32"
        )
        print(f"{'elapsed':>8} {'req/s':>8} {'written':>10} {'db MB':>8} {'wal MB':>7}  rows")
        written, elapsed, history = 0, 0, []
        try:
            while elapsed < args.minutes * 60:
                result = wrk(url, path, 1000, token, args.slice_seconds, workdir)
                elapsed += args.slice_seconds
                written += int(result["rps"] * args.slice_seconds)
                db_mb, wal_mb, rows = sizes(db_path)
                history.append(db_mb)
                counts = ", ".join(f"{t} {n:,}" for t, n in rows.items())
                print(
                    f"{elapsed:>7}s {result['rps']:>8.0f} {written:>10,} {db_mb:>8.1f}"
                    f" {wal_mb:>7.1f}  {counts}"
                )
        finally:
            stop(process)
        half = len(history) // 2
        print(
            f"\ndatabase file: {history[half - 1]:.1f} MB at half time, {history[-1]:.1f} MB at"
            f" the end, for {written:,} events ({written * 1.0 / 1024:,.0f} MB of payload)"
        )


if __name__ == "__main__":
    main()
