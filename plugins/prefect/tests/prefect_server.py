"""A real Prefect server and a process serving ``flows.py``, both from the Prefect
environment (``HIGHWAY_TEST_PREFECT_VENV``, default ``.tools/prefect-venv``, made by
``scripts/test-setup``), on loopback; and a proxy in front of the server that can play
an outage or hold a start's answer (a gateway killed before it recorded the start)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from highway_triggers.testing import ServerThread, free_port, wait_until

REPO = Path(__file__).resolve().parents[3]
VENV = Path(os.environ.get("HIGHWAY_TEST_PREFECT_VENV", REPO / ".tools" / "prefect-venv"))
FLOWS = Path(__file__).with_name("flows.py")
DEPLOYMENTS = ("echo:test", "typed:test", "paused:test", "suspended:test")


class Prefect:
    """The running server: its API, the folder runs write their outcome to, and helpers."""

    def __init__(self, api_url: str, out: Path) -> None:
        self.api_url = api_url
        self.out = out
        self.api = httpx.Client(base_url=api_url, timeout=30)

    def deployment_id(self, name: str) -> str:
        flow, deployment = name.split(":")
        answer = self.api.get(f"/deployments/name/{flow}/{deployment}")
        answer.raise_for_status()
        return str(answer.json()["id"])

    def runs(self, deployment: str, marker: str) -> list[dict[str, Any]]:
        """The deployment's flow runs whose trigger data carries ``marker``."""
        body = {"flow_runs": {"deployment_id": {"any_": [self.deployment_id(deployment)]}}}
        answer = self.api.post("/flow_runs/filter", json=body)
        answer.raise_for_status()
        return [
            run
            for run in answer.json()
            if run["parameters"].get("trigger", {}).get("trigger_data", {}).get("marker") == marker
        ]

    def state(self, run_id: str) -> str:
        answer = self.api.get(f"/flow_runs/{run_id}")
        answer.raise_for_status()
        return str(answer.json()["state_name"])

    def waiting_for_input(self, run_id: str, timeout: float = 30) -> None:
        """Until the run is paused (or suspended) and has saved its input's schema (the
        flow saves it just after its pause is accepted)."""

        def saved() -> bool:
            answer = self.api.get(f"/flow_runs/{run_id}")
            answer.raise_for_status()
            state = answer.json()["state"] or {}
            keyset = state.get("state_details", {}).get("run_input_keyset")
            if state.get("type") != "PAUSED" or not keyset:
                return False
            return self.api.get(f"/flow_runs/{run_id}/input/{keyset['schema']}").is_success

        wait_until(saved, timeout=timeout, interval=0.1)

    def completed_with(self, run_id: str, timeout: float = 30) -> Any:
        """What the run completed with (``flows.completed``), once it has."""
        done = self.out / f"{run_id}.json"
        wait_until(done.exists, timeout=timeout, interval=0.1)
        wait_until(lambda: self.state(run_id) == "Completed", timeout=timeout, interval=0.1)
        return json.loads(done.read_text())


def prefect_env(home: Path, port: int, out: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "HIGHWAY_TEST_OUT": str(out),
    }


@contextmanager
def running_prefect(folder: Path, *, flows: bool = True) -> Iterator[Prefect]:
    """Start the server and (``flows``) the flows' process; stop both."""
    port, out = free_port(), folder / "out"
    out.mkdir()
    env = prefect_env(folder / "home", port, out)
    log = open(folder / "prefect.log", "ab")  # noqa: SIM115 - closed below
    processes: list[subprocess.Popen[bytes]] = []
    prefect = Prefect(env["PREFECT_API_URL"], out)
    try:
        server = [str(VENV / "bin" / "prefect"), "server", "start", "--host", "127.0.0.1"]
        processes.append(
            subprocess.Popen([*server, "--port", str(port)], env=env, stdout=log, stderr=log)
        )

        def healthy() -> bool:
            if processes[0].poll() is not None:
                raise RuntimeError(f"prefect server exited: {read_log(folder)}")
            try:
                return prefect.api.get("/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=60, interval=0.2)
        if not flows:
            yield prefect
            return
        processes.append(
            subprocess.Popen(
                [str(VENV / "bin" / "python"), str(FLOWS)], env=env, stdout=log, stderr=log
            )
        )

        def served() -> bool:
            if processes[1].poll() is not None:
                raise RuntimeError(f"the flows' process exited: {read_log(folder)}")
            for name in DEPLOYMENTS:
                flow, deployment = name.split(":")
                if prefect.api.get(f"/deployments/name/{flow}/{deployment}").status_code != 200:
                    return False
            return True

        wait_until(served, timeout=60, interval=0.2)
        yield prefect
    finally:
        prefect.api.close()
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def read_log(folder: Path) -> str:
    return (folder / "prefect.log").read_text(errors="replace")[-3000:]


class Proxy:
    """Forwards to Prefect's API; ``down``: answers 503; ``busy``: answers that many
    requests with Prefect's 503 of a locked SQLite database; ``hold_starts``: forwards a
    ``create_flow_run`` but never answers it (``held`` is set once Prefect accepted one)."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.down = False
        self.busy = 0
        self.hold_starts = False
        self.held = threading.Event()
        self.refused = 0
        self.server = ServerThread(self.app, interface="asgi3")
        self.url = f"{self.server.url}/api"

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        request = Request(scope, receive)
        if self.busy > 0:
            self.busy -= 1
            self.refused += 1
            body = {"exception_message": "Service Unavailable"}
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        if self.down:
            self.refused += 1
            await Response("unavailable", status_code=503)(scope, receive, send)
            return
        path = request.url.path.removeprefix("/api")
        headers = {
            k: v for k, v in request.headers.items() if k in ("content-type", "authorization")
        }
        async with httpx.AsyncClient(base_url=self.api_url, timeout=30) as client:
            answer = await client.request(
                request.method, path, content=await request.body(), headers=headers
            )
        if self.hold_starts and path.endswith("/create_flow_run") and answer.status_code < 300:
            self.held.set()
            while self.hold_starts:  # the gateway is killed meanwhile
                await asyncio.sleep(0.05)
        response = Response(answer.content, status_code=answer.status_code)
        response.headers["content-type"] = answer.headers.get("content-type", "application/json")
        await response(scope, receive, send)
