"""The ``highway-triggers`` command line, run as a real subprocess.

State commands talk to a gateway served on loopback (one for the module), run from a
directory of their own with no database settings at all; the bootstrap commands (``db
upgrade``, ``admin-keys create``) open the database the settings name, on SQLite and on
PostgreSQL, and find the one ``serve`` uses through ``HIGHWAY_DATA_DIR`` from anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from sqlalchemy import inspect, text

from highway_triggers.core.plugins import load_plugins
from highway_triggers.db import migrate
from highway_triggers.db.database import Database
from highway_triggers.settings import Settings
from highway_triggers.testing import (
    ADMIN_TOKEN,
    GatewayProcess,
    RunningGateway,
    free_port,
    gateway_settings,
    run_cli,
    running_gateway,
    wait_until,
)

SECRET_KEY = "cli-test-secret-key"


def clean_env(bytecode_env: dict[str, str], **values: str) -> dict[str, str]:
    """This process's environment without any ``HIGHWAY_*`` setting, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIGHWAY_")}
    return {**env, **bytecode_env, **values}


def cli_env(database_url: str, tmp_path: Path, bytecode_env: dict[str, str]) -> dict[str, str]:
    return clean_env(
        bytecode_env,
        HIGHWAY_DATABASE_URL=database_url,
        HIGHWAY_SECRET_KEY=SECRET_KEY,
        HIGHWAY_SECRET_KEY_FILE=str(tmp_path / "secret-key"),
    )


class Cli:
    """The command line with a fixed environment and working directory: in this process
    (``run_cli``), or with ``spawn`` as ``python -m highway_triggers.cli`` (a second each)."""

    def __init__(self, env: dict[str, str], cwd: Path, *, spawn: bool = False) -> None:
        self.env = env
        self.cwd = cwd
        self.spawn = spawn

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one command; with ``ok``, assert that it succeeded."""
        (result,) = self.many(args, ok=ok)
        return result

    def many(
        self, *commands: Sequence[str], ok: bool = True
    ) -> list[subprocess.CompletedProcess[str]]:
        """Run independent commands (spawned, at once: each start-up takes most of a second)."""
        if not self.spawn:
            results = [run_cli(*args, env=self.env, cwd=self.cwd) for args in commands]
            return self._checked(results, ok)
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
        return self._checked(results, ok)

    @staticmethod
    def _checked(
        results: list[subprocess.CompletedProcess[str]], ok: bool
    ) -> list[subprocess.CompletedProcess[str]]:
        if ok:
            for result in results:
                assert result.returncode == 0, f"{result.args}: {result.stderr}"
        return results

    def json(self, *args: str) -> Any:
        """The ``--json`` output of one command."""
        return json.loads(self(*args, "--json").stdout)


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
def spawned_cli(sqlite_cli: Cli) -> Cli:
    """``sqlite_cli`` run as a process of its own: ``serve`` configures this process's logging."""
    return Cli(sqlite_cli.env, sqlite_cli.cwd, spawn=True)


@pytest.fixture
def same_db_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for an in-process gateway on the CLI's database, with the CLI's secret key."""

    def make(**overrides: Any) -> Settings:
        return gateway_settings(database_url, tmp_path, secret_key=SECRET_KEY, **overrides)

    return make


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """The gateway the state commands of this module talk to."""
    root = tmp_path_factory.mktemp("gateway")
    with running_gateway(gateway_settings(f"sqlite:///{root / 'gateway.db'}", root)) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def remote(
    served: RunningGateway, tmp_path_factory: pytest.TempPathFactory, bytecode_env: dict[str, str]
) -> Cli:
    """The CLI in a directory of its own, told only the gateway's URL and token: no database
    settings, and a default data directory (``XDG_DATA_HOME``) that must stay empty."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    env = clean_env(
        bytecode_env,
        XDG_DATA_HOME=str(elsewhere / "xdg"),
        HIGHWAY_URL=served.url,
        HIGHWAY_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    return Cli(env, elsewhere)


