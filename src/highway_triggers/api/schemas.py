"""The core routes' bodies and answers that no ``RequestBody`` model validates, as models
for ``GET /openapi.json`` only: the routes check these bodies by hand and answer plain
dicts. Answers may hold more fields than listed here."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from highway_triggers.core.validation import Identifier
from highway_triggers.core.waits import TEXT_MAX_LENGTH

EventText = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX_LENGTH)]


class EventBody(BaseModel):
    """``POST /api/v1/events/{tenant_id}``: an event for the tenant's waits and triggers.
    ``event_name`` and ``correlation_key`` hold no control characters; other fields are
    ignored."""

    model_config = ConfigDict(extra="allow")

    event_name: EventText
    correlation_key: EventText | None = None
    """Resumes the tenant's runs waiting on this key."""
    payload: dict[str, Any] = {}


class TriggerSpec(BaseModel):
    """One trigger of a deploy: its type and that type's config."""

    type: str
    config: dict[str, Any] = {}


class TriggerNode(BaseModel):
    """A node of a workflow spec; those of type ``TRIGGER`` are deployed."""

    model_config = ConfigDict(extra="allow")

    type: str
    subtype: str | None = None
    configurations: dict[str, Any] = {}


class DeployBody(BaseModel):
    """A deploy: its ``triggers``, or a workflow spec whose ``TRIGGER`` nodes are them
    (``triggers`` wins when both are given). Deploying none undeploys every trigger."""

    model_config = ConfigDict(extra="allow")

    triggers: list[TriggerSpec] | None = None
    nodes: list[TriggerNode] | None = None
    tenant_id: Identifier | None = None


class TriggerBody(BaseModel):
    """A stand-alone trigger: its type and config, and what it starts (a workflow, or a
    template's workflow: exactly one of them). Unknown fields are ignored."""

    model_config = ConfigDict(extra="allow")

    type: str
    config: dict[str, Any] = {}
    workflow_id: Identifier | None = None
    template: Identifier | None = None
    tenant_id: Identifier | None = None


class RunBody(BaseModel):
    """Data for the run: ``input`` (or ``data``), checked against the template's
    ``input_schema``."""

    model_config = ConfigDict(extra="allow")

    input: dict[str, Any] = {}
    data: dict[str, Any] = {}
    tenant_id: Identifier | None = None


class ManualBody(BaseModel):
    """The run's ``data``; ``confirm: true`` where the trigger requires confirmation."""

    model_config = ConfigDict(extra="allow")

    data: dict[str, Any] = {}
    confirm: bool = False


# answers ------------------------------------------------------------------------------


class Health(BaseModel):
    service: str
    status: str


class DetailedHealth(BaseModel):
    service: str
    status: Literal["healthy", "degraded"]
    problems: list[str] = []
    database: dict[str, Any]
    engine: str
    plugins: dict[str, list[dict[str, Any]]]
    triggers: dict[str, Any]
    dispatches: dict[str, int]
    tasks: dict[str, dict[str, Any]]
    leases: dict[str, str]
    plugins_health: dict[str, Any]


class Trigger(BaseModel):
    trigger_id: str
    workflow_id: str
    template: str | None
    tenant_id: str | None
    type: str
    config: dict[str, Any]
    index_key: str | None
    status: str
    origin: str
    created_at: str


class Triggers(BaseModel):
    triggers: list[Trigger]
    count: int


class DeploymentEvent(BaseModel):
    action: str
    status: str
    detail: dict[str, Any]
    at: str


class Deployment(BaseModel):
    """A workflow's deployment (``UNDEPLOYED`` with no triggers if it never was)."""

    workflow_id: str
    tenant_id: str | None = None
    status: str
    updated_at: str | None = None
    triggers: list[Trigger]
    history: list[DeploymentEvent]


class Dispatch(BaseModel):
    dispatch_id: str
    kind: str
    mode: str
    workflow_id: str | None
    execution_id: str | None
    trigger_id: str | None
    tenant_id: str | None
    trigger_type: str
    event_id: str
    payload: Any
    idempotency_key: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    created_at: str | None
    updated_at: str | None
    delivered_at: str | None


class Dispatches(BaseModel):
    dispatches: list[Dispatch]
    count: int
    next_cursor: str | None
    """The next (older) page's ``cursor``; ``null`` on the last page."""


class DispatchRetried(BaseModel):
    dispatch_id: str
    status: Literal["pending"]
    previous_status: str


class Retried(BaseModel):
    retried: int = Field(ge=0)


class TenantSecret(BaseModel):
    """The tenant's JWT secret: it is shown this once."""

    tenant_id: str
    jwt_secret: str


class TenantView(BaseModel):
    tenant_id: str
    rate_limit_per_second: float | None
    burst: int | None
    created_at: str


class Tenants(BaseModel):
    tenants: list[TenantView]
    count: int
    next_cursor: str | None
    """The next page's ``cursor``; ``null`` on the last page."""


class Template(BaseModel):
    template_id: str
    tenant_id: str
    name: str
    workflow_id: str
    workflow_definition: dict[str, Any]
    input_schema: dict[str, Any] | None
    category: str | None
    description: str | None
    created_at: str
    updated_at: str


class Templates(BaseModel):
    templates: list[Template]
    count: int


class Wait(BaseModel):
    wait_id: str
    status: Literal["open", "consumed", "expired", "cancelled"]
    tenant_id: str
    workflow_run_id: str
    workflow_id: str | None
    event_name: str
    correlation_key: str | None
    token: str | None
    multi_use: bool
    schema_: dict[str, Any] | None = Field(alias="schema")
    idempotency_key: str | None
    expires_at: str | None
    closed_at: str | None
    created_at: str | None
    hook_url: str | None = None
    """Where a hook resumes it (waits on a token)."""


class Waits(BaseModel):
    waits: list[Wait]
    count: int
    next_cursor: str | None
    """The next (older) page's ``cursor``; ``null`` on the last page."""


class DeliveryTarget(BaseModel):
    """A trigger started (``matched``) or that declined the event (its filter said no, or
    its guard refused the request), or a wait resumed."""

    matched: bool
    trigger_id: str | None = None
    wait_id: str | None = None
    workflow_id: str | None = None
    workflow_run_id: str | None = None


class Delivery(BaseModel):
    """What became of one event: ``delivered`` (``started`` and ``resumed`` runs),
    ``duplicate`` (of ``duplicate_of``), ``filtered``, ``held`` or ``refused``, and why."""

    event_id: str
    received_at: str
    source: str
    delivery_id: str | None
    tenant_id: str | None
    outcome: Literal["delivered", "duplicate", "filtered", "held", "refused"]
    started: int = Field(ge=0)
    resumed: int = Field(ge=0)
    duplicate_of: str | None
    reason: str | None
    targets: list[DeliveryTarget]


class Deliveries(BaseModel):
    deliveries: list[Delivery]
    count: int
    next_cursor: str | None
    """The next (older) page's ``cursor``; ``null`` on the last page."""
