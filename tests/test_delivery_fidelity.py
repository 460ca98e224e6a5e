"""A 2xx is a promise: every payload a core ingress route accepts reaches a real HTTP engine
on loopback exactly as sent (same types, floats bit for bit, ``-0.0``, key order, strings),
delivered from memory at once or from the dispatch row after the engine was down, on
SQLite and PostgreSQL. The webhook plugin tests its own routes the same way."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from highway_triggers.core.json_body import DEFAULT_MAX_DEPTH, INT64_MAX, INT64_MIN
from highway_triggers.fixtures import need_postgres
from highway_triggers.testing import (
    EngineCall,
    FakeEngine,
    RunningGateway,
    awkward_json,
    exact_json,
    gateway_settings,
    postgres_database,
    running_engine,
    running_gateway,
    sent_while_down,
    wait_accepted,
)

TENANT = "acme"
_numbers = itertools.count()


@dataclass(frozen=True)
class Sent:
    """One accepted payload and where the engine must receive it."""

    route: str
    name: str
    expected: Any
    path: str
    """The engine call's path: the workflow started, or the run resumed."""
    key: str | None
    """For a start: the end of the call's idempotency key (the request's Idempotency-Key)."""

    def calls(self, engine: FakeEngine) -> list[EngineCall]:
        return [
            c
            for c in list(engine.calls)
            if c.path == self.path
            and (self.key is None or (c.idempotency_key or "").endswith(f":{self.key}"))
        ]

    def received(self, call: EngineCall) -> Any:
        return call.body["resume_data" if self.key is None else "trigger_data"]


class Fidelity:
    """The module's gateway and engine, with one sender per ingress route."""

    def __init__(self, gateway: RunningGateway, engine: FakeEngine) -> None:
        self.gateway, self.engine = gateway, engine
        self.admin = gateway.client()
        self.tenant = gateway.client(setup(self.admin))
        self.anonymous = gateway.client(None)

    def post(self, client: httpx.Client, path: str, body: str, **headers: str) -> None:
        headers["content-type"] = "application/json"
        answer = client.post(path, content=body.encode(), headers=headers)
        assert answer.status_code == 202, answer.text
        assert answer.json()["delivered_to"] == 1, answer.text

    def wait(self, number: int, **key: str) -> str:
        """Register a wait of run ``run-<number>``; its path on the engine."""
        body = {"tenant_id": TENANT, "workflow_run_id": f"run-{number}", **key}
        answer = self.admin.post("/api/v1/waits", json=body)
        assert answer.status_code == 201, answer.text
        return f"/v2/executions/run-{number}/resume"

    def event_start(self, name: str, text: str) -> Sent:
        key = f"case-{next(_numbers)}"
        body = f'{{"event_name": "fidelity", "payload": {text}}}'
        self.post(self.tenant, f"/api/v1/events/{TENANT}", body, **{"Idempotency-Key": key})
        return Sent("event start", name, json.loads(text), "/v2/workflows/wf-event/execute", key)

    def event_resume(self, name: str, text: str) -> Sent:
        number = next(_numbers)
        path = self.wait(number, event_name="fidelity.resume", correlation_key=f"key-{number}")
        body = (
            f'{{"event_name": "fidelity.resume", "correlation_key": "key-{number}",'
            f' "payload": {text}}}'
        )
        self.post(self.tenant, f"/api/v1/events/{TENANT}", body)
        return Sent("event resume", name, json.loads(text), path, None)

    def early_event(self, name: str, text: str) -> Sent:
        """An event before its wait: kept (404 says so), and resumes the wait registered next."""
        number = next(_numbers)
        body = (
            f'{{"event_name": "fidelity.early", "correlation_key": "early-{number}",'
            f' "payload": {text}}}'
        )
        answer = self.tenant.post(f"/api/v1/events/{TENANT}", content=body.encode())
        assert answer.status_code == 404 and "kept" in answer.json()["message"], answer.text
        path = self.wait(number, event_name="fidelity.early", correlation_key=f"early-{number}")
        return Sent("early event", name, json.loads(text), path, None)

    def hook(self, name: str, text: str) -> Sent:
        number = next(_numbers)
        path = self.wait(number, event_name="hook", token=f"token-{number}")
        self.post(self.anonymous, f"/api/v1/hooks/token-{number}", text)
        return Sent("hook", name, json.loads(text), path, None)

    def manual(self, name: str, text: str) -> Sent:
        key = f"case-{next(_numbers)}"
        path = "/api/v1/triggers/workflows/wf-manual/manual"
        self.post(self.admin, path, f'{{"data": {text}}}', **{"Idempotency-Key": key})
        return Sent("manual", name, json.loads(text), "/v2/workflows/wf-manual/execute", key)

    def template(self, name: str, text: str) -> Sent:
        key = f"case-{next(_numbers)}"
        path = f"/api/v1/templates/fidelity/run?tenant_id={TENANT}"
        self.post(self.admin, path, f'{{"input": {text}}}', **{"Idempotency-Key": key})
        return Sent("template", name, json.loads(text), "/v2/workflows/wf-template/execute", key)


