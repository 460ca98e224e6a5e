"""The tables the core owns. Plugins add their own through migrations."""

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from highway_triggers.db.columns import ExactJSONType, JSONType, UtcDateTime, utcnow


def _ts(**kwargs: Any) -> Any:
    nullable = kwargs.pop("nullable", False)
    return Field(sa_type=UtcDateTime, nullable=nullable, **kwargs)


def _json(nullable: bool = False) -> Any:
    return Field(sa_column=Column(JSONType, nullable=nullable))


def _payload() -> Any:
    return Field(sa_column=Column(ExactJSONType, nullable=False))


class Deployment(SQLModel, table=True):
    """A workflow's deployment status and the spec it was deployed with."""

    __tablename__ = "deployments"

    workflow_id: str = Field(primary_key=True)
    tenant_id: str | None = None
    status: str = "UNDEPLOYED"
    spec: dict[str, Any] | None = _json(nullable=True)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class DeploymentHistory(SQLModel, table=True):
    """One deploy, redeploy or undeploy attempt and its outcome."""

    __tablename__ = "deployment_history"

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(index=True)
    action: str
    status: str
    detail: dict[str, Any] | None = _json(nullable=True)
    created_at: datetime = _ts(default_factory=utcnow)


class TriggerRow(SQLModel, table=True):
    """The trigger index: one row per trigger, ``index_key`` for phase 1.

    Rows are never deleted while a replica may still hold them: undeploying marks
    them ``UNDEPLOYED`` with a new ``revision`` so that every replica sees the change.
    """

    __tablename__ = "trigger_index"
    __table_args__ = (
        Index("ix_trigger_index_lookup", "trigger_subtype", "index_key", "deployment_status"),
    )

    id: str = Field(primary_key=True)
    workflow_id: str = Field(index=True)
    template: str | None = None
    """The template whose workflow a stand-alone trigger starts (resolved when saved)."""
    tenant_id: str | None = Field(default=None, index=True)
    trigger_subtype: str
    trigger_config: dict[str, Any] = _json()
    index_key: str | None = None
    deployment_status: str = "DEPLOYED"
    origin: str = "deployment"
    revision: int = Field(default=0, index=True)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class Wait(SQLModel, table=True):
    """A run suspended until an event with its correlation key or token arrives.

    ``consumed_at`` closes the wait; ``closed_reason`` says why (``consumed``,
    ``expired`` or ``cancelled``).
    """

    __tablename__ = "waits"
    __table_args__ = (
        Index(
            "ux_waits_open_single_use",
            "tenant_id",
            "event_name",
            "correlation_key",
            unique=True,
            sqlite_where=text("consumed_at IS NULL AND multi_use = 0"),
            postgresql_where=text("consumed_at IS NULL AND multi_use = false"),
        ),
        Index(
            "ix_waits_open_expiry",
            "expires_at",
            sqlite_where=text("consumed_at IS NULL AND expires_at IS NOT NULL"),
            postgresql_where=text("consumed_at IS NULL AND expires_at IS NOT NULL"),
        ),
    )

    id: str = Field(primary_key=True)
    tenant_id: str | None = None  # not indexed: waits are found by correlation key or token
    workflow_run_id: str
    workflow_id: str | None = None
    event_name: str
    correlation_key: str | None = Field(default=None, index=True)
    token: str | None = Field(default=None, index=True)
    multi_use: bool = False
    payload_schema: dict[str, Any] | None = _json(nullable=True)
    idempotency_key: str | None = Field(default=None, unique=True)
    expires_at: datetime | None = _ts(nullable=True)
    consumed_at: datetime | None = _ts(nullable=True)
    closed_reason: str | None = None
    owner: str | None = None
    """The plugin whose events alone may resume this wait (its own routes verify them);
    ``None``: any event or hook with the key or token."""
    created_at: datetime = _ts(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    """Dedup of source deliveries: a second ``(source, delivery_id)`` is a duplicate."""

    __tablename__ = "deliveries"

    source: str = Field(primary_key=True)
    delivery_id: str = Field(primary_key=True)
    event_id: str
    received_at: datetime = _ts(default_factory=utcnow, index=True)


class DeliveryLogEntry(SQLModel, table=True):
    """What became of one event that reached routing or was refused at the door (see
    ``core/delivery_log.py``). Event ids grow with time: the primary key orders the rows,
    pages them and finds a time range, so the table has no other index."""

    __tablename__ = "delivery_log"

    event_id: str = Field(primary_key=True)
    received_at: datetime = _ts()
    source: str
    """The event's subtype: ``EVENT``, ``WEBHOOK``, ``MANUAL``, ``CRON``, ``HOOK`` …"""
    delivery_id: str | None = None
    tenant_id: str | None = None
    outcome: str
    started: int = 0
    resumed: int = 0
    duplicate_of: str | None = None
    reason: str | None = None
    targets: str | None = Field(default=None, sa_type=Text)
    """JSON text: the triggers started and waits resumed, or the triggers that declined."""


class Dispatch(SQLModel, table=True):
    """The outbox: one start or resume to deliver to the engine.

    Ids grow with time, so the newest rows are found through the primary key. Every
    insert is on the ingress hot path, so the table has no index on a random column:
    duplicates are stopped upstream (``deliveries``, wait and slot claims), and the
    engine deduplicates on ``idempotency_key``.
    """

    __tablename__ = "dispatches"
    __table_args__ = (Index("ix_dispatches_due", "status", "next_attempt_at"),)

    id: str = Field(primary_key=True)
    kind: str
    mode: str = "start"
    workflow_id: str | None = None
    execution_id: str | None = None
    trigger_id: str | None = None
    wait_id: str | None = None
    tenant_id: str | None = None
    trigger_type: str
    event_id: str
    payload: dict[str, Any] = _payload()
    idempotency_key: str
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime = _ts(default_factory=utcnow)
    locked_until: datetime | None = _ts(nullable=True)
    last_error: str | None = None
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)
    delivered_at: datetime | None = _ts(nullable=True)
    traceparent: str | None = None
    """The W3C trace context the engine call continues (when tracing is on)."""
    event_name: str | None = None
    """A resume of a wait: the wait's event name, passed to the engine."""
    correlation_key: str | None = None
    """A resume of a wait: the wait's correlation key, passed to the engine."""