def no_local_state(cli: Cli) -> None:
    """The command line wrote nothing of the gateway's where it ran."""
    assert not (cli.cwd / "xdg").exists()
    assert not list(cli.cwd.glob("*.db")) and not list(cli.cwd.glob(".highway-secret-key"))


def write_yaml(path: Path, value: Any) -> Path:
    path.write_text(yaml.safe_dump(value, sort_keys=False))
    return path


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def table_rows(output: str) -> list[dict[str, str]]:
    """A table the CLI printed, one dict per row by header; asserts that every cell starts
    in its header's column."""
    header, *lines = output.rstrip("\n").split("\n")
    columns = [(m.group(), m.start()) for m in re.finditer(r"\S+", header)]
    rows = []
    for line in lines:
        for _, start in columns[1:]:
            assert line[start - 1] == " " and line[start] != " ", (header, line)
        ends = [start for _, start in columns[1:]] + [len(line)]
        rows.append({name: line[start:end].strip() for (name, start), end in zip(columns, ends)})
    return rows


def jwt_for(tenant_id: str, secret: str) -> str:
    return jwt.encode(
        {"tenant_id": tenant_id, "exp": int(time.time()) + 300}, secret, algorithm="HS256"
    )


# db upgrade --------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_and_is_idempotent(
    database_url: str, tmp_path: Path, bytecode_env: dict[str, str]
) -> None:
    cli = Cli(cli_env(database_url, tmp_path, bytecode_env), tmp_path)
    assert cli("db", "upgrade").stdout.strip() == f"database is up to date: {database_url}"
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
    assert cli("db", "upgrade").stdout.strip() == f"database is up to date: {database_url}"


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


# state commands against a running gateway ---------------------------------------------


def test_deploy_from_another_directory_then_list_triggers(
    remote: Cli, served: RunningGateway
) -> None:
    # YAML, the workflow id from the file
    write_yaml(
        remote.cwd / "orders.yaml",
        {
            "workflow_id": "wf-yaml",
            "triggers": [
                {"type": "EVENT", "config": {"event_type": "order.created"}},
                {"type": "MANUAL"},
            ],
        },
    )
    # JSON (a workflow spec with nodes), the workflow id from the file's "id"
    json_file = remote.cwd / "invoices.json"
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
    as_table, from_json, from_flag = remote.many(
        ["deploy", "orders.yaml"],  # a path relative to the command's directory
        ["deploy", str(json_file), "--json"],
        # --workflow-id names the workflow (and wins over the file's)
        ["deploy", str(json_file), "--workflow-id", "wf-flag", "--json"],
    )
    first, rest = as_table.stdout.split("\n", 1)
    assert first == "workflow wf-yaml: DEPLOYED"
    deployed = table_rows(rest)
    assert sorted(r["TYPE"] for r in deployed) == ["EVENT", "MANUAL"]
    yaml_ids = {r["TRIGGER_ID"] for r in deployed}
    json_status, flag_status = json.loads(from_json.stdout), json.loads(from_flag.stdout)
    assert json_status["workflow_id"] == "wf-json" and json_status["status"] == "DEPLOYED"
    assert [(t["type"], t["index_key"]) for t in json_status["triggers"]] == [
        ("EVENT", "invoice.paid")
    ]
    json_id = json_status["triggers"][0]["trigger_id"]
    assert (flag_status["workflow_id"], flag_status["status"]) == ("wf-flag", "DEPLOYED")

    # the gateway runs them as soon as deploy returns
    fired = served.client().post("/api/v1/triggers/workflows/wf-yaml/manual", json={"data": {}})
    assert fired.status_code == 202, fired.text

    everything, manual, listed = remote.many(
        ["triggers"], ["triggers", "--type", "MANUAL"], ["triggers", "--json"]
    )
    rows = table_rows(everything.stdout)
    assert list(rows[0]) == ["TRIGGER_ID", "TYPE", "WORKFLOW", "TENANT", "INDEX_KEY"]
    by_id = {r["TRIGGER_ID"]: r for r in rows}
    assert yaml_ids | {json_id} <= set(by_id)
    assert by_id[json_id] == {
        "TRIGGER_ID": json_id,
        "TYPE": "EVENT",
        "WORKFLOW": "wf-json",
        "TENANT": "-",
        "INDEX_KEY": "invoice.paid",
    }
    ours = [r for r in rows if r["WORKFLOW"] in ("wf-yaml", "wf-json", "wf-flag")]
    assert sorted((r["TYPE"], r["WORKFLOW"]) for r in ours) == [
        ("EVENT", "wf-flag"),
        ("EVENT", "wf-json"),
        ("EVENT", "wf-yaml"),
        ("MANUAL", "wf-yaml"),
    ]
    assert "wf-yaml" in [r["WORKFLOW"] for r in table_rows(manual.stdout)]
    assert {r["TYPE"] for r in table_rows(manual.stdout)} == {"MANUAL"}
    api = served.client().get("/api/v1/triggers").json()["triggers"]
    assert json.loads(listed.stdout) == api
    no_local_state(remote)


