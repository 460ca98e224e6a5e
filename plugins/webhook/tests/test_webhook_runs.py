"""Per-run webhooks: an engine registers one for a suspended run, and a call to its URL
resumes exactly that run, once (or, multi-use, once per call, in order)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from highway_triggers_webhook.tables import REGISTRATIONS, SIGNATURES
from sqlalchemy import Connection, insert, select, text
from webhook_hub import PROXY, SENDER, Hub

from highway_triggers.plugin import HTTPError, WaitRequest
from highway_triggers.testing import SEALED, EngineCall, wait_until

SECRET = "whsec_" + base64.b64encode(b"per-run-secret-0123456789").decode()
_runs = itertools.count()


def register(hub: Hub, expect: int = 201, **fields: Any) -> dict[str, Any]:
    body = {"tenant_id": "acme", "workflow_run_id": f"run-{next(_runs)}", **fields}
    answer = hub.admin.post("/api/v1/webhook-registrations", json=body)
    assert answer.status_code == expect, answer.text
    registration: dict[str, Any] = answer.json()
    return registration


def call(
    hub: Hub,
    webhook: dict[str, Any],
    body: bytes = b'{"paid": true}',
    source: str = SENDER,
    **headers: str,
) -> httpx.Response:
    headers.setdefault("content-type", "application/json")
    path = httpx.URL(webhook["url"]).path
    return hub.sender(source).post(path, content=body, headers=headers)


def signed(body: bytes, message_id: str = "msg_1", secret: str = SECRET) -> dict[str, str]:
    now = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{now}.".encode() + body, hashlib.sha256).digest()
    signature = "v1," + base64.b64encode(digest).decode()
    return {"webhook-id": message_id, "webhook-timestamp": now, "webhook-signature": signature}


def resumes_of(hub: Hub, run_id: str, count: int = 1) -> list[EngineCall]:
    def resumed() -> list[EngineCall]:
        calls = [c for c in hub.engine.resumes() if c.path == f"/v2/executions/{run_id}/resume"]
        return calls if len(calls) >= count else []

    return wait_until(resumed)  # type: ignore[no-any-return]


def run_of(hub: Hub, webhook: dict[str, Any]) -> str:
    wait = hub.admin.get(f"/api/v1/waits/{webhook['wait_id']}").json()
    return str(wait["workflow_run_id"])


def test_a_signed_call_resumes_exactly_its_run_once(hub: Hub) -> None:
    signature = {"type": "standard-webhooks", "secret": SECRET}
    mine, other = register(hub, signature=signature), register(hub, signature=signature)
    assert mine["url"].endswith(f"/api/v1/webhooks/{mine['webhook_id']}")
    body = b'{"paid": true}'
    # a refused call writes nothing: the webhook is still there for the right one
    hub.refused(call(hub, mine, body + b" ", **signed(body)), 401, "INVALID_SIGNATURE")
    hub.accepted(call(hub, mine, body, **signed(body)))
    (resume,) = resumes_of(hub, run_of(hub, mine))
    assert resume.body["interaction_id"] == mine["wait_id"]
    data = resume.body["resume_data"]
    assert data["body"] == {"paid": True} and data["webhook_id"] == mine["webhook_id"]
    assert data["headers"]["webhook-signature"] == "[REDACTED]" and data["request_id"]

    hub.refused(call(hub, mine, body, **signed(body, "msg_2")), 410, "WEBHOOK_CONSUMED")
    # twenty racing calls to the other webhook: one resumes its run, the rest are gone
    with ThreadPoolExecutor(20) as pool:
        answers = list(
            pool.map(lambda n: call(hub, other, body, **signed(body, f"m{n}")), range(20))
        )
    assert sorted(a.status_code for a in answers) == [202] + [410] * 19
    resumes_of(hub, run_of(hub, other))
    time.sleep(0.3)
    assert (
        len(
            [
                c
                for c in hub.engine.resumes()
                if c.body["interaction_id"] in (mine["wait_id"], other["wait_id"])
            ]
        )
        == 2
    )
    assert hub.admin.get(f"/api/v1/waits/{mine['wait_id']}").json()["status"] == "consumed"


def test_unknown_expired_and_cancelled_webhooks(hub: Hub) -> None:
    hub.refused(
        hub.sender().post("/api/v1/webhooks/no-such-id", content=b"{}"), 404, "WEBHOOK_NOT_FOUND"
    )
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    expiring = register(hub, expires_at=soon)
    assert expiring["expires_at"] is not None
    time.sleep(1.1)
    hub.refused(call(hub, expiring), 410, "WEBHOOK_EXPIRED")
    (timeout,) = resumes_of(hub, run_of(hub, expiring))  # the core's wait timeout
    assert timeout.body["resume_data"] == {"status": "timeout"}

    cancelled = register(hub)
    assert hub.admin.delete(f"/api/v1/waits/{cancelled['wait_id']}").status_code == 200
    hub.refused(call(hub, cancelled), 410, "WEBHOOK_CONSUMED")
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    assert "expires_at" in register(hub, expect=422, expires_at=past)["message"]


def test_a_multi_use_webhook_resumes_its_run_on_every_call_in_order(hub: Hub) -> None:
    webhook = register(hub, multi_use=True, dedup_header="Idempotency-Key")
    for n in range(4):
        hub.accepted(call(hub, webhook, f'{{"n": {n}}}'.encode(), **{"Idempotency-Key": f"k{n}"}))
    hub.accepted(call(hub, webhook, b'{"n": 3}', **{"Idempotency-Key": "k3"}), 0)  # a redelivery
    resumes = resumes_of(hub, run_of(hub, webhook), 4)
    assert [r.body["resume_data"]["body"]["n"] for r in resumes] == [0, 1, 2, 3]
    time.sleep(0.3)
    assert len(resumes_of(hub, run_of(hub, webhook))) == 4


def test_signatures_are_sealed_and_referable_by_id(hub: Hub) -> None:
    signature = {
        "type": "hmac",
        "secret": "run-hmac-s3cret",
        "header": "X-Sig",
        "prefix": "sha256=",
    }
    first = register(hub, signature=signature)
    second = register(hub, signature_id=first["signature_id"])
    body = b"{}"
    digest = "sha256=" + hmac.new(b"run-hmac-s3cret", body, hashlib.sha256).hexdigest()
    hub.refused(call(hub, second, body, **{"X-Sig": "sha256=00"}), 401, "INVALID_SIGNATURE")
    hub.accepted(call(hub, second, body, **{"X-Sig": digest}))
    resumes_of(hub, run_of(hub, second))
    refused = hub.admin.post(
        "/api/v1/webhook-registrations",
        json={"tenant_id": "other", "workflow_run_id": "r", "signature_id": first["signature_id"]},
    )
    hub.refused(refused, 404, "SIGNATURE_NOT_FOUND")
    with hub.gateway.gateway.db.engine.connect() as conn:
        (stored,) = conn.execute(
            text("SELECT signature FROM webhook_signatures WHERE id = :id"),
            {"id": first["signature_id"]},
        ).one()
    stored = stored if isinstance(stored, dict) else json.loads(stored)  # JSONB or text
    assert stored["secret"].startswith(SEALED) and "run-hmac-s3cret" not in str(stored)


def test_registration_is_admin_only_validated_and_idempotent(hub: Hub) -> None:
    body = {"tenant_id": "acme", "workflow_run_id": "run-idem", "idempotency_key": "reg-1"}
    hub.refused(hub.sender().post("/api/v1/webhook-registrations", json=body), 401, "UNAUTHORIZED")
    first = register(hub, **body)
    again = register(hub, expect=200, **body)
    assert again == first
    for bad in (
        {"signature": {"type": "hmac"}},
        {"workflow_run_id": 7},
        {"response": "later"},
        {"extra": 1},
    ):
        hub.refused(
            hub.admin.post("/api/v1/webhook-registrations", json={**body, **bad}),
            422,
            "VALIDATION_ERROR",
        )


def test_limits_and_answers_of_a_per_run_webhook(hub: Hub) -> None:
    limited = register(hub, ip_allowlist=["198.51.100.0/24"], max_body_bytes=64)
    hub.refused(call(hub, limited), 401, "IP_NOT_ALLOWED")
    forwarded = {"X-Forwarded-For": "198.51.100.9"}
    hub.refused(call(hub, limited, b"x" * 65, source=PROXY, **forwarded), 413, "PAYLOAD_TOO_LARGE")
    hub.accepted(call(hub, limited, source=PROXY, **forwarded))
    static = register(hub, response={"status": 200, "body": "ok"})
    answer = call(hub, static)
    assert (answer.status_code, answer.text) == (200, "ok")
    resumes_of(hub, run_of(hub, static))


def test_the_token_of_a_per_run_webhook_does_not_resume_it_through_hooks(hub: Hub) -> None:
    """The wait is the plugin's: only its receiver, after the signature check, resumes it."""
    webhook = register(hub, signature={"type": "standard-webhooks", "secret": SECRET})
    with hub.gateway.context.database.engine.connect() as conn:
        token = conn.execute(
            select(REGISTRATIONS.c.token).where(REGISTRATIONS.c.id == webhook["webhook_id"])
        ).scalar_one()
    forged = hub.sender().post(f"/api/v1/hooks/{quote(token, safe='')}", json={"paid": True})
    hub.refused(forged, 404, "NO_WAITING_WORKFLOW")
    assert hub.admin.get(f"/api/v1/waits/{webhook['wait_id']}").json()["status"] == "open"
    body = b'{"paid": true}'
    hub.accepted(call(hub, webhook, body, **signed(body)))
    (resume,) = resumes_of(hub, run_of(hub, webhook))
    assert resume.body["interaction_id"] == webhook["wait_id"]
    assert "webhook_id" in resume.body["resume_data"]  # the receiver's payload, not the hook's