Sender = Callable[[Fidelity, str, str], Sent]
WRAPPED: dict[str, Sender] = {
    # the payload is a member of the body: it has one level less than the body's limit
    "event start": Fidelity.event_start,
    "event resume": Fidelity.event_resume,
    "early event": Fidelity.early_event,
    "manual": Fidelity.manual,
    "template": Fidelity.template,
}
WHOLE: dict[str, Sender] = {"hook": Fidelity.hook}  # the body is the payload
SENDERS = {**WRAPPED, **WHOLE}


def setup(admin: httpx.Client) -> str:
    """The triggers, template and tenant the senders use; the tenant's JWT."""
    answers = [
        admin.post("/api/v1/tenants", json={"tenant_id": TENANT}),
        admin.post(
            "/api/v1/triggers",
            json={
                "type": "EVENT",
                "workflow_id": "wf-event",
                "tenant_id": TENANT,
                "config": {"event_type": "fidelity"},
            },
        ),
        admin.post(
            "/api/v1/deployment/workflows/wf-manual/deploy",
            json={"triggers": [{"type": "MANUAL", "config": {}}]},
        ),
        admin.post(
            "/api/v1/templates",
            json={
                "tenant_id": TENANT,
                "name": "fidelity",
                "workflow_definition": {"id": "wf-template"},
                "input_schema": {"type": "object"},
            },
        ),
    ]
    for answer in answers:
        assert answer.status_code in (200, 201), answer.text
    claims = {"tenant_id": TENANT, "exp": 2**31 - 1}
    return jwt.encode(claims, answers[0].json()["jwt_secret"], algorithm="HS256")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fidelity(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fidelity]:
    tmp_path = tmp_path_factory.mktemp("fidelity")
    with running_engine() as (engine, engine_url), database(request.param, tmp_path) as url:
        settings = gateway_settings(
            url, tmp_path, engine="http", engine_url=engine_url, events_burst=100_000
        )
        with running_gateway(settings) as gateway:
            yield Fidelity(gateway, engine)


def database(kind: str, tmp_path: Path) -> AbstractContextManager[str]:
    if kind == "sqlite":
        return nullcontext(f"sqlite:///{tmp_path / 'gateway.db'}")
    need_postgres()
    return postgres_database()


def send_all(fidelity: Fidelity) -> list[Sent]:
    """Every awkward payload to every route, nested to the depth the route leaves it."""
    return [
        sender(fidelity, name, text)
        for senders, room in ((WRAPPED, DEFAULT_MAX_DEPTH - 1), (WHOLE, DEFAULT_MAX_DEPTH))
        for sender in senders.values()
        for name, text in awkward_json(room).items()
    ]


def assert_arrived_exactly(engine: FakeEngine, sent: list[Sent]) -> None:
    """Every payload reached the engine and was accepted, and every attempt carried it
    exactly as sent."""
    wait_accepted(engine, sent)
    changed = [
        (s.route, s.name)
        for s in sent
        for call in s.calls(engine)
        if exact_json(s.received(call)) != exact_json(s.expected)
    ]
    assert not changed, f"delivered other than sent: {changed}"


def test_every_awkward_payload_arrives_exactly_from_memory_and_from_the_stored_row(
    fidelity: Fidelity,
) -> None:
    sent = sent_while_down(fidelity.engine, lambda: send_all(fidelity))
    assert {s.route for s in sent} == set(SENDERS)
    assert_arrived_exactly(fidelity.engine, sent)


TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8)
"""Strings the door takes: no NUL, no lone surrogate."""
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=24,
)
PAYLOADS = st.dictionaries(TEXT, VALUES, max_size=6)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.lists(
        st.tuples(st.sampled_from(sorted(SENDERS)), PAYLOADS, st.booleans()),
        min_size=1,
        max_size=8,
    )
)
def test_any_accepted_json_arrives_exactly_from_the_stored_row(
    fidelity: Fidelity, batch: list[tuple[str, dict[str, Any], bool]]
) -> None:
    def send() -> list[Sent]:
        return [
            SENDERS[route](fidelity, "generated", json.dumps(payload, ensure_ascii=escaped))
            for route, payload, escaped in batch
        ]

    assert_arrived_exactly(fidelity.engine, sent_while_down(fidelity.engine, send))


def test_the_dispatch_list_shows_the_payload_as_delivered(fidelity: Fidelity) -> None:
    text = awkward_json()["floats"]
    assert_arrived_exactly(fidelity.engine, [fidelity.manual("floats", text)])
    listed = fidelity.admin.get("/api/v1/dispatches?workflow_id=wf-manual&limit=1")
    assert listed.status_code == 200, listed.text
    (dispatch,) = listed.json()["dispatches"]
    assert exact_json(dispatch["payload"]) == exact_json(json.loads(text))
