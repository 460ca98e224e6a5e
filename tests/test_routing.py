"""Routing through a real gateway: EVENT triggers, waits (phase 0), the manual endpoint."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import insert, select

from highway_triggers.core.event import RouteResult
from highway_triggers.db.columns import utcnow
from highway_triggers.db.models import Wait
from highway_triggers.testing import (
    RunningGateway,
    create_tenant,
    gateway_settings,
    running_gateway,
    tenant_jwt,
    tenant_token,
    wait_until,
)

from api_calls import batch_sizes, deploy_event, post_event

WAITS = Wait.__table__  # type: ignore[attr-defined]


def dispatches(gateway: RunningGateway, **filters: str) -> list[dict[str, Any]]:
    listed = gateway.client().get("/api/v1/dispatches", params=filters)
    assert listed.status_code == 200, listed.text
    rows: list[dict[str, Any]] = listed.json()["dispatches"]
    return rows


def accepted(response: httpx.Response, delivered_to: int) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "accepted"
    assert uuid.UUID(body["event_id"])
    assert body["delivered_to"] == delivered_to
    assert isinstance(body["message"], str)
    return body


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and body["code"] == code and body["message"]


def add_wait(
    gateway: RunningGateway,
    *,
    tenant_id: str,
    correlation_key: str,
    event_name: str = "approval.given",
    multi_use: bool = False,
    workflow_id: str = "wf-waiting",
) -> dict[str, Any]:
    row = {
        "id": uuid.uuid4().hex,
        "tenant_id": tenant_id,
        "workflow_run_id": f"run-{uuid.uuid4().hex[:8]}",
        "workflow_id": workflow_id,
        "event_name": event_name,
        "correlation_key": correlation_key,
        "multi_use": multi_use,
        "created_at": utcnow(),
    }
    with gateway.gateway.db.engine.begin() as conn:
        conn.execute(insert(WAITS).values(**row))
    return row


def wait_row(gateway: RunningGateway, wait_id: str) -> Any:
    with gateway.gateway.db.engine.connect() as conn:
        return conn.execute(select(WAITS).where(WAITS.c.id == wait_id)).mappings().one()


def recorded(gateway: RunningGateway, kind: str) -> list[Any]:
    return [c for c in gateway.gateway.engine.calls if c.kind == kind]


# EVENT triggers: filter expressions -------------------------------------------------------


def test_filter_exact_and_glob(gateway: RunningGateway) -> None:
    token = tenant_token(gateway, "acme")
    deploy_event(gateway, "wf-critical", "acme", "workflow.failed", {"workflow_name": "critical_*"})
    deploy_event(
        gateway, "wf-exact", "acme", "workflow.failed", {"workflow_name": "billing", "attempt": 3}
    )

    routed = accepted(
        post_event(gateway, token, "acme", "workflow.failed", {"workflow_name": "critical_db"}), 1
    )
    assert len(routed["dispatch_ids"]) == 1
    accepted(
        post_event(
            gateway, token, "acme", "workflow.failed", {"workflow_name": "billing", "attempt": 3}
        ),
        1,
    )

    refused(
        post_event(gateway, token, "acme", "workflow.failed", {"workflow_name": "noncritical_db"}),
        404,
        "NO_WAITING_WORKFLOW",
    )
    refused(
        post_event(
            gateway, token, "acme", "workflow.failed", {"workflow_name": "billing", "attempt": 4}
        ),
        404,
        "NO_WAITING_WORKFLOW",
    )
    refused(
        post_event(gateway, token, "acme", "workflow.failed", {"workflow_name": "billing"}),
        404,
        "NO_WAITING_WORKFLOW",
    )
    refused(
        post_event(gateway, token, "acme", "workflow.failed", {"workflow_name": 7}),
        404,
        "NO_WAITING_WORKFLOW",
    )
    refused(
        post_event(gateway, token, "acme", "other.event", {"workflow_name": "critical_db"}),
        404,
        "NO_WAITING_WORKFLOW",
    )

    starts = [d for d in dispatches(gateway) if d["kind"] == "start"]
    assert sorted(d["workflow_id"] for d in starts) == ["wf-critical", "wf-exact"]
    wait_until(lambda: len(recorded(gateway, "start")) == 2)
    by_workflow = {c.workflow_id: c for c in recorded(gateway, "start")}
    assert by_workflow["wf-critical"].data["trigger_data"] == {"workflow_name": "critical_db"}
    assert by_workflow["wf-critical"].data["trigger_type"] == "EVENT"
    assert by_workflow["wf-critical"].data["tenant_id"] == "acme"


def test_filter_nested_paths_all_must_hold(gateway: RunningGateway) -> None:
    token = tenant_token(gateway, "acme")
    deploy_event(
        gateway,
        "wf-gold",
        "acme",
        "order.created",
        {"order.customer.tier": "gold", "order.lines.0.sku": "SKU-*", "order.total": 100},
    )
    good = {"order": {"customer": {"tier": "gold"}, "lines": [{"sku": "SKU-1"}], "total": 100}}
    accepted(post_event(gateway, token, "acme", "order.created", good), 1)

    for broken in (
        {"order": {"customer": {"tier": "silver"}, "lines": [{"sku": "SKU-1"}], "total": 100}},
        {"order": {"customer": {"tier": "gold"}, "lines": [{"sku": "X-1"}], "total": 100}},
        {"order": {"customer": {"tier": "gold"}, "lines": [], "total": 100}},
        {"order": {"customer": {"tier": "gold"}, "lines": [{"sku": "SKU-1"}], "total": 99}},
        {"order": {"customer": "gold", "lines": [{"sku": "SKU-1"}], "total": 100}},
        {},
    ):
        refused(
            post_event(gateway, token, "acme", "order.created", broken), 404, "NO_WAITING_WORKFLOW"
        )
    assert len(dispatches(gateway)) == 1


def test_every_matching_trigger_starts(gateway: RunningGateway) -> None:
    token = tenant_token(gateway, "acme")
    deploy_event(gateway, "wf-1", "acme", "user.signed_up")
    deploy_event(gateway, "wf-2", "acme", "user.signed_up", {"plan": "pro"})
    deploy_event(gateway, "wf-3", "acme", "user.signed_up", {"plan": "free"})
    accepted(post_event(gateway, token, "acme", "user.signed_up", {"plan": "pro"}), 2)
    assert sorted(d["workflow_id"] for d in dispatches(gateway)) == ["wf-1", "wf-2"]


def test_idempotency_key_dedup(gateway: RunningGateway) -> None:
    token = tenant_token(gateway, "acme")
    deploy_event(gateway, "wf-once", "acme", "invoice.paid")
    first = accepted(
        post_event(gateway, token, "acme", "invoice.paid", {"n": 1}, idempotency_key="delivery-1"),
        1,
    )
    assert first["duplicate"] is False
    second = accepted(
        post_event(gateway, token, "acme", "invoice.paid", {"n": 1}, idempotency_key="delivery-1"),
        0,
    )
    assert second["duplicate"] is True
    assert second["dispatch_ids"] == []
    assert len(dispatches(gateway, workflow_id="wf-once")) == 1
    # another key is another delivery
    accepted(
        post_event(gateway, token, "acme", "invoice.paid", {"n": 2}, idempotency_key="delivery-2"),
        1,
    )
    assert len(dispatches(gateway, workflow_id="wf-once")) == 2
    wait_until(lambda: len(recorded(gateway, "start")) == 2)
    time.sleep(0.2)
    assert len(recorded(gateway, "start")) == 2


def test_idempotency_keys_are_per_tenant(gateway: RunningGateway) -> None:
    """Tenant A using a key must not make tenant B's delivery with that key a duplicate."""
    token_a = tenant_token(gateway, "tenant-a")
    token_b = tenant_token(gateway, "tenant-b")
    deploy_event(gateway, "wf-a", "tenant-a", "tick")
    deploy_event(gateway, "wf-b", "tenant-b", "tick")
    accepted(post_event(gateway, token_a, "tenant-a", "tick", {}, idempotency_key="1"), 1)
    accepted(post_event(gateway, token_b, "tenant-b", "tick", {}, idempotency_key="1"), 1)
    assert accepted(post_event(gateway, token_b, "tenant-b", "tick", {}, idempotency_key="1"), 0)[
        "duplicate"
    ]
    assert sorted(d["workflow_id"] for d in dispatches(gateway)) == ["wf-a", "wf-b"]


