"""Calls the core's tests make of a running gateway: EVENT deployments, events; and a
count of the ingress writer's batches (tenants and their tokens: highway_triggers.testing)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from highway_triggers.core.ingress import IngressWriter
from highway_triggers.testing import RunningGateway


def deploy_event(
    gateway: RunningGateway,
    workflow_id: str,
    tenant_id: str,
    event_type: str,
    filters: dict[str, Any] | None = None,
) -> str:
    """Deploy one EVENT trigger of the tenant; its trigger id."""
    answer = gateway.client().post(
        f"/api/v1/deployment/workflows/{workflow_id}/deploy",
        json={
            "tenant_id": tenant_id,
            "triggers": [
                {
                    "type": "EVENT",
                    "config": {"event_type": event_type, "filter_expression": filters or {}},
                }
            ],
        },
    )
    assert answer.status_code == 200, answer.text
    trigger_id: str = answer.json()["triggers"][0]["trigger_id"]
    return trigger_id


def post_event(
    gateway: RunningGateway,
    token: str | None,
    tenant_id: str,
    event_name: str,
    payload: dict[str, Any] | None = None,
    *,
    correlation_key: str | None = None,
    idempotency_key: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"event_name": event_name, "payload": payload or {}}
    if correlation_key is not None:
        body["correlation_key"] = correlation_key
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return gateway.client(token).post(f"/api/v1/events/{tenant_id}", json=body, headers=headers)


def batch_sizes(writer: IngressWriter, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the writer's non-empty batches from now on, as it writes them."""
    sizes: list[int] = []
    write_batch = writer._write_batch

    def counting(batch: list[Any], outcomes: list[Any]) -> Any:
        if batch:
            sizes.append(len(batch))
        return write_batch(batch, outcomes)

    monkeypatch.setattr(writer, "_write_batch", counting)
    return sizes