def test_deploy_json_that_is_not_yaml(remote: Cli) -> None:
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
    path = remote.cwd / "emoji.json"
    path.write_text(json.dumps(spec, indent="\t"))  # ensure_ascii: 🙂 becomes \ud83d\ude42
    (trigger,) = remote.json("deploy", str(path))["triggers"]
    assert trigger["index_key"] == "mood 🙂"
    assert trigger["config"]["filter_expression"] == {"face": "😀"}
    (row,) = table_rows(remote("triggers", "--workflow-id", "wf-emoji").stdout)
    assert row["INDEX_KEY"] == "mood 🙂"


def test_deploy_invalid_config_names_the_field(remote: Cli, served: RunningGateway) -> None:
    folder = remote.cwd / "invalid"
    folder.mkdir()
    write_yaml(
        folder / "bad.yaml",
        {
            "workflow_id": "wf-bad",
            "triggers": [
                {"type": "MANUAL"},
                {"type": "EVENT", "config": {}},
                {"type": "EVENT", "config": {"event_type": 5}},
            ],
        },
    )
    write_yaml(
        folder / "unknown.yaml",
        {"workflow_id": "wf-unknown", "triggers": [{"type": "NOPE", "config": {}}]},
    )
    (folder / "list.yaml").write_text("- 1\n- 2\n")
    (folder / "broken.yaml").write_text("workflow_id: [unclosed\n")
    (folder / "anonymous.json").write_text('{"triggers": []}')
    # a secret sealed under another key: stored, but the trigger cannot start
    foreign = "sealed:" + base64.urlsafe_b64encode(b"x" * 60).decode()
    auth = {"type": "bearer", "token": foreign}
    write_yaml(
        folder / "sealed.yaml",
        {
            "workflow_id": "wf-sealed",
            "triggers": [{"type": "WEBHOOK", "config": {"webhook_path": "sealed", "auth": auth}}],
        },
    )
    expected = {
        # every field at fault, one a line
        "bad.yaml": ["VALIDATION_ERROR", "\n  triggers[1].config.event_type: ", "\n  triggers[2]"],
        "unknown.yaml": ["triggers[0].type", "NOPE"],
        "list.yaml": ["list.yaml", "object"],
        "broken.yaml": ["broken.yaml", "not JSON or YAML"],
        "anonymous.json": ["--workflow-id"],
        "sealed.yaml": ["workflow wf-sealed: DEPLOYMENT_FAILED", "Decryption failed"],
    }
    results = remote.many(*(["deploy", str(folder / name)] for name in expected), ok=False)
    for (name, says), result in zip(expected.items(), results, strict=True):
        assert result.returncode == 1, name
        no_traceback(result)
        for words in says:
            assert words in result.stderr, (name, result.stderr)

    for workflow in ("wf-bad", "wf-unknown"):  # nothing was deployed
        listed = served.client().get("/api/v1/triggers", params={"workflow_id": workflow})
        assert listed.json()["triggers"] == []


