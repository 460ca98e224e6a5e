"""Registering, reading and cancelling waits (synchronous: call it from a thread or
through ``Database.write``)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import (
    Field,
    StringConstraints,
    model_validator,
)
from sqlalchemy import ColumnElement, Connection, and_, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.ids import new_id
from highway_triggers.core.metrics import Metrics
from highway_triggers.core.validation import Identifier, JsonSchema, Printable, RequestBody
from highway_triggers.core.waits.early import resume_with_kept
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.tables import WAITS

MAX_TIMEOUT_SECONDS = 10 * 365 * 24 * 3600
TEXT_MAX_LENGTH = 512
"""Of a wait's run id, event name, correlation key and idempotency key."""
Text = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX_LENGTH), Printable]
TOKEN_MAX_LENGTH = 512
TOKEN_PATTERN = rf"^[^/\s\x00-\x1f\x7f]{{1,{TOKEN_MAX_LENGTH}}}$"
"""A hook token: no ``/``, whitespace or control characters (it is a path segment)."""


def is_token(value: str) -> bool:
    """Whether ``value`` may be a hook token (:data:`TOKEN_PATTERN`)."""
    return re.fullmatch(TOKEN_PATTERN, value) is not None


class WaitRequest(RequestBody):
    """The body of ``POST /api/v1/waits``."""

    tenant_id: Identifier
    workflow_run_id: Text
    workflow_id: Identifier | None = None
    event_name: Text
    correlation_key: Text | None = None
    token: Annotated[str, StringConstraints(pattern=TOKEN_PATTERN)] | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_SECONDS)
    multi_use: bool = False
    payload_schema: JsonSchema | None = Field(default=None, alias="schema")
    idempotency_key: Text | None = None

    @model_validator(mode="after")
    def _one_key(self) -> WaitRequest:
        if (self.correlation_key is None) == (self.token is None):
            raise ValueError("give exactly one of correlation_key or token")
        return self


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


STATUSES = ("open", "consumed", "expired", "cancelled")


def _has_status(status: str, now: datetime) -> ColumnElement[bool]:
    """The SQL condition of :func:`status_of` being ``status``."""
    closed, expires = WAITS.c.consumed_at.is_not(None), WAITS.c.expires_at
    past = and_(expires.is_not(None), expires <= now)
    if status == "open":
        return and_(~closed, ~past)
    if status == "expired":
        return or_(and_(~closed, past), WAITS.c.closed_reason == "expired")
    if status == "consumed":
        reason = WAITS.c.closed_reason
        return and_(closed, or_(reason.is_(None), reason == "consumed"))
    return WAITS.c.closed_reason == status


def status_of(row: Any, now: datetime) -> str:
    """``open``, ``consumed``, ``expired`` (closed or about to be) or ``cancelled``."""
    if row.consumed_at is not None:
        return str(row.closed_reason or "consumed")
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "open"


