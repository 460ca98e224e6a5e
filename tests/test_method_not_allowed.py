"""A 405 names in ``Allow`` every method the path takes, though each method of a path is
a route of its own (``GET`` and ``POST /api/v1/triggers``), core's and plugins' alike."""

from __future__ import annotations

from highway_triggers.testing import RunningGateway

METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
PATHS = {
    "/health": "GET, HEAD",
    "/api/v1/events/acme": "POST",
    "/api/v1/triggers": "GET, HEAD, POST",
    "/api/v1/triggers/t-1": "DELETE, GET, HEAD, PUT",
    "/api/v1/waits/w-1": "DELETE, GET, HEAD",
    "/api/v1/templates": "GET, HEAD, POST",
    "/api/v1/templates/nightly": "DELETE, GET, HEAD, PUT",
    # plugins: cron, webhook
    "/api/v1/schedules": "GET, HEAD, POST",
    "/api/v1/schedules/s-1": "DELETE, GET, HEAD, PUT",
    "/api/v1/webhook-registrations": "POST",
    "/api/v1/public/webhook/some/path": "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
}


def test_a_405_lists_every_method_of_the_path(gateway: RunningGateway) -> None:
    client = gateway.client()
    for path, allow in PATHS.items():
        allowed = allow.split(", ")
        for method in METHODS:
            body = b"{}" if method in ("PATCH", "POST", "PUT") else None
            answer = client.request(method, path, content=body)
            if method in allowed:  # taken: whatever the answer, it is not a 405
                assert answer.status_code != 405, (method, path, answer.text)
                continue
            assert answer.status_code == 405, (method, path, answer.text)
            assert answer.headers["allow"] == allow, (method, path)
            if method != "HEAD":
                assert answer.json()["code"] == "METHOD_NOT_ALLOWED"
    refused = client.request("TRACE", "/api/v1/public/webhook/some/path")
    assert refused.headers["allow"] == PATHS["/api/v1/public/webhook/some/path"]
