"""highway-triggers-approval: people approve or reject a suspended run through signed
links sent by email; the run resumes once with the decision (``APPROVAL``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from highway_triggers import BaseTrigger, hookimpl
from highway_triggers.plugin import GatewayContext
from highway_triggers_approval.api import ApprovalApi
from highway_triggers_approval.store import PRUNE_BATCH
from highway_triggers_approval.trigger import ApprovalTrigger


def api_of(gateway: GatewayContext) -> ApprovalApi:
    """The gateway's approval routes and service, made on first use."""
    return gateway.state(ApprovalApi, lambda: ApprovalApi(gateway))


@hookimpl
def highway_trigger_types() -> list[type[BaseTrigger]]:
    return [ApprovalTrigger]


@hookimpl
def highway_routes(gateway: GatewayContext) -> list[BaseRoute]:
    return api_of(gateway).routes()


@hookimpl
def highway_startup(gateway: GatewayContext) -> None:
    service = api_of(gateway).service
    gateway.tasks.spawn("approval-work", service.work)
    retention = timedelta(days=service.settings.retention_days)
    gateway.prune_every_interval(
        "approval-prune", service.store.prune, retention=retention, batch=PRUNE_BATCH
    )


@hookimpl
def highway_health(gateway: GatewayContext) -> dict[str, Any]:
    service = api_of(gateway).service
    settings = service.settings
    health: dict[str, Any] = {
        "smtp": settings.smtp_url is not None,
        "mail_from": settings.mail_from,
    }
    if service.smtp_error is not None:  # retried with backoff; the gateway is degraded meanwhile
        health["problems"] = [f"approval emails are failing: {service.smtp_error}"]
    return health


@hookimpl
def highway_migrations() -> Path:
    return Path(__file__).parent / "migrations"
