"""BaseTrigger: what a plugin subclasses once per trigger type."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from highway_triggers.core.event import Event, RouteResult

if TYPE_CHECKING:
    from highway_triggers.core.context import GatewayContext

OnFire = Literal["start", "resume_or_start", "resume_only"]


class TriggerConfig(BaseModel):
    """Base of every trigger's ``Config``: unknown fields and non-finite numbers (``NaN``,
    ``Infinity``) are errors, ``on_fire`` is shared.

    ``on_fire`` decides what a fire does when no wait matched by correlation:
    ``start`` a new run, ``resume_or_start`` the workflow's most recent paused run,
    or ``resume_only`` (never start).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    on_fire: OnFire = "start"


class BaseTrigger:
    """One deployed trigger, rebuilt from its stored ``subtype`` and ``config`` alone."""

    subtype: ClassVar[str]
    Config: ClassVar[type[BaseModel]] = TriggerConfig
    exclusive_index_key: ClassVar[bool] = False
    """At most one active trigger of this type holds an index key (a webhook path): a
    deploy that would add a second one is refused with 409 (see ``DeploymentService``)."""

    __slots__ = ("config", "context", "id", "revision", "tenant_id", "workflow_id")

    def __init__(
        self,
        *,
        id: str,
        workflow_id: str,
        tenant_id: str | None,
        config: BaseModel,
        context: GatewayContext,
        revision: int = 0,
    ) -> None:
        self.id = id
        self.workflow_id = workflow_id
        self.tenant_id = tenant_id
        self.config = config
        self.context = context
        """The gateway this trigger runs in, as plugins see it."""
        self.revision = revision
        """The ``trigger_index`` revision this instance was built from (a newer row replaces it)."""

    @classmethod
    def prepare_config(
        cls, config: dict[str, Any], *, workflow_id: str, seal: Callable[[str], str]
    ) -> dict[str, Any]:
        """Rewrite a raw config before it is validated and stored: fill in what depends on
        the workflow, seal secrets with ``seal``. Returns the config unchanged by default."""
        return config

    @classmethod
    def index_key(cls, config: Any) -> str | None:
        """The phase-1 key stored in the trigger index; ``None`` = phase 2 only."""
        return None

    @classmethod
    def matches(cls, config: Any, event: Event) -> bool:
        """The phase-2 matcher: pure, no I/O."""
        return True

    @classmethod
    def mismatch(cls, config: Any, event: Event) -> str | None:
        """Why :meth:`matches` said no to ``event`` (``"branch 'dev' is not in branches"``),
        for the delivery log; ``None`` when there is nothing to add. Called only for an
        event that nothing took; pure, no I/O."""
        return None

    @classmethod
    async def resolve_config(
        cls, config: dict[str, Any], *, context: GatewayContext
    ) -> dict[str, Any]:
        """Deploy-time lookups that need I/O, before :meth:`prepare_config`: resolve a name
        to an id through a service's API (a GitHub App's installation, Slack channel names).

        Raise ``ConfigError([{"field": …, "message": …}])`` for a value that does not
        resolve (a 422 naming ``…config.<field>``) and ``HTTPError`` (503) when the service
        cannot be reached; either way nothing is stored. Returns ``config`` by default.
        """
        return config

    @property
    def on_fire(self) -> OnFire:
        mode: OnFire = getattr(self.config, "on_fire", "start")
        return mode

    async def start(self) -> None:
        """Start a long-running source (a scheduler job, a mailbox watcher)."""

    async def stop(self) -> None:
        """Stop what ``start`` started."""

    async def fire(
        self,
        data: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        correlation_key: str | None = None,
        claim: Callable[[Connection], bool] | None = None,
        dedup_window_seconds: float | None = None,
    ) -> RouteResult:
        """Report an occurrence this trigger observed itself.

        A wait matched by ``correlation_key`` is resumed; otherwise the run is started
        (or resumed, per ``on_fire``) through the dispatch outbox. ``claim`` runs in the
        same transaction first (e.g. insert a unique slot row with ``ON CONFLICT DO
        NOTHING``); when it returns ``False`` nothing is written and the result is
        ``refused``. It must not raise for an expected refusal: that fails the batch.
        ``dedup_window_seconds`` shortens how long ``idempotency_key`` marks a redelivery
        (default: ``HIGHWAY_DELIVERY_RETENTION_HOURS``).
        """
        return await self.context.router.fire(
            self,
            data,
            idempotency_key=idempotency_key,
            correlation_key=correlation_key,
            claim=claim,
            dedup_window_seconds=dedup_window_seconds,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} workflow={self.workflow_id}>"
