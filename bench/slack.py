"""Signed Slack events per second and their latency with the engine down: Slack's 3-second
answer holds, as every event is committed to the outbox before its 200 and the engine is
called afterwards. Against the bare-endpoint ceiling, same run, same load.

    uv run --all-packages python bench/slack.py [--seconds 10] [--runs 1]

One gateway (one worker, SQLite in a temporary data dir, the Slack plugin,
``HIGHWAY_SLACK_SIGNING_SECRET`` set) whose engine is down: ``HIGHWAY_ENGINE=http`` with
``HIGHWAY_ENGINE_URL`` a local port nothing listens on, so every engine call fails at once
and is retried later. One SLACK trigger takes the messages of a channel. wrk (2 threads,
32 connections) posts Events API ``event_callback`` messages (the plugin tests' fixture,
~0.5 KB), each with its own ``event_id`` and ``ts``: Slack signs ``v0:{timestamp}:{body}``
with a timestamp that must be within 5 minutes and wrk's Lua has no HMAC, so before each
wrk run the bodies are signed in Python with the current time and written one a line; each
wrk thread cycles through its own share of them (enough that none repeats within a run).
Each request is verified, parsed, routed (phase 1 by workspace, phase 2 the channel),
deduplicated on its ``event_id``, stored in ``slack_events``, and its start committed to
the outbox before its 200. wrk posts the same bodies to the bare Starlette endpoint of
bench/route.py, alternately.

Prints per run: requests/s, p50/p99/max latency, non-2xx, the ratio to the bare endpoint,
and whether every answer came well within Slack's 3 seconds (p99 and max under 3,000 ms);
then the gateway's count of deliveries by outcome and the dispatches kept in the outbox
(``/health/detailed``), waiting for the engine.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import route

from highway_triggers.testing import free_port

ADMIN_TOKEN = "bench-admin-token"
SIGNING_SECRET = "bench-slack-signing-secret"
EVENTS = "/api/v1/slack/events"
FIXTURE = (
    Path(__file__).parent.parent
    / "plugins/slack/tests/fixtures/event_callback.message.channel.json"
)
TEAM, CHANNEL = "T0BENCH001", "C0BENCH001"
SLACK_DEADLINE_MS = 3000.0
"""Slack retries an event it got no answer for within 3 seconds."""
BODIES_PER_SECOND = 12_000
"""Bodies signed per second of a wrk run: more than the gateway answers, so no
``event_id`` repeats (a repeat would show as a duplicate below)."""

WRK_SCRIPT = """
local path = "%(path)s"
local threads_of_wrk = %(threads)d
local entries = {}
-- a global, not a local: setup() sets each thread's own through thread:set
tid = 0
local threads, counter = 0, 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  local n = 0
  for line in io.lines("%(index)s") do
    n = n + 1
    if n %% threads_of_wrk == tid - 1 then  -- each thread its own share: no event_id twice
      local stamp, signature, body = line:match("([^\\t]+)\\t([^\\t]+)\\t(.+)")
      entries[#entries + 1] = {stamp, signature, body}
    end
  end
end
function request()
  counter = counter + 1
  local entry = entries[(counter - 1) %% #entries + 1]
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "Slackbot 1.0 (+https://api.slack.com/robots)",
    ["X-Slack-Request-Timestamp"] = entry[1],
    ["X-Slack-Signature"] = entry[2],
  }
  return wrk.format("POST", path, headers, entry[3])
end
function done(summary, latency, requests)
  local f = assert(io.open("%(latency)s", "w"))
  f:write(string.format("%%d %%d\\n", latency.max, latency:percentile(99)))
  f:close()
end
"""


def sign(body: bytes, timestamp: str) -> str:
    """``X-Slack-Signature`` as Slack computes it: HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()


def event_body(event_id: str, number: int) -> bytes:
    """The fixture message (compact, as Slack sends it) in the bench's workspace and channel,
    with ``event_id`` and its own ``ts``."""
    payload: dict[str, Any] = json.loads(FIXTURE.read_bytes())
    payload.update(team_id=TEAM, event_id=event_id, event_time=int(time.time()))
    payload["event"].update(
        channel=CHANNEL, ts=f"{int(time.time())}.{number:06d}", text=f"deploy prod #{number}"
    )
    return json.dumps(payload, separators=(",", ":")).encode()


def write_bodies(count: int, workdir: Path) -> Path:
    """``count`` bodies with unique ``event_id``s, signed now, one a line for wrk's Lua:
    timestamp, signature, body."""
    stamp, run = str(int(time.time())), uuid.uuid4().hex[:8].upper()
    index = workdir / "events.tsv"
    with index.open("wb") as out:
        for number in range(count):
            body = event_body(f"Ev{run}{number:08d}", number)
            out.write(f"{stamp}\t{sign(body, stamp)}\t".encode() + body + b"\n")
    return index


def wrk(url: str, path: str, seconds: int, workdir: Path) -> dict[str, float]:
    """One wrk run over freshly signed bodies: route.run_wrk's figures and ``max_ms``
    (wrk's own maximum, written by the script's ``done``), ``p99_ms`` at µs precision."""
    index = write_bodies(max(seconds, 2) * BODIES_PER_SECOND, workdir)
    latency = workdir / "latency.txt"
    script = workdir / "slack.lua"
    values = {"path": path, "threads": route.WRK_THREADS, "index": index, "latency": latency}
    script.write_text(WRK_SCRIPT % values)
    result = route.run_wrk(url, script, seconds)
    max_us, p99_us = (int(value) for value in latency.read_text().split())
    result.update(max_ms=max_us / 1000, p99_ms=p99_us / 1000)
    return result


def start_gateway(workdir: Path) -> tuple[Any, str, str]:
    """The gateway, its URL, and the engine URL nothing answers at."""
    port, engine_port = free_port(), free_port()  # the engine's port: never listened on
    engine_url = f"http://127.0.0.1:{engine_port}"
    env = {
        "HIGHWAY_DATA_DIR": str(workdir),
        "HIGHWAY_DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "HIGHWAY_SECRET_KEY": route.SECRET_KEY,
        "HIGHWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "HIGHWAY_PORT": str(port),
        "HIGHWAY_LOG_LEVEL": "WARNING",
        "HIGHWAY_ENGINE": "http",
        "HIGHWAY_ENGINE_URL": engine_url,
        "HIGHWAY_SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    command = [sys.executable, "-m", "highway_triggers.cli", "serve", "--workers", "1"]
    return route.serve(command, env, port, workdir), f"http://127.0.0.1:{port}", engine_url


def admin(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


def deploy(url: str) -> None:
    """One SLACK trigger: the messages of the bench's channel start its workflow."""
    config = {"workspace_id": TEAM, "event_types": ["message"], "channels": [CHANNEL]}
    with admin(url) as client:
        answer = client.post(
            "/api/v1/deployment/workflows/bench-slack/deploy",
            json={"triggers": [{"type": "SLACK", "config": config}]},
        )
        answer.raise_for_status()


def check_sample(url: str) -> None:
    """One signed event: 200 at once, routed to the trigger, though the engine is down."""
    stamp = str(int(time.time()))
    body = event_body(f"EvSAMPLE{uuid.uuid4().hex[:8].upper()}", 0)
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(body, stamp),
    }
    answer = httpx.post(url + EVENTS, content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["delivered_to"] == 1 and not found["duplicate"], found


def outbox(url: str) -> dict[str, int]:
    """Dispatches by status (``/health/detailed``)."""
    with admin(url) as client:
        counts: dict[str, int] = client.get("/health/detailed").json()["dispatches"]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1, help="alternating bare/gateway pairs")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    print(f"machine: {os.cpu_count()} cpus, {route._cpu()}, Python {sys.version.split()[0]}")
    synchronous = os.environ.get("HIGHWAY_SQLITE_SYNCHRONOUS", "FULL").upper()
    load = f"wrk -t{route.WRK_THREADS} -c{route.WRK_CONNECTIONS} -d{args.seconds}s"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bare, bare_url = route.start_bare(workdir)
        gateway, url, engine_url = start_gateway(workdir)
        print(
            f"gateway: 1 worker, sqlite ({synchronous}), access log off, engine http at "
            f"{engine_url} (nothing listens: down)"
        )
        print(
            f"load: {load}, signed event_callback messages (~{len(event_body('Ev0', 0))} B), "
            "a unique event_id each"
        )
        results = []
        try:
            deploy(url)
            check_sample(url)
            answered = 1 + wrk(url, EVENTS, 2, workdir)["requests"]  # warm-up
            print("\nper run (bare, then gateway):")
            for run in range(1, args.runs + 1):
                ceiling = wrk(bare_url, f"/ingest/{route.TENANT}", args.seconds, workdir)
                result = wrk(url, EVENTS, args.seconds, workdir)
                answered += result["requests"]
                results.append(result)
                within = (
                    result["p99_ms"] < SLACK_DEADLINE_MS and result["max_ms"] < SLACK_DEADLINE_MS
                )
                print(
                    f"  run {run}: gateway {result['rps']:6.0f} events/s"
                    f" p50 {result['p50_ms']:5.2f} ms p99 {result['p99_ms']:6.2f} ms"
                    f" max {result['max_ms']:7.2f} ms non-2xx {result['errors']:.0f}"
                    f" | bare {ceiling['rps']:6.0f} req/s p50 {ceiling['p50_ms']:.2f} ms"
                    f" p99 {ceiling['p99_ms']:.2f} ms"
                    f" | ratio {result['rps'] / ceiling['rps']:.2f}"
                    f" | every answer within Slack's 3 s: {'yes' if within else 'NO'}"
                )
            counted = route.outcome_counts(
                url, "highway_slack_deliveries_total", "highway_slack_refused_total", type="message"
            )
            kept = outbox(url)
        finally:
            route.stop(gateway)
            route.stop(bare)
    print(
        "\nthe gateway's count of message events: "
        + ", ".join(f"{outcome} {count}" for outcome, count in sorted(counted.items()))
        + f" (answered to wrk and the sample: {answered:.0f}; up to"
        f" {route.WRK_CONNECTIONS} more per wrk run were in flight when it stopped)"
    )
    waiting = sum(kept.get(status, 0) for status in ("pending", "delivering", "failed"))
    print(
        f"outbox, the engine being down: {waiting} dispatches kept for the engine ("
        + ", ".join(f"{status} {count}" for status, count in sorted(kept.items()))
        + "), retried with backoff until it answers"
    )


if __name__ == "__main__":
    main()
