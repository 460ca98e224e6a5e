"""``GET /openapi.json`` of a gateway with every plugin: a valid OpenAPI 3.1 document
with one operation per route and method, each with the security, parameters, bodies and
responses the route's declaration gives (schemathesis checks the answers against it in
tests/test_schema_fuzz.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from schemathesis.specs.openapi.definitions import OPENAPI_31
from starlette.routing import Route

from highway_triggers.api.openapi import describe
from highway_triggers.core.openapi import operation, operation_of
from highway_triggers.core.pages import Pages, html_endpoint
from highway_triggers.core.validation import IDENTIFIER_SCHEMA, is_identifier
from highway_triggers.core.waits import TOKEN_PATTERN, WaitRequest
from highway_triggers.testing import (
    RunningGateway,
    create_tenant,
    gateway_settings,
    running_gateway,
    tenant_jwt,
)

OPEN = {"/health", "/metrics", "/openapi.json"}
SIGNED = {
    "/api/v1/hooks/{token}",
    "/api/v1/public/webhook/{path}",
    "/api/v1/webhooks/{webhook_id}",
    "/api/v1/github/webhook",
    "/api/v1/slack/events",
    "/api/v1/slack/interactions",
    "/api/v1/slack/commands",
    "/api/v1/gcal/notifications",
    "/api/v1/approvals/{approval_id}/respond",
}
"""Ingress whose signature, or token in the URL, is the credential."""
PAGES = {"/api/v1/approvals/{approval_id}/respond"}
"""Routes that answer HTML pages (``html_endpoint``): their errors are pages too."""
ERROR_BODY = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
ERROR_PAGE = {"text/html": {"schema": {"type": "string"}}}
ADMIN_OR_TENANT = {
    "/api/v1/events/{tenant_id}",
    "/api/v1/triggers/workflows/{workflow_id}/manual",
    "/api/v1/templates/{name}/run",
    "/api/v1/schedules",
    "/api/v1/schedules/{schedule_id}",
    "/api/v1/schedules/{schedule_id}/pause",
    "/api/v1/schedules/{schedule_id}/resume",
    "/api/v1/schedules/{schedule_id}/preview",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    folder: Path = tmp_path_factory.mktemp("openapi")
    with running_gateway(gateway_settings(f"sqlite:///{folder / 'gateway.db'}", folder)) as gw:
        yield gw


@pytest.fixture(scope="module")
def document(served: RunningGateway) -> dict[str, Any]:
    answer = served.client(token=None).get("/openapi.json")
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, described in methods.items():
            yield path, method, described


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    errors = [e.message for e in Draft202012Validator(OPENAPI_31).iter_errors(document)]
    assert errors == []
    for name, schema in document["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)  # each a valid JSON Schema
        assert schema.get("title"), name


def test_every_route_is_one_described_operation_per_method(
    served: RunningGateway, document: dict[str, Any]
) -> None:
    routes = [route for route in served.app.routes if isinstance(route, Route)]
    undeclared = [route.path for route in routes if operation_of(route.endpoint) is None]
    assert undeclared == []
    expected = sum(len(route.methods - {"HEAD"}) for route in routes if route.methods)
    described = list(operations(document))
    assert len(described) == expected
    ids = [d["operationId"] for _, _, d in described]
    assert len(set(ids)) == len(ids)
    assert all(d["summary"] for _, _, d in described)


def test_each_operation_has_the_security_of_its_route(document: dict[str, Any]) -> None:
    for path, method, described in operations(document):
        if path in OPEN | SIGNED:
            expected = None
        elif path in ADMIN_OR_TENANT:
            expected = [{"admin": []}, {"tenant": []}]
        else:
            expected = [{"admin": []}]
        assert described.get("security") == expected, (method, path)
        if expected is not None:
            assert "401" in described["responses"], (method, path)
    schemes = document["components"]["securitySchemes"]
    assert schemes["admin"] == {**schemes["admin"], "type": "http", "scheme": "bearer"}
    assert schemes["tenant"]["bearerFormat"] == "JWT"


def test_bodies_are_the_models_that_validate_them(document: dict[str, Any]) -> None:
    paths, components = document["paths"], document["components"]["schemas"]

    def body(path: str, method: str = "post", media: str = "application/json") -> Any:
        return paths[path][method]["requestBody"]["content"][media]["schema"]

    refs = {
        "/api/v1/waits": "WaitRequest",
        "/api/v1/tenants": "TenantSpec",
        "/api/v1/templates": "TemplateSpec",
        "/api/v1/dispatches/retry": "BulkRetry",
        "/api/v1/webhook-registrations": "RegistrationRequest",
        "/api/v1/webhook-responses/{request_id}": "Answer",
        "/api/v1/schedules": "ScheduleBody",
        "/api/v1/events/{tenant_id}": "EventBody",
    }
    for path, model in refs.items():
        assert body(path) == {"$ref": f"#/components/schemas/{model}"}, path
    assert components["WaitRequest"]["required"] == ["tenant_id", "workflow_run_id", "event_name"]
    assert set(components["WaitRequest"]["properties"]) == {
        field.alias or name for name, field in WaitRequest.model_fields.items()
    }
    tenant_id = components["TenantSpec"]["properties"]["tenant_id"]
    assert tenant_id == {**IDENTIFIER_SCHEMA, "title": "Tenant Id"}
    assert components["TenantSpec"]["additionalProperties"] is False
    update = body("/api/v1/templates/{name}", "put")
    assert "required" not in update
    assert set(update["properties"]) == set(components["TemplateSpec"]["properties"])
    for method in ("get", "post", "put", "patch", "delete", "options"):
        assert body("/api/v1/public/webhook/{path}", method, "*/*") == {}


def test_422_where_a_model_validates_the_body(document: dict[str, Any]) -> None:
    for path in ("/api/v1/waits", "/api/v1/tenants", "/api/v1/schedules"):
        responses = document["paths"][path]["post"]["responses"]
        assert {"400", "413", "422"} <= set(responses), path


def test_path_parameters_carry_the_rule_that_checks_them(document: dict[str, Any]) -> None:
    for path, method, described in operations(document):
        for parameter in described["parameters"]:
            if parameter["in"] == "path":
                assert parameter["required"] is True
                assert parameter["schema"].get("pattern"), (method, path, parameter["name"])
    waits = document["paths"]["/api/v1/waits/{wait_id}"]["get"]["parameters"]
    assert waits == [
        {"name": "wait_id", "in": "path", "required": True, "schema": IDENTIFIER_SCHEMA}
        | {"description": waits[0]["description"]}
    ]
    (token,) = document["paths"]["/api/v1/hooks/{token}"]["post"]["parameters"][:1]
    assert token["schema"]["pattern"] == TOKEN_PATTERN


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=210) | st.from_regex(IDENTIFIER_SCHEMA["pattern"]))
def test_the_identifier_pattern_is_the_identifier_rule(text: str) -> None:
    """Anchored at both ends, the pattern matches the whole text (``$`` is its end, as in
    ECMA-262, the dialect of JSON Schema patterns)."""
    assert (re.fullmatch(IDENTIFIER_SCHEMA["pattern"], text) is not None) == is_identifier(text)


def test_every_error_is_the_error_body(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["status", "code", "message"]
    assert error["properties"]["status"] == {"const": "error", "title": "Status", "type": "string"}
    for path, method, described in operations(document):
        statuses = [s for s in described["responses"] if s.startswith(("4", "5")) and s != "503"]
        if path not in OPEN:
            assert statuses, (method, path)
        for status in statuses:
            content = described["responses"][status]["content"]
            assert content == (ERROR_PAGE | ERROR_BODY if path in PAGES else ERROR_BODY)


def test_plugin_routes_describe_themselves(document: dict[str, Any]) -> None:
    paths = document["paths"]
    webhook = paths["/api/v1/public/webhook/{path}"]
    assert set(webhook) == {"get", "post", "put", "patch", "delete", "options"}
    assert webhook["post"]["responses"]["default"]["content"] == {"*/*": {"schema": {}}}
    assert {"400", "401", "404", "405", "413"} <= set(webhook["post"]["responses"])
    preview = paths["/api/v1/schedules/{schedule_id}/preview"]["get"]
    assert preview["parameters"][1]["name"] == "count"
    assert preview["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Preview"
    }
    registered = paths["/api/v1/webhook-registrations"]["post"]["responses"]
    assert set(registered) >= {"200", "201", "401", "422"}


def test_an_html_route_gives_its_errors_as_pages_or_the_error_body() -> None:
    @operation(responses={200: {"type": "string"}}, media_type="text/html", errors=(410,))
    async def page(request: Any) -> Any:
        """Show a page."""

    @operation(errors=(410,))
    async def plain(request: Any) -> Any:
        """Answer JSON."""

    html = html_endpoint(Pages())
    # the declaration survives html_endpoint, and an operation declared over it keeps its mark
    routes = [
        Route("/api/v1/page/{id}", html(page), methods=["GET"]),
        Route("/api/v1/later/{id}", operation(errors=(404,))(html(plain)), methods=["GET"]),
        Route("/api/v1/plain/{id}", plain, methods=["GET"]),
    ]
    paths = describe(routes)["paths"]
    shown = paths["/api/v1/page/{id}"]["get"]["responses"]
    assert shown["200"]["content"] == {"text/html": {"schema": {"type": "string"}}}
    assert shown["410"]["content"] == shown["400"]["content"] == ERROR_PAGE | ERROR_BODY
    assert paths["/api/v1/later/{id}"]["get"]["responses"]["404"]["content"] == (
        ERROR_PAGE | ERROR_BODY
    )
    assert paths["/api/v1/plain/{id}"]["get"]["responses"]["410"]["content"] == ERROR_BODY


def test_an_undeclared_route_is_listed_with_its_docstring() -> None:
    async def ping(request: Any) -> Any:
        """Answer pong."""

    described = describe([Route("/api/v1/ping/{id}", ping, methods=["GET"])])
    ping_operation = described["paths"]["/api/v1/ping/{id}"]["get"]
    assert ping_operation["summary"] == "Answer pong."
    assert "security" not in ping_operation
    assert ping_operation["responses"]["default"]["description"] == "Not described"


# the event body: written for the document, it states what the route's checks accept ------

event_names = st.one_of(
    st.none(),
    st.integers(),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=520),
)
event_bodies = st.fixed_dictionaries(
    {},
    optional={
        "event_name": event_names,
        "correlation_key": event_names,
        "payload": st.one_of(st.none(), st.integers(), st.just([]), st.just({"n": 1})),
        "extra": st.just(True),
    },
)


@pytest.fixture(scope="module")
def acme(served: RunningGateway) -> httpx.Client:
    """A client with the JWT of tenant ``acme`` (whose rate is not limited)."""
    secret = create_tenant(served, "acme", rate_limit_per_second=1e6, burst=1_000_000)
    return served.client(token=tenant_jwt(secret, "acme", ttl=3600))


@settings(max_examples=60, deadline=None)
@given(body=event_bodies)
def test_the_event_schema_accepts_what_the_route_accepts(
    acme: httpx.Client, document: dict[str, Any], body: dict[str, Any]
) -> None:
    """The route checks the body by hand (its hot path skips pydantic); the schema says
    what those checks accept, printable ASCII text aside."""
    valid = Draft202012Validator(document["components"]["schemas"]["EventBody"]).is_valid(body)
    answer = acme.post("/api/v1/events/acme", json=body)
    assert answer.status_code in (202, 400, 404), answer.text
    assert (answer.status_code != 400) == valid, (body, answer.text)
