"""The ``prefect`` engine adapter: Prefect's REST API over httpx.

A start creates a flow run of a deployment with the dispatch's idempotency key (Prefect
answers the same run for the same key); a resume resumes a paused or suspended run
with the event's payload as its run input, once per key (below); the paused runs of a
deployment are its runs in a ``PAUSED`` state (Paused and Suspended).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from datetime import datetime
from typing import Any

import httpx

from highway_triggers.plugin import EngineAdapter, EngineError, PausedRun
from highway_triggers_prefect.settings import PrefectSettings

UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
RETRYABLE_STATUSES = frozenset({408, 425, 429})
"""Besides 5xx; every other 4xx fails the dispatch at once (Prefect answers 409 to
parameters that fail the deployment's schema, which will never pass)."""
PAUSED_RUNS_LIMIT = 200
BUSY_RETRIES = 5
"""503s retried within one call, after 0.05, 0.1, 0.2, 0.4, 0.8 s (jittered): Prefect's
answer to a write its SQLite database refused ("database is locked"), which rolled back."""
BUSY_BACKOFF_SECONDS = 0.05
FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})
"""Prefect's state types of a run that ended: a resume Prefect aborts then is final."""
SCHEMA_NOT_YET_SAVED = "Run input schema not found."
"""Prefect's ``REJECT`` of a resume that came between a run's pause and the save of its
input's schema (the flow writes it just after pausing): retried, like ``ABORT``."""


