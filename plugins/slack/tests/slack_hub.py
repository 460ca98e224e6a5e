"""The Slack tests' gateway: a real one whose ``http`` engine adapter talks to a FakeEngine on
loopback, with the Slack plugin installed, and the steps the tests repeat: deploy a SLACK
trigger, send a fixture request signed as Slack signs it (``v0``, the current time).

Tests share a gateway, so each uses its own workflow ids, workspaces, channels and delivery
ids. The gateway-wide signing secret is :data:`SHARED_SECRET` (``HIGHWAY_SLACK_SIGNING_SECRET``).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from highway_triggers_slack.settings import SlackSettings

from highway_triggers.testing import (
    FakeEngine,
    PluginHub,
    gateway_settings,
    register_wait,
    resumed_once,
    running_gateway,
)

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_SECRET = "gateway-wide-slack-signing-secret"
EVENTS = "/api/v1/slack/events"
INTERACTIONS = "/api/v1/slack/interactions"
COMMANDS = "/api/v1/slack/commands"
FORM = "application/x-www-form-urlencoded"
_names = itertools.count(1)
SETTLE_SECONDS = 0.3
"""Time for a start or resume that should not happen to show up."""


def fixture(name: str) -> bytes:
    """A fixture file's bytes, exactly as saved (``event_callback.message.channel.json`` …)."""
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(fixture(name))
    return found


def sign(body: bytes, secret: str, timestamp: str | None = None) -> dict[str, str]:
    """Slack's ``v0`` headers for ``body``: HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    sent_at = timestamp or str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{sent_at}:".encode() + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": sent_at, "X-Slack-Signature": f"v0={digest.hexdigest()}"}


def new_id() -> str:
    """An Events API ``event_id`` no other test uses."""
    return f"Ev{uuid.uuid4().hex[:12].upper()}"


def unique(prefix: str) -> str:
    """A Slack id (``T…``, ``C…``, ``U…``) no other test uses."""
    return f"{prefix}X{next(_names):06d}"


def event_callback(
    name: str = "event_callback.message.channel.json",
    *,
    team: str,
    event_id: str | None = None,
    **event: Any,
) -> dict[str, Any]:
    """A fixture's ``event_callback`` moved to workspace ``team`` with a new ``event_id``, its
    ``event`` updated with ``event`` (a ``None`` value removes the field)."""
    payload = copy.deepcopy(fixture_json(name))
    payload["team_id"] = team
    payload["event_id"] = event_id or new_id()
    for key, value in event.items():
        if value is None:
            payload["event"].pop(key, None)
        else:
            payload["event"][key] = value
    return payload


def block_actions(team: str, *, value: str, block_id: str = "b", **changes: Any) -> dict[str, Any]:
    """The fixture's ``block_actions`` click in workspace ``team`` on a button with ``value``
    (and ``block_id``), with a new ``trigger_id`` and top-level ``changes``."""
    payload = copy.deepcopy(fixture_json("interactivity.block_actions.payload.json"))
    payload["team"]["id"] = payload["user"]["team_id"] = team
    payload["trigger_id"] = f"{next(_names)}.{int(time.time())}.{uuid.uuid4().hex}"
    payload["actions"][0].update(value=value, block_id=block_id)
    payload.update(changes)
    return payload


def form(**fields: str) -> bytes:
    """A URL-encoded form body, as Slack posts interactions and slash commands."""
    return urlencode(fields).encode()


def slash_command(team: str, command: str, text: str = "", **fields: str) -> bytes:
    """The fixture's slash command in workspace ``team``: ``command`` with ``text``, a new
    ``trigger_id``, and ``fields`` changed."""
    sent = dict(parse_qsl(fixture("slash_command.form.txt").decode(), keep_blank_values=True))
    sent.update(
        team_id=team, command=command, text=text, trigger_id=f"{next(_names)}.{uuid.uuid4().hex}"
    )
    return form(**{**sent, **fields})


class Hub(PluginHub):
    """A running gateway and its engine, with the steps the Slack tests repeat."""

    source = "SLACK"
    stored_path = "/api/v1/slack/deliveries/{}"

    def deploy(
        self, config: dict[str, Any], workflow_id: str | None = None, expect: int = 200
    ) -> str:
        """Deploy a SLACK trigger; returns its workflow id (a new one unless given)."""
        return self.deploy_trigger("SLACK", config, workflow_id, expect)

    def post(
        self,
        path: str,
        body: bytes,
        *,
        secret: str | None = SHARED_SECRET,
        timestamp: str | None = None,
        content_type: str = "application/json",
        **headers: str,
    ) -> httpx.Response:
        """POST ``body`` to ``path`` as Slack would, signed with ``secret`` (none: unsigned)."""
        sent = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        if secret is not None:
            sent.update(sign(body, secret, timestamp))
        sent.update({name.replace("_", "-"): value for name, value in headers.items()})
        return self.sender.post(path, content=body, headers=sent)

    def event(self, payload: dict[str, Any], **options: Any) -> httpx.Response:
        """An Events API request carrying ``payload``."""
        return self.post(EVENTS, json.dumps(payload).encode(), **options)

    def interaction(self, payload: dict[str, Any], **options: Any) -> httpx.Response:
        """An interactivity request: ``payload`` as the form's ``payload`` field."""
        body = form(payload=json.dumps(payload))
        return self.post(INTERACTIONS, body, content_type=FORM, **options)

    def command(self, body: bytes, **options: Any) -> httpx.Response:
        return self.post(COMMANDS, body, content_type=FORM, **options)


