"""Hostile JSON at the door (core/json_body.py): every route that reads a JSON body refuses,
with 400 and the JSON error body, JSON the gateway could not store or deliver as
sent — too deep, lone surrogates, NUL, integers past 64 bits, NaN and infinities, duplicate
keys — and accepts the same bodies without the oddity, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from highway_triggers.core.capture import decode_body
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.json_body import (
    DEFAULT_MAX_DEPTH,
    INT64_MAX,
    INT64_MIN,
    MalformedJSON,
    parse_json,
)
from highway_triggers.settings import Settings
from highway_triggers.testing import ADMIN_TOKEN as ADMIN
from highway_triggers.testing import RunningGateway, exact_json, running_gateway, wait_until

DEEP = 10_000
ODD: dict[str, tuple[str, str]] = {
    # name: (a JSON fragment, the code that refuses it)
    "deep arrays": ("[" * DEEP + "]" * DEEP, "JSON_TOO_DEEP"),
    "deep objects": ('{"a":' * DEEP + "1" + "}" * DEEP, "JSON_TOO_DEEP"),
    "past the limit": ("[" * 100 + "]" * 100, "JSON_TOO_DEEP"),  # parses, then the walk refuses
    "lone surrogate": ('"a\\ud800"', "UNSUPPORTED_JSON"),
    "lone low surrogate in a key": ('{"\\uDC00": 1}', "UNSUPPORTED_JSON"),
    "swapped surrogate pair": ('"\\ude00\\ud83d"', "UNSUPPORTED_JSON"),
    "NUL": ('"a\\u0000b"', "UNSUPPORTED_JSON"),
    "NUL in a key": ('{"\\u0000": 1}', "UNSUPPORTED_JSON"),
    "integer past int64": ("9223372036854775808", "UNSUPPORTED_JSON"),
    "integer below int64": ("-9223372036854775809", "UNSUPPORTED_JSON"),
    "integer of 5,000 digits": ("7" * 5000, "UNSUPPORTED_JSON"),
    "NaN": ("NaN", "UNSUPPORTED_JSON"),
    "Infinity": ("Infinity", "UNSUPPORTED_JSON"),
    "-Infinity": ("-Infinity", "UNSUPPORTED_JSON"),
    "float overflow": ("1e400", "UNSUPPORTED_JSON"),
    "duplicate keys": ('{"k": 1, "k": 2}', "UNSUPPORTED_JSON"),
}
NEAR: dict[str, tuple[str, Any]] = {
    # name: (a JSON fragment close to an oddity, its value): taken, and delivered as it is
    "escaped surrogate pair": ('"\\ud83d\\ude00"', "\U0001f600"),
    "escaped control character": ('"\\u00e9\\u0001"', "é\x01"),
    "an escaped backslash before u0000": ('"\\\\u0000"', "\\u0000"),
    "largest int64": ("9223372036854775807", INT64_MAX),
    "smallest int64": ("-9223372036854775808", INT64_MIN),
    "keys that differ in case": ('{"k": 1, "K": 2}', {"k": 1, "K": 2}),
    "nesting well within the limit": ("[" * 32 + "]" * 32, json.loads("[" * 32 + "]" * 32)),
    "a float": ("-1.5", -1.5),
}
SENTINEL = "@@odd@@"


@dataclass
class JsonRoute:
    """A route that reads a JSON body, ready to take ``body`` (a minimal valid one)."""

    method: str
    path: str
    body: dict[str, Any]
    field: tuple[str | int, ...] | None
    """Where in ``body`` an object sits whose members may be odd (``None``: a new member)."""
    status: int
    """The answer to ``body``: 2xx, or what the route says once the body passed the door."""
    token: str | None
    free: bool = False
    """The field takes any JSON: near misses there are delivered, exactly."""

    def send(self, gateway: RunningGateway, content: str | bytes) -> httpx.Response:
        headers = {"content-type": "application/json"}
        client = gateway.client(self.token)
        return client.request(self.method, self.path, content=content, headers=headers)

    def with_fragment(self, place: str, fragment: str, member: str = "odd") -> str:
        """The valid body with ``fragment`` as the whole body, or as the value of ``member``
        at the top level or inside the route's field."""
        if place == "body":
            return fragment
        body = json.loads(json.dumps(self.body))
        if place == "member":
            body[member] = SENTINEL
        elif self.field is None:
            body["nested"] = {"list": [{member: SENTINEL}]}
        else:
            inner = body
            for step in self.field:
                inner = inner[step]
            inner[member] = SENTINEL
        return json.dumps(body).replace(json.dumps(SENTINEL), fragment)


