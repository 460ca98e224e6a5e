"""The ingress writer's group commit (core/ingress.py): a row the database refuses fails its
own request only; the rest of its batch commits, and the writer goes on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, select

from highway_triggers.core.event import RouteResult
from highway_triggers.core.ids import new_uuid
from highway_triggers.core.ingress import Intake, IngressWriter
from highway_triggers.db.tables import DELIVERIES, DISPATCHES
from highway_triggers.testing import RunningGateway

from api_calls import batch_sizes

GOOD = 5


def refused_statement(conn: Connection) -> bool:
    """A plugin's claim whose statement the database refuses."""
    conn.exec_driver_sql("INSERT INTO no_such_table (slot) VALUES (1)")
    return True


Refusal = Callable[[dict[str, Any]], dict[str, Any]]
"""Makes good :class:`Intake` fields into fields of an intake whose rows cannot be written."""
REFUSALS: dict[str, Refusal] = {
    "a claim the database refuses": lambda fields: {**fields, "claim": refused_statement},
    "a payload no encoder takes": lambda fields: {**fields, "payload": {"set": {1, 2}}},
}
POSTGRES_REFUSALS: dict[str, Refusal] = {
    # PostgreSQL's text columns hold no NUL character; SQLite's do
    "a delivery id with a NUL": lambda fields: {**fields, "dedup_key": "bad\x00id"},
}


async def together(writer: IngressWriter, intakes: list[Intake]) -> list[Any]:
    """Submit ``intakes`` in one pass of the loop, so that they share a batch."""
    return await asyncio.gather(*(writer.submit(i) for i in intakes), return_exceptions=True)


def test_a_refused_row_fails_alone_and_its_batch_commits(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = gateway.client()
    deployed = admin.post(
        "/api/v1/deployment/workflows/wf-batch/deploy",
        json={"triggers": [{"type": "MANUAL", "config": {}}]},
    )
    assert deployed.status_code == 200, deployed.text
    core = gateway.gateway
    (trigger,) = core.manager.index.of_workflow("wf-batch", "MANUAL")
    writer: IngressWriter = core.writer
    batches = batch_sizes(writer, monkeypatch)

    def intake(refusal: Refusal | None = None) -> Intake:
        event_id = new_uuid()
        fields = {"subtype": "MANUAL", "payload": {"n": event_id}, "starts": [trigger]}
        fields["dedup_key"] = event_id
        return Intake(event_id=event_id, **(refusal(fields) if refusal else fields))

    refusals = {**REFUSALS, **(POSTGRES_REFUSALS if core.db.is_postgres else {})}
    for name, refusal in refusals.items():
        good, bad = [intake() for _ in range(GOOD)], intake(refusal)
        batches.clear()
        batch = [*good[:2], bad, *good[2:]]
        results = gateway.run(together(writer, batch))

        assert batches[:2] == [GOOD + 1, 1], (name, batches)  # one commit tried, then each
        outcome = dict(zip([i.event_id for i in batch], results, strict=True))
        assert isinstance(outcome.pop(bad.event_id), Exception), name
        assert all(isinstance(r, RouteResult) and r.started == 1 for r in outcome.values())
        with core.db.engine.connect() as conn:
            events = conn.execute(select(DISPATCHES.c.event_id)).scalars().all()
            kept = conn.execute(select(DELIVERIES.c.event_id)).scalars().all()
        assert {i.event_id for i in good} <= set(events) and bad.event_id not in events, name
        assert {i.event_id for i in good} <= set(kept) and bad.event_id not in kept, name

    # the writer goes on: a later request commits as before
    fired = admin.post("/api/v1/triggers/workflows/wf-batch/manual", json={"data": {"x": 1}})
    assert fired.status_code == 202 and fired.json()["delivered_to"] == 1, fired.text
