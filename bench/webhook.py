"""Signed webhooks against the bare-endpoint ceiling, same run, same load.

    uv run --all-packages python bench/webhook.py [--seconds 10] [--runs 3]

One gateway (one worker, SQLite, recorder engine) with three WEBHOOK triggers whose
``dedup_header`` is ``webhook-id``: Standard Webhooks v1 (HMAC-SHA256), v1a (ed25519),
and, for reference, no signature. Every request is signed with a unique ``webhook-id``
and a fresh timestamp (the requests are signed in Python before each run: wrk's Lua
has no HMAC or ed25519), so each one is verified, deduplicated, routed to its trigger
and group-committed before its 202. wrk (2 threads, 32 connections, ~1 KB JSON) posts
the same requests to the bare Starlette endpoint of bench/route.py, alternately.

Prints requests/s, p50/p99 latency and the ratio to the bare endpoint per scheme, and
the in-process cost of one signature check.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from pathlib import Path

import httpx
import route
from nacl.signing import SigningKey
from starlette.datastructures import Headers

from highway_triggers.core.auth_objects import AUTH
from highway_triggers.core.signatures import hmac_digest
from highway_triggers.testing import free_port

ADMIN_TOKEN = "bench-admin-token"
SECRET = "whsec_" + base64.b64encode(b"bench-webhook-secret-0123456789").decode()
SIGNING_KEY = SigningKey(b"\x07" * 32)
PUBLIC_KEY = "whpk_" + base64.b64encode(bytes(SIGNING_KEY.verify_key)).decode()
BODY = json.dumps({"type": "invoice.paid", "data": {"pad": route.PAD}}).encode()
AUTHS = {
    "v1": {"type": "standard-webhooks", "secret": SECRET},
    "v1a": {"type": "standard-webhooks", "public_key": PUBLIC_KEY},
    "none": {"type": "none"},
}
HEADROOM = 8000
"""Signed requests prepared per second of a run; past them wrk repeats ids (duplicates)."""

WRK_SCRIPT = """
local path = "%(path)s"
local body = '%(body)s'
local signed = {}
-- tid a global, not a local: setup() sets each thread's own through thread:set (a local
-- would shadow it, both threads would start at the same line: half the requests duplicates)
tid = 0
local threads, i = 0, 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  for line in io.lines("%(file)s") do signed[#signed + 1] = line end
  i = tid
end
function request()
  i = i + %(threads)d
  local id, ts, sig = signed[(i - 1) %% #signed + 1]:match("([^\\t]+)\\t([^\\t]+)\\t([^\\t]+)")
  local headers = {
    ["Content-Type"] = "application/json",
    ["webhook-id"] = id,
    ["webhook-timestamp"] = ts,
    ["webhook-signature"] = sig,
  }
  return wrk.format("POST", path, headers, body)
end
"""


def sign(scheme: str, message_id: str, timestamp: str) -> str:
    content = f"{message_id}.{timestamp}.".encode() + BODY
    if scheme == "v1a":
        return "v1a," + base64.b64encode(SIGNING_KEY.sign(content).signature).decode()
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    return "v1," + base64.b64encode(hmac_digest(key, content)).decode()


def prepare(scheme: str, count: int, workdir: Path) -> Path:
    """``count`` signed requests, one per line: webhook-id, timestamp, signature."""
    timestamp, run = str(int(time.time())), uuid.uuid4().hex[:8]
    lines = []
    for n in range(count):
        message_id = f"msg_{run}_{n}"
        lines.append(f"{message_id}\t{timestamp}\t{sign(scheme, message_id, timestamp)}")
    path = workdir / f"signed-{scheme}.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


def wrk(url: str, path: str, signed: Path, seconds: int, workdir: Path) -> dict[str, float]:
    script = workdir / "webhook.lua"
    body = BODY.decode().replace("\\", "\\\\").replace("'", "\\'")
    values = {"path": path, "body": body, "file": signed, "threads": route.WRK_THREADS}
    script.write_text(WRK_SCRIPT % values)
    out = subprocess.run(
        ["wrk", "-t", str(route.WRK_THREADS), "-c", str(route.WRK_CONNECTIONS), "-d", f"{seconds}s",
         "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": float(_find(r"Requests/sec:\s+([\d.]+)", out)),
        "requests": float(_find(r"(\d+) requests in", out)),
        "p50_ms": route._ms(_find(r"50%\s+([\d.]+\w+)", out)),
        "p99_ms": route._ms(_find(r"99%\s+([\d.]+\w+)", out)),
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


def _find(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    assert found is not None, f"no {pattern!r} in wrk's output:\n{text}"
    return found.group(1)


def start_gateway(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A gateway with one trigger per scheme, at ``/api/v1/public/webhook/bench-{scheme}``."""
    port = free_port()
    env = {
        "HIGHWAY_DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "HIGHWAY_SECRET_KEY": route.SECRET_KEY,
        "HIGHWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "HIGHWAY_PORT": str(port),
        "HIGHWAY_LOG_LEVEL": "WARNING",
    }
    process = route.serve(
        [sys.executable, "-m", "highway_triggers.cli", "serve"], env, port, workdir
    )
    url = f"http://127.0.0.1:{port}"
    for scheme, auth in AUTHS.items():
        config = {"webhook_path": f"bench-{scheme}", "auth": auth, "dedup_header": "webhook-id"}
        deployed = httpx.post(
            f"{url}/api/v1/deployment/workflows/bench-{scheme}/deploy",
            json={"triggers": [{"type": "WEBHOOK", "config": config}]},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        deployed.raise_for_status()
    return process, url


def check_cost(scheme: str) -> float:
    """µs for one signature check in process (the trigger's Guard does this per request)."""
    check = AUTH.validate_python(AUTHS[scheme]).check(lambda s: s, 300)
    timestamp = str(int(time.time()))
    headers = Headers(
        {
            "webhook-id": "msg_1",
            "webhook-timestamp": timestamp,
            "webhook-signature": sign(scheme, "msg_1", timestamp),
        }
    )
    runs = 2000
    return timeit.timeit(lambda: check(headers, BODY, time.time()), number=runs) / runs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--runs", type=int, default=3, help="alternating bare/gateway pairs per scheme"
    )
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cpus, {route._cpu()}, Python {sys.version.split()[0]}")
    load = f"wrk -t{route.WRK_THREADS} -c{route.WRK_CONNECTIONS} -d{args.seconds}s"
    print(f"load: {load}, ~1 KB JSON POST, unique webhook-id, fresh timestamp")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bare, bare_url = route.start_bare(workdir)
        gateway, url = start_gateway(workdir)
        pairs: dict[str, list[tuple[float, dict[str, float], dict[str, float]]]] = {
            s: [] for s in AUTHS
        }
        try:
            wrk(
                url,
                "/api/v1/public/webhook/bench-v1",
                prepare("v1", 2 * HEADROOM, workdir),
                2,
                workdir,
            )
            for _ in range(args.runs):
                for scheme in AUTHS:
                    signed = prepare(scheme, args.seconds * HEADROOM, workdir)
                    ceiling = wrk(
                        bare_url, f"/ingest/{route.TENANT}", signed, args.seconds, workdir
                    )
                    result = wrk(
                        url, f"/api/v1/public/webhook/bench-{scheme}", signed, args.seconds, workdir
                    )
                    if result["requests"] > args.seconds * HEADROOM:
                        print(f"  note: {scheme} ran out of signed requests; some were duplicates")
                    pairs[scheme].append((result["rps"] / ceiling["rps"], ceiling, result))
        finally:
            route.stop(gateway)
            route.stop(bare)
    print(f"\nmedian of {args.runs} alternating bare/gateway pairs per scheme:")
    for scheme, runs in pairs.items():
        ratio, ceiling, result = sorted(runs, key=lambda p: p[0])[len(runs) // 2]
        print(
            f"  {scheme:<4} bare {ceiling['rps']:6.0f} req/s p50 {ceiling['p50_ms']:5.2f} ms"
            f" | gateway {result['rps']:6.0f} req/s p50 {result['p50_ms']:5.2f} ms"
            f" p99 {result['p99_ms']:6.2f} ms non-2xx {result['errors']:.0f}"
            f" | ratio {ratio:.2f} | check {check_cost(scheme):5.1f} µs"
        )


if __name__ == "__main__":
    main()
