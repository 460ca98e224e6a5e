"""The ingress guard (core/guard.py) behind a real uvicorn server on loopback.

Requests come from ``127.0.0.1`` (a trusted proxy, whose ``X-Forwarded-For`` is believed) or
``127.0.0.2`` (a sender). Every refusal happens before the endpoint stores anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from highway_triggers.core.auth_objects import AUTH
from highway_triggers.core.capture import REDACTED
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.guard import IngressGuard, admit_first
from highway_triggers.core.http import handle_http_error
from highway_triggers.core.ipfilter import Networks
from highway_triggers.core.secrets import SecretCipher
from highway_triggers.testing import ServerThread

PROXY, SENDER = "127.0.0.1", "127.0.0.2"
TRUSTED = Networks([PROXY])
CIPHER = SecretCipher("test-guard")


def guard(auth: dict[str, Any], *, max_body_bytes: int = 1024, **options: Any) -> IngressGuard:
    sealed = AUTH.validate_python(auth).sealed(CIPHER.seal)
    return IngressGuard.build(sealed, CIPHER.unseal, max_body_bytes=max_body_bytes, **options)


def checksum(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github(secret: str, body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + checksum(secret, body)}


SINGLE = {
    # a custom header, redacted only because the auth object names it
    "checksum": guard({"type": "hmac", "secret": "c", "header": "X-Checksum"}),
    "loopback-only": guard(
        {"type": "hmac", "secret": "c", "header": "X-Checksum"},
        ip_allowlist=["127.0.0.1/32", "::1"],
        max_body_bytes=64,
    ),
    "documentation-net": guard({"type": "github", "secret": "g"}, ip_allowlist=["203.0.113.0/24"]),
}
FIRST = {
    "alpha": guard({"type": "github", "secret": "alpha"}, max_body_bytes=100),
    "beta": guard({"type": "github", "secrets": ["old-beta", "beta"]}, max_body_bytes=1000),
    "gamma": guard({"type": "github", "secret": "gamma"}, ip_allowlist=["10.0.0.0/8"]),
}
"""Candidates of ``/first?candidates=a,b``, tried in the query's order."""
stored: list[str] = []


async def single(request: Request) -> JSONResponse:
    name = request.path_params["name"]
    admitted = await SINGLE[name].admit(request, TRUSTED)
    stored.append(name)
    return JSONResponse(
        {"client_ip": admitted.client_ip, "size": len(admitted.body), **admitted.data}
    )


async def first(request: Request) -> JSONResponse:
    """``?read=1``: the route reads the body first and hands it over (``body=``)."""
    candidates = [(name, FIRST[name]) for name in request.query_params["candidates"].split(",")]
    body = await request.body() if request.query_params.get("read") else None
    name, admitted = await admit_first(request, TRUSTED, candidates, body=body)
    stored.append(name)
    return JSONResponse({"chosen": name, "size": len(admitted.body), **admitted.data})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/single/{name}", single, methods=["POST"]),
            Route("/first", first, methods=["POST"]),
        ],
        exception_handlers={HTTPError: handle_http_error},
    )
    running = ServerThread(app).start()
    yield running.url
    running.stop()


@pytest.fixture
def send(server: str) -> Iterator[Any]:
    clients: dict[str, httpx.Client] = {}

    def send(path: str, body: Any = b"{}", source: str = SENDER, **headers: str) -> httpx.Response:
        if source not in clients:
            transport = httpx.HTTPTransport(local_address=source)
            clients[source] = httpx.Client(base_url=server, transport=transport, timeout=30)
        headers.setdefault("content-type", "application/json")
        return clients[source].post(path, content=body, headers=headers)

    stored.clear()
    yield send
    for client in clients.values():
        client.close()


def refused(answer: httpx.Response, status: int, code: str) -> None:
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text


def test_admitted_request_is_captured_with_its_signature_redacted(send: Any) -> None:
    body = b'{"order": 42}'
    answer = send("/single/checksum?x=1", body, **{"X-Checksum": checksum("c", body)})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["client_ip"] == SENDER and data["size"] == len(body)
    assert data["body"] == {"order": 42} and data["query"] == {"x": "1"}
    assert data["method"] == "POST" and data["path"] == "/single/checksum"
    assert data["headers"]["x-checksum"] == REDACTED
    assert data["headers"]["content-type"] == "application/json"
    assert stored == ["checksum"]


def test_checks_run_in_order_before_anything_is_stored(send: Any) -> None:
    small, large = b"{}", b'{"pad": "' + b"x" * 100 + b'"}'
    signed = {"X-Checksum": checksum("c", small)}
    # a sender outside the allow-list: IP_NOT_ALLOWED, whatever its size and signature
    refused(send("/single/loopback-only", small, **{"X-Checksum": "00"}), 401, "IP_NOT_ALLOWED")
    refused(send("/single/loopback-only", large), 401, "IP_NOT_ALLOWED")
    refused(send("/single/loopback-only", small, **signed), 401, "IP_NOT_ALLOWED")
    # an allowed sender: too large before the signature is looked at, declared or streamed
    refused(send("/single/loopback-only", large, PROXY), 413, "PAYLOAD_TOO_LARGE")
    streamed = iter([large[:50], large[50:]])
    refused(send("/single/loopback-only", streamed, PROXY), 413, "PAYLOAD_TOO_LARGE")
    refused(
        send("/single/loopback-only", small, PROXY, **{"X-Checksum": "00"}),
        401,
        "INVALID_SIGNATURE",
    )
    refused(send("/single/loopback-only", small, PROXY), 401, "INVALID_SIGNATURE")
    assert stored == []
    assert send("/single/loopback-only", small, PROXY, **signed).status_code == 200
    assert stored == ["loopback-only"]


