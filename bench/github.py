"""Signed GitHub push deliveries with 10,000 repositories deployed, against the
bare-endpoint ceiling, same run, same load.

    uv run --all-packages python bench/github.py [--seconds 10] [--runs 3] [--repositories 10000]

One gateway (one worker, SQLite in a temporary data dir, recorder engine, the GitHub plugin,
``HIGHWAY_GITHUB_WEBHOOK_SECRET`` set) with one GITHUB trigger per repository
(``bench-org/repo-00000`` …), each taking pushes with ``branches: [main, release/**]`` and
``paths: [src/**]``, deployed through the API in workflows of 500 triggers. wrk (2 threads,
32 connections) posts real-shaped push deliveries — the plugin tests' push.added-modified
fixture (~8 KB), ref ``main``, files under ``src/`` — for 64 repositories spread over the
deployed ones. Each body is signed once in Python (GitHub signs the body only, so one
signature holds for every delivery of it; wrk's Lua has no HMAC), and every request has a
unique ``X-GitHub-Delivery``: each one is verified against the gateway-wide secret, parsed,
routed (phase 1 by repository, phase 2 the branch and path patterns), deduplicated,
stored in ``github_webhook_events`` and group-committed before its 202. wrk posts the same
bodies with the same script to the bare Starlette endpoint of bench/route.py, alternately.

Prints the seeding time; per run and the median: requests/s, p50/p99 latency, non-2xx, the
ratio to the bare endpoint (the route's goal: ≥ 0.35); the gateway's own count of
deliveries by outcome; and the in-process cost of the pieces of one delivery.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import route
from starlette.datastructures import Headers

from highway_triggers.core.json_body import parse_json
from highway_triggers.plugin import GitHubAuth
from highway_triggers.testing import free_port
from highway_triggers_github.config import GitHubConfig
from highway_triggers_github.delivery import trigger_data
from highway_triggers_github.matcher import mismatch

ADMIN_TOKEN = "bench-admin-token"
WEBHOOK_SECRET = "bench-github-webhook-secret"
WEBHOOK = "/api/v1/github/webhook"
FIXTURE = Path(__file__).parent.parent / "plugins/github/tests/fixtures/push.added-modified.json"
OWNER = "bench-org"
PUSH_FILTER = {"branches": ["main", "release/**"], "paths": ["src/**"]}
TRIGGER = {"events": ["push"], "event_config": {"push": PUSH_FILTER}}
"""Each trigger's config, less its repository."""
TRIGGERS_PER_WORKFLOW = 500
BODIES = 64
TARGET_RATIO = 0.35
"""The goal for this route, as a share of the bare endpoint."""

WRK_SCRIPT = """
local path = "%(path)s"
local run = "%(run)s"
local signatures, bodies = {}, {}
-- a global, not a local: setup() sets each thread's own through thread:set (a local
-- would shadow it, both threads would send the same delivery ids: duplicates)
tid = 0
local threads, counter = 0, 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  for line in io.lines("%(index)s") do
    local signature, file = line:match("([^\\t]+)\\t([^\\t]+)")
    local f = assert(io.open(file, "rb"))
    signatures[#signatures + 1] = signature
    bodies[#bodies + 1] = f:read("*a")
    f:close()
  end
end
function request()
  counter = counter + 1
  local k = (counter + tid) %% #bodies + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "push",
    ["X-GitHub-Delivery"] = run .. "-" .. tid .. "-" .. counter,
    ["X-Hub-Signature-256"] = signatures[k],
  }
  return wrk.format("POST", path, headers, bodies[k])
end
"""


def repository(n: int) -> str:
    return f"{OWNER}/repo-{n:05d}"