def ok(answer: httpx.Response, status: int = 201) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def tenant_jwt(gateway: RunningGateway, tenant_id: str) -> str:
    created = ok(gateway.client().post("/api/v1/tenants", json={"tenant_id": tenant_id}))
    claims = {"tenant_id": tenant_id, "exp": 2**31 - 1}
    return jwt.encode(claims, created["jwt_secret"], algorithm="HS256")


def events(gateway: RunningGateway) -> JsonRoute:
    token = tenant_jwt(gateway, "acme")
    trigger = {"type": "EVENT", "workflow_id": "on-e", "tenant_id": "acme"}
    ok(gateway.client().post("/api/v1/triggers", json={**trigger, "config": {"event_type": "e"}}))
    body = {"event_name": "e", "payload": {"a": 1}}
    return JsonRoute("POST", "/api/v1/events/acme", body, ("payload",), 202, token, free=True)


def hooks(gateway: RunningGateway) -> JsonRoute:
    wait = {"tenant_id": "acme", "workflow_run_id": "run-h", "event_name": "hook"}
    ok(gateway.client().post("/api/v1/waits", json={**wait, "token": "t-1", "multi_use": True}))
    return JsonRoute("POST", "/api/v1/hooks/t-1", {"data": {"a": 1}}, ("data",), 202, None, True)


def manual(gateway: RunningGateway) -> JsonRoute:
    deploy(gateway)
    path = "/api/v1/triggers/workflows/w-deploy/manual"
    return JsonRoute("POST", path, {"data": {"a": 1}}, ("data",), 202, ADMIN, free=True)


def deploy(gateway: RunningGateway) -> JsonRoute:
    path = "/api/v1/deployment/workflows/w-deploy/deploy"
    body: dict[str, Any] = {"triggers": [{"type": "MANUAL", "config": {}}]}
    ok(gateway.client().post(path, json=body), 200)
    return JsonRoute("POST", path, body, ("triggers", 0, "config"), 200, ADMIN)


EVENT_TRIGGER = {"type": "EVENT", "workflow_id": "w-t", "config": {"event_type": "x"}}


def create_trigger(gateway: RunningGateway) -> JsonRoute:
    return JsonRoute("POST", "/api/v1/triggers", EVENT_TRIGGER, ("config",), 201, ADMIN)


def update_trigger(gateway: RunningGateway) -> JsonRoute:
    trigger = ok(gateway.client().post("/api/v1/triggers", json=EVENT_TRIGGER))
    path = f"/api/v1/triggers/{trigger['trigger_id']}"
    return JsonRoute("PUT", path, {"config": {"event_type": "y"}}, ("config",), 200, ADMIN)


TEMPLATE = {
    "tenant_id": "acme",
    "name": "onboarding",
    "workflow_definition": {"id": "wf-onboarding"},
    "input_schema": {"type": "object"},
}


def create_template(gateway: RunningGateway) -> JsonRoute:
    tenant_jwt(gateway, "acme")
    field = ("workflow_definition",)
    return JsonRoute("POST", "/api/v1/templates", TEMPLATE, field, 201, ADMIN)


def update_template(gateway: RunningGateway) -> JsonRoute:
    create_template(gateway)
    ok(gateway.client().post("/api/v1/templates", json=TEMPLATE))
    body = {"workflow_definition": {"id": "wf-2"}}
    path = "/api/v1/templates/onboarding?tenant_id=acme"
    return JsonRoute("PUT", path, body, ("workflow_definition",), 200, ADMIN)


def run_template(gateway: RunningGateway) -> JsonRoute:
    update_template(gateway)
    path = "/api/v1/templates/onboarding/run"
    return JsonRoute("POST", path, {"input": {"a": 1}}, ("input",), 202, ADMIN, free=True)


def tenants(gateway: RunningGateway) -> JsonRoute:
    return JsonRoute("POST", "/api/v1/tenants", {"tenant_id": "t-new"}, None, 201, ADMIN)