class Tenant(SQLModel, table=True):
    """A tenant and its JWT signing secret (encrypted with ``HIGHWAY_SECRET_KEY``)."""

    __tablename__ = "tenants"

    tenant_id: str = Field(primary_key=True)
    jwt_secret_encrypted: str
    rate_limit_per_second: float | None = None
    burst: int | None = None
    created_at: datetime = _ts(default_factory=utcnow)


class Template(SQLModel, table=True):
    """A workflow template of a tenant: its definition and the schema its input must meet."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="ux_templates_tenant_name"),)

    id: str = Field(primary_key=True)
    tenant_id: str
    name: str
    workflow_definition: dict[str, Any] = _json()
    input_schema: dict[str, Any] | None = _json(nullable=True)
    category: str | None = None
    description: str | None = None
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    """An admin API key, stored as its SHA-256 digest only."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True)
    name: str
    key_hash: str = Field(unique=True)
    created_at: datetime = _ts(default_factory=utcnow)


class GatewayState(SQLModel, table=True):
    """Counters shared by all replicas, e.g. the trigger index revision."""

    __tablename__ = "gateway_state"

    key: str = Field(primary_key=True)
    value: int = 0


class EarlyEvent(SQLModel, table=True):
    """An event that found no wait, kept for the lookback window: a wait registered in
    that time is resumed with it (the event landed a moment before the run suspended)."""

    __tablename__ = "early_events"
    __table_args__ = (Index("ix_early_events_key", "tenant_id", "event_name", "correlation_key"),)

    id: str = Field(primary_key=True)
    tenant_id: str | None = None
    event_name: str
    correlation_key: str
    event_id: str
    payload: dict[str, Any] = _payload()
    received_at: datetime = _ts()
    expires_at: datetime = _ts(index=True)
    consumed_at: datetime | None = _ts(nullable=True)


class Lease(SQLModel, table=True):
    """A named lease one replica holds until ``expires_at`` (one watcher per mailbox)."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True)
    holder: str
    acquired_at: datetime = _ts()
    expires_at: datetime = _ts()


class UsedLink(SQLModel, table=True):
    """A signed link that was used: a second use of the same link is refused."""

    __tablename__ = "used_links"

    link_id: str = Field(primary_key=True)
    purpose: str
    used_at: datetime = _ts()
    expires_at: datetime = _ts(index=True)
