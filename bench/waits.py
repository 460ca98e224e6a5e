"""Event injection against open waits, against the bare-endpoint ceiling, same run.

    uv run --all-packages python bench/waits.py [--waits 100000] [--seconds 10]

N multi-use waits of one tenant are open (correlation keys key-0 … key-N-1); wrk posts
``POST /api/v1/events/{tenant}`` with a random key each time, so every request is a
phase-0 lookup among N waits plus a resume dispatch, group-committed, 202. The bare
Starlette endpoint of bench/route.py gets the same load, alternately.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

import route

from highway_triggers.testing import free_port

WAIT_SCRIPT = route.WRK_SCRIPT.replace(
    """local body = '{"event_name":"' .. name .. '","payload":{"pad":"' .. pad .. '"}}'""",
    """local body = '{"event_name":"order.paid","correlation_key":"key-' .. math.random(0, n - 1)"""
    """ .. '","payload":{"pad":"' .. pad .. '"}}'""",
)


def seed_waits(db_path: Path, n: int) -> str:
    """The schema, the tenant and N open multi-use waits; the tenant's JWT."""
    token = route.seed(db_path, 1)
    conn = sqlite3.connect(db_path)
    now = "2026-01-01 00:00:00.000000"
    conn.executemany(
        "INSERT INTO waits (id, tenant_id, workflow_run_id, workflow_id, event_name,"
        " correlation_key, multi_use, created_at) VALUES (?,?,?,?,?,?,1,?)",
        (
            (f"w{i:08d}", route.TENANT, f"run-{i}", "wf", "order.paid", f"key-{i}", now)
            for i in range(n)
        ),
    )
    conn.commit()
    conn.close()
    return token


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--waits", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3, help="alternating bare/gateway pairs")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cpus, {route._cpu()}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db_path = workdir / "waits.db"
        token = seed_waits(db_path, args.waits)
        bare, bare_url = route.start_bare(workdir)
        port = free_port()
        env = {
            "HIGHWAY_DATABASE_URL": f"sqlite:///{db_path}",
            "HIGHWAY_SECRET_KEY": route.SECRET_KEY,
            "HIGHWAY_PORT": str(port),
            "HIGHWAY_LOG_LEVEL": "WARNING",
        }
        gateway = route.serve(
            [sys.executable, "-m", "highway_triggers.cli", "serve"], env, port, workdir
        )
        url, path = f"http://127.0.0.1:{port}", f"/api/v1/events/{route.TENANT}"
        pairs = []
        try:
            route.WRK_SCRIPT = WAIT_SCRIPT
            route.wrk(url, path, args.waits, token, 2, workdir)  # warm-up
            for _ in range(args.runs):
                ceiling = route.wrk(
                    bare_url, f"/ingest/{route.TENANT}", args.waits, "none", args.seconds, workdir
                )
                result = route.wrk(url, path, args.waits, token, args.seconds, workdir)
                pairs.append((result["rps"] / ceiling["rps"], ceiling, result))
        finally:
            route.stop(gateway)
            route.stop(bare)
        ratio, ceiling, result = sorted(pairs, key=lambda p: p[0])[len(pairs) // 2]
        print(
            f"{args.waits:,} open waits (median of {args.runs} alternating pairs):\n"
            f"  bare Starlette endpoint {ceiling['rps']:8.0f} req/s  p50 {ceiling['p50_ms']:.2f} ms\n"
            f"  events -> resume        {result['rps']:8.0f} req/s  p50 {result['p50_ms']:.2f} ms"
            f"  p99 {result['p99_ms']:.2f} ms  non-2xx {result['errors']:.0f}\n"
            f"  ratio to bare {ratio:.2f}"
        )


if __name__ == "__main__":
    main()