def waits(gateway: RunningGateway) -> JsonRoute:
    body = {
        "tenant_id": "acme",
        "workflow_run_id": "run-w",
        "event_name": "e",
        "correlation_key": "k",
        "schema": {"type": "object"},
    }
    return JsonRoute("POST", "/api/v1/waits", body, ("schema",), 201, ADMIN)


SCHEDULE = {"cron_expression": "0 0 * * *", "workflow_id": "w-cron"}


def create_schedule(gateway: RunningGateway) -> JsonRoute:
    return JsonRoute("POST", "/api/v1/schedules", SCHEDULE, None, 201, ADMIN)


def update_schedule(gateway: RunningGateway) -> JsonRoute:
    schedule = ok(gateway.client().post("/api/v1/schedules", json=SCHEDULE))
    path = f"/api/v1/schedules/{schedule['schedule_id']}"
    return JsonRoute("PUT", path, {"timezone": "UTC"}, None, 200, ADMIN)


def pause_schedule(gateway: RunningGateway) -> JsonRoute:
    schedule = ok(gateway.client().post("/api/v1/schedules", json=SCHEDULE))
    path = f"/api/v1/schedules/{schedule['schedule_id']}/pause"
    return JsonRoute("POST", path, {"note": "maintenance"}, None, 200, ADMIN)


def register_webhook(gateway: RunningGateway) -> JsonRoute:
    body = {"tenant_id": "acme", "workflow_run_id": "run-r", "signature": {"type": "none"}}
    path = "/api/v1/webhook-registrations"
    return JsonRoute("POST", path, body, ("signature",), 201, ADMIN)


def answer_held_request(gateway: RunningGateway) -> JsonRoute:
    body = {"status": 200, "body": {"ok": True}}
    path = "/api/v1/webhook-responses/nobody-holds-this"
    return JsonRoute("POST", path, body, ("body",), 404, ADMIN)  # REQUEST_NOT_FOUND


def public_webhook(gateway: RunningGateway) -> JsonRoute:
    path = "/api/v1/deployment/workflows/w-hook/deploy"
    trigger = {"type": "WEBHOOK", "config": {"webhook_path": "hostile"}}
    ok(gateway.client().post(path, json={"triggers": [trigger]}), 200)
    path = "/api/v1/public/webhook/hostile"
    return JsonRoute("POST", path, {"data": {"a": 1}}, ("data",), 202, None, free=True)


def run_webhook(gateway: RunningGateway) -> JsonRoute:
    body = {"tenant_id": "acme", "workflow_run_id": "run-p", "multi_use": True}
    webhook = ok(gateway.client().post("/api/v1/webhook-registrations", json=body))
    path = httpx.URL(webhook["url"]).path
    return JsonRoute("POST", path, {"data": {"a": 1}}, ("data",), 202, None, free=True)


ROUTES: dict[str, Callable[[RunningGateway], JsonRoute]] = {
    "events": events,
    "hooks": hooks,
    "manual": manual,
    "deploy": deploy,
    "create trigger": create_trigger,
    "update trigger": update_trigger,
    "create template": create_template,
    "update template": update_template,
    "run template": run_template,
    "tenants": tenants,
    "waits": waits,
    "create schedule": create_schedule,
    "update schedule": update_schedule,
    "pause schedule": pause_schedule,
    "webhook registration": register_webhook,
    "held webhook answer": answer_held_request,
    "public webhook": public_webhook,
    "per-run webhook": run_webhook,
}


def dispatches(gateway: RunningGateway) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(gateway.client().get("/api/v1/dispatches?limit=1000"), 200)[
        "dispatches"
    ]
    return found


def delivered(gateway: RunningGateway, member: str) -> list[Any]:
    """Every value of a member ``member`` anywhere in the dispatches' payloads."""
    found, stack = [], [d["payload"] for d in dispatches(gateway)]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if member in item:
                found.append(item[member])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


