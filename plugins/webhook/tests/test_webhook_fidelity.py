"""A 2xx is a promise: every body a public or per-run webhook accepts — JSON, form fields,
text, arbitrary bytes — reaches the engine exactly as sent, delivered from memory at once
and from the dispatch row after the engine was down, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from webhook_hub import Hub

from highway_triggers.testing import (
    EngineCall,
    FakeEngine,
    awkward_json,
    exact_json,
    sent_while_down,
    wait_accepted,
)

QUERY = "?q=%C3%A9&q=2&empty=&sep=%E2%80%A8"
QUERY_FIELDS = {"q": ["é", "2"], "empty": "", "sep": "\u2028"}
FORM = "application/x-www-form-urlencoded"
_cases = itertools.count()


@dataclass(frozen=True)
class Body:
    """A request body and what the captured request must hold for it."""

    content: bytes
    content_type: str
    encoding: str
    """``body_encoding``: ``json``, ``form``, ``base64`` or ``none``."""
    value: Any
    """``body``: the JSON value, the form fields, the bytes (base64) or ``None``."""


def bodies() -> dict[str, Body]:
    """Whole-body JSON at the depth limit and JSON that is no object, forms, text, bytes."""
    found = {
        name: Body(text.encode(), "application/json", "json", json.loads(text))
        for name, text in awkward_json().items()
    }
    for name, text in {
        "array": '[1, -0.0, 1e308, "x", {"b": 1, "a": 2}]',
        "string": '"line\\u2028separator 😀"',
        "minus zero": "-0.0",
        "tiniest float": "5e-324",
        "int64": "-9223372036854775808",
        "null": "null",
    }.items():
        found[name] = Body(text.encode(), "application/vnd.api+json", "json", json.loads(text))
    form = b"a=1&b=%C3%A9&a=2&empty=&plus=a+b&emoji=%F0%9F%98%80&ctl=%01&sep=%E2%80%A8"
    fields = {
        "a": ["1", "2"],
        "b": "é",
        "empty": "",
        "plus": "a b",
        "emoji": "😀",
        "ctl": "\x01",
        "sep": "\u2028",
    }
    found["form"] = Body(form, FORM, "form", fields)
    for name, raw, content_type in (
        ("text", "héllo 😀\r\n\u2028 \\ end".encode(), "text/plain; charset=utf-8"),
        ("bytes", bytes(range(256)) * 4, "application/octet-stream"),
        ("not JSON", b'{"a": 1} trailing', "application/json"),
        ("Latin-1 form", b"a=\xe9", FORM),
    ):
        found[name] = Body(raw, content_type, "base64", raw)
    found["empty"] = Body(b"", "text/plain", "none", None)
    return found


@dataclass(frozen=True)
class Sent:
    """One accepted request and where the engine must receive it."""

    name: str
    body: Body
    path: str
    """The engine call's path: the workflow started, or the run resumed."""
    case: str
    """The request's ``X-Case`` header, which the captured headers keep."""

    def calls(self, engine: FakeEngine) -> list[EngineCall]:
        return [
            c
            for c in list(engine.calls)
            if c.path == self.path and self.captured(c)["headers"].get("x-case") == self.case
        ]

    def captured(self, call: EngineCall) -> dict[str, Any]:
        data: dict[str, Any] = call.body[
            "resume_data" if "/resume" in self.path else "trigger_data"
        ]
        return data

    def exact(self, call: EngineCall) -> bool:
        data, body = self.captured(call), self.body
        received = data["body"]
        if body.encoding == "base64":
            same = base64.b64decode(received) == body.value
        else:
            same = exact_json(received) == exact_json(body.value)
        return (
            same
            and (data["body_encoding"], data["content_type"]) == (body.encoding, body.content_type)
            and exact_json(data["query"]) == exact_json(QUERY_FIELDS)
        )


Sender = Callable[[str, Body], Sent]


def public_webhook(hub: Hub) -> Sender:
    """Requests to one public webhook, each starting its workflow."""
    path = f"fidelity-{next(_cases)}"
    workflow = hub.deploy({"webhook_path": path})

    def send(name: str, body: Body) -> Sent:
        case = str(next(_cases))
        headers = {"content-type": body.content_type, "x-case": case}
        hub.accepted(hub.post(path + QUERY, body.content, **headers))
        return Sent(name, body, f"/v2/workflows/{workflow}/execute", case)

    return send


def per_run_webhook(hub: Hub) -> Sender:
    """A per-run webhook registered for each request, resuming its own run."""
    admin = hub.admin

    def send(name: str, body: Body) -> Sent:
        case = str(next(_cases))
        registration = {"tenant_id": "acme", "workflow_run_id": f"fidelity-run-{case}"}
        answer = admin.post("/api/v1/webhook-registrations", json=registration)
        assert answer.status_code == 201, answer.text
        url = httpx.URL(answer.json()["url"])
        headers = {"content-type": body.content_type, "x-case": case}
        hub.accepted(hub.sender().post(url.path + QUERY, content=body.content, headers=headers))
        return Sent(name, body, f"/v2/executions/fidelity-run-{case}/resume", case)

    return send


def test_every_accepted_body_arrives_exactly_from_memory_and_from_the_stored_row(
    hub: Hub,
) -> None:
    senders = [public_webhook(hub), per_run_webhook(hub)]
    sent = sent_while_down(
        hub.engine,
        lambda: [send(name, body) for send in senders for name, body in bodies().items()],
    )
    wait_accepted(hub.engine, sent)
    changed = sorted({s.name for s in sent for call in s.calls(hub.engine) if not s.exact(call)})
    assert not changed, f"delivered other than sent: {changed}"
