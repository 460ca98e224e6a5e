"""The ``highway-triggers`` command line (CONTRACT §6), run as a real subprocess.

Every command runs as ``python -m highway_triggers.cli`` against the same database
as a gateway served in this process, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from sqlalchemy import inspect, text

from highway_triggers.core import auth
from highway_triggers.core.plugins import load_plugins
from highway_triggers.db import migrate
from highway_triggers.db.database import Database
from highway_triggers.settings import Settings
from highway_triggers.testing import ADMIN_TOKEN, gateway_settings, running_gateway, wait_until

SECRET_KEY = "cli-test-secret-key"


def cli_env(database_url: str, tmp_path: Path, bytecode_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIGHWAY_")}
    env.update(bytecode_env)
    env.update(
        HIGHWAY_DATABASE_URL=database_url,
        HIGHWAY_SECRET_KEY=SECRET_KEY,
        HIGHWAY_SECRET_KEY_FILE=str(tmp_path / "secret-key"),
    )
    return env


class Cli:
    """``python -m highway_triggers.cli`` with a fixed environment and working directory."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one command; with ``ok``, assert that it succeeded."""
        (result,) = self.many(args, ok=ok)
        return result

    def many(
        self, *commands: Sequence[str], ok: bool = True
    ) -> list[subprocess.CompletedProcess[str]]:
        """Run independent commands at once: each start-up takes most of a second."""
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "highway_triggers.cli", *args],
                env=self.env,
                cwd=self.cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for args in commands
        ]
        results = []
        try:
            for process in processes:
                stdout, stderr = process.communicate(timeout=60)
                results.append(
                    subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
                )
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        if ok:
            for result in results:
                assert result.returncode == 0, f"{result.args[3:]}: {result.stderr}"
        return results


def upgrade_schema(database_url: str) -> None:
    """What ``db upgrade`` does, in this process (faster than one more subprocess)."""
    database = Database(database_url)
    try:
        migrate.upgrade(database, load_plugins().migration_locations())
    finally:
        database.close()


def query(database_url: str, sql: str) -> list[dict[str, Any]]:
    database = Database(database_url)
    try:
        with database.engine.connect() as conn:
            return [dict(row) for row in conn.execute(text(sql)).mappings()]
    finally:
        database.close()


@pytest.fixture
def cli(database_url: str, tmp_path: Path, bytecode_env: dict[str, str]) -> Cli:
    """The CLI on ``database_url``, its schema upgraded (PostgreSQL does not auto-migrate)."""
    upgrade_schema(database_url)
    return Cli(cli_env(database_url, tmp_path, bytecode_env), tmp_path)


@pytest.fixture
def sqlite_cli(tmp_path: Path, bytecode_env: dict[str, str]) -> Cli:
    """The CLI on SQLite only, for what does not depend on the database."""
    database_url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade_schema(database_url)
    return Cli(cli_env(database_url, tmp_path, bytecode_env), tmp_path)