@pytest.mark.parametrize("route_name", ROUTES)
def test_every_json_route_refuses_odd_json_with_400(
    gateway: RunningGateway, route_name: str
) -> None:
    route = ROUTES[route_name](gateway)
    before = len(dispatches(gateway))
    # refused before any database work: on PostgreSQL one place per oddity is enough
    places = ("field",) if gateway.gateway.db.is_postgres else ("body", "member", "field")
    for name, (fragment, code) in ODD.items():
        for place in places:
            answer = route.send(gateway, route.with_fragment(place, fragment))
            assert answer.status_code == 400, (name, place, answer.text)
            error = answer.json()
            assert set(error) == {"status", "code", "message"}, error
            assert (error["status"], error["code"]) == ("error", code), (name, place, error)
    assert len(dispatches(gateway)) == before, "an odd body was routed"

    if route.free:  # the near misses reach the dispatch rows exactly as sent
        for number, (name, (fragment, value)) in enumerate(NEAR.items()):
            member = f"near-{number}"
            answer = route.send(gateway, route.with_fragment("field", fragment, member))
            assert answer.status_code == route.status, (name, answer.text)
            (seen,) = wait_until(lambda: delivered(gateway, member))
            assert exact_json(seen) == exact_json(value), name
    assert route.send(gateway, json.dumps(route.body)).status_code == route.status
    ok(gateway.client().get("/api/v1/dispatches"), 200)


def test_a_webhook_body_that_is_not_json_is_still_kept_as_base64(gateway: RunningGateway) -> None:
    route = public_webhook(gateway)
    for raw in (b"{not json", b"\xff\xfe{}", b'{"a": 1} trailing'):
        assert route.send(gateway, raw).status_code == 202
    kept = wait_until(lambda: len(dispatches(gateway)) == 3 and dispatches(gateway))
    bodies = [d["payload"] for d in kept]
    assert all(body["body_encoding"] == "base64" for body in bodies)
    assert {base64.b64decode(body["body"]) for body in bodies} == {
        b"{not json",
        b"\xff\xfe{}",
        b'{"a": 1} trailing',
    }


def test_a_webhook_refuses_a_nul_in_a_query_or_form_field(gateway: RunningGateway) -> None:
    route = public_webhook(gateway)
    client = gateway.client(None)
    form = {"content-type": "application/x-www-form-urlencoded"}
    for answer in (
        client.post(f"{route.path}?a=%00", json={}),
        client.post(f"{route.path}?%00=1", json={}),
        client.post(route.path, content=b"a=1&b=x%00y", headers=form),
        client.post(route.path, content=b"a=\x00", headers=form),
    ):
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "UNSUPPORTED_CHARACTER"
    assert dispatches(gateway) == []
    assert client.post(f"{route.path}?a=%01", content=b"a=%01", headers=form).status_code == 202


def test_the_depth_limit_is_a_setting(settings: Settings) -> None:
    with running_gateway(settings.model_copy(update={"max_json_depth": 3})) as gateway:
        route = hooks(gateway)
        three = '{"data": {"a": [1]}}'
        assert route.send(gateway, three).status_code == 202
        answer = route.send(gateway, '{"data": {"a": [[1]]}}')
        assert (answer.status_code, answer.json()["code"]) == (400, "JSON_TOO_DEEP")
        assert "deeper than 3 levels" in answer.json()["message"]


# the parser ---------------------------------------------------------------------------------


