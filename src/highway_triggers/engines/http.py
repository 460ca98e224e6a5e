"""The HTTP engine adapter: the engine protocol of docs/engine-protocol.md, over httpx."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from highway_triggers.core.engine import EngineAdapter, EngineError, PausedRun
from highway_triggers.core.plugins import hookimpl
from highway_triggers.core.tracing import OUTGOING

PAUSED_STATUSES = frozenset({"paused", "waiting", "suspended", "sleeping"})
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})


class HttpEngine(EngineAdapter):
    """Speaks ``/v2/workflows/.../execute``, ``/v2/executions/.../resume`` and the
    paused-runs query; every call carries ``Idempotency-Key`` and the bearer token, and
    the W3C ``traceparent`` of its span when tracing is on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.settings.engine_url is None:  # Settings refuses HIGHWAY_ENGINE=http without it
            raise ValueError("the http engine needs HIGHWAY_ENGINE_URL")
        headers = {"User-Agent": "highway-triggers"}
        if self.settings.engine_token is not None:
            headers["Authorization"] = f"Bearer {self.settings.engine_token.get_secret_value()}"
        self._client = httpx.AsyncClient(
            base_url=self.settings.engine_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(self.settings.engine_timeout_seconds, connect=5.0),
            limits=httpx.Limits(max_connections=self.settings.dispatch_concurrency),
        )

    async def start(
        self,
        workflow_id: str,
        *,
        trigger_type: str,
        trigger_data: dict[str, Any],
        tenant_id: str | None,
        idempotency_key: str,
    ) -> str:
        body = {"trigger_type": trigger_type, "trigger_data": trigger_data, "tenant_id": tenant_id}
        answer = await self._call(
            "POST", f"/v2/workflows/{workflow_id}/execute", idempotency_key, json=body
        )
        execution_id = answer.get("execution_id") if isinstance(answer, dict) else None
        if not execution_id:
            raise EngineError("engine answered a start without execution_id")
        return str(execution_id)

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
        body = {
            "resume_data": resume_data,
            "interaction_id": interaction_id,
            "event_name": event_name,
            "correlation_key": correlation_key,
        }
        await self._call(
            "POST", f"/v2/executions/{execution_id}/resume", idempotency_key, json=body
        )

    async def paused_runs(
        self, workflow_id: str, *, tenant_id: str | None, idempotency_key: str
    ) -> list[PausedRun]:
        params = {"tenant_id": tenant_id} if tenant_id else None
        answer = await self._call(
            "GET", f"/v2/workflows/{workflow_id}/executions", idempotency_key, params=params
        )
        runs = answer.get("workflows", []) if isinstance(answer, dict) else []
        return [
            PausedRun(str(r["execution_id"]), r["status"], _parse_time(r.get("started_at")))
            for r in runs
            if isinstance(r, dict) and str(r.get("status", "")).lower() in PAUSED_STATUSES
        ]

    async def _call(self, method: str, path: str, idempotency_key: str, **kwargs: Any) -> Any:
        headers = {"Idempotency-Key": idempotency_key}
        if (traceparent := OUTGOING.get()) is not None:
            headers["traceparent"] = traceparent
        try:
            response = await self._client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise EngineError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            retryable = response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES
            raise EngineError(
                f"{method} {path}: engine answered {response.status_code}: {response.text[:200]}",
                retryable=retryable,
            )
        try:
            return response.json() if response.content else {}
        except ValueError as exc:
            raise EngineError(f"{method} {path}: engine answered non-JSON") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


@hookimpl
def highway_engines() -> dict[str, type]:
    return {"http": HttpEngine}
