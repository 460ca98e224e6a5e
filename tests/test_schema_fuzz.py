"""Schemathesis fuzzes every operation of ``/openapi.json`` (plugin routes included)
against a gateway with every plugin, served on loopback, on SQLite and on PostgreSQL:
no answer may be a server error, nor break the status codes, media types and schemas
the document gives. A third of the cases name objects the gateway holds (a tenant, a
deployed workflow with a trigger of each type, a template, a wait, a per-run webhook),
so that they reach past the lookups.

Bounded and reproducible: schemathesis' coverage cases (each parameter's boundary and
invalid values) and 10 generated cases per operation, derandomized. The number of
operations and of requests made is reported at the end of the run.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import schemathesis
from schemathesis import Case, Config
from schemathesis.schemas import BaseSchema

from highway_triggers.fixtures import need_postgres
from highway_triggers.testing import (
    ADMIN_TOKEN,
    RunningGateway,
    gateway_settings,
    postgres_database,
    running_gateway,
)

TENANT = "acme"
WORKFLOW = "fuzz-flow"
ROTATE = "POST /api/v1/tenants/{tenant_id}/rotate"
EXAMPLES_PER_OPERATION = 10
SETTINGS = {
    "generation": {
        "max-examples": EXAMPLES_PER_OPERATION,
        "deterministic": True,
        "database": "none",
    },
    "phases": {"stateful": {"enabled": False}},
    "checks": {
        "enabled": False,
        "not_a_server_error": {"enabled": True},
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
    },
}


@dataclass
class Fuzzed:
    """The gateway under fuzz, a JWT of its tenant ``acme`` (whose rate is not limited),
    and the path parameters of objects it holds (see :func:`seed`)."""

    gateway: RunningGateway
    tenant_token: str
    known: dict[str, str]
    requests: Counter[str] = field(default_factory=Counter)
    """Requests made, by operation (``METHOD /path``)."""

    def signed(self, secret: str) -> None:
        """Use a JWT signed with ``secret`` from now on (the tenant's secret was rotated)."""
        claims = {"tenant_id": TENANT, "exp": int(time.time()) + 3600}
        self.tenant_token = jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    """A gateway on SQLite, and one on PostgreSQL (which refuses what SQLite keeps, such
    as a NUL character), each fuzzed by the test below."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{folder / 'gateway.db'}"
        else:
            need_postgres()
            url = stack.enter_context(postgres_database())
        env = stack.enter_context(pytest.MonkeyPatch.context())
        env.setenv("HIGHWAY_GCAL_API_BASE", "http://127.0.0.1:9")  # the seed's calendar too
        started = time.monotonic()
        gateway = stack.enter_context(running_gateway(gateway_settings(url, folder)))
        secret, known = seed(gateway.client())
        fuzz = Fuzzed(gateway, "", known)
        fuzz.signed(secret)
        yield fuzz
    if fuzz.requests:
        report(
            request.config,
            f"schemathesis on {request.param}: {len(fuzz.requests)} operations, "
            f"{fuzz.requests.total()} requests, {time.monotonic() - started:.1f} s",
        )


FUZZ_MAILBOX = {
    "host": "127.0.0.1",
    "port": 9,  # nothing listens there: the watcher retries, backing off
    "ssl": False,
    "username": "fuzz@example.org",
    "password": "fuzz",
}
FUZZ_CALENDAR = {
    "calendar_id": "fuzz@group.calendar.google.com",
    "credentials": {
        "type": "oauth",
        "client_id": "fuzz",
        "client_secret": "fuzz",
        "refresh_token": "fuzz",
        "token_uri": "http://127.0.0.1:9/token",  # nothing listens: the poller backs off
    },
}


def seed(admin: httpx.Client) -> tuple[str, dict[str, str]]:
    """A tenant, a workflow deployed with a trigger of every type, a template, a wait, a
    per-run webhook and an approval: the tenant's JWT secret, and their ids by path
    parameter name."""

    def created(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = admin.post(path, json=body)
        assert answer.status_code in (200, 201), answer.text
        found: dict[str, Any] = answer.json()
        return found

    tenant = created(
        "/api/v1/tenants",
        {"tenant_id": TENANT, "rate_limit_per_second": 1e6, "burst": 1_000_000},
    )
    deployed = created(
        f"/api/v1/deployment/workflows/{WORKFLOW}/deploy",
        {
            "tenant_id": TENANT,
            "triggers": [
                {"type": "MANUAL", "config": {}},
                {"type": "EVENT", "config": {"event_type": "ping"}},
                {"type": "WEBHOOK", "config": {"webhook_path": "fuzz/hook"}},
                {"type": "CRON", "config": {"cron_expression": "0 * * * *"}},
                {"type": "GITHUB", "config": {"repository": "fuzz-org/fuzz", "secret": "fuzz"}},
                {"type": "SLACK", "config": {"signing_secret": "fuzz"}},
                {"type": "APPROVAL", "config": {"statuses": ["rejected"]}},
                {"type": "EMAIL", "config": FUZZ_MAILBOX},
                {"type": "GOOGLE_CALENDAR", "config": FUZZ_CALENDAR},
            ],
        },
    )
    template = {"tenant_id": TENANT, "name": "fuzz-template", "workflow_definition": {}}
    created("/api/v1/templates", template)
    run = {"tenant_id": TENANT, "workflow_run_id": "run-1", "multi_use": True}
    wait = created("/api/v1/waits", {**run, "event_name": "ping", "token": "fuzz-token"})
    webhook = created("/api/v1/webhook-registrations", run)
    asked = {"tenant_id": TENANT, "workflow_run_id": "run-2", "approval_key": "fuzz"}
    asked |= {"title": "Fuzz", "approvers": ["fuzz@example.org"], "notify": "none"}
    approval = created("/api/v1/approvals", asked)
    (cron,) = [t for t in deployed["triggers"] if t["type"] == "CRON"]
    return tenant["jwt_secret"], {
        "tenant_id": TENANT,
        "workflow_id": WORKFLOW,
        "name": "fuzz-template",
        "path": "fuzz/hook",
        "token": "fuzz-token",
        "wait_id": wait["wait_id"],
        "webhook_id": webhook["webhook_id"],
        "approval_id": approval["approval_id"],
        "schedule_id": cron["trigger_id"],
        "trigger_id": cron["trigger_id"],
    }


def report(config: pytest.Config, line: str) -> None:
    """Show ``line`` in the terminal, whatever pytest captures."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)


@pytest.fixture
def api_schema(fuzzed: Fuzzed) -> BaseSchema:
    """The gateway's document, every operation in it (loaded from its URL, schemathesis
    would leave out ``GET /openapi.json`` itself)."""
    gateway = fuzzed.gateway
    document = gateway.client(token=None).get("/openapi.json").json()
    loaded = schemathesis.openapi.from_dict(document, config=Config.from_dict(SETTINGS))
    loaded.config.update(base_url=gateway.url)
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_answers_as_documented(case: Case, fuzzed: Fuzzed) -> None:
    label = case.operation.label
    fuzzed.requests[label] += 1
    if fuzzed.requests[label] % 3 == 0:  # every third case names objects that exist
        for name in case.path_parameters or {}:
            case.path_parameters[name] = fuzzed.known.get(name, case.path_parameters[name])
    security = case.operation.definition.raw.get("security", [])
    schemes = {name for entry in security for name in entry}
    # an admin where it may, else the tenant; every other case of a route open to both
    token = ADMIN_TOKEN if "admin" in schemes else fuzzed.tenant_token
    if schemes == {"admin", "tenant"} and fuzzed.requests[label] % 2:
        token = fuzzed.tenant_token
    headers = {"Authorization": f"Bearer {token}"} if schemes else None
    response = case.call_and_validate(headers=headers, timeout=30)
    if label == ROTATE and response.status_code == 200 and response.json()["tenant_id"] == TENANT:
        fuzzed.signed(response.json()["jwt_secret"])


def test_a_nul_in_any_parameter_is_refused(fuzzed: Fuzzed) -> None:
    """A NUL, which PostgreSQL neither stores nor compares, in every path and query
    parameter of every operation (schemathesis seldom sends one): a 4xx, never a 500."""
    client = fuzzed.gateway.client()
    answers = {}
    for template, methods in client.get("/openapi.json").json()["paths"].items():
        for method, described in methods.items():
            in_path = [p["name"] for p in described["parameters"] if p["in"] == "path"]
            for parameter in described["parameters"]:
                values = {name: fuzzed.known.get(name, "x") for name in in_path}
                query = {}
                if parameter["in"] == "path":
                    values[parameter["name"]] = "a%00b"
                elif parameter["in"] == "query":
                    query[parameter["name"]] = "a\x00b"
                else:
                    continue
                url = template.format(**values)
                answer = client.request(method, url, params=query, json={})
                answers[f"{method.upper()} {url} {query}"] = answer.status_code
    assert len(answers) > 40
    assert {call: status for call, status in answers.items() if status >= 500} == {}
