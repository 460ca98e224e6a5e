"""The test flows, served by the Prefect environment (``.tools/prefect-venv``), not the
gateway's: ``python flows.py`` serves them as deployments of this process.

Each run writes what it completed with to ``$HIGHWAY_TEST_OUT/<flow run id>.json``.
The waiting flows register their wait with the gateway named in their trigger data
(``gateway``, ``token``, ``order``), then pause or suspend for a ``Reply``. ``typed``
takes only trigger data with an integer ``quantity`` (its deployment's parameter schema).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
from prefect import flow, pause_flow_run, serve, suspend_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import BaseModel

OUT = Path(os.environ["HIGHWAY_TEST_OUT"])


class Reply(RunInput):
    text: str


class Quantity(BaseModel):
    quantity: int


class TypedTrigger(BaseModel):
    trigger_type: str
    trigger_data: Quantity
    tenant_id: str | None


def completed(value: Any) -> None:
    (OUT / f"{flow_run.id}.json").write_text(json.dumps(value))


def register_wait(trigger: dict[str, Any]) -> None:
    data = trigger["trigger_data"]
    answer = httpx.post(
        f"{data['gateway']}/api/v1/waits",
        headers={"Authorization": f"Bearer {data['token']}"},
        json={
            "tenant_id": "acme",
            "workflow_run_id": str(flow_run.id),
            "event_name": "reply",
            "correlation_key": data["order"],
            "idempotency_key": f"{flow_run.id}:reply",  # a resumed suspension runs this again
        },
    )
    answer.raise_for_status()


@flow
def echo(trigger: dict[str, Any]) -> None:
    completed(trigger)


@flow
def typed(trigger: TypedTrigger) -> None:
    completed(trigger.model_dump())


@flow
def paused(trigger: dict[str, Any]) -> None:
    register_wait(trigger)
    reply = pause_flow_run(wait_for_input=Reply, timeout=120)
    completed({"trigger": trigger, "reply": reply.text})


@flow(persist_result=True)
def suspended(trigger: dict[str, Any]) -> None:
    register_wait(trigger)
    reply = suspend_flow_run(wait_for_input=Reply, timeout=120)
    completed({"trigger": trigger, "reply": reply.text})


if __name__ == "__main__":
    serve(
        echo.to_deployment(name="test"),
        typed.to_deployment(name="test"),
        paused.to_deployment(name="test"),
        suspended.to_deployment(name="test"),
        limit=20,
    )
