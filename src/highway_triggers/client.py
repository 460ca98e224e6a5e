"""A client for the gateway: the engine side (register waits and hooks, read their
state) and the admin calls the command line makes (deploy, triggers, dispatches, tenants).

An engine (or an app running inside one) uses it where a workflow suspends::

    client = HighwayClient("http://gateway:8003", admin_token)
    wait = client.wait_for_event(
        "await_payment", "order.paid", 3600, "order-42",
        tenant_id="acme", workflow_run_id=ctx.run_id,
    )
    # ... the run suspends; the gateway resumes it through the engine's resume API

``wait_for_event`` mirrors ``ctx.wait_for_event(step_name, event_name, timeout_seconds,
correlation_key=None)``: the step name makes the registration idempotent, so a step
that is replayed after a crash registers the same wait again instead of a second one.
Every non-2xx answer raises :class:`HighwayError` carrying the error body's ``code``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import quote

import httpx

DEFAULT_TIMEOUT = 10.0


class HighwayError(Exception):
    """The gateway refused a call: ``status``, ``code`` (e.g. ``WAIT_EXISTS``), ``message``."""

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body


@dataclass(frozen=True, slots=True)
class Call:
    """One request to the gateway, built once for the sync and the async client."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, str] | None = None


def _segment(value: str) -> str:
    return quote(value, safe="")


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def wait_call(
    *,
    tenant_id: str,
    workflow_run_id: str,
    event_name: str,
    correlation_key: str | None = None,
    token: str | None = None,
    timeout_seconds: float | None = None,
    multi_use: bool = False,
    schema: dict[str, Any] | None = None,
    workflow_id: str | None = None,
    idempotency_key: str | None = None,
) -> Call:
    """``POST /api/v1/waits``; fields left ``None`` are not sent."""
    body: dict[str, Any] = {
        "tenant_id": tenant_id,
        "workflow_run_id": workflow_run_id,
        "event_name": event_name,
        "correlation_key": correlation_key,
        "token": token,
        "timeout_seconds": timeout_seconds,
        "multi_use": multi_use,
        "schema": schema,
        "workflow_id": workflow_id,
        "idempotency_key": idempotency_key,
    }
    return Call("POST", "/api/v1/waits", _given(**body))


def step_wait_call(
    step_name: str,
    event_name: str,
    timeout_seconds: float | None,
    correlation_key: str | None,
    *,
    tenant_id: str,
    workflow_run_id: str,
    workflow_id: str | None,
    schema: dict[str, Any] | None,
) -> Call:
    """A step's wait: idempotent per ``(run, step)``; the run id is the default correlation key."""
    return wait_call(
        tenant_id=tenant_id,
        workflow_run_id=workflow_run_id,
        event_name=event_name,
        correlation_key=correlation_key or workflow_run_id,
        timeout_seconds=timeout_seconds,
        schema=schema,
        workflow_id=workflow_id,
        idempotency_key=f"{workflow_run_id}:{step_name}",
    )


def wait_path(wait_id: str) -> str:
    return f"/api/v1/waits/{_segment(wait_id)}"


def _deployment(workflow_id: str) -> str:
    return f"/api/v1/deployment/workflows/{_segment(workflow_id)}"


def event_call(
    tenant_id: str, event_name: str, payload: dict[str, Any], correlation_key: str | None
) -> Call:
    body: dict[str, Any] = {"event_name": event_name, "payload": payload}
    if correlation_key is not None:
        body["correlation_key"] = correlation_key
    return Call("POST", f"/api/v1/events/{_segment(tenant_id)}", body)


def approval_call(
    *,
    tenant_id: str,
    workflow_run_id: str,
    approval_key: str,
    title: str,
    approvers: list[str],
    description: str | None = None,
    required_approvals: int | None = None,
    allow_self_approval: bool | None = None,
    requested_by: str | None = None,
    expires_in_seconds: float | None = None,
    redirect_url_approved: str | None = None,
    redirect_url_rejected: str | None = None,
    notify: str | None = None,
    one_click: bool | None = None,
    workflow_id: str | None = None,
) -> Call:
    """``POST /api/v1/approvals`` (approval plugin); fields left ``None`` are not sent."""
    body = _given(
        tenant_id=tenant_id,
        workflow_run_id=workflow_run_id,
        approval_key=approval_key,
        title=title,
        approvers=approvers,
        description=description,
        required_approvals=required_approvals,
        allow_self_approval=allow_self_approval,
        requested_by=requested_by,
        expires_in_seconds=expires_in_seconds,
        redirect_url_approved=redirect_url_approved,
        redirect_url_rejected=redirect_url_rejected,
        notify=notify,
        one_click=one_click,
        workflow_id=workflow_id,
    )
    return Call("POST", "/api/v1/approvals", body)


def approval_path(approval_id: str) -> str:
    return f"/api/v1/approvals/{_segment(approval_id)}"


def answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a 2xx answer; :class:`HighwayError` otherwise."""
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {"value": body}
    if response.is_success:
        return body
    code = body.get("code") if isinstance(body.get("code"), str) else f"HTTP_{response.status_code}"
    message = body.get("message") or response.text[:200] or response.reason_phrase
    raise HighwayError(response.status_code, str(code), str(message), body)


class HighwayClient:
    """A synchronous client (``httpx.Client``); ``token`` is an admin token or API key.

    ``send_event`` also works with a tenant's JWT as ``token``, for that tenant's events.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def _send(self, call: Call) -> dict[str, Any]:
        return answer(
            self._http.request(call.method, call.path, json=call.json, params=call.params)
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Any call of the gateway's API (``path`` from ``/api/v1/``); ``params`` left
        ``None`` are not sent. The answer's JSON body (``{}`` when it has none)."""
        query = {name: str(value) for name, value in _given(**(params or {})).items()}
        return self._send(Call(method, path, json, query or None))

    def get(self, path: str, *, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("GET", path, params=params)

    def post(
        self,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self.request("POST", path, json=json, params=params)

    def put(
        self,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self.request("PUT", path, json=json, params=params)

    def delete(self, path: str, *, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("DELETE", path, params=params)

    def register_wait(self, **fields: Any) -> dict[str, Any]:
        """Register a waiting run (the fields of ``POST /api/v1/waits``); the wait."""
        return self._send(wait_call(**fields))

    def wait_for_event(
        self,
        step_name: str,
        event_name: str,
        timeout_seconds: float | None,
        correlation_key: str | None = None,
        *,
        tenant_id: str,
        workflow_run_id: str,
        workflow_id: str | None = None,
        schema: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Register the wait of ``step_name``; the same wait when the step runs again."""
        return self._send(
            step_wait_call(
                step_name,
                event_name,
                timeout_seconds,
                correlation_key,
                tenant_id=tenant_id,
                workflow_run_id=workflow_run_id,
                workflow_id=workflow_id,
                schema=schema,
            )
        )

    def register_hook(
        self,
        token: str,
        *,
        tenant_id: str,
        workflow_run_id: str,
        event_name: str = "hook",
        multi_use: bool = False,
        timeout_seconds: float | None = None,
        workflow_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Wait on a deterministic ``token`` (e.g. ``slack_messages:C123``); the hook URL."""
        wait = self.register_wait(
            tenant_id=tenant_id,
            workflow_run_id=workflow_run_id,
            event_name=event_name,
            token=token,
            multi_use=multi_use,
            timeout_seconds=timeout_seconds,
            workflow_id=workflow_id,
            idempotency_key=idempotency_key,
        )
        return str(wait["hook_url"])

    def get_wait(self, wait_id: str) -> dict[str, Any]:
        """The wait; its ``status`` is ``open``, ``consumed``, ``expired`` or ``cancelled``."""
        return self._send(Call("GET", wait_path(wait_id)))

    def cancel_wait(self, wait_id: str) -> dict[str, Any]:
        """Close an open wait without resuming its run; the wait as it now is."""
        return self._send(Call("DELETE", wait_path(wait_id)))

    def register_webhook(self, **fields: Any) -> dict[str, Any]:
        """A per-run webhook (webhook plugin): ``{"webhook_id", "url"}``."""
        return self._send(Call("POST", "/api/v1/webhook-registrations", fields))

    def request_approval(self, **fields: Any) -> dict[str, Any]:
        """Ask people to approve a suspended run (approval plugin; the fields of
        ``POST /api/v1/approvals``: ``tenant_id``, ``workflow_run_id``, ``approval_key``,
        ``title``, ``approvers`` and the optional ones). The approval: ``approval_id``,
        ``status``, ``approve_url``, ``reject_url`` (the first approver's) and ``links``
        (every approver's). The same ``approval_key`` answers the same approval."""
        return self._send(approval_call(**fields))

    def get_approval(self, approval_id: str) -> dict[str, Any]:
        """An approval's status (``pending``, ``approved``, ``rejected``, ``expired``),
        each approver's email state and every decision."""
        return self._send(Call("GET", approval_path(approval_id)))

    def send_event(
        self,
        tenant_id: str,
        event_name: str,
        payload: dict[str, Any] | None = None,
        correlation_key: str | None = None,
    ) -> dict[str, Any]:
        """``POST /api/v1/events/{tenant_id}`` (an admin token, or that tenant's JWT)."""
        return self._send(event_call(tenant_id, event_name, payload or {}, correlation_key))

    def deploy(self, workflow_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Deploy (or atomically redeploy) a workflow's triggers; its deployment status."""
        return self._send(Call("POST", f"{_deployment(workflow_id)}/deploy", spec))

    def undeploy(self, workflow_id: str) -> dict[str, Any]:
        """Stop and remove a workflow's triggers; its deployment status."""
        return self._send(Call("POST", f"{_deployment(workflow_id)}/undeploy"))

    def deployment(self, workflow_id: str) -> dict[str, Any]:
        """A workflow's deployment status, active triggers and history."""
        return self._send(Call("GET", _deployment(workflow_id)))

    def list_triggers(
        self,
        *,
        type: str | None = None,
        workflow_id: str | None = None,
        tenant_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Active triggers, filtered by type, workflow and tenant."""
        params = _given(type=type, workflow_id=workflow_id, tenant_id=tenant_id)
        return list(self._send(Call("GET", "/api/v1/triggers", params=params))["triggers"])

    def list_dispatches(
        self,
        *,
        status: str | None = None,
        workflow_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page of dispatches, newest first: ``{"dispatches", "count", "next_cursor"}``;
        pass ``next_cursor`` as ``cursor`` for the next page while it is not ``None``."""
        params = {"status": status, "workflow_id": workflow_id, "limit": limit, "cursor": cursor}
        return self.get("/api/v1/dispatches", params=params)

    def retry_dispatch(self, dispatch_id: str) -> dict[str, Any]:
        """Deliver a failed, dead or skipped dispatch again, with fresh attempts."""
        return self._send(Call("POST", f"/api/v1/dispatches/{_segment(dispatch_id)}/retry"))

    def retry_dispatches(
        self, status: str, *, workflow_id: str | None = None, limit: int | None = None
    ) -> int:
        """Deliver again the oldest dispatches with ``status``; how many were queued."""
        body = _given(status=status, workflow_id=workflow_id, limit=limit)
        return int(self._send(Call("POST", "/api/v1/dispatches/retry", body))["retried"])

    def create_tenant(
        self,
        tenant_id: str,
        *,
        rate_limit_per_second: float | None = None,
        burst: int | None = None,
    ) -> dict[str, Any]:
        """Create a tenant: ``{"tenant_id", "jwt_secret"}`` (the secret is shown once)."""
        body = _given(tenant_id=tenant_id, rate_limit_per_second=rate_limit_per_second, burst=burst)
        return self._send(Call("POST", "/api/v1/tenants", body))

    def rotate_tenant(self, tenant_id: str) -> dict[str, Any]:
        """Issue a tenant a new JWT secret: ``{"tenant_id", "jwt_secret"}``."""
        return self._send(Call("POST", f"/api/v1/tenants/{_segment(tenant_id)}/rotate"))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncHighwayClient:
    """The same calls over ``httpx.AsyncClient``."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    async def _send(self, call: Call) -> dict[str, Any]:
        return answer(
            await self._http.request(call.method, call.path, json=call.json, params=call.params)
        )

    async def register_wait(self, **fields: Any) -> dict[str, Any]:
        return await self._send(wait_call(**fields))

    async def wait_for_event(
        self,
        step_name: str,
        event_name: str,
        timeout_seconds: float | None,
        correlation_key: str | None = None,
        *,
        tenant_id: str,
        workflow_run_id: str,
        workflow_id: str | None = None,
        schema: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return await self._send(
            step_wait_call(
                step_name,
                event_name,
                timeout_seconds,
                correlation_key,
                tenant_id=tenant_id,
                workflow_run_id=workflow_run_id,
                workflow_id=workflow_id,
                schema=schema,
            )
        )

    async def register_hook(
        self,
        token: str,
        *,
        tenant_id: str,
        workflow_run_id: str,
        event_name: str = "hook",
        multi_use: bool = False,
        timeout_seconds: float | None = None,
        workflow_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        wait = await self.register_wait(
            tenant_id=tenant_id,
            workflow_run_id=workflow_run_id,
            event_name=event_name,
            token=token,
            multi_use=multi_use,
            timeout_seconds=timeout_seconds,
            workflow_id=workflow_id,
            idempotency_key=idempotency_key,
        )
        return str(wait["hook_url"])

    async def get_wait(self, wait_id: str) -> dict[str, Any]:
        return await self._send(Call("GET", wait_path(wait_id)))

    async def cancel_wait(self, wait_id: str) -> dict[str, Any]:
        return await self._send(Call("DELETE", wait_path(wait_id)))

    async def register_webhook(self, **fields: Any) -> dict[str, Any]:
        return await self._send(Call("POST", "/api/v1/webhook-registrations", fields))

    async def request_approval(self, **fields: Any) -> dict[str, Any]:
        return await self._send(approval_call(**fields))

    async def get_approval(self, approval_id: str) -> dict[str, Any]:
        return await self._send(Call("GET", approval_path(approval_id)))

    async def send_event(
        self,
        tenant_id: str,
        event_name: str,
        payload: dict[str, Any] | None = None,
        correlation_key: str | None = None,
    ) -> dict[str, Any]:
        return await self._send(event_call(tenant_id, event_name, payload or {}, correlation_key))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