def sign(body: bytes) -> str:
    """``X-Hub-Signature-256`` as GitHub computes it: HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()


def push_body(full_name: str) -> bytes:
    """The fixture push (compact, as GitHub sends it) to ``main`` of ``full_name``, its
    files moved under ``src/``."""
    payload = json.loads(FIXTURE.read_bytes())
    payload["ref"] = "refs/heads/main"
    owner, name = full_name.split("/")
    payload["repository"].update(full_name=full_name, name=name)
    payload["repository"]["owner"].update(login=owner, name=owner)
    for commit in (*payload["commits"], payload["head_commit"]):
        for kind in ("added", "removed", "modified"):
            commit[kind] = [f"src/{path}" for path in commit[kind]]
    return json.dumps(payload).encode()


def write_bodies(repositories: int, workdir: Path) -> tuple[Path, list[bytes]]:
    """:data:`BODIES` push bodies for repositories spread over the deployed ones, each in
    its own file; an index for wrk's Lua, one line per body: signature, file."""
    bodies = [push_body(repository(k * repositories // BODIES)) for k in range(BODIES)]
    lines = []
    for k, body in enumerate(bodies):
        file = workdir / f"push-{k:02d}.json"
        file.write_bytes(body)
        lines.append(f"{sign(body)}\t{file}")
    index = workdir / "bodies.tsv"
    index.write_text("\n".join(lines) + "\n")
    return index, bodies


def wrk(url: str, path: str, index: Path, seconds: int, workdir: Path) -> dict[str, float]:
    script = workdir / "github.lua"
    values = {"path": path, "run": uuid.uuid4().hex[:8], "index": index}
    script.write_text(WRK_SCRIPT % values)
    return route.run_wrk(url, script, seconds)


def start_gateway(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        "HIGHWAY_DATA_DIR": str(workdir),
        "HIGHWAY_DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "HIGHWAY_SECRET_KEY": route.SECRET_KEY,
        "HIGHWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "HIGHWAY_PORT": str(port),
        "HIGHWAY_LOG_LEVEL": "WARNING",
        "HIGHWAY_GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    command = [sys.executable, "-m", "highway_triggers.cli", "serve", "--workers", "1"]
    return route.serve(command, env, port, workdir), f"http://127.0.0.1:{port}"


def deploy(url: str, repositories: int) -> None:
    """One GITHUB trigger per repository, :data:`TRIGGERS_PER_WORKFLOW` per workflow."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        for first in range(0, repositories, TRIGGERS_PER_WORKFLOW):
            last = min(first + TRIGGERS_PER_WORKFLOW, repositories)
            triggers = [
                {"type": "GITHUB", "config": {**TRIGGER, "repository": repository(n)}}
                for n in range(first, last)
            ]
            workflow = f"bench-github-{first // TRIGGERS_PER_WORKFLOW}"
            answer = client.post(
                f"/api/v1/deployment/workflows/{workflow}/deploy",
                json={"triggers": triggers},
                timeout=300,
            )
            answer.raise_for_status()


def check_sample(url: str, bodies: list[bytes]) -> None:
    """Each body, delivered once: 202, routed to its repository's trigger alone."""
    for body in bodies:
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(body),
        }
        answer = httpx.post(url + WEBHOOK, content=body, headers=headers)
        assert answer.status_code == 202, answer.text
        found = answer.json()
        assert found["delivered_to"] == 1 and not found["duplicate"], found


def per_call_us(call: Callable[[], object], runs: int = 2000) -> float:
    return timeit.timeit(call, number=runs) / runs * 1e6


def piece_costs(body: bytes) -> dict[str, float]:
    """µs per call, in process, of the pieces of one delivery."""
    check = GitHubAuth(type="github", secret=WEBHOOK_SECRET).check(lambda s: s, 300)
    headers = Headers({"x-hub-signature-256": sign(body)})
    payload = parse_json(body)
    data = trigger_data("push", "delivery-1", payload)
    config = GitHubConfig.model_validate(
        {**TRIGGER, "repository": payload["repository"]["full_name"]}
    )
    assert mismatch(config, data) is None
    return {
        "signature check": per_call_us(lambda: check(headers, body, time.time())),
        "parse_json": per_call_us(lambda: parse_json(body)),
        "trigger_data": per_call_us(lambda: trigger_data("push", "delivery-1", payload)),
        "matcher.mismatch (3 patterns)": per_call_us(lambda: mismatch(config, data)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3, help="alternating bare/gateway pairs")
    parser.add_argument("--repositories", type=int, default=10_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    print(f"machine: {os.cpu_count()} cpus, {route._cpu()}, Python {sys.version.split()[0]}")
    synchronous = os.environ.get("HIGHWAY_SQLITE_SYNCHRONOUS", "FULL").upper()
    print(f"gateway: 1 worker, sqlite ({synchronous}), recorder engine, access log off")
    load = f"wrk -t{route.WRK_THREADS} -c{route.WRK_CONNECTIONS} -d{args.seconds}s"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        index, bodies = write_bodies(args.repositories, workdir)
        print(
            f"load: {load}, push deliveries of {len(bodies)} repositories "
            f"(~{len(bodies[0]) / 1000:.1f} KB each), unique X-GitHub-Delivery"
        )
        bare, bare_url = route.start_bare(workdir)
        gateway, url = start_gateway(workdir)
        pairs: list[tuple[float, dict[str, float], dict[str, float]]] = []
        try:
            began = time.perf_counter()
            deploy(url, args.repositories)
            seeded = time.perf_counter() - began
            print(
                f"seeding: {args.repositories:,} GITHUB triggers in workflows of "
                f"{TRIGGERS_PER_WORKFLOW} deployed in {seeded:.1f} s"
            )
            check_sample(url, bodies)
            answered = len(bodies) + wrk(url, WEBHOOK, index, 2, workdir)["requests"]  # warm-up
            print("\nper run (bare, then gateway):")
            for run in range(1, args.runs + 1):
                ceiling = wrk(bare_url, f"/ingest/{route.TENANT}", index, args.seconds, workdir)
                result = wrk(url, WEBHOOK, index, args.seconds, workdir)
                ratio = result["rps"] / ceiling["rps"]
                answered += result["requests"]
                pairs.append((ratio, ceiling, result))
                print(
                    f"  run {run}: gateway {result['rps']:6.0f} req/s"
                    f" p50 {result['p50_ms']:5.2f} ms p99 {result['p99_ms']:6.2f} ms"
                    f" non-2xx {result['errors']:.0f}"
                    f" | bare {ceiling['rps']:6.0f} req/s non-2xx {ceiling['errors']:.0f}"
                    f" | ratio {ratio:.2f}"
                )
            counted = route.outcome_counts(
                url, "highway_github_deliveries_total", "highway_github_refused_total", event="push"
            )
        finally:
            route.stop(gateway)
            route.stop(bare)
    ratio, ceiling, result = sorted(pairs, key=lambda p: p[0])[len(pairs) // 2]
    met = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(
        f"\nmedian of {args.runs} (by ratio): gateway {result['rps']:.0f} req/s"
        f" p50 {result['p50_ms']:.2f} ms p99 {result['p99_ms']:.2f} ms"
        f" | bare {ceiling['rps']:.0f} req/s p50 {ceiling['p50_ms']:.2f} ms"
        f" | ratio {ratio:.2f}: target ≥ {TARGET_RATIO} {met}"
    )
    print(
        "the gateway's count of push deliveries: "
        + ", ".join(f"{outcome} {count}" for outcome, count in sorted(counted.items()))
        + f" (answered to wrk and the sample check: {answered:.0f}; up to"
        f" {route.WRK_CONNECTIONS} more per wrk run were in flight when it stopped)"
    )
    print("\nin process, µs per call (one ~8 KB push):")
    for piece, cost in piece_costs(bodies[0]).items():
        print(f"  {piece:<30} {cost:7.1f}")


if __name__ == "__main__":
    main()
