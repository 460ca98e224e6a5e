"""Per-run webhooks: an engine registers one for a suspended run; a call resumes that run.

Each registration is a wait of this plugin (``OWNER``) on a random token, written in the
same transaction as the registration's row. Only the plugin's receiver resumes it (not
``/api/v1/hooks/{token}``), so no call gets around the webhook's checks; consumption is
the router's atomic claim of the wait, and resumes go through the dispatch outbox
exactly once and, for a multi-use webhook, in order. An unused webhook past
``expires_at`` resumes its run once with ``{"status": "timeout"}`` (the core's wait
timeout). The signature object is stored with its secrets sealed, and later
registrations may refer to it by id.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Self

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator
from sqlalchemy import Connection, delete, insert, select, update

from highway_triggers.plugin import (
    AUTH,
    Auth,
    AuthObject,
    GatewayContext,
    HTTPError,
    Identifier,
    IngressGuard,
    NoAuth,
    Printable,
    RequestBody,
    WaitRequest,
    utcnow,
)
from highway_triggers_webhook.options import WebhookOptions
from highway_triggers_webhook.tables import REGISTRATIONS, SIGNATURES

OWNER = "highway-triggers-webhook"
"""The owner of the plugin's waits (its distribution name): only its routes resume them."""
EVENT_NAME = "webhook"
CACHE_SIZE = 4096
WEBHOOK_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"}
"""A per-run webhook's id (URL-safe base64)."""
_WEBHOOK_ID = re.compile(WEBHOOK_ID["pattern"])
Text = Annotated[str, StringConstraints(min_length=1, max_length=512), Printable]


class RegistrationRequest(RequestBody, WebhookOptions):
    """The body of ``POST /api/v1/webhook-registrations``."""

    tenant_id: Identifier
    workflow_run_id: Text
    workflow_id: Identifier | None = None
    signature: Auth | None = None
    """How callers sign (the README lists them); default ``none``. Or ``signature_id``."""
    signature_id: Text | None = None
    expires_at: Annotated[AwareDatetime | None, Field(strict=False)] = None
    multi_use: bool = False
    idempotency_key: Text | None = None

    @model_validator(mode="after")
    def _checked(self) -> Self:
        if self.signature is not None and self.signature_id is not None:
            raise ValueError("give signature or signature_id, not both")
        if self.expires_at is not None and self.expires_at <= utcnow():
            raise ValueError("expires_at must be in the future")
        return self

    def options(self) -> WebhookOptions:
        return WebhookOptions.model_validate(
            self.model_dump(include=set(WebhookOptions.model_fields))
        )


class WebhookRegistration(BaseModel):
    """A registered per-run webhook as the API shows it (for ``/openapi.json``): callers
    post to ``url``."""

    webhook_id: str
    url: str
    signature_id: str
    wait_id: str | None
    expires_at: str | None
    multi_use: bool


@dataclass(frozen=True, slots=True)
class Registration:
    """A per-run webhook as its receiver needs it."""

    webhook_id: str
    token: str
    wait_owner: str | None
    """Whose wait it resumes: ``OWNER``, or ``None`` for one registered before
    ``webhook_0002``, whose wait has no owner."""
    expires_at: datetime | None
    options: WebhookOptions
    auth: AuthObject
    """How callers sign (its secrets sealed); it names the scheme's delivery ids."""
    guard: IngressGuard


