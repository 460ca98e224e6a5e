"""WEBHOOK triggers at ``/api/v1/public/webhook/{path}``: capture, methods, limits, paths,
dedup, static answers and secrets at rest."""

from __future__ import annotations

import base64
import time
from importlib.metadata import entry_points

from sqlalchemy import text
from webhook_hub import PROXY, Hub

from highway_triggers.testing import SEALED, load_plugins


def test_the_plugin_is_installed_and_loaded_through_its_entry_point() -> None:
    (entry,) = entry_points(group="highway_triggers", name="highway-triggers-webhook")
    assert entry.dist is not None and entry.dist.name == "highway-triggers-webhook"
    plugins = load_plugins()
    assert plugins.trigger_types["WEBHOOK"].__module__ == "highway_triggers_webhook.trigger"
    assert "highway-triggers-webhook" in {p.name for p in plugins.loaded}


def test_a_request_starts_the_workflow_with_the_captured_request(hub: Hub) -> None:
    workflow = hub.deploy({})  # the path defaults to the workflow id
    answer = hub.accepted(
        hub.post(f"{workflow}?ref=main&tag=a&tag=b", b'{"order": 7}', **{"X-Trace": "t1"})
    )
    (start,) = hub.starts(workflow)
    assert start.body["trigger_type"] == "WEBHOOK"
    data = start.body["trigger_data"]
    assert data["method"] == "POST" and data["path"] == f"/api/v1/public/webhook/{workflow}"
    assert data["query"] == {"ref": "main", "tag": ["a", "b"]}
    assert data["headers"]["x-trace"] == "t1" and data["content_type"] == "application/json"
    assert (data["body"], data["body_encoding"]) == ({"order": 7}, "json")
    assert data["client_ip"] == "127.0.0.2" and data["webhook_path"] == workflow
    assert data["request_id"] and answer["dispatch_ids"]

    hub.accepted(
        hub.post(workflow, b"a=1&b=2", **{"content-type": "application/x-www-form-urlencoded"})
    )
    hub.accepted(hub.post(workflow, b"\x00\xff", **{"content-type": "application/octet-stream"}))
    _, form, binary = (c.body["trigger_data"] for c in hub.starts(workflow, 3))
    assert (form["body"], form["body_encoding"]) == ({"a": "1", "b": "2"}, "form")
    assert (binary["body"], binary["content_type"]) == (
        base64.b64encode(b"\x00\xff").decode(),
        "application/octet-stream",
    )


def test_methods_paths_and_unknown_paths(hub: Hub) -> None:
    workflow = hub.deploy({"webhook_path": "/teams/ops/alerts/", "allowed_methods": ["put", "GET"]})
    refused = hub.refused(hub.post("teams/ops/alerts"), 405, "METHOD_NOT_ALLOWED")
    assert "PUT, GET" in refused["message"]
    assert hub.post("teams/ops/alerts").headers["allow"] == "PUT, GET"
    hub.accepted(hub.sender().put("/api/v1/public/webhook/teams/ops/alerts", content=b"x"))
    hub.accepted(hub.sender().get("/api/v1/public/webhook/teams/ops/alerts?x=1"))
    assert hub.starts(workflow, 2)[1].body["trigger_data"]["method"] == "GET"
    hub.refused(hub.post("teams/ops"), 404, "WEBHOOK_NOT_FOUND")
    hub.refused(hub.post("nobody-here"), 404, "WEBHOOK_NOT_FOUND")


def test_bodies_over_the_limit_are_refused_with_413(hub: Hub) -> None:
    workflow = hub.deploy({"max_body_bytes": 100})
    hub.refused(hub.post(workflow, b"x" * 101), 413, "PAYLOAD_TOO_LARGE")
    streamed = hub.sender().post(
        f"/api/v1/public/webhook/{workflow}", content=iter([b"x" * 60, b"x" * 60])
    )
    assert "content-length" not in streamed.request.headers
    hub.refused(streamed, 413, "PAYLOAD_TOO_LARGE")
    hub.accepted(hub.post(workflow, b"x" * 100))
    assert len(hub.starts(workflow)) == 1


