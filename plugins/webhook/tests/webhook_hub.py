"""The webhook tests' gateway: a real one whose ``http`` engine adapter talks to a
FakeEngine on loopback, and the steps the tests repeat.

The gateway trusts ``127.0.0.1`` as a proxy: a test sends from ``127.0.0.1`` when its
``X-Forwarded-For`` should be believed, and from ``127.0.0.2`` (a sender that is no
proxy) otherwise. Tests share a gateway, so each uses its own workflow ids and paths.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from highway_triggers.testing import (
    EngineCall,
    FakeEngine,
    RunningGateway,
    gateway_settings,
    running_gateway,
)

PROXY, SENDER = "127.0.0.1", "127.0.0.2"
_names = itertools.count()


@dataclass
class Hub:
    """A running gateway and its engine, with the steps the webhook tests repeat."""

    gateway: RunningGateway
    engine: FakeEngine
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    @property
    def admin(self) -> httpx.Client:
        return self.gateway.admin

    def sender(self, source: str = SENDER) -> httpx.Client:
        """An unauthenticated client whose requests come from ``source``."""
        if source not in self.clients:
            transport = httpx.HTTPTransport(local_address=source)
            self.clients[source] = httpx.Client(
                base_url=self.gateway.url, transport=transport, timeout=30
            )
        return self.clients[source]

    def deploy(
        self, config: dict[str, Any], workflow_id: str | None = None, expect: int = 200
    ) -> str:
        """Deploy a WEBHOOK trigger; returns its workflow id (a new one unless given)."""
        workflow_id = workflow_id or f"wf-{next(_names)}"
        self.gateway.deploy(workflow_id, {"type": "WEBHOOK", "config": config}, expect=expect)
        return workflow_id

    def post(
        self, path: str, body: bytes = b"{}", source: str = SENDER, **headers: str
    ) -> httpx.Response:
        headers.setdefault("content-type", "application/json")
        return self.sender(source).post(
            f"/api/v1/public/webhook/{path}", content=body, headers=headers
        )

    def starts(self, workflow_id: str, count: int = 1) -> list[EngineCall]:
        """The engine's start calls for ``workflow_id``, once there are ``count`` of them."""
        return self.engine.started(workflow_id, count)

    @staticmethod
    def accepted(answer: httpx.Response, delivered_to: int = 1) -> dict[str, Any]:
        assert answer.status_code == 202, answer.text
        body: dict[str, Any] = answer.json()
        assert body["status"] == "accepted" and body["delivered_to"] == delivered_to, body
        return body

    @staticmethod
    def refused(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
        assert answer.status_code == status, answer.text
        body: dict[str, Any] = answer.json()
        assert body["status"] == "error" and body["code"] == code, body
        return body

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@contextmanager
def serving(database: str, tmp_path: Path, engine: FakeEngine, engine_url: str) -> Iterator[Hub]:
    """A gateway on ``database`` that delivers to ``engine`` and trusts ``PROXY``."""
    settings = gateway_settings(
        database, tmp_path, engine="http", engine_url=engine_url, trusted_proxies=f"{PROXY}/32"
    )
    with running_gateway(settings) as gateway:
        hub = Hub(gateway, engine)
        try:
            yield hub
        finally:
            hub.close()