def test_undeploy_and_deployment_status(remote: Cli, served: RunningGateway) -> None:
    spec = {"workflow_id": "wf-gone", "triggers": [{"type": "MANUAL"}]}
    remote("deploy", str(write_yaml(remote.cwd / "gone.yaml", spec)))
    shown = remote("deployment", "wf-gone").stdout
    status, triggers, history = shown.split("\n", 1)[0], *shown.split("\n", 1)[1].split("\n\n")
    assert status == "workflow wf-gone: DEPLOYED"
    assert [r["TYPE"] for r in table_rows(triggers)] == ["MANUAL"]
    assert [(r["ACTION"], r["STATUS"]) for r in table_rows(history)] == [("deploy", "DEPLOYED")]

    undeployed, missing = remote.many(
        ["undeploy", "wf-gone", "--json"], ["undeploy", "wf-never"], ok=False
    )
    assert undeployed.returncode == 0, undeployed.stderr
    assert json.loads(undeployed.stdout)["status"] == "UNDEPLOYED"
    assert missing.returncode != 0
    no_traceback(missing)
    assert "WORKFLOW_NOT_FOUND: workflow 'wf-never' was never deployed" in missing.stderr
    after = served.client().get("/api/v1/deployment/workflows/wf-gone").json()
    assert after["status"] == "UNDEPLOYED" and after["triggers"] == []
    assert [h["action"] for h in after["history"]] == ["undeploy", "deploy"]


def test_dispatches_are_listed_a_page_at_a_time_and_retried(
    remote: Cli, served: RunningGateway
) -> None:
    spec = {"workflow_id": "wf-manual", "triggers": [{"type": "MANUAL"}]}
    remote("deploy", str(write_yaml(remote.cwd / "manual.yaml", spec)))
    client = served.client()
    ids = []
    for n in range(3):
        answer = client.post("/api/v1/triggers/workflows/wf-manual/manual", json={"data": {"n": n}})
        assert answer.status_code == 202, answer.text
        ids += answer.json()["dispatch_ids"]

    def delivered() -> bool:
        listed = client.get("/api/v1/dispatches", params={"workflow_id": "wf-manual"}).json()
        return bool(sum(d["status"] == "delivered" for d in listed["dispatches"]) == 3)

    wait_until(delivered, timeout=10)
    newest_first = ids[::-1]

    wf = ["--workflow-id", "wf-manual"]
    table, failed, first, rest, everything, refused, bulk = remote.many(
        ["dispatches", *wf],
        ["dispatches", "--status", "failed", "--json"],
        ["dispatches", *wf, "--limit", "2"],
        # a page's next_cursor is its last (oldest) dispatch
        ["dispatches", *wf, "--limit", "2", "--cursor", newest_first[1], "--json"],
        ["dispatches", *wf, "--limit", "2", "--all", "--json"],
        ["retry", ids[0]],
        ["retry", "--status", "dead", "--json"],
        ok=False,
    )
    rows = table_rows(table.stdout)
    assert [r["DISPATCH_ID"] for r in rows] == newest_first
    assert {(r["STATUS"], r["KIND"], r["WORKFLOW"], r["ATTEMPTS"]) for r in rows} == {
        ("delivered", "start", "wf-manual", "1")
    }
    assert all(r["EXECUTION"] != "-" and r["LAST_ERROR"] == "-" for r in rows)
    assert set(ids).isdisjoint(d["dispatch_id"] for d in json.loads(failed.stdout)["dispatches"])

    assert [r["DISPATCH_ID"] for r in table_rows(first.stdout)] == newest_first[:2]
    assert f"--cursor {newest_first[1]}" in first.stderr  # where the next page starts
    page = json.loads(rest.stdout)
    assert [d["dispatch_id"] for d in page["dispatches"]] == newest_first[2:]
    assert page["next_cursor"] is None
    whole = json.loads(everything.stdout)
    assert [d["dispatch_id"] for d in whole["dispatches"]] == newest_first
    assert (whole["count"], whole["next_cursor"]) == (3, None)

    assert refused.returncode == 1
    assert "NOT_RETRYABLE: dispatch is delivered" in refused.stderr
    no_traceback(refused)
    assert bulk.returncode == 0 and json.loads(bulk.stdout) == {"retried": 0}
    no_local_state(remote)


