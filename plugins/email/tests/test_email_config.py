"""EMAIL trigger configs at deploy: each invalid one is a 422 naming its field, nothing
stored; the password is stored sealed; a mailbox several triggers share is one.

A SQLite gateway of this module's own; the mailboxes it is given are never reachable
(nothing listens on the port): deploying does not connect.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from email_hub import email_env

from highway_triggers.testing import (
    SEALED,
    RunningGateway,
    free_port,
    gateway_settings,
    running_gateway,
)

PORT = free_port()
VALID = {
    "host": "127.0.0.1",
    "port": PORT,
    "ssl": False,
    "username": "ops@example.org",
    "password": "app-password-1",
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp_path: Path = tmp_path_factory.mktemp("email-config")
    settings = gateway_settings(f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path)
    with email_env(), running_gateway(settings) as running:
        yield running


def deploy(gateway: RunningGateway, workflow_id: str, *configs: dict[str, Any]) -> Any:
    triggers = [{"type": "EMAIL", "config": config} for config in configs]
    return gateway.admin.post(
        f"/api/v1/deployment/workflows/{workflow_id}/deploy", json={"triggers": triggers}
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subject_pattern": "(unclosed"}, "subject_pattern"),
        ({"subject_pattern": "x" * 1001}, "subject_pattern"),
        ({"ssl": True, "starttls": True}, "starttls"),
        ({"password_env": "MAIL_PASSWORD"}, "password"),  # both
        ({"password": None}, "password"),  # neither
        ({"password": None, "password_env": "1-not-a-name"}, "password_env"),
        ({"password": None, "password_env": "HIGHWAY_EMAIL_TEST_UNSET"}, "password_env"),
        ({"attachments": "all"}, "attachments"),
        ({"max_attachment_bytes": 10**9}, "max_attachment_bytes"),
        ({"host": "not a host!"}, "host"),
        ({"port": 0}, "port"),
        ({"check_interval": 0}, "check_interval"),
        ({"username": "ops"}, "email_filter"),  # not an address: say which one is watched
        ({"email_filter": "not-an-address"}, "email_filter"),
        ({"move_to": "INBOX"}, "move_to"),
        ({"folder": "bad\x07folder"}, "folder"),
        ({"from": ""}, "from"),
        ({"to": "two words"}, "to"),
        ({"has_attachment": "sometimes"}, "has_attachment"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_an_invalid_config_is_refused_naming_its_field(
    gateway: RunningGateway, change: dict[str, Any], field: str
) -> None:
    config = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    answer = deploy(gateway, "mail-invalid", config)
    assert answer.status_code == 422, answer.text
    fields = [e["field"] for e in answer.json()["errors"]]
    assert fields == [f"triggers[0].config.{field}"], answer.json()
    status = gateway.admin.get("/api/v1/deployment/workflows/mail-invalid").json()
    assert status["triggers"] == []  # nothing stored


def test_the_password_is_stored_sealed_and_the_filters_as_given(gateway: RunningGateway) -> None:
    config = {**VALID, "from": "*@example.net", "subject_pattern": "^Order \\d+"}
    answer = deploy(gateway, "mail-sealed", config)
    assert answer.status_code == 200, answer.text
    (trigger,) = answer.json()["triggers"]
    stored = trigger["config"]
    assert stored["password"].startswith(SEALED) and "app-password-1" not in str(stored)
    assert (stored["from"], stored["subject_pattern"]) == ("*@example.net", "^Order \\d+")
    assert (stored["email_filter"], trigger["index_key"]) == ("ops@example.org", "ops@example.org")
    listed = gateway.admin.get("/api/v1/triggers", params={"workflow_id": "mail-sealed"}).json()
    assert "app-password-1" not in str(listed)


def test_a_password_from_the_environment(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIGHWAY_EMAIL_TEST_PASSWORD", "from-the-environment")
    config = {**VALID, "password": None, "password_env": "HIGHWAY_EMAIL_TEST_PASSWORD"}
    answer = deploy(gateway, "mail-env", {k: v for k, v in config.items() if v is not None})
    assert answer.status_code == 200, answer.text
    assert "from-the-environment" not in answer.text


def test_triggers_of_one_mailbox_share_its_watcher(gateway: RunningGateway) -> None:
    shared = {**VALID, "username": "shared@example.org", "email_filter": "Team@Example.org"}
    answer = deploy(gateway, "mail-shared", shared, {**shared, "subject_pattern": "^Urgent"})
    assert answer.status_code == 200, answer.text
    other_folder = {**shared, "folder": "Archive"}
    assert deploy(gateway, "mail-shared-2", other_folder).status_code == 200
    found = [
        m
        for m in gateway.admin.get("/api/v1/email/mailboxes").json()["mailboxes"]
        if m["username"] == "shared@example.org"
    ]
    assert [(m["folder"], len(m["trigger_ids"])) for m in found] == [("Archive", 1), ("INBOX", 2)]
    assert found[1]["addresses"] == ["team@example.org"]
    assert found[1]["port"] == PORT and found[1]["cursor"] is None  # never reached