def test_unmatched_delivery_with_key_may_match_later(gateway: RunningGateway) -> None:
    token = tenant_token(gateway, "acme")
    refused(
        post_event(gateway, token, "acme", "late.event", {}, idempotency_key="k1"),
        404,
        "NO_WAITING_WORKFLOW",
    )
    deploy_event(gateway, "wf-late", "acme", "late.event")
    accepted(post_event(gateway, token, "acme", "late.event", {}, idempotency_key="k1"), 1)


# tenants ----------------------------------------------------------------------------------


def test_tenant_isolation(gateway: RunningGateway) -> None:
    secret_a = create_tenant(gateway, "tenant-a")
    secret_b = create_tenant(gateway, "tenant-b")
    token_a, token_b = tenant_jwt(secret_a, "tenant-a"), tenant_jwt(secret_b, "tenant-b")
    deploy_event(gateway, "wf-b", "tenant-b", "shared.event")

    # A's event does not start B's trigger
    refused(
        post_event(gateway, token_a, "tenant-a", "shared.event", {}), 404, "NO_WAITING_WORKFLOW"
    )
    assert dispatches(gateway) == []
    # A's token on B's path is forbidden
    refused(post_event(gateway, token_a, "tenant-b", "shared.event", {}), 403, "FORBIDDEN")
    assert dispatches(gateway) == []
    # a token signed with the wrong secret, an expired one, garbage, none
    refused(
        post_event(gateway, tenant_jwt(secret_a, "tenant-b"), "tenant-b", "shared.event", {}),
        401,
        "INVALID_TOKEN",
    )
    refused(
        post_event(
            gateway, tenant_jwt(secret_b, "tenant-b", ttl=-60), "tenant-b", "shared.event", {}
        ),
        401,
        "INVALID_TOKEN",
    )
    refused(post_event(gateway, "not-a-jwt", "tenant-b", "shared.event", {}), 401, "INVALID_TOKEN")
    refused(
        post_event(gateway, tenant_jwt("x" * 40, "nobody"), "nobody", "shared.event", {}),
        401,
        "INVALID_TOKEN",
    )
    refused(post_event(gateway, None, "tenant-b", "shared.event", {}), 401, "UNAUTHORIZED")
    no_exp = jwt.encode({"tenant_id": "tenant-b"}, secret_b, algorithm="HS256")
    refused(post_event(gateway, no_exp, "tenant-b", "shared.event", {}), 401, "INVALID_TOKEN")
    assert dispatches(gateway) == []

    accepted(post_event(gateway, token_b, "tenant-b", "shared.event", {}), 1)
    assert [d["tenant_id"] for d in dispatches(gateway)] == ["tenant-b"]
    # the admin token (an engine's system events) reaches the tenant of the path only
    admin_token = gateway.gateway.settings.admin_token.get_secret_value()
    accepted(post_event(gateway, admin_token, "tenant-b", "shared.event", {}), 1)
    assert [d["tenant_id"] for d in dispatches(gateway)] == ["tenant-b", "tenant-b"]