class PrefectRefused(EngineError):
    """Prefect answered an error status; 5xx, 408, 425 and 429 are retried."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, retryable=status >= 500 or status in RETRYABLE_STATUSES)
        self.status = status


def marker_key(idempotency_key: str) -> str:
    """The flow run input that records a resume by this key (Prefect's keys: letters,
    digits and dashes)."""
    return "highway-resume-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


class PrefectEngine(EngineAdapter):
    """Starts, resumes and lists paused flow runs of Prefect deployments.

    ``workflow_id`` is a deployment id or ``flow-name:deployment-name`` (looked up once).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefect = PrefectSettings.load()
        headers = {"User-Agent": "highway-triggers"}
        auth: httpx.Auth | None = None
        if self.prefect.api_key is not None:
            headers["Authorization"] = f"Bearer {self.prefect.api_key.get_secret_value()}"
        if self.prefect.api_auth_string is not None:
            user, _, password = self.prefect.api_auth_string.get_secret_value().partition(":")
            auth = httpx.BasicAuth(user, password)
        self._client = httpx.AsyncClient(
            base_url=self.prefect.api_url,
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(self.settings.engine_timeout_seconds, connect=5.0),
            limits=httpx.Limits(max_connections=self.prefect.max_concurrency),
        )
        self._slots = asyncio.Semaphore(self.prefect.max_concurrency)
        self._deployments: dict[str, str] = {}

    async def start(
        self,
        workflow_id: str,
        *,
        trigger_type: str,
        trigger_data: dict[str, Any],
        tenant_id: str | None,
        idempotency_key: str,
    ) -> str:
        deployment_id = await self._deployment_id(workflow_id)
        trigger = {
            "trigger_type": trigger_type,
            "trigger_data": trigger_data,
            "tenant_id": tenant_id,
        }
        body = {"parameters": {self.prefect.parameter: trigger}, "idempotency_key": idempotency_key}
        run = await self._call("POST", f"/deployments/{deployment_id}/create_flow_run", json=body)
        if not isinstance(run, dict) or not run.get("id"):
            raise EngineError("Prefect answered a flow run without an id")
        return str(run["id"])

    async def resume(
        self,
        execution_id: str,
        *,
        resume_data: dict[str, Any],
        interaction_id: str,
        idempotency_key: str,
        event_name: str | None = None,
        correlation_key: str | None = None,
    ) -> None:
        """Resume with ``resume_data`` as the run input. A flow run input named after the
        key marks the resume: an attempt whose answer was lost finds it, and Prefect's
        ``ABORT`` (the run is no longer paused) then means done. Without the mark, an
        ``ABORT`` is retried (the run may not have paused yet) unless the run has ended."""
        if not _is_uuid(execution_id):
            raise EngineError(f"{execution_id!r} is not a Prefect flow run id", retryable=False)
        marker = marker_key(idempotency_key)
        earlier = not await self._mark(execution_id, marker, interaction_id)
        answer = await self._call(
            "POST", f"/flow_runs/{execution_id}/resume", json={"run_input": resume_data}
        )
        status = answer.get("status") if isinstance(answer, dict) else None
        if status == "ACCEPT" or (status == "ABORT" and earlier):
            return
        await self._call("DELETE", f"/flow_runs/{execution_id}/input/{marker}", missing_ok=True)
        reason = _reason(answer)
        if status == "REJECT" and reason != SCHEMA_NOT_YET_SAVED:
            raise EngineError(f"Prefect rejected the resume: {reason}", retryable=False)
        if status == "ABORT" and (ended := await self._final_state(execution_id)) is not None:
            raise EngineError(
                f"flow run {execution_id} is {ended}: it can no longer be resumed",
                retryable=False,
            )
        raise EngineError(f"Prefect did not resume flow run {execution_id} ({status}): {reason}")

    async def paused_runs(
        self, workflow_id: str, *, tenant_id: str | None, idempotency_key: str
    ) -> list[PausedRun]:
        deployment_id = await self._deployment_id(workflow_id)
        body = {
            "flow_runs": {
                "deployment_id": {"any_": [deployment_id]},
                "state": {"type": {"any_": ["PAUSED"]}},
            },
            "sort": "START_TIME_DESC",
            "limit": PAUSED_RUNS_LIMIT,
        }
        runs = await self._call("POST", "/flow_runs/filter", json=body)
        return [
            PausedRun(str(run["id"]), str(run.get("state_name") or "Paused"), _time(run))
            for run in (runs if isinstance(runs, list) else [])
            if isinstance(run, dict) and run.get("id")
        ]

    async def _deployment_id(self, workflow_id: str) -> str:
        if _is_uuid(workflow_id):
            return workflow_id
        if (found := self._deployments.get(workflow_id)) is not None:
            return found
        flow, sep, name = workflow_id.partition(":")
        if not sep or not flow or not name:
            raise EngineError(
                f"workflow_id {workflow_id!r}: give a deployment id or flow-name:deployment-name",
                retryable=False,
            )
        deployment = await self._call("GET", f"/deployments/name/{flow}/{name}")
        if not isinstance(deployment, dict) or not deployment.get("id"):
            raise EngineError(f"Prefect answered deployment {workflow_id!r} without an id")
        self._deployments[workflow_id] = found = str(deployment["id"])
        return found

    async def _final_state(self, run_id: str) -> str | None:
        """The type of the run's state when it is final (``COMPLETED``, ``FAILED``,
        ``CANCELLED``, ``CRASHED``): a run that ended is never paused again, while one
        Prefect aborted a resume of for being still scheduled or running may pause yet."""
        run = await self._call("GET", f"/flow_runs/{run_id}")
        state = run.get("state") if isinstance(run, dict) else None
        kind = state.get("type") if isinstance(state, dict) else None
        return kind if kind in FINAL_STATES else None

    async def _mark(self, run_id: str, key: str, interaction_id: str) -> bool:
        """Record a resume by ``key``; ``False`` when an earlier attempt recorded it."""
        body = {"key": key, "value": interaction_id, "sender": "highway-triggers"}
        try:
            await self._call("POST", f"/flow_runs/{run_id}/input", json=body)
        except PrefectRefused as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def _call(
        self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any
    ) -> Any:
        for retry in range(BUSY_RETRIES + 1):
            async with self._slots:
                try:
                    response = await self._client.request(method, path, **kwargs)
                except httpx.HTTPError as exc:
                    raise EngineError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            if response.status_code != 503 or retry == BUSY_RETRIES:
                break
            await asyncio.sleep(random.uniform(0.5, 1.0) * BUSY_BACKOFF_SECONDS * 2**retry)
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            code = response.status_code
            raise PrefectRefused(
                f"{method} {path}: Prefect answered {code}: {_detail(response)}", code
            )
        try:
            return response.json() if response.content else None
        except ValueError as exc:
            raise EngineError(f"{method} {path}: Prefect answered non-JSON") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def _is_uuid(value: str) -> bool:
    return UUID.match(value) is not None


def _detail(response: httpx.Response) -> str:
    """Prefect's message (``detail``, or a validation error's list) or the body's start."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail)[:300] if detail else response.text[:200]


def _reason(answer: Any) -> str:
    details = answer.get("details") if isinstance(answer, dict) else None
    reason = details.get("reason") if isinstance(details, dict) else None
    return str(reason or answer)[:300]


def _time(run: dict[str, Any]) -> datetime | None:
    value = run.get("start_time") or run.get("expected_start_time")
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