def test_tenant_secret_signs_jwts_until_rotated(remote: Cli, served: RunningGateway) -> None:
    spec = {
        "workflow_id": "wf-acme",
        "tenant_id": "acme-cli",
        "triggers": [{"type": "EVENT", "config": {"event_type": "order.created"}}],
    }
    created, _, limited = remote.many(
        ["tenants", "create", "acme-cli"],
        ["deploy", str(write_yaml(remote.cwd / "acme.yaml", spec))],
        ["tenants", "create", "acme-limited", "--rate-limit-per-second", "5", "--json"],
    )
    assert json.loads(limited.stdout)["tenant_id"] == "acme-limited"
    secret = created.stdout.strip()
    assert len(secret) >= 32 and "\n" not in secret
    client = served.client(token=None)

    def send(token: str) -> httpx.Response:
        return client.post(
            "/api/v1/events/acme-cli",
            json={"event_name": "order.created", "payload": {}},
            headers={"Authorization": f"Bearer {token}"},
        )

    old_token = jwt_for("acme-cli", secret)
    answer = send(old_token)
    assert answer.status_code == 202, answer.text
    assert answer.json()["delivered_to"] == 1
    assert send(jwt_for("acme-cli", "not-the-secret-but-just-as-long-as-one")).status_code == 401

    rotation, again, missing = remote.many(
        ["tenants", "rotate", "acme-cli", "--json"],
        ["tenants", "create", "acme-cli"],
        ["tenants", "rotate", "nobody"],
        ok=False,
    )
    rotated = json.loads(rotation.stdout)
    assert rotated["tenant_id"] == "acme-cli" and rotated["jwt_secret"] != secret
    assert send(old_token).status_code == 401
    answer = send(jwt_for("acme-cli", rotated["jwt_secret"]))
    assert answer.status_code == 202, answer.text
    assert again.returncode == 1 and "TENANT_EXISTS" in again.stderr
    assert missing.returncode == 1 and "nobody" in missing.stderr
    for result in (again, missing):
        no_traceback(result)


def test_a_refused_token_or_an_unreachable_gateway_fails_clearly(
    remote: Cli, served: RunningGateway
) -> None:
    without_token = {k: v for k, v in remote.env.items() if k != "HIGHWAY_ADMIN_TOKEN"}
    nowhere = f"http://127.0.0.1:{free_port()}"
    wrong, no_file, unreachable, *malformed = remote.many(
        ["triggers", "--token", "not-the-token"],
        ["deploy", "nothing.yaml", "--url", "http://127.0.0.1:1"],  # no such file: 2, no call
        ["dispatches", "--url", nowhere],
        ["triggers", "--url", "localhost:8003"],
        ["triggers", "--url", "http://[::1"],
        ["triggers", "--url", "http://127.0.0.1:80o3"],
        ok=False,
    )
    (anonymous,) = Cli(without_token, remote.cwd).many(["tenants", "create", "x"], ok=False)
    (wrong_env,) = Cli({**remote.env, "HIGHWAY_ADMIN_TOKEN": "wrong"}, remote.cwd).many(
        ["undeploy", "wf-x"], ok=False
    )
    for result in (wrong, wrong_env):
        assert result.returncode == 1
        assert f"the gateway at {served.url} refused the token given" in result.stderr
        assert "HIGHWAY_ADMIN_TOKEN" in result.stderr
    assert anonymous.returncode == 1
    assert "refused a request without a token" in anonymous.stderr
    assert no_file.returncode == 2 and "nothing.yaml" in no_file.stderr
    assert unreachable.returncode == 1
    assert f"cannot reach the gateway at {nowhere}" in unreachable.stderr
    urls = ("localhost:8003", "http://[::1", "http://127.0.0.1:80o3")
    for url, result in zip(urls, malformed, strict=True):
        assert result.returncode == 2 and f"{url!r} is not an http://" in result.stderr
    for result in (wrong, wrong_env, anonymous, no_file, unreachable, *malformed):
        assert result.stdout == ""
        no_traceback(result)


