"""Logging: JSON lines from ``serve``, and no secret ever written to a log."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from highway_triggers.logs import SECRET_MARKERS, SECRET_PATTERNS, configure_logging, redact
from highway_triggers.settings import Settings
from highway_triggers.testing import FakeEngine, GatewayProcess, running_engine, wait_until

CONFIGURED_LOGGERS = ("highway_triggers", "uvicorn.error")


def base_env(tmp_path: Path, bytecode_env: dict[str, str], **extra: str) -> dict[str, str]:
    # GatewayProcess starts from os.environ: blank out any HIGHWAY_* of the caller's
    env = {
        k: "" for k in os.environ if k.startswith("HIGHWAY_") and k != "HIGHWAY_TEST_POSTGRES_URL"
    }
    env.update(bytecode_env)
    env.update(
        HIGHWAY_DATABASE_URL=f"sqlite:///{tmp_path / 'gateway.db'}",
        HIGHWAY_SECRET_KEY_FILE=str(tmp_path / "secret-key"),
        HIGHWAY_DISPATCH_POLL_SECONDS="0.05",
        HIGHWAY_DISPATCH_BACKOFF_BASE_SECONDS="0.05",
        HIGHWAY_DISPATCH_BACKOFF_MAX_SECONDS="0.2",
    )
    env.update(extra)
    return env


def send_garbage(port: int) -> None:
    """A request uvicorn cannot parse: it logs a warning of its own."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        sock.recv(4096)


# JSON lines ---------------------------------------------------------------------------


def test_serve_writes_json_lines(tmp_path: Path, bytecode_env: dict[str, str]) -> None:
    admin = "json-admin-" + secrets.token_urlsafe(16)
    env = base_env(
        tmp_path,
        bytecode_env,
        HIGHWAY_LOG_FORMAT="json",
        HIGHWAY_ADMIN_TOKEN=admin,
        HIGHWAY_SECRET_KEY="json-secret-" + secrets.token_urlsafe(16),
    )
    log_path = tmp_path / "gateway.log"
    gateway = GatewayProcess(env, log_path).start()
    try:
        headers = {"Authorization": f"Bearer {admin}"}
        assert httpx.get(f"{gateway.url}/api/v1/triggers", headers=headers).status_code == 200
        assert (
            httpx.get(
                f"{gateway.url}/api/v1/triggers", headers={"Authorization": "Bearer x"}
            ).status_code
            == 401
        )
        send_garbage(gateway.port)
    finally:
        gateway.stop()

    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    assert lines
    entries = []
    for line in lines:
        entry = json.loads(line)  # every line is one JSON object
        assert isinstance(entry, dict), line
        for key in ("level", "logger", "message"):
            assert isinstance(entry.get(key), str), line
        entries.append(entry)
    loggers = {e["logger"] for e in entries}
    assert any(e["message"].startswith("gateway started") for e in entries), lines
    # uvicorn's own records (start-up, shutdown, bad requests) are JSON lines too
    assert "uvicorn.error" in loggers, lines
    assert any(e["level"] == "WARNING" and e["logger"] == "uvicorn.error" for e in entries), lines
    assert admin not in log_path.read_text()


# secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secrets_never_reach_the_log(
    tmp_path: Path, bytecode_env: dict[str, str], log_format: str
) -> None:
    admin_token = "admin-" + secrets.token_urlsafe(24)
    engine_token = "engine-" + secrets.token_urlsafe(24)
    secret_key = "key-" + secrets.token_urlsafe(24)
    log_path = tmp_path / "gateway.log"

    with running_engine(FakeEngine(fail_with=503)) as (engine, engine_url):
        env = base_env(
            tmp_path,
            bytecode_env,
            HIGHWAY_LOG_FORMAT=log_format,
            HIGHWAY_LOG_LEVEL="DEBUG",
            HIGHWAY_ADMIN_TOKEN=admin_token,
            HIGHWAY_SECRET_KEY=secret_key,
            HIGHWAY_ENGINE="http",
            HIGHWAY_ENGINE_URL=engine_url,
            HIGHWAY_ENGINE_TOKEN=engine_token,
            HIGHWAY_DISPATCH_MAX_ATTEMPTS="3",
        )
        gateway = GatewayProcess(env, log_path).start()
        try:
            admin = httpx.Client(
                base_url=gateway.url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30
            )
            with admin:
                deployed = admin.post(
                    "/api/v1/deployment/workflows/wf-log/deploy",
                    json={"triggers": [{"type": "MANUAL", "config": {}}]},
                )
                assert deployed.status_code == 200, deployed.text
                fired = admin.post("/api/v1/triggers/workflows/wf-log/manual", json={"data": {}})
                assert fired.status_code == 202, fired.text

                created = admin.post("/api/v1/tenants", json={"tenant_id": "acme"})
                assert created.status_code == 201, created.text
                jwt_secret = created.json()["jwt_secret"]
                rotated = admin.post("/api/v1/tenants/acme/rotate")
                assert rotated.status_code == 200, rotated.text
                rotated_secret = rotated.json()["jwt_secret"]

                # the old secret's token is refused; nothing waits for the new one's event
                old = jwt.encode(
                    {"tenant_id": "acme", "exp": int(time.time()) + 60}, jwt_secret, "HS256"
                )
                new = jwt.encode(
                    {"tenant_id": "acme", "exp": int(time.time()) + 60}, rotated_secret, "HS256"
                )
                body = {"event_name": "nothing", "payload": {}}
                for token, status in ((old, 401), (new, 404)):
                    answer = admin.post(
                        "/api/v1/events/acme",
                        json=body,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    assert answer.status_code == status, answer.text
                # a wrong admin token
                assert (
                    admin.get(
                        "/api/v1/triggers", headers={"Authorization": "Bearer nope"}
                    ).status_code
                    == 401
                )

            # the engine was called with its token, failed, and the gateway said so
            wait_until(lambda: len(engine.starts()) >= 3, timeout=10)
            assert engine.starts()[0].authorization == f"Bearer {engine_token}"
            wait_until(lambda: "WARNING" in log_path.read_text(), timeout=5)
        finally:
            gateway.stop()

    written = log_path.read_text()
    assert "WARNING" in written and "503" in written, written
    for name, secret in [
        ("admin token", admin_token),
        ("engine token", engine_token),
        ("secret key", secret_key),
        ("tenant JWT secret", jwt_secret),
        ("rotated tenant JWT secret", rotated_secret),
        ("tenant JWT", old),
        ("tenant JWT", new),
    ]:
        assert secret not in written, f"the {name} is in the log:\n{written}"


# redact -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("Authorization: Bearer abc123def", "abc123def"),
        ("authorization=Bearer abc123def", "abc123def"),
        ("headers {'Authorization': 'Bearer abc123def'}", "abc123def"),
        ('headers {"authorization": "Bearer abc123def"}', "abc123def"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("Authorization: abc123def", "abc123def"),
        ("calling with Bearer abc123def now", "abc123def"),
        ("bearer   abc123def", "abc123def"),
        ("api key hwk_xxx123 was used", "xxx123"),
        ("key=hwk_xxx123", "xxx123"),
        ("signing with whsec_xxx123", "xxx123"),
        ("verifying with whpk_xxx123", "xxx123"),
        ("secret=xyz789", "xyz789"),
        ("SECRET: xyz789", "xyz789"),
        ("client_secret=xyz789&grant=1", "xyz789"),
        ('{"jwt_secret": "xyz789"}', "xyz789"),
        ("{'webhook_secret': 'xyz789'}", "xyz789"),
    ],
)
def test_redact_hides_secrets(line: str, secret: str) -> None:
    cleaned = redact(line)
    assert secret not in cleaned
    assert "[REDACTED]" in cleaned