class WaitService:
    """Registers, reads and cancels waits."""

    def __init__(self, db: Database, base_url: str, metrics: Metrics) -> None:
        self._db = db
        self._base_url = base_url
        self._metrics = metrics

    def register(self, request: WaitRequest) -> tuple[dict[str, Any], bool]:
        """The new wait and ``True``; or, for a known idempotency key, the first wait and ``False``.

        409 ``WAIT_EXISTS`` when an open single-use wait holds its correlation key, 409
        ``TOKEN_IN_USE`` when another tenant's open wait holds its token.
        """
        for _ in range(2):
            try:
                with self._db.engine.begin() as conn:
                    view, created, resumed = self._insert(conn, request, None)
                self._metrics.written(resumed)
                return view, created
            except IntegrityError:
                with self._db.engine.connect() as conn:
                    if request.idempotency_key and (first := self._by_key(conn, request)):
                        return first, False
                    self._refuse_held(conn, request)
        raise HTTPError(
            409, "WAIT_CONFLICT", "the wait conflicted with concurrent registrations; retry"
        )

    def register_in(
        self, conn: Connection, request: WaitRequest, *, owner: str
    ) -> tuple[dict[str, Any], bool]:
        """Register a wait of plugin ``owner`` inside the caller's transaction, so that the
        plugin's own row and its wait are written together or not at all.

        Only events that ``owner`` routes (``route(…, wait_owner=owner)``) resume it: the
        hooks route cannot reach it around the plugin's checks. Kept early events are not
        applied (they come from the events route). 409 as :meth:`register`, which then
        rolls the caller's transaction back.
        """
        try:
            with conn.begin_nested():
                view, created, _ = self._insert(conn, request, owner)  # resumes none
                return view, created
        except IntegrityError:
            if request.idempotency_key and (first := self._by_key(conn, request)):
                return first, False
            self._refuse_held(conn, request)
            raise HTTPError(
                409, "WAIT_CONFLICT", "the wait conflicted with a concurrent registration; retry"
            ) from None

    def get(self, wait_id: str) -> dict[str, Any] | None:
        with self._db.engine.connect() as conn:
            row = conn.execute(select(WAITS).where(WAITS.c.id == wait_id)).first()
        return None if row is None else self.view(row)

    def page(
        self,
        *,
        before: str | None,
        limit: int,
        tenant_id: str | None = None,
        workflow_run_id: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` waits, newest first, older than ``before`` if given; only those
        of ``tenant_id``, ``workflow_run_id`` and :data:`STATUSES` ``status`` if given."""
        query = select(WAITS).order_by(WAITS.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(WAITS.c.id < before)
        if tenant_id is not None:
            query = query.where(WAITS.c.tenant_id == tenant_id)
        if workflow_run_id is not None:
            query = query.where(WAITS.c.workflow_run_id == workflow_run_id)
        if status is not None:
            query = query.where(_has_status(status, utcnow()))
        with self._db.engine.connect() as conn:
            return [self.view(row) for row in conn.execute(query)]

    def cancel(self, wait_id: str) -> dict[str, Any] | None:
        """Close an open wait without resuming its run; a closed one is left as it is."""
        with self._db.engine.begin() as conn:
            conn.execute(
                update(WAITS)
                .where(WAITS.c.id == wait_id, WAITS.c.consumed_at.is_(None))
                .values(consumed_at=utcnow(), closed_reason="cancelled")
            )
            row = conn.execute(select(WAITS).where(WAITS.c.id == wait_id)).first()
        return None if row is None else self.view(row)

    def view(self, row: Any) -> dict[str, Any]:
        """A wait as the API shows it."""
        view = {
            "wait_id": row.id,
            "status": status_of(row, utcnow()),
            "tenant_id": row.tenant_id,
            "workflow_run_id": row.workflow_run_id,
            "workflow_id": row.workflow_id,
            "event_name": row.event_name,
            "correlation_key": row.correlation_key,
            "token": row.token,
            "multi_use": row.multi_use,
            "schema": row.payload_schema,
            "idempotency_key": row.idempotency_key,
            "expires_at": _iso(row.expires_at),
            "closed_at": _iso(row.consumed_at),
            "created_at": _iso(row.created_at),
        }
        if row.owner is not None:
            view["owner"] = row.owner  # resumed only through that plugin's own routes
        elif row.token is not None:
            view["hook_url"] = f"{self._base_url}/api/v1/hooks/{quote(row.token, safe='')}"
        return view

    def _insert(
        self, conn: Connection, request: WaitRequest, owner: str | None
    ) -> tuple[dict[str, Any], bool, int]:
        """The wait's view, whether it is new, and how many kept events it resumed."""
        now = utcnow()
        timeout = request.timeout_seconds
        values = {
            "id": new_id(),
            "tenant_id": request.tenant_id,
            "workflow_run_id": request.workflow_run_id,
            "workflow_id": request.workflow_id,
            "event_name": request.event_name,
            "correlation_key": request.correlation_key,
            "token": request.token,
            "multi_use": request.multi_use,
            "payload_schema": request.payload_schema,
            "idempotency_key": request.idempotency_key,
            "expires_at": now + timedelta(seconds=timeout) if timeout is not None else None,
            "consumed_at": None,
            "closed_reason": None,
            "owner": owner,
            "created_at": now,
        }
        if request.idempotency_key and (first := self._by_key(conn, request)):
            return first, False, 0
        if request.token is not None:
            self._claim_token(conn, request)
        conn.execute(insert(WAITS).values(**values))
        kept = owner is None and request.correlation_key is not None
        resumed = resume_with_kept(conn, values, now) if kept else 0
        if resumed and not request.multi_use:
            closed: dict[str, Any] = {"consumed_at": now, "closed_reason": "consumed"}
            conn.execute(update(WAITS).where(WAITS.c.id == values["id"]).values(**closed))
            values.update(closed)
        return self.view(SimpleNamespace(**values)), True, resumed

    def _claim_token(self, conn: Connection, request: WaitRequest) -> None:
        """Hooks carry no tenant: refuse a token that another tenant's open wait holds."""
        if self._db.is_postgres:  # registrations of one token, on any replica, one at a time
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:token))"), {"token": request.token}
            )
        other = conn.execute(
            select(WAITS.c.id)
            .where(WAITS.c.token == request.token, WAITS.c.consumed_at.is_(None))
            .where(WAITS.c.tenant_id != request.tenant_id)
            .limit(1)
        ).scalar()
        if other is not None:
            raise HTTPError(
                409, "TOKEN_IN_USE", f"token {request.token!r} is held by another tenant's wait"
            )

    def _by_key(self, conn: Connection, request: WaitRequest) -> dict[str, Any] | None:
        row = conn.execute(
            select(WAITS).where(WAITS.c.idempotency_key == request.idempotency_key)
        ).first()
        if row is None:
            return None
        if row.tenant_id != request.tenant_id:
            raise HTTPError(
                409,
                "IDEMPOTENCY_KEY_IN_USE",
                "the idempotency_key was used by another tenant's wait",
            )
        return self.view(row)

    def _refuse_held(self, conn: Connection, request: WaitRequest) -> None:
        """409 ``WAIT_EXISTS`` when an open single-use wait holds the request's key."""
        if holder := self._holder(conn, request):
            raise HTTPError(
                409,
                "WAIT_EXISTS",
                f"wait {holder} is already open for event {request.event_name!r} "
                f"and correlation key {request.correlation_key!r}",
                extra={"wait_id": holder},
            ) from None

    def _holder(self, conn: Connection, request: WaitRequest) -> str | None:
        """The open single-use wait holding the request's correlation key, if any."""
        if request.multi_use or request.correlation_key is None:
            return None
        holder: str | None = conn.execute(
            select(WAITS.c.id).where(
                WAITS.c.tenant_id == request.tenant_id,
                WAITS.c.event_name == request.event_name,
                WAITS.c.correlation_key == request.correlation_key,
                WAITS.c.consumed_at.is_(None),
                WAITS.c.multi_use.is_(False),
            )
        ).scalar()
        return holder
