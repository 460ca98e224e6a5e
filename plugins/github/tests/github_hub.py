"""The GitHub tests' gateway: a real one whose ``http`` engine adapter talks to a
FakeEngine on loopback, with the GitHub plugin installed, and the steps the tests repeat:
deploy a GITHUB trigger, deliver a fixture payload signed as GitHub signs it.

Tests share a gateway, so each uses its own workflow ids, repositories and delivery ids.
The gateway-wide secret is :data:`SHARED_SECRET` (``HIGHWAY_GITHUB_WEBHOOK_SECRET``).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from highway_triggers.testing import (
    environment,
    FakeEngine,
    PluginHub,
    gateway_settings,
    running_gateway,
)

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_SECRET = "gateway-wide-github-secret"
WEBHOOK = "/api/v1/github/webhook"
_names = itertools.count()


def fixture(name: str) -> bytes:
    """A fixture payload's bytes, exactly as saved (``push.new-branch`` …)."""
    return (FIXTURES / f"{name}.json").read_bytes()


def sign(body: bytes, secret: str) -> str:
    """``X-Hub-Signature-256`` as GitHub computes it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def with_repository(body: bytes, full_name: str) -> bytes:
    """A fixture payload moved to another repository (``repository.full_name``)."""
    payload = json.loads(body)
    payload["repository"]["full_name"] = full_name
    payload["repository"]["name"] = full_name.split("/")[1]
    return json.dumps(payload).encode()


class Hub(PluginHub):
    """A running gateway and its engine, with the steps the GitHub tests repeat."""

    source = "GITHUB"
    stored_path = "/api/v1/github/deliveries/{}"

    @staticmethod
    def repository() -> str:
        """A repository no other test uses."""
        return f"Octo-Org/repo-{next(_names)}"

    def deploy(
        self, config: dict[str, Any], workflow_id: str | None = None, expect: int = 200
    ) -> str:
        """Deploy a GITHUB trigger; returns its workflow id (a new one unless given)."""
        return self.deploy_trigger("GITHUB", config, workflow_id, expect)

    def deliver(
        self,
        event: str,
        body: bytes,
        *,
        secret: str | None = SHARED_SECRET,
        delivery_id: str | None = None,
        **headers: str,
    ) -> httpx.Response:
        """POST ``body`` as GitHub would: event, delivery id (new unless given), signature."""
        sent = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/044aadd",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "292430182",
        }
        if secret is not None:
            sent["X-Hub-Signature-256"] = sign(body, secret)
        sent.update({name.replace("_", "-"): value for name, value in headers.items()})
        return self.sender.post(WEBHOOK, content=body, headers=sent)


@contextmanager
def serving(
    database: str, tmp_path: Path, engine: FakeEngine, engine_url: str, **settings: Any
) -> Iterator[Hub]:
    """A gateway on ``database`` that delivers to ``engine``, with :data:`SHARED_SECRET`;
    ``settings`` override the test gateway's."""
    config = gateway_settings(database, tmp_path, engine="http", engine_url=engine_url, **settings)
    with environment({"HIGHWAY_GITHUB_WEBHOOK_SECRET": SHARED_SECRET}):
        with running_gateway(config) as gateway:
            yield Hub(gateway, engine)
