"""The ``highway-triggers`` command line (CONTRACT §6)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from highway_triggers.core.errors import ConfigError, HTTPError, PluginConflictError
from highway_triggers.settings import Settings


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


class _Context:
    """What the database commands need, built on first use."""

    def __init__(self) -> None:
        self.settings = Settings()

    def plugins(self) -> Any:
        from highway_triggers.core.plugins import load_plugins

        try:
            return load_plugins(self.settings.load_plugins, self.settings.trace_plugins)
        except PluginConflictError as exc:
            raise click.ClickException(str(exc)) from None

    def database(self, plugins: Any) -> Any:
        from highway_triggers.db import migrate
        from highway_triggers.db.database import Database

        db = Database(self.settings.database_url, synchronous=self.settings.sqlite_synchronous)
        if (
            self.settings.auto_migrate
            if self.settings.auto_migrate is not None
            else self.settings.is_sqlite
        ):
            migrate.upgrade(db, plugins.migration_locations())
        return db

    def cipher(self) -> Any:
        from highway_triggers.core.secrets import SecretCipher

        key = self.settings.secret_key.get_secret_value() if self.settings.secret_key else None
        return SecretCipher.from_settings(key, self.settings.secret_key_file)


pass_context = click.make_pass_decorator(_Context, ensure=True)


@click.group()
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
    if workers > 1:
        uvicorn.run(
            "highway_triggers.app:app_from_environment", factory=True, workers=workers, **options
        )
        return
    from highway_triggers.app import create_app

    try:
        app = create_app(settings)
    except PluginConflictError as exc:
        raise click.ClickException(str(exc)) from None
    uvicorn.run(app, **options)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def plugins(ctx: _Context, as_json: bool) -> None:
    """Installed plugins: versions, trigger types, engines, load errors."""
    loaded = ctx.plugins()
    if as_json:
        _echo_json([p.as_dict() for p in loaded.infos])
        return
    for p in loaded.infos:
        provides = ", ".join(p.trigger_types + [f"engine:{e}" for e in p.engines]) or "-"
        state = f"FAILED: {p.error}" if p.error else "ok"
        click.echo(f"{p.name:<40} {p.distribution} {p.version:<10} {provides:<40} {state}")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_context
def db_upgrade(ctx: _Context) -> None:
    """Apply the core's and every plugin's migrations."""
    from highway_triggers.db import migrate
    from highway_triggers.db.database import Database

    loaded = ctx.plugins()
    database = Database(ctx.settings.database_url, synchronous=ctx.settings.sqlite_synchronous)
    migrate.upgrade(database, loaded.migration_locations())
    click.echo("database is up to date")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workflow-id", default=None, help="Default: the file's workflow_id or id.")
@pass_context
def deploy(ctx: _Context, file: Path, workflow_id: str | None) -> None:
    """Deploy a workflow's triggers from a JSON or YAML file.

    Running gateways pick the change up within a second.
    """
    from highway_triggers.core.deployment import DeploymentService

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
    workflow_id = workflow_id or spec.get("workflow_id") or spec.get("id")
    if not workflow_id:
        raise click.ClickException("give --workflow-id or a workflow_id in the file")
    loaded = ctx.plugins()
    service = DeploymentService(ctx.database(loaded), loaded.trigger_types, ctx.cipher())
    try:
        _echo_json(service.deploy(str(workflow_id), spec))
    except ConfigError as exc:
        raise click.ClickException(f"invalid triggers: {exc}") from None
    except HTTPError as exc:
        raise click.ClickException(exc.message) from None


@main.command()
@click.option("--type", "subtype", default=None)
@click.option("--workflow-id", default=None)
@click.option("--tenant-id", default=None)
@pass_context
def triggers(
    ctx: _Context, subtype: str | None, workflow_id: str | None, tenant_id: str | None
) -> None:
    """Active triggers."""
    from highway_triggers.core.deployment import DeploymentService

    loaded = ctx.plugins()
    service = DeploymentService(ctx.database(loaded), loaded.trigger_types, ctx.cipher())
    for t in service.list_triggers(type=subtype, workflow_id=workflow_id, tenant_id=tenant_id):
        click.echo(
            f"{t['trigger_id']}  {t['type']:<16} {t['workflow_id']:<30} {t['index_key'] or '-'}"
        )


@main.command()
@click.option(
    "--status", default=None, help="pending, delivering, delivered, failed, dead, skipped"
)
@click.option("--workflow-id", default=None)
@click.option("--limit", type=int, default=50, show_default=True)
@pass_context
def dispatches(ctx: _Context, status: str | None, workflow_id: str | None, limit: int) -> None:
    """The dispatch outbox, newest first."""
    from highway_triggers.core.dispatches import list_dispatches

    database = ctx.database(ctx.plugins())
    for d in list_dispatches(database, status, workflow_id, limit):
        error = f"  {d['last_error']}" if d["last_error"] else ""
        click.echo(
            f"{d['dispatch_id']}  {d['status']:<10} {d['kind']:<6} {d['workflow_id'] or '-':<30} "
            f"attempts={d['attempts']} execution={d['execution_id'] or '-'}{error}"
        )


@main.group()
def tenants() -> None:
    """Tenants and their JWT secrets."""


@tenants.command("create")
@click.argument("tenant_id")
@click.option("--rate-limit-per-second", type=float, default=None)
@click.option("--burst", type=int, default=None)
@pass_context
def tenants_create(
    ctx: _Context, tenant_id: str, rate_limit_per_second: float | None, burst: int | None
) -> None:
    """Create a tenant and print its JWT secret (shown once)."""
    from highway_triggers.core.tenants import TenantService, TenantSpec

    try:
        spec = TenantSpec.parse(
            {"tenant_id": tenant_id, "rate_limit_per_second": rate_limit_per_second, "burst": burst}
        )
        service = TenantService(ctx.database(ctx.plugins()), ctx.cipher())
        click.echo(service.create(spec))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except HTTPError as exc:
        raise click.ClickException(exc.message) from None


@tenants.command("rotate")
@click.argument("tenant_id")
@pass_context
def tenants_rotate(ctx: _Context, tenant_id: str) -> None:
    """Issue a new JWT secret for a tenant and print it."""
    from highway_triggers.core.tenants import TenantService

    service = TenantService(ctx.database(ctx.plugins()), ctx.cipher())
    try:
        click.echo(service.rotate(tenant_id))
    except HTTPError as exc:
        raise click.ClickException(exc.message) from None


@main.group("admin-keys")
def admin_keys() -> None:
    """Admin API keys."""


@admin_keys.command("create")
@click.option("--name", default="admin", show_default=True)
@pass_context
def admin_keys_create(ctx: _Context, name: str) -> None:
    """Create an admin API key and print it (only its hash is stored)."""
    from highway_triggers.core.auth import create_admin_key

    click.echo(create_admin_key(ctx.database(ctx.plugins()), name))


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
    click.echo(f"created {target}; install it with: pip install -e {target}")


if __name__ == "__main__":
    sys.exit(main())
