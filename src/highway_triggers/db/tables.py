"""The core's tables as SQLAlchemy Core handles and their status values: defined here
once, imported everywhere else."""

from typing import Final

from sqlalchemy import Table

from highway_triggers.db import models


def _table(model: type) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


TRIGGERS: Final = _table(models.TriggerRow)
DEPLOYMENTS: Final = _table(models.Deployment)
HISTORY: Final = _table(models.DeploymentHistory)
WAITS: Final = _table(models.Wait)
DELIVERIES: Final = _table(models.Delivery)
DELIVERY_LOG: Final = _table(models.DeliveryLogEntry)
DISPATCHES: Final = _table(models.Dispatch)
EARLY_EVENTS: Final = _table(models.EarlyEvent)
TENANTS: Final = _table(models.Tenant)
TEMPLATES: Final = _table(models.Template)
API_KEYS: Final = _table(models.ApiKey)
STATE: Final = _table(models.GatewayState)
LEASES: Final = _table(models.Lease)
USED_LINKS: Final = _table(models.UsedLink)

# trigger_index.deployment_status and deployments.status
DEPLOYED: Final = "DEPLOYED"
UNDEPLOYED: Final = "UNDEPLOYED"
DEPLOYING: Final = "DEPLOYING"
DEPLOYMENT_FAILED: Final = "DEPLOYMENT_FAILED"

# dispatches.status
PENDING: Final = "pending"
DELIVERING: Final = "delivering"
DELIVERED: Final = "delivered"
FAILED: Final = "failed"
DEAD: Final = "dead"
SKIPPED: Final = "skipped"
RETRYABLE: Final = (FAILED, DEAD, SKIPPED)
"""Dispatch statuses a retry by hand may queue again."""