@pytest.mark.parametrize(
    ("line", "cleaned"),
    [
        (
            "database postgresql://app:pa55word@db.internal:5432/gw is down",
            "database postgresql://app:[REDACTED]@db.internal:5432/gw is down",
        ),
        ("engine https://u:p:w@engine:8443/v2", "engine https://u:[REDACTED]@engine:8443/v2"),
        (
            "'redis://default:s3cr%2Ft@127.0.0.1:6379'",
            "'redis://default:[REDACTED]@127.0.0.1:6379'",
        ),
    ],
)
def test_redact_hides_url_passwords_and_keeps_the_rest(line: str, cleaned: str) -> None:
    assert redact(line) == cleaned


@pytest.mark.parametrize(
    "line",
    [
        "gateway started: 3 active triggers, engine http",
        "dispatch 0192 attempt 2 failed: POST /v2/workflows/wf-1/execute: engine answered 503",
        "deployed workflow wf-bearer-stats",
        "engine http://127.0.0.1:8000/v2/workflows/wf-1/execute answered 503",
        "calling https://engine.example:8443/v2/executions?status=paused#x",
        "database postgresql://postgres@127.0.0.1:5432/test is up",
        "listening on http://[::1]:8003/ and http://localhost:8003",
        "redirected to http://host:8000/a@b",
    ],
)
def test_redact_leaves_ordinary_lines_alone(line: str) -> None:
    assert redact(line) == line


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in CONFIGURED_LOGGERS
        for logger in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.level, logger.propagate = handlers, level, propagate


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_configured_logging_redacts_messages_and_tracebacks(
    restore_logging: None, capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    configure_logging(Settings(log_format=log_format, log_level="INFO"))
    log = logging.getLogger("highway_triggers.test")
    log.info("calling the engine with %s", {"Authorization": "Bearer tok-in-args"})
    try:
        raise RuntimeError(
            "engine said: Authorization: Bearer tok-in-traceback, secret=sec-in-traceback"
        )
    except RuntimeError:
        log.exception("delivery failed with whsec_in-message")
    written = capsys.readouterr().err
    assert "delivery failed" in written and "RuntimeError" in written
    for secret in ("tok-in-args", "tok-in-traceback", "sec-in-traceback", "in-message"):
        assert secret not in written, written
    if log_format == "json":
        assert all(json.loads(line) for line in written.splitlines())


# redact's shortcut: a line without a marker skips the pattern -----------------------------

FRAGMENTS = [
    *SECRET_MARKERS,
    *(marker.upper() for marker in SECRET_MARKERS),
    "BeArEr ",
    "Authorization: ",
    "secret=",
    "token: '",
    "Password=",
    "https://user:pw@host:8443/x",
    "http://host:8000/a@b",
    "x",
    " ",
    "=",
    ":",
    "'",
    "@",
    "/",
    "ſecret=",  # a long s: the pattern ignores case the Unicode way
    "tokın=",
    "\u212aey",
    "İ",
    "é",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=8))
def test_redact_shortcut_agrees_with_the_pattern(parts: list[str]) -> None:
    text = "".join(parts)
    assert redact(text) == SECRET_PATTERNS.sub(lambda m: (m[1] or m[2]) + "[REDACTED]", text)