@pytest.fixture
def same_db_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for an in-process gateway on the CLI's database, with the CLI's secret key."""

    def make(**overrides: Any) -> Settings:
        return gateway_settings(database_url, tmp_path, secret_key=SECRET_KEY, **overrides)

    return make


def write_yaml(path: Path, value: Any) -> Path:
    path.write_text(yaml.safe_dump(value, sort_keys=False))
    return path


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def trigger_lines(cli: Cli, *args: str) -> list[list[str]]:
    """``triggers`` output, one list of columns per trigger."""
    return [line.split() for line in cli("triggers", *args).stdout.splitlines() if line.strip()]


def jwt_for(tenant_id: str, secret: str) -> str:
    return jwt.encode(
        {"tenant_id": tenant_id, "exp": int(time.time()) + 300}, secret, algorithm="HS256"
    )


# db upgrade --------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_and_is_idempotent(
    database_url: str, tmp_path: Path, bytecode_env: dict[str, str]
) -> None:
    cli = Cli(cli_env(database_url, tmp_path, bytecode_env), tmp_path)
    assert cli("db", "upgrade").stdout.strip() == "database is up to date"
    database = Database(database_url)
    try:
        tables = set(inspect(database.engine).get_table_names())
        assert not migrate.pending(database, load_plugins().migration_locations())
    finally:
        database.close()
    assert {
        "trigger_index",
        "deployments",
        "dispatches",
        "tenants",
        "api_keys",
        "alembic_version",
    } <= tables
    assert cli("db", "upgrade").stdout.strip() == "database is up to date"


# deploy and triggers -----------------------------------------------------------------


def test_deploy_yaml_and_json_files_then_list_triggers(cli: Cli, tmp_path: Path) -> None:
    # YAML, the workflow id from the file
    yaml_file = write_yaml(
        tmp_path / "orders.yaml",
        {
            "workflow_id": "wf-yaml",
            "triggers": [
                {"type": "EVENT", "config": {"event_type": "order.created"}},
                {"type": "MANUAL"},
            ],
        },
    )
    # JSON (a workflow spec with nodes), the workflow id from the file's "id"
    json_file = tmp_path / "invoices.json"
    json_file.write_text(
        json.dumps(
            {
                "id": "wf-json",
                "nodes": [
                    {
                        "type": "TRIGGER",
                        "subtype": "EVENT",
                        "configurations": {"event_type": "invoice.paid"},
                    },
                    {"type": "ACTION", "subtype": "HTTP", "configurations": {"url": "http://x"}},
                ],
            },
            indent=2,
        )
    )
    from_yaml, from_json, from_flag = (
        json.loads(result.stdout)
        for result in cli.many(
            ["deploy", str(yaml_file)],
            ["deploy", str(json_file)],
            # --workflow-id names the workflow (and wins over the file's)
            ["deploy", str(json_file), "--workflow-id", "wf-flag"],
        )
    )
    assert from_yaml["workflow_id"] == "wf-yaml"
    assert from_yaml["status"] == "DEPLOYED"
    assert sorted(t["type"] for t in from_yaml["triggers"]) == ["EVENT", "MANUAL"]
    yaml_ids = {t["trigger_id"] for t in from_yaml["triggers"]}
    assert from_json["workflow_id"] == "wf-json"
    assert [(t["type"], t["index_key"]) for t in from_json["triggers"]] == [
        ("EVENT", "invoice.paid")
    ]
    json_id = from_json["triggers"][0]["trigger_id"]
    assert from_flag["workflow_id"] == "wf-flag"
    assert from_flag["status"] == "DEPLOYED"

    everything, manual = cli.many(["triggers"], ["triggers", "--type", "MANUAL"])
    rows = [line.split() for line in everything.stdout.splitlines()]
    by_id = {r[0]: r for r in rows}
    assert len(rows) == 4
    assert yaml_ids | {json_id} <= set(by_id)
    assert by_id[json_id][1:] == ["EVENT", "wf-json", "invoice.paid"]
    assert sorted(tuple(r[1:3]) for r in rows) == [
        ("EVENT", "wf-flag"),
        ("EVENT", "wf-json"),
        ("EVENT", "wf-yaml"),
        ("MANUAL", "wf-yaml"),
    ]
    assert [line.split()[2] for line in manual.stdout.splitlines()] == ["wf-yaml"]


def test_deploy_json_that_is_not_yaml(sqlite_cli: Cli, tmp_path: Path) -> None:
    """Any valid JSON file deploys: tab indentation and \\uXXXX surrogate pairs included."""
    spec = {
        "workflow_id": "wf-emoji",
        "triggers": [
            {
                "type": "EVENT",
                "config": {"event_type": "mood 🙂", "filter_expression": {"face": "😀"}},
            }
        ],
    }
    path = tmp_path / "emoji.json"
    path.write_text(json.dumps(spec, indent="\t"))  # ensure_ascii: 🙂 becomes \ud83d\ude42
    deployed = json.loads(sqlite_cli("deploy", str(path)).stdout)
    (trigger,) = deployed["triggers"]
    assert trigger["index_key"] == "mood 🙂"
    assert trigger["config"]["filter_expression"] == {"face": "😀"}


def test_deploy_invalid_config_names_the_field(sqlite_cli: Cli, tmp_path: Path) -> None:
    cli = sqlite_cli
    write_yaml(
        tmp_path / "bad.yaml",
        {
            "workflow_id": "wf-bad",
            "triggers": [{"type": "MANUAL"}, {"type": "EVENT", "config": {}}],
        },
    )
    write_yaml(
        tmp_path / "unknown.yaml",
        {"workflow_id": "wf-unknown", "triggers": [{"type": "NOPE", "config": {}}]},
    )
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "broken.yaml").write_text("workflow_id: [unclosed\n")
    (tmp_path / "anonymous.json").write_text('{"triggers": []}')
    expected = {
        "bad.yaml": ["triggers[1].config.event_type"],
        "unknown.yaml": ["triggers[0].type", "NOPE"],
        "list.yaml": ["list.yaml", "object"],
        "broken.yaml": ["broken.yaml", "not JSON or YAML"],
        "anonymous.json": ["--workflow-id"],
    }
    results = cli.many(*(["deploy", str(tmp_path / name)] for name in expected), ok=False)
    for (name, says), result in zip(expected.items(), results, strict=True):
        assert result.returncode != 0, name
        no_traceback(result)
        for words in says:
            assert words in result.stderr, (name, result.stderr)

    assert trigger_lines(cli) == []  # nothing was deployed


# tenants -----------------------------------------------------------------------------


def test_tenant_secret_signs_jwts_until_rotated(
    cli: Cli,
    tmp_path: Path,
    same_db_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = {
        "workflow_id": "wf-acme",
        "tenant_id": "acme",
        "triggers": [{"type": "EVENT", "config": {"event_type": "order.created"}}],
    }
    created, _ = cli.many(
        ["tenants", "create", "acme"], ["deploy", str(write_yaml(tmp_path / "acme.yaml", spec))]
    )
    secret = created.stdout.strip()
    assert len(secret) >= 32 and "\n" not in secret

    # a gateway caches a tenant's secret (10 s by default); shorten that for the test
    monkeypatch.setattr(auth, "TENANT_SECRET_TTL", 0.5)
    with running_gateway(same_db_settings()) as gateway:
        client = gateway.client(token=None)

        def send(token: str) -> httpx.Response:
            return client.post(
                "/api/v1/events/acme",
                json={"event_name": "order.created", "payload": {}},
                headers={"Authorization": f"Bearer {token}"},
            )

        old_token = jwt_for("acme", secret)
        answer = send(old_token)
        assert answer.status_code == 202, answer.text
        assert answer.json()["delivered_to"] == 1
        assert send(jwt_for("acme", "not-the-secret-but-just-as-long-as-one")).status_code == 401

        rotated = cli("tenants", "rotate", "acme").stdout.strip()
        assert rotated and rotated != secret
        # the running gateway stops accepting the old secret once its cache expires
        wait_until(lambda: send(old_token).status_code == 401, timeout=5)
        answer = send(jwt_for("acme", rotated))
        assert answer.status_code == 202, answer.text

    # a gateway started after the rotation never accepted the old secret
    with running_gateway(same_db_settings()) as gateway:
        client = gateway.client(token=None)
        headers = {"Authorization": f"Bearer {old_token}"}
        body = {"event_name": "order.created", "payload": {}}
        assert client.post("/api/v1/events/acme", json=body, headers=headers).status_code == 401

    again, missing = cli.many(
        ["tenants", "create", "acme"], ["tenants", "rotate", "nobody"], ok=False
    )
    assert again.returncode != 0 and "acme" in again.stderr
    no_traceback(again)
    assert missing.returncode != 0 and "nobody" in missing.stderr
    no_traceback(missing)


# admin keys --------------------------------------------------------------------------


def test_admin_key_authenticates_and_only_its_hash_is_stored(
    cli: Cli, database_url: str, same_db_settings: Callable[..., Settings]
) -> None:
    key = cli("admin-keys", "create", "--name", "ops").stdout.strip()
    assert key.startswith("hwk_") and len(key) > 30

    with running_gateway(same_db_settings(admin_token=None)) as gateway:
        assert gateway.client(token=key).get("/api/v1/triggers").status_code == 200
        assert gateway.client(token=key + "x").get("/api/v1/triggers").status_code == 401
        assert gateway.client(token=None).get("/api/v1/triggers").status_code == 401
        assert gateway.client(token=ADMIN_TOKEN).get("/api/v1/triggers").status_code == 401

    rows = query(database_url, "SELECT * FROM api_keys")
    assert len(rows) == 1
    assert rows[0]["name"] == "ops"
    assert rows[0]["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    secret_part = key.removeprefix("hwk_")
    assert all(secret_part not in str(value) for value in rows[0].values())


# dispatches --------------------------------------------------------------------------


def test_dispatches_lists_a_manual_fire(
    cli: Cli, tmp_path: Path, same_db_settings: Callable[..., Settings]
) -> None:
    spec = {"workflow_id": "wf-manual", "triggers": [{"type": "MANUAL"}]}
    cli("deploy", str(write_yaml(tmp_path / "manual.yaml", spec)))
    with running_gateway(same_db_settings()) as gateway:
        client = gateway.client()
        answer = client.post("/api/v1/triggers/workflows/wf-manual/manual", json={"data": {"n": 1}})
        assert answer.status_code == 202, answer.text
        (dispatch_id,) = answer.json()["dispatch_ids"]

        def delivered() -> bool:
            listed = client.get("/api/v1/dispatches", params={"workflow_id": "wf-manual"}).json()
            return any(d["status"] == "delivered" for d in listed["dispatches"])

        wait_until(delivered, timeout=10)

    everything, failed = cli.many(["dispatches"], ["dispatches", "--status", "failed"])
    lines = everything.stdout.splitlines()
    (line,) = [line for line in lines if line.startswith(dispatch_id)]
    columns = line.split()
    assert columns[1:4] == ["delivered", "start", "wf-manual"]
    assert "attempts=1" in columns
    assert any(c.startswith("execution=") and c != "execution=-" for c in columns)
    assert dispatch_id not in failed.stdout


# a running gateway and the CLI ---------------------------------------------------------


def test_running_gateway_picks_up_a_cli_deploy(
    cli: Cli, tmp_path: Path, same_db_settings: Callable[..., Settings]
) -> None:
    # the default reconcile interval: the ChangeFeed checks the revision once a second
    with running_gateway(same_db_settings(reconcile_interval_seconds=1.0)) as gateway:
        client = gateway.client()

        def fire() -> httpx.Response:
            return client.post("/api/v1/triggers/workflows/wf-live/manual", json={"data": {}})

        assert fire().status_code == 404
        spec = {"workflow_id": "wf-live", "triggers": [{"type": "MANUAL"}]}
        cli("deploy", str(write_yaml(tmp_path / "live.yaml", spec)))
        deployed_at = time.monotonic()
        wait_until(lambda: fire().status_code == 202, timeout=2.0, interval=0.05)
        assert time.monotonic() - deployed_at < 2.0

        # and an undeploy-by-redeploy (no MANUAL trigger left) too
        spec = {
            "workflow_id": "wf-live",
            "triggers": [{"type": "EVENT", "config": {"event_type": "x"}}],
        }
        cli("deploy", str(write_yaml(tmp_path / "live.yaml", spec)))
        wait_until(lambda: fire().status_code == 404, timeout=2.0, interval=0.05)


# serve -------------------------------------------------------------------------------


def test_serve_with_several_workers_on_sqlite_is_refused(sqlite_cli: Cli) -> None:
    started = time.monotonic()
    result = sqlite_cli("serve", "--workers", "2", "--port", "1", ok=False)
    assert result.returncode != 0
    no_traceback(result)
    assert "SQLite" in result.stderr and "PostgreSQL" in result.stderr
    assert time.monotonic() - started < 30