def test_a_path_is_held_by_one_active_trigger(hub: Hub) -> None:
    first = hub.deploy({"webhook_path": "shared/path"})
    refused = hub.admin.post(
        "/api/v1/deployment/workflows/wf-other/deploy",
        json={"triggers": [{"type": "WEBHOOK", "config": {"webhook_path": "shared/path"}}]},
    )
    hub.refused(refused, 409, "INDEX_KEY_IN_USE")
    hub.deploy({"webhook_path": "shared/path", "allowed_methods": ["PUT"]}, first)  # redeploy
    hub.refused(hub.post("shared/path"), 405, "METHOD_NOT_ALLOWED")  # the new config applies
    assert hub.admin.post(f"/api/v1/deployment/workflows/{first}/undeploy").status_code == 200
    hub.deploy({"webhook_path": "shared/path"}, "wf-other")
    hub.accepted(hub.post("shared/path"))
    hub.starts("wf-other")


def test_invalid_configs_are_refused_naming_the_field(hub: Hub) -> None:
    for config, field in (
        ({"webhook_path": "a//b"}, "webhook_path"),
        ({"allowed_methods": ["TRACE"]}, "allowed_methods"),
        ({"ip_allowlist": ["10.0.0.0/40"]}, "ip_allowlist"),
        ({"auth": {"type": "hmac", "secret": "s"}}, "auth.hmac.header"),
        ({"auth": {"type": "hmac", "secret": "s", "header": "X-Sig€"}}, "auth.hmac.header"),
        ({"auth": {"type": "hmac", "secret": "s", "header": "X-Sig: "}}, "auth.hmac.header"),
        ({"auth": {"type": "hmac", "header": "X-Sig"}}, "auth.hmac"),
        ({"auth": {"type": "stripe", "secrets": []}}, "auth.stripe"),
        ({"response": {"status": 200, "headers": {"Content-Length": "1"}}}, "response"),
        ({"max_body_bytes": 0}, "max_body_bytes"),
    ):
        answer = hub.admin.post(
            "/api/v1/deployment/workflows/wf-invalid/deploy",
            json={"triggers": [{"type": "WEBHOOK", "config": config}]},
        )
        assert field in hub.refused(answer, 422, "VALIDATION_ERROR")["message"]


def test_secrets_are_stored_sealed(hub: Hub) -> None:
    auth = {"type": "basic", "username": "ci", "password": "pl41n-p4ss"}
    workflow = hub.deploy({"auth": auth})
    (trigger,) = hub.admin.get("/api/v1/triggers", params={"workflow_id": workflow}).json()[
        "triggers"
    ]
    assert trigger["config"]["auth"]["password"].startswith(SEALED)
    with hub.gateway.gateway.db.engine.connect() as conn:
        for table in ("trigger_index", "deployments", "deployment_history"):
            rows = conn.execute(text(f"SELECT * FROM {table}")).all()
            assert "pl41n-p4ss" not in str(rows), table
    basic = "Basic " + base64.b64encode(b"ci:pl41n-p4ss").decode()
    hub.accepted(hub.post(workflow, Authorization=basic))
    assert hub.starts(workflow)[0].body["trigger_data"]["headers"]["authorization"] == "[REDACTED]"


def test_a_redelivered_id_is_a_duplicate(hub: Hub) -> None:
    workflow = hub.deploy({"dedup_header": "webhook-id"})
    first = hub.accepted(hub.post(workflow, **{"webhook-id": "msg_1"}))
    again = hub.accepted(hub.post(workflow, **{"webhook-id": "msg_1"}), delivered_to=0)
    assert again["duplicate"] and not first["duplicate"]
    hub.accepted(hub.post(workflow, **{"webhook-id": "msg_2"}))
    hub.accepted(hub.post(workflow))  # no id: not deduplicated
    other = hub.deploy({"dedup_header": "webhook-id"})
    hub.accepted(hub.post(other, **{"webhook-id": "msg_1"}))  # ids are per webhook
    hub.starts(other)
    hub.starts(workflow, 3)
    time.sleep(0.3)  # time for a start the duplicate might have made
    assert len(hub.starts(workflow)) == 3