def code_of(body: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> str:
    with pytest.raises(HTTPError) as raised:
        parse_json(body, max_depth)
    assert raised.value.status == 400
    return raised.value.code


@pytest.mark.parametrize("name", ODD)
def test_the_parser_refuses_each_oddity_alone_and_inside_a_value(name: str) -> None:
    fragment, code = ODD[name]
    assert code_of(fragment.encode()) == code
    assert code_of(f'{{"a": [1, {{"b": {fragment}}}]}}'.encode()) == code


@pytest.mark.parametrize("name", NEAR)
def test_the_parser_takes_each_near_miss(name: str) -> None:
    fragment, value = NEAR[name]
    assert json.dumps(parse_json(f'{{"a": [{fragment}]}}'.encode())) == json.dumps({"a": [value]})


@pytest.mark.parametrize("open_, close", [("[", "]"), ('{"k":', "}")])
def test_the_depth_limit_counts_arrays_and_objects(open_: str, close: str) -> None:
    def nested(depth: int) -> bytes:
        return (open_ * depth + "0" + close * depth).encode()

    assert parse_json(nested(DEFAULT_MAX_DEPTH)) is not None
    assert code_of(nested(DEFAULT_MAX_DEPTH + 1)) == "JSON_TOO_DEEP"
    assert parse_json(nested(5), max_depth=5) is not None
    assert code_of(nested(6), max_depth=5) == "JSON_TOO_DEEP"
    assert parse_json(b"7", max_depth=1) == 7  # a scalar nests nothing


def test_the_messages_name_what_was_wrong() -> None:
    def message(body: bytes) -> str:
        with pytest.raises(HTTPError) as raised:
            parse_json(body)
        return raised.value.message

    assert "duplicate key 'order'" in message(b'{"x": {"order": 1, "order": 2}}')
    assert "NaN" in message(b"[NaN]")
    assert "9223372036854775808" in message(b"[9223372036854775808]")
    assert "lone surrogate" in message(b'["\\udfff"]')
    assert "NUL" in message(b'{"a\\u0000": 0}')
    assert "64 levels" in message(b"[" * 65 + b"]" * 65)
    assert "not valid JSON" in message(b'{"a": }')
    assert "not UTF-8" in message(b'["\xed\xa0\x80"]')  # an encoded surrogate


def test_what_is_not_json_is_malformed() -> None:
    for body in (
        b"",
        b"{",
        b"[1,]",
        b"{'a': 1}",
        b"[1] [2]",
        b'"\x00"',  # a raw NUL in a string
        b'"\xed\xa0\x80"',  # a surrogate encoded as UTF-8
        b"\xff",
        "[1]".encode("utf-16"),
        b'{"a": NaN',  # odd, but not JSON at all: malformed rather than odd
        b'{"k": 1, "k": 2',
        b'["\\ud800", 9223372036854775808',
    ):
        with pytest.raises(MalformedJSON):
            parse_json(body)
    assert parse_json(b'\xef\xbb\xbf {"a": 1}\r\n\t ') == {"a": 1}  # a BOM, whitespace


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00")),
    lambda children: (
        st.lists(children)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00")), children
        )
    ),
    max_leaves=40,
)


@given(json_values, st.booleans())
@settings(max_examples=300, deadline=None)
def test_json_values_round_trip_exactly(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert json.dumps(parse_json(text.encode(), max_depth=512)) == json.dumps(value)


JSONISH = st.lists(
    st.sampled_from(
        [
            "[",
            "]",
            "{",
            "}",
            '"',
            ",",
            ":",
            "0",
            "1",
            "-",
            ".",
            "e",
            "9" * 19,
            "\\",
            "u",
            "d800",
            "0000",
            "NaN",
            "Infinity",
            "true",
            "null",
            " ",
            "é",
            "\x00",
        ]
    ),
    max_size=60,
).map("".join)


@given(st.binary(max_size=200) | JSONISH.map(str.encode))
@settings(max_examples=500, deadline=None)
def test_any_bytes_parse_or_raise_only_a_400(body: bytes) -> None:
    try:
        parse_json(body)
    except HTTPError as error:
        assert error.status == 400
        assert error.code in {"MALFORMED_BODY", "JSON_TOO_DEEP", "UNSUPPORTED_JSON"}


@given(json_values, st.sampled_from(sorted(ODD)))
@settings(max_examples=200, deadline=None)
def test_an_oddity_anywhere_is_refused(value: Any, name: str) -> None:
    fragment, code = ODD[name]
    wrapped = json.dumps({"value": value, "odd": [SENTINEL]}).replace(
        json.dumps(SENTINEL), fragment
    )
    assert code_of(wrapped.encode(), max_depth=512 if code != "JSON_TOO_DEEP" else 64) == code


def test_capture_refuses_odd_json_and_keeps_what_is_not_json() -> None:
    for name, (fragment, code) in ODD.items():
        with pytest.raises(HTTPError) as raised:
            decode_body(fragment.encode(), "application/vnd.api+json")
        assert (raised.value.status, raised.value.code) == (400, code), name
    kept = decode_body(b'{"a": NaN', "application/json")  # not JSON at all
    assert kept == {"body": base64.b64encode(b'{"a": NaN').decode(), "body_encoding": "base64"}
    assert decode_body(b"NaN", "text/plain")["body_encoding"] == "base64"  # not read as JSON
    with pytest.raises(HTTPError) as raised:
        decode_body(b"a=%00", "application/x-www-form-urlencoded")
    assert raised.value.code == "UNSUPPORTED_CHARACTER"