def test_event_body_validation(gateway: RunningGateway) -> None:
    token = tenant_token(gateway, "acme")
    client = gateway.client(token)
    for body in (
        {"payload": {}},
        {"event_name": ""},
        {"event_name": "e", "payload": []},
        {"event_name": "e", "correlation_key": 5},
    ):
        refused(client.post("/api/v1/events/acme", json=body), 400, "MALFORMED_BODY")
    refused(
        client.post(
            "/api/v1/events/acme", content=b"{nope", headers={"content-type": "application/json"}
        ),
        400,
        "MALFORMED_BODY",
    )


# phase 0: waits ----------------------------------------------------------------------------


def test_event_resumes_a_wait_once(gateway: RunningGateway) -> None:
    token = tenant_token(gateway, "acme")
    wait = add_wait(gateway, tenant_id="acme", correlation_key="order-42")

    body = accepted(
        post_event(
            gateway, token, "acme", "approval.given", {"approved": True}, correlation_key="order-42"
        ),
        1,
    )
    rows = dispatches(gateway)
    assert len(rows) == 1
    resume = rows[0]
    assert resume["kind"] == "resume"
    assert resume["execution_id"] == wait["workflow_run_id"]
    assert resume["wait_id"] == wait["id"]
    assert resume["dispatch_id"] == body["dispatch_ids"][0]
    assert resume["payload"] == {"approved": True}
    assert wait_row(gateway, wait["id"])["consumed_at"] is not None

    wait_until(lambda: recorded(gateway, "resume"))
    call = recorded(gateway, "resume")[0]
    assert call.execution_id == wait["workflow_run_id"]

    # consumed: the same key again finds nothing
    refused(
        post_event(gateway, token, "acme", "approval.given", {}, correlation_key="order-42"),
        404,
        "NO_WAITING_WORKFLOW",
    )
    assert len(dispatches(gateway)) == 1


