"""The test workflows, run by a DBOS application process: ``python dbos_app.py`` with
``DBOS_SYSTEM_DATABASE_URL`` set launches DBOS, registers the ``test`` queue and serves
until it is terminated (it prints ``ready`` once the queue is registered).

``echo`` returns its trigger; ``waiting`` registers a wait with the gateway named in its
trigger data (``gateway``, ``token``, ``order``), receives the ``reply`` topic and
returns the trigger with the reply.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import httpx
from dbos import DBOS, DBOSConfig

QUEUE = "test"


@DBOS.workflow(name="echo")
def echo(trigger: dict[str, Any]) -> dict[str, Any]:
    return trigger


@DBOS.step()
def register_wait(trigger: dict[str, Any], run_id: str) -> None:
    data = trigger["trigger_data"]
    answer = httpx.post(
        f"{data['gateway']}/api/v1/waits",
        headers={"Authorization": f"Bearer {data['token']}"},
        json={
            "tenant_id": "acme",
            "workflow_run_id": run_id,
            "event_name": "reply",
            "correlation_key": data["order"],
            "idempotency_key": f"{run_id}:reply",
        },
        timeout=10,
    )
    answer.raise_for_status()


@DBOS.workflow(name="waiting")
def waiting(trigger: dict[str, Any]) -> dict[str, Any]:
    run_id = DBOS.workflow_id
    assert run_id is not None
    register_wait(trigger, run_id)
    reply = DBOS.recv("reply", timeout_seconds=60)
    return {"trigger": trigger, "reply": reply}


def main() -> None:
    config: DBOSConfig = {
        "name": "highway-test",
        "system_database_url": os.environ["DBOS_SYSTEM_DATABASE_URL"],
        "notification_listener_polling_interval_sec": 0.05,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    DBOS.register_queue(QUEUE, polling_interval_sec=0.05)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    DBOS.destroy()


if __name__ == "__main__":
    main()