class RegistrationStore:
    """Registers per-run webhooks (sync: through ``Database.write``) and finds them for
    their receiver."""

    def __init__(self, context: GatewayContext) -> None:
        self._context = context
        self._db = context.database
        self._retention = timedelta(hours=context.settings.delivery_retention_hours)
        self._cache: OrderedDict[str, Registration] = OrderedDict()

    def register(self, request: RegistrationRequest) -> tuple[dict[str, Any], bool]:
        """The new webhook and ``True``, or the one registered with the same idempotency key
        and ``False``; 404 ``SIGNATURE_NOT_FOUND`` for a signature id the tenant lacks. Its
        rows and its wait are written in one transaction: all of them, or none."""
        now = utcnow()
        webhook_id = secrets.token_urlsafe(24)
        token = f"webhook:{secrets.token_urlsafe(32)}"
        with self._db.engine.begin() as conn:
            if request.idempotency_key and (first := self._by_key(conn, request)):
                return first, False
            if request.signature_id is None:
                signature_id = self._store_signature(conn, request, now)
            elif self._signature_exists(conn, request.signature_id, request.tenant_id):
                signature_id = request.signature_id
            else:
                raise HTTPError(
                    404,
                    "SIGNATURE_NOT_FOUND",
                    f"no signature {request.signature_id!r} of this tenant",
                )
            conn.execute(
                delete(REGISTRATIONS).where(REGISTRATIONS.c.expires_at < now - self._retention)
            )
            # the row first: it claims the idempotency key before the wait is written
            conn.execute(
                insert(REGISTRATIONS).values(
                    id=webhook_id,
                    tenant_id=request.tenant_id,
                    workflow_run_id=request.workflow_run_id,
                    token=token,
                    signature_id=signature_id,
                    options=request.options().model_dump(mode="json"),
                    multi_use=request.multi_use,
                    idempotency_key=request.idempotency_key,
                    expires_at=request.expires_at,
                    created_at=now,
                )
            )
            wait_id = self._register_wait(conn, request, token, now)
            conn.execute(
                update(REGISTRATIONS)
                .where(REGISTRATIONS.c.id == webhook_id)
                .values(wait_id=wait_id)
            )
        return self._view(
            webhook_id, signature_id, wait_id, request.expires_at, request.multi_use
        ), True

    def _register_wait(
        self, conn: Connection, request: RegistrationRequest, token: str, now: datetime
    ) -> str:
        """The id of the webhook's new wait, written in ``conn``'s transaction."""
        timeout = (request.expires_at - now).total_seconds() if request.expires_at else None
        wait, _ = self._context.waits.register_in(
            conn,
            WaitRequest(
                tenant_id=request.tenant_id,
                workflow_run_id=request.workflow_run_id,
                workflow_id=request.workflow_id,
                event_name=EVENT_NAME,
                token=token,
                timeout_seconds=timeout,
                multi_use=request.multi_use,
            ),
            owner=OWNER,
        )
        wait_id: str = wait["wait_id"]
        return wait_id

    async def find(self, webhook_id: str) -> Registration | None:
        """The registration, or ``None``; kept in memory, as registrations never change."""
        if _WEBHOOK_ID.fullmatch(webhook_id) is None:
            return None
        if (found := self._cache.get(webhook_id)) is None:
            found = await self._db.call(self._load, webhook_id)
            if found is not None:
                self._cache[webhook_id] = found
                if len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return found

    def _load(self, webhook_id: str) -> Registration | None:
        query = (
            select(REGISTRATIONS, SIGNATURES.c.signature)
            .join(SIGNATURES, SIGNATURES.c.id == REGISTRATIONS.c.signature_id)
            .where(REGISTRATIONS.c.id == webhook_id)
        )
        with self._db.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        options = WebhookOptions.model_validate(row.options)
        auth = AUTH.validate_python(row.signature)
        guard = options.guard(auth, self._context.unseal)
        owner = None if row.wait_id is None else OWNER
        return Registration(row.id, row.token, owner, row.expires_at, options, auth, guard)

    def _store_signature(
        self, conn: Connection, request: RegistrationRequest, now: datetime
    ) -> str:
        signature_id = f"sig_{secrets.token_urlsafe(12)}"
        sealed = (request.signature or NoAuth()).sealed(self._context.seal)
        conn.execute(
            insert(SIGNATURES).values(
                id=signature_id,
                tenant_id=request.tenant_id,
                signature=sealed.model_dump(mode="json"),
                created_at=now,
            )
        )
        return signature_id

    @staticmethod
    def _signature_exists(conn: Connection, signature_id: str, tenant_id: str) -> bool:
        query = select(SIGNATURES.c.id).where(
            SIGNATURES.c.id == signature_id, SIGNATURES.c.tenant_id == tenant_id
        )
        return conn.execute(query).first() is not None

    def _by_key(self, conn: Connection, request: RegistrationRequest) -> dict[str, Any] | None:
        row = conn.execute(
            select(REGISTRATIONS).where(
                REGISTRATIONS.c.tenant_id == request.tenant_id,
                REGISTRATIONS.c.idempotency_key == request.idempotency_key,
            )
        ).first()
        if row is None:
            return None
        return self._view(row.id, row.signature_id, row.wait_id, row.expires_at, row.multi_use)

    def _view(
        self,
        webhook_id: str,
        signature_id: str,
        wait_id: str | None,
        expires_at: datetime | None,
        multi_use: bool,
    ) -> dict[str, Any]:
        return {
            "webhook_id": webhook_id,
            "url": f"{self._context.base_url}/api/v1/webhooks/{webhook_id}",
            "signature_id": signature_id,
            "wait_id": wait_id,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "multi_use": multi_use,
        }