def test_deliveries_waits_and_tenants_are_listed(remote: Cli, served: RunningGateway) -> None:
    spec = {
        "workflow_id": "wf-paid",
        "tenant_id": "acme-deliveries",
        "triggers": [
            {
                "type": "EVENT",
                "config": {"event_type": "order.paid", "filter_expression": {"big": True}},
            }
        ],
    }
    remote("tenants", "create", "acme-deliveries")
    remote("deploy", str(write_yaml(remote.cwd / "paid.yaml", spec)))
    client = served.client()
    sent = [
        client.post(
            "/api/v1/events/acme-deliveries",
            json={"event_name": "order.paid", "payload": {"big": big}},
        )
        for big in (True, False)
    ]
    assert [answer.status_code for answer in sent] == [202, 404], [a.text for a in sent]
    started_id = sent[0].json()["event_id"]
    declined = client.get("/api/v1/deliveries", params={"outcome": "filtered"}).json()
    filtered_id = declined["deliveries"][0]["event_id"]
    wait = client.post(
        "/api/v1/waits",
        json={
            "tenant_id": "acme-deliveries",
            "workflow_run_id": "run-7",
            "event_name": "ok",
            "correlation_key": "k-7",
        },
    )
    assert wait.status_code == 201, wait.text

    tenant = ["--tenant-id", "acme-deliveries"]
    listed, as_json, filtered, one, waits, tenants, first = remote.many(
        ["deliveries", *tenant],
        ["deliveries", *tenant, "--json"],
        ["deliveries", *tenant, "--outcome", "filtered", "--json"],
        ["delivery", started_id],
        ["waits", *tenant],
        ["tenants", "list"],
        ["deliveries", *tenant, "--limit", "1"],
    )
    rows = table_rows(listed.stdout)
    assert list(rows[0]) == [
        "EVENT_ID",
        "RECEIVED",
        "SOURCE",
        "TENANT",
        "OUTCOME",
        "STARTED/RESUMED",
        "REASON",
    ]
    assert [(r["EVENT_ID"], r["OUTCOME"], r["STARTED/RESUMED"]) for r in rows] == [
        (filtered_id, "filtered", "0/0"),
        (started_id, "delivered", "1/0"),
    ]
    assert rows[0]["REASON"] != "-" and rows[1]["REASON"] == "-"
    api = client.get("/api/v1/deliveries", params={"tenant_id": "acme-deliveries"}).json()
    assert json.loads(as_json.stdout) == api
    assert [d["event_id"] for d in json.loads(filtered.stdout)["deliveries"]] == [filtered_id]
    assert f"{started_id}  " in one.stdout and "wf-paid" in one.stdout
    assert [r["EVENT_ID"] for r in table_rows(first.stdout)] == [filtered_id]
    assert f"--cursor {filtered_id}" in first.stderr

    (row,) = table_rows(waits.stdout)
    assert (row["WAIT_ID"], row["STATUS"], row["RUN"]) == (wait.json()["wait_id"], "open", "run-7")
    assert "acme-deliveries" in [r["TENANT_ID"] for r in table_rows(tenants.stdout)]
    missing, bad = remote.many(
        ["delivery", "00000000-0000-0000-0000-000000000000"],
        ["deliveries", "--since", "yesterday"],
        ok=False,
    )
    assert missing.returncode == 1 and "DELIVERY_NOT_FOUND" in missing.stderr
    assert bad.returncode == 1 and "since must be an ISO 8601 time" in bad.stderr


BROKEN_CLI_PLUGIN = """
from highway_triggers import hookimpl

@hookimpl
def highway_cli_commands():
    raise RuntimeError("no commands today")
"""