def test_wait_needs_same_tenant_and_event_name(gateway: RunningGateway) -> None:
    token_a = tenant_token(gateway, "tenant-a")
    token_b = tenant_token(gateway, "tenant-b")
    wait = add_wait(gateway, tenant_id="tenant-b", correlation_key="shared-key")
    refused(
        post_event(
            gateway, token_a, "tenant-a", "approval.given", {}, correlation_key="shared-key"
        ),
        404,
        "NO_WAITING_WORKFLOW",
    )
    refused(
        post_event(gateway, token_b, "tenant-b", "other.name", {}, correlation_key="shared-key"),
        404,
        "NO_WAITING_WORKFLOW",
    )
    refused(
        post_event(gateway, token_b, "tenant-b", "approval.given", {}, correlation_key="other-key"),
        404,
        "NO_WAITING_WORKFLOW",
    )
    assert wait_row(gateway, wait["id"])["consumed_at"] is None
    accepted(
        post_event(
            gateway, token_b, "tenant-b", "approval.given", {}, correlation_key="shared-key"
        ),
        1,
    )


def test_resume_and_start_in_one_event(gateway: RunningGateway) -> None:
    token = tenant_token(gateway, "acme")
    deploy_event(gateway, "wf-audit", "acme", "approval.given")
    wait = add_wait(gateway, tenant_id="acme", correlation_key="c-1")
    body = accepted(
        post_event(gateway, token, "acme", "approval.given", {}, correlation_key="c-1"), 2
    )
    kinds = sorted((d["kind"], d["workflow_id"]) for d in dispatches(gateway))
    assert kinds == [("resume", wait["workflow_id"]), ("start", "wf-audit")]
    assert len(body["dispatch_ids"]) == 2


def test_concurrent_events_resume_a_single_use_wait_once(gateway: RunningGateway) -> None:
    token = tenant_token(gateway, "acme")
    wait = add_wait(gateway, tenant_id="acme", correlation_key="race")
    statuses = asyncio.run(_concurrent_events([gateway.url], token, "acme", "race", 50))
    assert statuses.count(202) == 1, statuses
    assert statuses.count(404) == 49, statuses
    resumes = [d for d in dispatches(gateway) if d["kind"] == "resume"]
    assert len(resumes) == 1
    assert resumes[0]["execution_id"] == wait["workflow_run_id"]
    assert wait_row(gateway, wait["id"])["consumed_at"] is not None


def test_concurrent_events_on_two_replicas_resume_once(postgres_url: str, tmp_path: Path) -> None:
    with (
        running_gateway(gateway_settings(postgres_url, tmp_path / "a")) as a,
        running_gateway(gateway_settings(postgres_url, tmp_path / "b")) as b,
    ):
        token = tenant_token(a, "acme")
        for round_ in range(3):
            wait = add_wait(a, tenant_id="acme", correlation_key=f"race-{round_}")
            statuses = asyncio.run(
                _concurrent_events([a.url, b.url], token, "acme", f"race-{round_}", 50)
            )
            assert statuses.count(202) == 1, statuses
            resumes = [
                d for d in dispatches(a) if d["kind"] == "resume" and d["wait_id"] == wait["id"]
            ]
            assert len(resumes) == 1