def test_forwarded_for_is_believed_only_from_trusted_proxies(send: Any) -> None:
    body = b"{}"
    signed = github("g", body)
    via_proxy = send(
        "/single/documentation-net", body, PROXY, **signed, **{"X-Forwarded-For": "203.0.113.7"}
    )
    assert via_proxy.status_code == 200, via_proxy.text
    assert via_proxy.json()["client_ip"] == "203.0.113.7"
    assert via_proxy.json()["headers"]["x-hub-signature-256"] == REDACTED
    # the same claim from a sender that is no proxy is ignored: its own address counts
    forged = send(
        "/single/documentation-net", body, SENDER, **signed, **{"X-Forwarded-For": "203.0.113.7"}
    )
    refused(forged, 401, "IP_NOT_ALLOWED")
    refused(send("/single/documentation-net", body, PROXY, **signed), 401, "IP_NOT_ALLOWED")
    unlisted = send("/single/checksum", body, SENDER, **{"X-Forwarded-For": "198.51.100.1"})
    refused(unlisted, 401, "INVALID_SIGNATURE")
    answer = send(
        "/single/checksum",
        body,
        SENDER,
        **{"X-Checksum": checksum("c", body)},
        **{"X-Forwarded-For": "198.51.100.1"},
    )
    assert answer.json()["client_ip"] == SENDER
    assert stored == ["documentation-net", "checksum"]


def test_admit_first_picks_the_trigger_whose_secret_signed(send: Any) -> None:
    body = b'{"event": "push"}'
    both = "/first?candidates=alpha,beta"
    for secret, chosen in (("alpha", "alpha"), ("beta", "beta"), ("old-beta", "beta")):
        answer = send(both, body, **github(secret, body))
        assert answer.status_code == 200, answer.text
        assert answer.json()["chosen"] == chosen and answer.json()["body"] == {"event": "push"}
        assert answer.json()["headers"]["x-hub-signature-256"] == REDACTED
    stored.clear()
    refused(send(both, body, **github("neither", body)), 401, "INVALID_SIGNATURE")
    refused(send(both, body), 401, "INVALID_SIGNATURE")
    assert stored == []


def test_admit_first_checks_address_and_size_per_candidate(send: Any) -> None:
    body = b'{"pad": "' + b"x" * 200 + b'"}'  # over alpha's 100 bytes, within beta's 1000
    sizes = "/first?candidates=alpha,beta"
    refused(send(sizes, body, **github("alpha", body)), 413, "PAYLOAD_TOO_LARGE")
    assert send(sizes, body, **github("beta", body)).json()["chosen"] == "beta"
    huge = b"x" * 2000  # too large for every candidate
    refused(send(sizes, huge, **github("beta", huge)), 413, "PAYLOAD_TOO_LARGE")
    streamed = iter([huge[:1000], huge[1000:]])
    refused(send(sizes, streamed, **github("beta", huge)), 413, "PAYLOAD_TOO_LARGE")
    # gamma only takes 10.0.0.0/8: its own secret does not get a loopback sender in
    addresses = "/first?candidates=gamma,beta"
    refused(send(addresses, b"{}", **github("gamma", b"{}")), 401, "IP_NOT_ALLOWED")
    assert send(addresses, b"{}", **github("beta", b"{}")).json()["chosen"] == "beta"
    # when none admits the request, the first candidate's error is the answer
    refused(send("/first?candidates=beta,gamma", b"{}"), 401, "INVALID_SIGNATURE")
    refused(send("/first?candidates=gamma", huge), 401, "IP_NOT_ALLOWED")
    assert stored == ["beta", "beta"]


def test_a_body_the_route_read_first_meets_the_same_checks(send: Any) -> None:
    body = b'{"pad": "' + b"x" * 200 + b'"}'  # over alpha's 100 bytes, within beta's 1000
    sizes = "/first?candidates=alpha,beta&read=1"
    refused(send(sizes, body, **github("alpha", body)), 413, "PAYLOAD_TOO_LARGE")
    chosen = send(sizes, body, **github("beta", body)).json()
    assert (chosen["chosen"], chosen["size"]) == ("beta", len(body))
    assert chosen["body"] == {"pad": "x" * 200}  # captured from the body handed over
    huge = b"x" * 2000
    refused(send(sizes, huge, **github("beta", huge)), 413, "PAYLOAD_TOO_LARGE")
    refused(send("/first?candidates=beta&read=1", body), 401, "INVALID_SIGNATURE")
    assert stored == ["beta"]


def test_admit_first_needs_a_candidate() -> None:
    with pytest.raises(ValueError, match="at least one candidate"):
        asyncio.run(admit_first(Request({"type": "http"}), TRUSTED, []))