def test_a_registration_and_its_wait_are_written_together(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits = hub.gateway.context.waits
    register_in = waits.register_in

    def fails_after_the_wait(
        conn: Connection, request: WaitRequest, *, owner: str
    ) -> tuple[dict[str, Any], bool]:
        register_in(conn, request, owner=owner)
        raise HTTPError(409, "WAIT_CONFLICT", "the wait conflicted; retry")

    monkeypatch.setattr(waits, "register_in", fails_after_the_wait)
    body = {
        "tenant_id": "acme",
        "workflow_run_id": "run-atomic",
        "signature": {"type": "bearer", "token": "atomic-t0ken"},
        "idempotency_key": "reg-atomic",
    }
    engine = hub.gateway.context.database.engine
    with engine.connect() as conn:
        signatures = conn.execute(select(SIGNATURES.c.id)).scalars().all()
    refused = hub.admin.post("/api/v1/webhook-registrations", json=body)
    hub.refused(refused, 409, "WAIT_CONFLICT")
    with engine.connect() as conn:
        left = select(REGISTRATIONS.c.id).where(REGISTRATIONS.c.workflow_run_id == "run-atomic")
        assert conn.execute(left).all() == []
        assert conn.execute(select(SIGNATURES.c.id)).scalars().all() == signatures
        waits_left = text("SELECT id FROM waits WHERE workflow_run_id = 'run-atomic'")
        assert conn.execute(waits_left).all() == []
    monkeypatch.undo()
    again = register(hub, **body)  # 201: the failed attempt left no key behind
    assert hub.admin.get(f"/api/v1/waits/{again['wait_id']}").json()["status"] == "open"


def test_a_webhook_registered_before_its_wait_id_was_stored_still_resumes_its_run(
    hub: Hub,
) -> None:
    """Rows of ``webhook_0001`` have no ``wait_id``, and their waits no owner."""
    token = "webhook:registered-before-0002"
    wait = hub.admin.post(
        "/api/v1/waits",
        json={
            "tenant_id": "acme",
            "workflow_run_id": "run-legacy",
            "event_name": "webhook",
            "token": token,
        },
    ).json()
    signature_id = register(hub)["signature_id"]
    with hub.gateway.context.database.engine.begin() as conn:
        conn.execute(
            insert(REGISTRATIONS).values(
                id="legacy-webhook",
                tenant_id="acme",
                workflow_run_id="run-legacy",
                token=token,
                signature_id=signature_id,
                options={},
                multi_use=False,
                created_at=datetime.now(UTC),
            )
        )
    hub.accepted(call(hub, {"url": "/api/v1/webhooks/legacy-webhook"}))
    (resume,) = resumes_of(hub, "run-legacy")
    assert resume.body["interaction_id"] == wait["wait_id"]
