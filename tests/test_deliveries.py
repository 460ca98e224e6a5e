"""The delivery log (``GET /api/v1/deliveries``): what came in and what became of it —
delivered, duplicate, filtered, held, refused — with filters, pages and retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from highway_triggers import gateway as gateway_module
from highway_triggers.core import ingress
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.ids import first_id_at
from highway_triggers.db.tables import DELIVERY_LOG
from highway_triggers.testing import RunningGateway, tenant_token, wait_until

from api_calls import deploy_event, post_event

TENANT = "acme"


def listed(gateway: RunningGateway, **query: Any) -> dict[str, Any]:
    answer = gateway.client().get("/api/v1/deliveries", params=query)
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


def one(gateway: RunningGateway, **query: Any) -> dict[str, Any]:
    """The only delivery the query lists, once there is one (refusals commit with the
    writer's next transaction, after their answer)."""
    rows = wait_until(lambda: listed(gateway, **query)["deliveries"])
    assert len(rows) == 1, rows
    row: dict[str, Any] = rows[0]
    return row


def test_each_outcome_of_the_events_route(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tenant_token(gateway, TENANT)
    big = deploy_event(gateway, "wf-big", TENANT, "order.created", {"size": "big"})
    explained: list[str] = []
    explain = gateway.gateway.router._explain
    monkeypatch.setattr(
        gateway.gateway.router,
        "_explain",
        lambda event, *rest: explained.append(event.event_name) or explain(event, *rest),
    )

    # delivered: a start; the reason is only looked for when nothing took the event
    started = post_event(gateway, token, TENANT, "order.created", {"size": "big"})
    assert started.status_code == 202, started.text
    row = gateway.client().get(f"/api/v1/deliveries/{started.json()['event_id']}").json()
    assert row["received_at"] and row["delivery_id"] is None
    assert {k: row[k] for k in ("source", "tenant_id", "outcome", "started", "resumed")} == {
        "source": "EVENT",
        "tenant_id": TENANT,
        "outcome": "delivered",
        "started": 1,
        "resumed": 0,
    }
    assert row["targets"] == [{"trigger_id": big, "workflow_id": "wf-big", "matched": True}]
    assert (row["reason"], row["duplicate_of"]) == (None, None)

    # delivered: a resume of a wait by its correlation key
    wait = gateway.client().post(
        "/api/v1/waits",
        json={
            "tenant_id": TENANT,
            "workflow_run_id": "run-7",
            "workflow_id": "wf-shipping",
            "event_name": "order.shipped",
            "correlation_key": "order-7",
        },
    )
    assert wait.status_code == 201, wait.text
    resumed = post_event(gateway, token, TENANT, "order.shipped", correlation_key="order-7")
    assert resumed.status_code == 202, resumed.text
    row = one(gateway, workflow_id="wf-shipping")
    assert (row["event_id"], row["outcome"], row["started"], row["resumed"]) == (
        resumed.json()["event_id"],
        "delivered",
        0,
        1,
    )
    assert row["targets"] == [
        {
            "wait_id": wait.json()["wait_id"],
            "workflow_id": "wf-shipping",
            "workflow_run_id": "run-7",
            "matched": True,
        }
    ]
    assert explained == []  # nothing was explained: each event was delivered

    # duplicate: the second answer names the first event, its row the original
    first = post_event(
        gateway, token, TENANT, "order.created", {"size": "big"}, idempotency_key="order-8"
    )
    again = post_event(
        gateway, token, TENANT, "order.created", {"size": "big"}, idempotency_key="order-8"
    )
    assert first.status_code == again.status_code == 202
    assert again.json()["duplicate"] and again.json()["event_id"] == first.json()["event_id"]
    row = one(gateway, outcome="duplicate")
    assert row["duplicate_of"] == first.json()["event_id"] != row["event_id"]
    assert (row["delivery_id"], row["started"], row["targets"]) == (f"{TENANT}:order-8", 0, [])
    original = gateway.client().get(f"/api/v1/deliveries/{first.json()['event_id']}").json()
    assert original["outcome"] == "delivered" and original["delivery_id"] == f"{TENANT}:order-8"

    # filtered: the trigger's filter said no ("why did my workflow not start?")
    small = post_event(gateway, token, TENANT, "order.created", {"size": "small"})
    assert small.status_code == 404, small.text
    row = one(gateway, workflow_id="wf-big", outcome="filtered")
    assert row["reason"] == f"filter of trigger {big} (workflow wf-big) said no"
    assert row["targets"] == [{"trigger_id": big, "workflow_id": "wf-big", "matched": False}]

    # filtered: no trigger for the event's name
    assert post_event(gateway, token, TENANT, "nobody.listens").status_code == 404
    row = listed(gateway, outcome="filtered")["deliveries"][0]
    assert (row["reason"], row["targets"]) == ("no EVENT trigger for 'nobody.listens'", [])
    assert explained == ["order.created", "nobody.listens"]

    # filtered: a hook nobody waits on (the token, a credential, is not shown)
    assert gateway.client(token=None).post("/api/v1/hooks/secret-token", json={}).status_code == 404
    row = one(gateway, source="HOOK")
    assert (row["outcome"], row["reason"]) == ("filtered", "no wait for its token")

    # refused: the payload fails the schema of the wait it is for
    schema = {"type": "object", "required": ["approved"]}
    wait = gateway.client().post(
        "/api/v1/waits",
        json={
            "tenant_id": TENANT,
            "workflow_run_id": "run-10",
            "event_name": "order.approved",
            "correlation_key": "order-10",
            "schema": schema,
        },
    )
    assert wait.status_code == 201, wait.text
    bad = post_event(
        gateway, token, TENANT, "order.approved", {"ok": 1}, correlation_key="order-10"
    )
    assert bad.status_code == 400, bad.text
    row = one(gateway, outcome="refused")
    assert row["reason"].startswith("INVALID_PAYLOAD: ") and row["tenant_id"] == TENANT

    # held: no wait yet for its correlation key, kept for one registered late
    assert (
        post_event(gateway, token, TENANT, "order.paid", correlation_key="order-9").status_code
        == 404
    )
    row = one(gateway, outcome="held")
    assert row["reason"] == (
        "no wait for correlation key 'order-9'; no EVENT trigger for 'order.paid'; "
        "kept 300 s for a wait registered late"
    )


def test_refusals_at_the_door_are_logged(gateway: RunningGateway) -> None:
    tenant_token(gateway, TENANT)
    other = tenant_token(gateway, "other")
    slow = tenant_token(gateway, "slow", rate_limit_per_second=0.001, burst=1)

    assert post_event(gateway, other, TENANT, "order.created").status_code == 403
    row = one(gateway, outcome="refused", tenant_id=TENANT)
    assert row["source"] == "EVENT"
    assert row["reason"] == "FORBIDDEN: the token belongs to another tenant"

    assert post_event(gateway, "not-a-jwt", "other", "order.created").status_code == 401
    row = one(gateway, outcome="refused", tenant_id="other")
    assert row["reason"] == "INVALID_TOKEN: the bearer token is not a valid JWT"

    assert post_event(gateway, slow, "slow", "tick").status_code == 404  # filtered
    assert post_event(gateway, slow, "slow", "tick").status_code == 429
    row = one(gateway, outcome="refused", tenant_id="slow")
    assert row["reason"].startswith("RATE_LIMITED: rate limit exceeded for 'slow'")
    assert [r["outcome"] for r in listed(gateway, tenant_id="slow")["deliveries"]] == [
        "refused",
        "filtered",
    ]


def test_refusals_past_the_bound_are_dropped_and_counted(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingress, "MAX_NOTED", 10)
    router = gateway.gateway.router
    forged = HTTPError(401, "INVALID_SIGNATURE", "forged")

    async def flood() -> None:  # no await: the writer cannot run in between
        for _ in range(25):
            router.refused("WEBHOOK", forged)

    gateway.run(flood())
    wait_until(lambda: listed(gateway, outcome="refused")["count"] == 10)
    metrics = gateway.client().get("/metrics").text
    assert "highway_deliveries_unlogged_total 15.0" in metrics
    gateway.run(flood())  # the queue drained: ten more are written
    wait_until(lambda: listed(gateway, outcome="refused")["count"] == 20)


def test_list_filters_pages_and_errors(gateway: RunningGateway) -> None:
    token = tenant_token(gateway, TENANT)
    deploy_event(gateway, "wf-pages", TENANT, "page")
    sent = [
        post_event(gateway, token, TENANT, "page", {"n": n}).json()["event_id"] for n in range(5)
    ]
    middle = datetime.now(UTC)
    sent += [
        post_event(gateway, token, TENANT, "page", {"n": n}).json()["event_id"] for n in range(5, 8)
    ]
    assert post_event(gateway, token, TENANT, "unheard").status_code == 404

    pages, cursor = [], None
    while True:
        query = {"limit": 3, "workflow_id": "wf-pages", **({"cursor": cursor} if cursor else {})}
        page = listed(gateway, **query)
        pages.append([row["event_id"] for row in page["deliveries"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [sent[::-1][:3], sent[::-1][3:6], sent[::-1][6:]]
    after = listed(gateway, since=middle.isoformat(), outcome="delivered")["deliveries"]
    assert [row["event_id"] for row in after] == sent[::-1][:3]
    before = listed(gateway, until=middle.isoformat().replace("+00:00", "Z"))["deliveries"]
    assert [row["event_id"] for row in before] == sent[::-1][3:]
    naive = listed(gateway, until=middle.replace(tzinfo=None).isoformat())["deliveries"]
    assert len(naive) == 5  # a time without an offset is UTC
    assert listed(gateway, source="WEBHOOK")["deliveries"] == []
    assert listed(gateway, tenant_id="nobody")["deliveries"] == []
    trigger_id = listed(gateway, limit=1, workflow_id="wf-pages")["deliveries"][0]["targets"][0]
    assert listed(gateway, trigger_id=trigger_id["trigger_id"])["count"] == 8
    assert listed(gateway, workflow_id="wf_pages")["count"] == 0  # _ is no LIKE wildcard

    admin = gateway.client()
    for query, code in (
        ({"limit": 0}, "INVALID_PARAMETER"),
        ({"cursor": "x"}, "INVALID_PARAMETER"),
        ({"outcome": "lost"}, "INVALID_PARAMETER"),
        ({"since": "yesterday"}, "INVALID_PARAMETER"),
        ({"workflow_id": "a b"}, "INVALID_IDENTIFIER"),
    ):
        answer = admin.get("/api/v1/deliveries", params=query)
        assert (answer.status_code, answer.json()["code"]) == (400, code), query
    for event_id in ("nope", first_id_at(datetime.now(UTC))):
        missing = admin.get(f"/api/v1/deliveries/{event_id}")
        assert (missing.status_code, missing.json()["code"]) == (404, "DELIVERY_NOT_FOUND")
    assert gateway.client(token=None).get("/api/v1/deliveries").status_code == 401
    assert gateway.client(token).get("/api/v1/deliveries").status_code == 401


def test_prune_deletes_log_rows_past_the_retention(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gateway_module, "PRUNE_CHUNK", 4)
    retention = timedelta(hours=gateway.gateway.settings.delivery_retention_hours)
    now = datetime.now(UTC)
    old, recent = now - retention - timedelta(minutes=1), now - timedelta(minutes=1)

    def row(when: datetime, n: int) -> dict[str, Any]:
        event_id = f"{first_id_at(when)[:24]}{n:012x}"
        return {"event_id": event_id, "received_at": when, "source": "EVENT", "outcome": "filtered"}

    db = gateway.gateway.db
    with db.engine.begin() as conn:
        conn.execute(insert(DELIVERY_LOG), [row(old, n) for n in range(9)])
        conn.execute(insert(DELIVERY_LOG), [row(recent, n) for n in range(2)])
    assert gateway.run(gateway.gateway.prune()) == 9
    with db.engine.connect() as conn:
        left = conn.execute(select(func.count()).select_from(DELIVERY_LOG)).scalar()
    assert left == 2
    assert [r["received_at"] for r in listed(gateway)["deliveries"]] == [recent.isoformat()] * 2
