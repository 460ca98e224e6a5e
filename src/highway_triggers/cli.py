"""The ``highway-triggers`` command line.

Commands that read or change a gateway's state (``deploy``, ``triggers``, ``dispatches``,
``tenants`` …) talk to a running gateway over its HTTP API, named by ``--url`` (or
``HIGHWAY_URL``) with an admin token or API key (``--token`` or ``HIGHWAY_ADMIN_TOKEN``).
Only ``serve`` and the bootstrap commands (``db upgrade``, ``admin-keys create``) open the
database, found as the settings say (``HIGHWAY_DATA_DIR``), whatever the current directory.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import yaml
from pydantic import ValidationError

from highway_triggers.cli_plugins import PluginCommands
from highway_triggers.core.errors import PluginConflictError
from highway_triggers.datadir import DATABASE_FILE
from highway_triggers.gateway_commands import (
    connect,
    gateway_options,
    json_option,
    page_options,
    show,
    show_answer,
    show_pages,
)
from highway_triggers.settings import Settings
from highway_triggers.table import table

log = logging.getLogger("highway_triggers.cli")  # also when run as __main__

TRIGGER_COLUMNS = [
    ("TRIGGER_ID", "trigger_id"),
    ("TYPE", "type"),
    ("WORKFLOW", "workflow_id"),
    ("TENANT", "tenant_id"),
    ("INDEX_KEY", "index_key"),
]
DISPATCH_COLUMNS = [
    ("DISPATCH_ID", "dispatch_id"),
    ("STATUS", "status"),
    ("KIND", "kind"),
    ("WORKFLOW", "workflow_id"),
    ("ATTEMPTS", "attempts"),
    ("EXECUTION", "execution_id"),
    ("CREATED", "created"),
    ("LAST_ERROR", "last_error"),
]
DELIVERY_COLUMNS = [
    ("EVENT_ID", "event_id"),
    ("RECEIVED", "received"),
    ("SOURCE", "source"),
    ("TENANT", "tenant_id"),
    ("OUTCOME", "outcome"),
    ("STARTED/RESUMED", "runs"),
    ("REASON", "reason"),
]
TARGET_COLUMNS = [
    ("MATCHED", "matched"),
    ("TRIGGER_ID", "trigger_id"),
    ("WORKFLOW", "workflow_id"),
    ("WAIT_ID", "wait_id"),
    ("RUN", "workflow_run_id"),
]
WAIT_COLUMNS = [
    ("WAIT_ID", "wait_id"),
    ("STATUS", "status"),
    ("TENANT", "tenant_id"),
    ("RUN", "workflow_run_id"),
    ("EVENT", "event_name"),
    ("CORRELATION_KEY", "correlation_key"),
    ("EXPIRES", "expires_at"),
]
TENANT_COLUMNS = [
    ("TENANT_ID", "tenant_id"),
    ("RATE_LIMIT", "rate_limit_per_second"),
    ("BURST", "burst"),
    ("CREATED", "created_at"),
]
HISTORY_COLUMNS = [("AT", "at"), ("ACTION", "action"), ("STATUS", "status"), ("DETAIL", "detail")]
PLUGIN_COLUMNS = [
    ("NAME", "name"),
    ("DISTRIBUTION", "distribution"),
    ("VERSION", "version"),
    ("PROVIDES", "provides"),
    ("STATE", "state"),
]


def _configuration_errors(exc: ValidationError) -> str:
    """One line per invalid ``HIGHWAY_*`` setting, without pydantic's decoration."""
    lines = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        name = "HIGHWAY_" + ".".join(str(part) for part in error["loc"]).upper()
        lines.append(message if not error["loc"] or name in message else f"{name}: {message}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _shown_url(database_url: str) -> str:
    """A database URL fit to print: its password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(database_url).render_as_string(hide_password=True)


class _Context:
    """What the local commands need (settings, plugins, the database), built on first use."""

    def __init__(self) -> None:
        try:
            self.settings = Settings()
        except ValidationError as exc:
            raise click.ClickException(_configuration_errors(exc)) from None

    def plugins(self) -> Any:
        from highway_triggers.core.plugins import load_plugins

        try:
            return load_plugins(self.settings.load_plugins, self.settings.trace_plugins)
        except PluginConflictError as exc:
            raise click.ClickException(str(exc)) from None

    def database(self, plugins: Any, *, migrate_now: bool) -> Any:
        """The settings' database; migrated first if ``migrate_now``, or when the gateway
        would migrate it on start-up (``HIGHWAY_AUTO_MIGRATE``, default on SQLite)."""
        from highway_triggers.db import migrate
        from highway_triggers.db.database import Database

        settings = self.settings
        try:
            db = Database(settings.database_url, synchronous=settings.sqlite_synchronous)
        except OSError as exc:
            raise click.ClickException(f"{exc} (HIGHWAY_DATA_DIR: {settings.data_dir})") from None
        auto = settings.auto_migrate if settings.auto_migrate is not None else settings.is_sqlite
        if migrate_now or auto:
            migrate.upgrade(db, plugins.migration_locations())
        return db


pass_context = click.make_pass_decorator(_Context, ensure=True)


# deployments and deliveries as text --------------------------------------------------


def _read_spec(file: Path) -> dict[str, Any]:
    content = file.read_text()
    try:
        # JSON first: not every JSON file is YAML (tab indentation, \ud83d\ude00 escapes)
        spec = json.loads(content)
    except ValueError:
        try:
            spec = yaml.safe_load(content)
        except yaml.YAMLError as exc:
            raise click.ClickException(f"{file}: not JSON or YAML: {exc}") from None
    if not isinstance(spec, dict):
        raise click.ClickException(f"{file}: must hold an object")
    return spec


def _deployment_text(status: dict[str, Any], *, history: bool = False) -> str:
    parts = [f"workflow {status['workflow_id']}: {status['status']}"]
    if status["triggers"]:
        parts.append(table(status["triggers"], TRIGGER_COLUMNS))
    if history and status["history"]:
        parts.append("\n" + table(status["history"], HISTORY_COLUMNS))
    return "\n".join(parts)


def _failure(status: dict[str, Any]) -> click.ClickException:
    latest = status["history"][0]["detail"] if status["history"] else None
    why = f": {json.dumps(latest, default=str)}" if latest else ""
    return click.ClickException(f"workflow {status['workflow_id']}: {status['status']}{why}")


def _delivery_rows(deliveries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**d, "received": d["received_at"][:19], "runs": f"{d['started']}/{d['resumed']}"}
        for d in deliveries
    ]


def _delivery_text(delivery: dict[str, Any]) -> str:
    (row,) = _delivery_rows([delivery])
    parts = [table([row], DELIVERY_COLUMNS)]
    if delivery.get("duplicate_of"):
        parts.append(f"duplicate of {delivery['duplicate_of']}")
    if delivery["targets"]:
        parts.append("\n" + table(delivery["targets"], TARGET_COLUMNS))
    return "\n".join(parts)


# commands ----------------------------------------------------------------------------


@click.group(cls=PluginCommands)
def main() -> None:
    """highway-triggers: a trigger gateway for workflow engines."""


@main.command()
@click.option("--host", default=None, help="Default: HIGHWAY_HOST (127.0.0.1).")
@click.option("--port", type=int, default=None, help="Default: HIGHWAY_PORT (8003).")
@click.option("--workers", type=int, default=1, show_default=True)
@pass_context
def serve(ctx: _Context, host: str | None, port: int | None, workers: int) -> None:
    """Run the gateway (HTTP API, trigger sources, dispatcher)."""
    import uvicorn

    from highway_triggers.logs import configure_logging
    from highway_triggers.serving import server_options

    settings = ctx.settings
    options: dict[str, Any] = {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "log_config": None,  # uvicorn logs through configure_logging (JSON, redaction)
        "proxy_headers": False,  # X-Forwarded-For is trusted per HIGHWAY_TRUSTED_PROXIES only
        **server_options(settings),  # bounds on slow and oversized request heads
    }
    if workers > 1 and settings.is_sqlite:
        raise click.ClickException("SQLite serves one worker; use PostgreSQL for several")
    configure_logging(settings)
    _log_storage(settings)
    if workers > 1:
        uvicorn.run(
            "highway_triggers.app:app_from_environment", factory=True, workers=workers, **options
        )
        return
    from highway_triggers.app import create_app
    from highway_triggers.core.tracing import TracingConfigError

    try:
        app = create_app(settings)
    except PluginConflictError as exc:
        raise click.ClickException(str(exc)) from None
    except TracingConfigError as exc:
        raise click.ClickException(f"invalid configuration:\n  {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"{exc} (HIGHWAY_DATA_DIR: {settings.data_dir})") from None
    uvicorn.run(app, **options)


def _log_storage(settings: Settings) -> None:
    """Where the gateway keeps its state, and a database in the current directory it ignores."""
    key = "HIGHWAY_SECRET_KEY" if settings.secret_key else settings.secret_key_file
    database = _shown_url(settings.database_url)
    log.info("data directory %s: database %s, secret key %s", settings.data_dir, database, key)
    here = Path(DATABASE_FILE).resolve()
    if here.exists() and str(here) not in settings.database_url:
        log.warning(
            "%s is not this gateway's database (%s): set HIGHWAY_DATA_DIR to its directory,"
            " or move it into %s",
            here,
            database,
            settings.data_dir,
        )


@main.command()
@json_option
@pass_context
def plugins(ctx: _Context, as_json: bool) -> None:
    """Installed plugins: versions, trigger types, engines, load errors."""
    loaded = ctx.plugins()
    rows = [
        {
            **p.as_dict(),
            "provides": ", ".join(p.trigger_types + [f"engine:{e}" for e in p.engines]),
            "state": f"FAILED: {p.error}" if p.error else "ok",
        }
        for p in loaded.infos
    ]
    show(as_json, [p.as_dict() for p in loaded.infos], table(rows, PLUGIN_COLUMNS))


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_context
def db_upgrade(ctx: _Context) -> None:
    """Apply the core's and every plugin's migrations (to the database serve uses)."""
    ctx.database(ctx.plugins(), migrate_now=True).close()
    click.echo(f"database is up to date: {_shown_url(ctx.settings.database_url)}")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workflow-id", default=None, help="Default: the file's workflow_id or id.")
@gateway_options
@json_option
def deploy(file: Path, workflow_id: str | None, url: str, token: str | None, as_json: bool) -> None:
    """Deploy a workflow's triggers from a JSON or YAML file.

    The gateway starts them before it answers; its other replicas follow within a second.
    A trigger that failed to start makes the exit status non-zero.
    """
    spec = _read_spec(file)
    workflow_id = workflow_id or spec.get("workflow_id") or spec.get("id")
    if not workflow_id:
        raise click.ClickException("give --workflow-id or a workflow_id in the file")
    status = show_answer(
        url, token, as_json, lambda client: client.deploy(str(workflow_id), spec), _deployment_text
    )
    if status["status"] != "DEPLOYED":
        raise _failure(status)


@main.command()
@click.argument("workflow_id")
@gateway_options
@json_option
def undeploy(workflow_id: str, url: str, token: str | None, as_json: bool) -> None:
    """Stop and remove a workflow's triggers."""
    show_answer(url, token, as_json, lambda client: client.undeploy(workflow_id), _deployment_text)


@main.command()
@click.argument("workflow_id")
@gateway_options
@json_option
def deployment(workflow_id: str, url: str, token: str | None, as_json: bool) -> None:
    """A workflow's deployment status, active triggers and history."""
    show_answer(
        url,
        token,
        as_json,
        lambda client: client.deployment(workflow_id),
        lambda status: _deployment_text(status, history=True),
    )


@main.command()
@click.option("--type", "subtype", default=None, help="A trigger type, e.g. CRON.")
@click.option("--workflow-id", default=None)
@click.option("--tenant-id", default=None)
@gateway_options
@json_option
def triggers(
    subtype: str | None,
    workflow_id: str | None,
    tenant_id: str | None,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """Active triggers."""
    show_answer(
        url,
        token,
        as_json,
        lambda client: client.list_triggers(
            type=subtype, workflow_id=workflow_id, tenant_id=tenant_id
        ),
        lambda found: table(found, TRIGGER_COLUMNS),
    )


@main.command()
@click.option(
    "--status", default=None, help="pending, delivering, delivered, failed, dead, skipped"
)
@click.option("--workflow-id", default=None)
@page_options
@gateway_options
@json_option
def dispatches(
    status: str | None,
    workflow_id: str | None,
    limit: int,
    cursor: str | None,
    every_page: bool,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """The dispatch outbox, newest first, a page at a time."""
    show_pages(
        url,
        token,
        as_json,
        "/api/v1/dispatches",
        "dispatches",
        {"status": status, "workflow_id": workflow_id, "limit": limit, "cursor": cursor},
        every_page,
        lambda rows: table(
            [{**d, "created": str(d.get("created_at") or "")[:19]} for d in rows], DISPATCH_COLUMNS
        ),
    )


@main.command()
@click.option("--source", default=None, help="The event's subtype: EVENT, WEBHOOK, CRON …")
@click.option(
    "--outcome",
    type=click.Choice(["delivered", "duplicate", "filtered", "held", "refused"]),
    default=None,
)
@click.option("--tenant-id", default=None)
@click.option("--workflow-id", default=None, help="A workflow the event started or resumed.")
@click.option("--trigger-id", default=None)
@click.option("--since", default=None, help="An ISO 8601 time (UTC unless it has an offset).")
@click.option("--until", default=None, help="An ISO 8601 time (exclusive).")
@page_options
@gateway_options
@json_option
def deliveries(
    source: str | None,
    outcome: str | None,
    tenant_id: str | None,
    workflow_id: str | None,
    trigger_id: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    cursor: str | None,
    every_page: bool,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """Events received, newest first, and what became of each (``delivery`` shows one)."""
    filters = {
        "source": source,
        "outcome": outcome,
        "tenant_id": tenant_id,
        "workflow_id": workflow_id,
        "trigger_id": trigger_id,
        "since": since,
        "until": until,
    }
    show_pages(
        url,
        token,
        as_json,
        "/api/v1/deliveries",
        "deliveries",
        {**filters, "limit": limit, "cursor": cursor},
        every_page,
        lambda rows: table(_delivery_rows(rows), DELIVERY_COLUMNS),
    )


@main.command()
@click.argument("event_id")
@gateway_options
@json_option
def delivery(event_id: str, url: str, token: str | None, as_json: bool) -> None:
    """One event, what became of it, and the triggers and waits it reached."""
    path = f"/api/v1/deliveries/{quote(event_id, safe='')}"
    show_answer(url, token, as_json, lambda client: client.get(path), _delivery_text)


@main.command()
@click.option("--status", type=click.Choice(["open", "consumed", "expired", "cancelled"]))
@click.option("--tenant-id", default=None)
@click.option("--workflow-run-id", default=None)
@page_options
@gateway_options
@json_option
def waits(
    status: str | None,
    tenant_id: str | None,
    workflow_run_id: str | None,
    limit: int,
    cursor: str | None,
    every_page: bool,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """Runs waiting for an event (and waits closed), newest first."""
    filters = {"status": status, "tenant_id": tenant_id, "workflow_run_id": workflow_run_id}
    show_pages(
        url,
        token,
        as_json,
        "/api/v1/waits",
        "waits",
        {**filters, "limit": limit, "cursor": cursor},
        every_page,
        lambda rows: table(rows, WAIT_COLUMNS),
    )


@main.command()
@click.argument("dispatch_id", required=False)
@click.option(
    "--status",
    type=click.Choice(["dead", "failed", "skipped"]),
    default=None,
    help="Retry every dispatch with this status instead (oldest first).",
)
@click.option("--workflow-id", default=None, help="With --status: only this workflow's.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=None,
    help="With --status: at most this many.",
)
@gateway_options
@json_option
def retry(
    dispatch_id: str | None,
    status: str | None,
    workflow_id: str | None,
    limit: int | None,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """Deliver a dispatch again (DISPATCH_ID), or every one with --status, with fresh attempts."""
    if (dispatch_id is None) == (status is None):
        raise click.UsageError("give either a DISPATCH_ID or --status")
    with connect(url, token) as client:
        if dispatch_id is not None:
            answer = client.retry_dispatch(dispatch_id)
            text = f"dispatch {dispatch_id}: pending again (was {answer['previous_status']})"
        else:
            assert status is not None
            retried = client.retry_dispatches(status, workflow_id=workflow_id, limit=limit)
            answer, text = {"retried": retried}, f"{retried} {status} dispatches pending again"
    show(as_json, answer, text)


@main.group()
def tenants() -> None:
    """Tenants and their JWT secrets."""


@tenants.command("list")
@page_options
@gateway_options
@json_option
def tenants_list(
    limit: int, cursor: str | None, every_page: bool, url: str, token: str | None, as_json: bool
) -> None:
    """Tenants in id order (never their secrets)."""
    show_pages(
        url,
        token,
        as_json,
        "/api/v1/tenants",
        "tenants",
        {"limit": limit, "cursor": cursor},
        every_page,
        lambda rows: table(rows, TENANT_COLUMNS),
    )


@tenants.command("create")
@click.argument("tenant_id")
@click.option("--rate-limit-per-second", type=float, default=None)
@click.option("--burst", type=int, default=None)
@gateway_options
@json_option
def tenants_create(
    tenant_id: str,
    rate_limit_per_second: float | None,
    burst: int | None,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """Create a tenant and print its JWT secret (shown once)."""
    show_answer(
        url,
        token,
        as_json,
        lambda client: client.create_tenant(
            tenant_id, rate_limit_per_second=rate_limit_per_second, burst=burst
        ),
        _jwt_secret,
    )


@tenants.command("rotate")
@click.argument("tenant_id")
@gateway_options
@json_option
def tenants_rotate(tenant_id: str, url: str, token: str | None, as_json: bool) -> None:
    """Issue a new JWT secret for a tenant and print it."""
    show_answer(url, token, as_json, lambda client: client.rotate_tenant(tenant_id), _jwt_secret)


def _jwt_secret(tenant: dict[str, Any]) -> str:
    return str(tenant["jwt_secret"])


@main.group("admin-keys")
def admin_keys() -> None:
    """Admin API keys (written to the database: works without a running gateway)."""


@admin_keys.command("create")
@click.option("--name", default="admin", show_default=True)
@json_option
@pass_context
def admin_keys_create(ctx: _Context, name: str, as_json: bool) -> None:
    """Create an admin API key and print it (only its hash is stored)."""
    from highway_triggers.core.auth import create_admin_key

    database = ctx.database(ctx.plugins(), migrate_now=False)
    try:
        key = create_admin_key(database, name)
    finally:
        database.close()
    show(as_json, {"name": name, "key": key}, key)


@main.command("new-plugin")
@click.argument("name")
@click.option("--directory", type=click.Path(file_okay=False, path_type=Path), default=None)
def new_plugin(name: str, directory: Path | None) -> None:
    """Scaffold a third-party trigger plugin that installs and loads as is."""
    from highway_triggers.scaffold import ScaffoldError, scaffold

    try:
        target = scaffold(name, directory or Path(name))
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    source = target if target.is_absolute() else f"./{target}"  # a path, not a name
    click.echo(
        f"created {target}; install it into the scripts' environment, at the repository's"
        f" root: uv pip install --python .venv {source} (where there is pip: pip install"
        f" {source})"
    )


if __name__ == "__main__":
    sys.exit(main())