@contextmanager
def serving(
    database: str,
    tmp_path: Path,
    engine: FakeEngine,
    engine_url: str,
    env: dict[str, str] | None = None,
    **settings: Any,
) -> Iterator[Hub]:
    """A gateway on ``database`` that delivers to ``engine``, with :data:`SHARED_SECRET`,
    or exactly the ``HIGHWAY_SLACK_*`` variables of ``env`` (``{"BOT_TOKEN": …}``; those of
    another gateway of the module are not seen); ``settings`` override the test gateway's."""
    config = gateway_settings(database, tmp_path, engine="http", engine_url=engine_url, **settings)
    with pytest.MonkeyPatch.context() as patched:
        for name in SlackSettings.model_fields:
            patched.delenv(f"HIGHWAY_SLACK_{name.upper()}", raising=False)
        for name, value in (env if env is not None else {"SIGNING_SECRET": SHARED_SECRET}).items():
            patched.setenv(f"HIGHWAY_SLACK_{name}", value)
        with running_gateway(config) as gateway:
            yield Hub(gateway, engine)


def answered(answer: httpx.Response, delivered_to: int) -> dict[str, Any]:
    """The 200 body of a request routed (not a duplicate) to ``delivered_to`` runs."""
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert (body["status"], body["delivered_to"], body["duplicate"]) == (
        "accepted",
        delivered_to,
        False,
    ), body
    return body


def wait_on(hub: Hub, correlation_key: str, run_id: str) -> str:
    """Register a run waiting on ``correlation_key``, as an engine does; the wait's id."""
    return register_wait(
        hub.admin, correlation_key, run_id, tenant_id="slack-tests", event_name="slack"
    )


def resumed(hub: Hub, run_id: str, wait_id: str) -> dict[str, Any]:
    """The resume data of ``run_id``'s one resume (for ``wait_id``); the wait is consumed."""
    return resumed_once(hub.engine, hub.admin, run_id, wait_id, SETTLE_SECONDS)


def still_waiting(hub: Hub, wait_id: str) -> None:
    time.sleep(SETTLE_SECONDS)
    assert hub.admin.get(f"/api/v1/waits/{wait_id}").json()["status"] == "open"