def test_a_plugin_whose_cli_hook_raises_is_a_warning(
    remote: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_cli_plugin.py").write_text(BROKEN_CLI_PLUGIN)
    info = tmp_path / "broken_cli_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-cli-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[highway_triggers]\nbroken-cli = broken_cli_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    helped, listed = remote.many(["--help"], ["schedules", "list"])
    warning = "warning: plugin broken-cli: its commands are not available: RuntimeError: no"
    for result in (helped, listed):
        assert warning in result.stderr, result.stderr
        no_traceback(result)
    assert re.search(r"\n  schedules +CRON schedules", helped.stdout), helped.stdout
    assert re.search(r"\n  deliveries ", helped.stdout)
    assert table_rows(listed.stdout) == []
    triggers = remote("triggers")  # a core command: no plugin loaded, nothing to warn of
    assert triggers.stderr == ""


def test_the_installed_entry_point_runs_the_cli_with_the_plugins_commands(
    remote: Cli, served: RunningGateway
) -> None:
    script = Path(sys.executable).parent / "highway-triggers"
    created = served.client().post(
        "/api/v1/schedules", json={"cron_expression": "0 9 * * *", "workflow_id": "wf-script"}
    )
    assert created.status_code == 201, created.text
    result = subprocess.run(
        [str(script), "schedules", "list", "--workflow-id", "wf-script"],
        env=remote.env,
        cwd=remote.cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (row,) = table_rows(result.stdout)
    assert (row["SCHEDULE_ID"], row["EXPRESSION"]) == (created.json()["schedule_id"], "0 9 * * *")
    no_local_state(remote)


# bootstrap commands and the data directory -------------------------------------------


def test_bootstrap_commands_find_the_gateways_data_directory_from_anywhere(
    tmp_path: Path, bytecode_env: dict[str, str]
) -> None:
    """``serve`` and ``db upgrade`` / ``admin-keys create`` run in three directories find one
    database and one secret key through ``HIGHWAY_DATA_DIR``; a secret sealed by one gateway
    is read by the next, started elsewhere."""
    data = tmp_path / "data"
    here, there, later = (tmp_path / name for name in ("here", "there", "later"))
    for folder in (here, there, later):
        folder.mkdir()
    (here / "highway-triggers.db").write_bytes(b"")  # a stray database the gateway ignores
    env = {
        **clean_env(bytecode_env),
        "HIGHWAY_DATA_DIR": str(data),
        "HIGHWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "HIGHWAY_LOG_LEVEL": "info",
        "HIGHWAY_SQLITE_SYNCHRONOUS": "NORMAL",
    }
    log_path = tmp_path / "serve.log"
    gateway = GatewayProcess(env, log_path, cwd=here).start()
    try:
        log = log_path.read_text()
        database = f"sqlite:///{data / 'highway-triggers.db'}"
        assert f"data directory {data}: database {database}" in log, log
        assert f"{here / 'highway-triggers.db'} is not this gateway's database" in log
        assert (data / ".highway-secret-key").is_file()

        bootstrap = Cli({**env, "HIGHWAY_URL": gateway.url}, there, spawn=True)
        upgraded, key = bootstrap.many(["db", "upgrade"], ["admin-keys", "create", "--json"])
        assert upgraded.stdout.strip() == f"database is up to date: {database}"
        api_key = json.loads(key.stdout)["key"]
        # the key was written to the database the running gateway reads
        listed = httpx.get(
            f"{gateway.url}/api/v1/triggers", headers={"Authorization": f"Bearer {api_key}"}
        )
        assert listed.status_code == 200, listed.text

        spec = {
            "workflow_id": "wf-hook",
            "triggers": [
                {
                    "type": "WEBHOOK",
                    "config": {"webhook_path": "hook", "auth": {"type": "bearer", "token": "s3"}},
                }
            ],
        }
        bootstrap("deploy", str(write_yaml(there / "hook.yaml", spec)), "--token", api_key)
    finally:
        gateway.stop()
    assert sorted(p.name for p in there.iterdir()) == ["hook.yaml"]
    assert sorted(p.name for p in here.iterdir()) == ["highway-triggers.db"]

    # restarted elsewhere: the sealed webhook token opens with the data directory's key
    gateway = GatewayProcess(env, tmp_path / "again.log", cwd=later).start()
    try:
        status = Cli({**env, "HIGHWAY_URL": gateway.url}, later).json("deployment", "wf-hook")
        assert status["status"] == "DEPLOYED", status
        hooked = httpx.post(
            f"{gateway.url}/api/v1/public/webhook/hook",
            json={"n": 1},
            headers={"Authorization": "Bearer s3"},
        )
        assert hooked.status_code == 202, hooked.text
    finally:
        gateway.stop()
    assert list(later.iterdir()) == []


def test_the_default_data_directory_does_not_depend_on_the_current_one(
    tmp_path: Path, bytecode_env: dict[str, str]
) -> None:
    xdg = tmp_path / "xdg"
    env = clean_env(bytecode_env, XDG_DATA_HOME=str(xdg))
    first, second = (tmp_path / name for name in ("first", "second"))
    for folder in (first, second):
        folder.mkdir()
    upgraded = Cli(env, first)("db", "upgrade")
    database = xdg / "highway-triggers" / "highway-triggers.db"
    assert upgraded.stdout.strip() == f"database is up to date: sqlite:///{database}"
    key = Cli(env, second)("admin-keys", "create").stdout.strip()
    (row,) = query(f"sqlite:///{database}", "SELECT key_hash FROM api_keys")
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert list(first.iterdir()) == list(second.iterdir()) == []


# new-plugin --------------------------------------------------------------------------


def test_new_plugin_prints_the_readmes_install_command(sqlite_cli: Cli) -> None:
    command = "uv pip install --python .venv ./acme-triggers"
    assert command in (Path(__file__).resolve().parent.parent / "README.md").read_text()
    printed = sqlite_cli("new-plugin", "acme-triggers").stdout
    assert f"{command} " in printed, printed
    assert (sqlite_cli.cwd / "acme-triggers" / "pyproject.toml").is_file()


# serve -------------------------------------------------------------------------------


def test_serve_with_several_workers_on_sqlite_is_refused(spawned_cli: Cli) -> None:
    started = time.monotonic()
    result = spawned_cli("serve", "--workers", "2", "--port", "1", ok=False)
    assert result.returncode != 0
    no_traceback(result)
    assert "SQLite" in result.stderr and "PostgreSQL" in result.stderr
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("engine_url", "refusal"),
    [
        (None, "HIGHWAY_ENGINE=http needs HIGHWAY_ENGINE_URL"),
        ("", "HIGHWAY_ENGINE=http needs HIGHWAY_ENGINE_URL"),
        ("ftp://engine.example", "HIGHWAY_ENGINE_URL must be an http:// or https:// URL"),
        ("127.0.0.1:8000", "HIGHWAY_ENGINE_URL must be an http:// or https:// URL"),
    ],
)
def test_serve_with_the_http_engine_and_no_usable_url_is_refused(
    spawned_cli: Cli, engine_url: str | None, refusal: str
) -> None:
    """No default engine address: a gateway must not deliver to whatever listens on one."""
    spawned_cli.env["HIGHWAY_ENGINE"] = "http"
    if engine_url is not None:
        spawned_cli.env["HIGHWAY_ENGINE_URL"] = engine_url
    result = spawned_cli("serve", "--port", "1", ok=False)
    assert result.returncode != 0
    no_traceback(result)
    assert refusal in result.stderr, result.stderr


def test_serve_with_an_unknown_trace_exporter_is_refused(spawned_cli: Cli) -> None:
    spawned_cli.env["OTEL_TRACES_EXPORTER"] = "zipkin"
    result = spawned_cli("serve", "--port", "1", ok=False)
    assert result.returncode == 1
    no_traceback(result)
    assert "invalid configuration:\n  OTEL_TRACES_EXPORTER='zipkin' is not supported" in (
        result.stderr
    )