async def _concurrent_events(
    urls: list[str], token: str, tenant_id: str, key: str, count: int
) -> list[int]:
    clients = [
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        for url in urls
    ]
    try:
        body = {"event_name": "approval.given", "correlation_key": key, "payload": {}}
        answers = await asyncio.gather(
            *(
                clients[i % len(clients)].post(f"/api/v1/events/{tenant_id}", json=body)
                for i in range(count)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    return [a.status_code for a in answers]


def test_multi_use_wait_resumes_once_per_event(gateway: RunningGateway) -> None:
    token = tenant_token(gateway, "acme")
    wait = add_wait(gateway, tenant_id="acme", correlation_key="stream", multi_use=True)
    for n in range(3):
        accepted(
            post_event(
                gateway, token, "acme", "approval.given", {"n": n}, correlation_key="stream"
            ),
            1,
        )
    resumes = [d for d in dispatches(gateway) if d["kind"] == "resume"]
    assert len(resumes) == 3
    assert {d["execution_id"] for d in resumes} == {wait["workflow_run_id"]}
    assert sorted(d["payload"]["n"] for d in resumes) == [0, 1, 2]
    assert len({d["idempotency_key"] for d in resumes}) == 3
    assert wait_row(gateway, wait["id"])["consumed_at"] is None
    wait_until(lambda: len(recorded(gateway, "resume")) == 3)
    assert [c.data["resume_data"]["n"] for c in recorded(gateway, "resume")] == [0, 1, 2]


def test_expired_wait_is_not_resumed(gateway: RunningGateway) -> None:
    from datetime import timedelta

    token = tenant_token(gateway, "acme")
    wait = add_wait(gateway, tenant_id="acme", correlation_key="late")
    with gateway.gateway.db.engine.begin() as conn:
        conn.execute(
            WAITS.update()
            .where(WAITS.c.id == wait["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    refused(
        post_event(gateway, token, "acme", "approval.given", {}, correlation_key="late"),
        404,
        "NO_WAITING_WORKFLOW",
    )


# the manual endpoint ----------------------------------------------------------------------------


def deploy_manual(
    gateway: RunningGateway, workflow_id: str, tenant_id: str | None = None, **config: Any
) -> None:
    body: dict[str, Any] = {"triggers": [{"type": "MANUAL", "config": config}]}
    if tenant_id:
        body["tenant_id"] = tenant_id
    answer = gateway.client().post(f"/api/v1/deployment/workflows/{workflow_id}/deploy", json=body)
    assert answer.status_code == 200, answer.text


def manual(
    gateway: RunningGateway, token: str | None, workflow_id: str, body: Any, key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return gateway.client(token).post(
        f"/api/v1/triggers/workflows/{workflow_id}/manual", json=body, headers=headers
    )


def test_manual_with_admin_token(gateway: RunningGateway) -> None:
    deploy_manual(gateway, "wf-m")
    accepted(
        manual(
            gateway,
            gateway.gateway.settings.admin_token.get_secret_value(),
            "wf-m",
            {"data": {"x": 1}},
        ),
        1,
    )
    [row] = dispatches(gateway)
    assert row["kind"] == "start" and row["workflow_id"] == "wf-m" and row["payload"] == {"x": 1}
    assert row["trigger_type"] == "MANUAL"
    refused(manual(gateway, None, "wf-m", {"data": {}}), 401, "UNAUTHORIZED")
    refused(manual(gateway, "wrong", "wf-m", {"data": {}}), 401, "INVALID_TOKEN")
    refused(
        manual(
            gateway,
            gateway.gateway.settings.admin_token.get_secret_value(),
            "wf-none",
            {"data": {}},
        ),
        404,
        "NO_MANUAL_TRIGGER",
    )
    refused(
        manual(
            gateway, gateway.gateway.settings.admin_token.get_secret_value(), "wf-m", {"data": [1]}
        ),
        400,
        "MALFORMED_BODY",
    )


def test_manual_with_tenant_jwt(gateway: RunningGateway) -> None:
    token_a = tenant_token(gateway, "tenant-a")
    token_b = tenant_token(gateway, "tenant-b")
    deploy_manual(gateway, "wf-a", "tenant-a")
    accepted(manual(gateway, token_a, "wf-a", {"data": {}}), 1)
    refused(manual(gateway, token_b, "wf-a", {"data": {}}), 404, "NO_MANUAL_TRIGGER")
    assert len(dispatches(gateway)) == 1
    assert dispatches(gateway)[0]["tenant_id"] == "tenant-a"


def test_manual_confirmation(gateway: RunningGateway) -> None:
    deploy_manual(gateway, "wf-c", require_confirmation=True)
    admin = gateway.gateway.settings.admin_token.get_secret_value()
    refused(manual(gateway, admin, "wf-c", {"data": {}}), 400, "CONFIRMATION_REQUIRED")
    refused(
        manual(gateway, admin, "wf-c", {"data": {}, "confirm": "yes"}), 400, "CONFIRMATION_REQUIRED"
    )
    assert dispatches(gateway) == []
    accepted(manual(gateway, admin, "wf-c", {"data": {}, "confirm": True}), 1)


def test_manual_idempotency_key(gateway: RunningGateway) -> None:
    deploy_manual(gateway, "wf-k")
    admin = gateway.gateway.settings.admin_token.get_secret_value()
    first = accepted(manual(gateway, admin, "wf-k", {"data": {}}, key="click-1"), 1)
    second = accepted(manual(gateway, admin, "wf-k", {"data": {}}, key="click-1"), 0)
    assert first["duplicate"] is False and second["duplicate"] is True
    assert len(dispatches(gateway)) == 1
    accepted(manual(gateway, admin, "wf-k", {"data": {}}, key="click-2"), 1)
    accepted(manual(gateway, admin, "wf-k", {"data": {}}), 1)
    assert len(dispatches(gateway)) == 3
    wait_until(lambda: len(recorded(gateway, "start")) == 3)


def test_manual_idempotency_keys_are_per_workflow(gateway: RunningGateway) -> None:
    deploy_manual(gateway, "wf-1")
    deploy_manual(gateway, "wf-2")
    admin = gateway.gateway.settings.admin_token.get_secret_value()
    accepted(manual(gateway, admin, "wf-1", {"data": {}}, key="k"), 1)
    accepted(manual(gateway, admin, "wf-2", {"data": {}}, key="k"), 1)
    assert sorted(d["workflow_id"] for d in dispatches(gateway)) == ["wf-1", "wf-2"]


def test_system_event_raised_inside_the_gateway(gateway: RunningGateway) -> None:
    """A plugin's own event (``approval_pending``, say) routes like an injected one."""
    deploy_event(gateway, "wf-notify", "acme", "approval_pending", {"kind": "expense*"})
    router = gateway.gateway.router
    result = gateway.run(
        router.emit(
            "approval_pending", {"kind": "expense-42"}, tenant_id="acme", idempotency_key="a1"
        )
    )
    assert result.started == 1 and not result.duplicate
    again = gateway.run(
        router.emit(
            "approval_pending", {"kind": "expense-42"}, tenant_id="acme", idempotency_key="a1"
        )
    )
    assert again.duplicate and again.delivered_to == 0
    other = gateway.run(router.emit("approval_pending", {"kind": "expense-43"}, tenant_id="globex"))
    assert other.delivered_to == 0  # EVENT triggers start for their own tenant only
    assert [d["workflow_id"] for d in dispatches(gateway)] == ["wf-notify"]


def test_events_read_in_one_loop_pass_share_one_commit(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer lets the loop run before it cuts a batch: requests read together, whose
    handlers reach the writer a pass later, join one commit instead of two."""
    deploy_event(gateway, "wf-burst", "acme", "burst")
    writer, router = gateway.gateway.writer, gateway.gateway.router
    batches = batch_sizes(writer, monkeypatch)

    async def read_then_submit(i: int) -> RouteResult:
        await asyncio.sleep(0)  # read in this pass of the loop, handled in the next
        return await router.emit("burst", {"i": i}, tenant_id="acme")

    async def burst() -> list[RouteResult]:
        first = router.emit("burst", {"i": 0}, tenant_id="acme")
        return await asyncio.gather(first, *(read_then_submit(i) for i in range(1, 20)))

    results = gateway.run(burst())
    assert [r.started for r in results] == [1] * 20
    assert batches == [20]