def test_a_delivery_id_is_remembered_for_its_retention_window(hub: Hub) -> None:
    workflow = hub.deploy({"dedup_header": "webhook-id", "dedup_retention_seconds": 1})
    hub.accepted(hub.post(workflow, **{"webhook-id": "msg_1"}))
    hub.accepted(hub.post(workflow, **{"webhook-id": "msg_1"}), delivered_to=0)
    time.sleep(1.2)
    later = hub.accepted(hub.post(workflow, **{"webhook-id": "msg_1"}))  # past its window
    assert not later["duplicate"]
    hub.accepted(hub.post(workflow, **{"webhook-id": "msg_1"}), delivered_to=0)  # and anew
    hub.starts(workflow, 2)
    hub.deploy({"dedup_retention_seconds": 0}, expect=422)


def test_a_static_response(hub: Hub) -> None:
    json_reply = {"status": 200, "headers": {"X-Reply": "yes"}, "body": {"received": True}}
    workflow = hub.deploy({"response": json_reply})
    answer = hub.post(workflow)
    assert (answer.status_code, answer.json(), answer.headers["x-reply"]) == (
        200,
        {"received": True},
        "yes",
    )
    text_reply = hub.deploy({"response": {"status": 201, "body": "thanks"}})
    answer = hub.post(text_reply, source=PROXY)
    assert (answer.status_code, answer.text, answer.headers["content-type"]) == (
        201,
        "thanks",
        "text/plain; charset=utf-8",
    )
    hub.starts(workflow)
    hub.starts(text_reply)
    accepted = hub.deploy({"response": 202})
    hub.accepted(hub.post(accepted))


def test_a_static_response_http_cannot_send_is_refused_at_deploy(hub: Hub) -> None:
    for response, field in (
        ({"headers": {"X-Price": "5 €"}}, "headers.X-Price"),  # not latin-1
        ({"headers": {"X-Bell": "a\x07"}}, "headers.X-Bell"),
        ({"headers": {"X-Split": "a\r\nSet-Cookie: x=1"}}, "headers.X-Split"),
        ({"headers": {"X-Pad": " padded"}}, "headers.X-Pad"),
        ({"headers": {"Bad Name": "v"}}, "headers.Bad Name.[key]"),
        ({"status": 101}, "status"),
        ({"status": 100, "body": None}, "status"),
        ({"status": 204, "body": {"ok": True}}, "body"),
        ({"status": 304, "body": ""}, "body"),
    ):
        refused = hub.admin.post(
            "/api/v1/deployment/workflows/wf-bad-response/deploy",
            json={"triggers": [{"type": "WEBHOOK", "config": {"response": response}}]},
        )
        message = hub.refused(refused, 422, "VALIDATION_ERROR")["message"]
        assert f"config.response.static.{field}:" in message, message
    status = hub.admin.get("/api/v1/deployment/workflows/wf-bad-response").json()
    assert (status["status"], status["triggers"]) == ("DEPLOYMENT_FAILED", []), status
    assert hub.post("wf-bad-response").status_code == 404  # nothing deployed, nothing started

    latin1 = hub.deploy({"response": {"status": 200, "headers": {"X-Name": "Jos\u00e9\tok"}}})
    answer = hub.post(latin1)
    assert (answer.status_code, answer.headers["x-name"]) == (200, "Jos\u00e9\tok")
    empty = hub.deploy({"response": {"status": 204, "headers": {"X-Done": "1"}}})
    answer = hub.post(empty)
    assert (answer.status_code, answer.content, answer.headers["x-done"]) == (204, b"", "1")
    hub.starts(latin1)
    hub.starts(empty)
