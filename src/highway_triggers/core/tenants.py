"""Tenants and their JWT signing secrets (stored encrypted)."""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import Field
from sqlalchemy import insert, select, update

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.secrets import SecretCipher
from highway_triggers.core.validation import Identifier, RequestBody
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.tables import TENANTS

MAX_RATE = 1_000_000


class TenantSpec(RequestBody):
    """A new tenant: ``POST /api/v1/tenants`` and ``highway-triggers tenants create``."""

    tenant_id: Identifier
    rate_limit_per_second: float | None = Field(default=None, ge=0.001, le=MAX_RATE)
    """Events per second (a token bucket per replica); default
    ``HIGHWAY_EVENTS_RATE_LIMIT_PER_SECOND``."""
    burst: int | None = Field(default=None, ge=1, le=MAX_RATE)
    """Events at once; default ``HIGHWAY_EVENTS_BURST``."""


class TenantService:
    """Creates tenants and rotates their secrets; the secret is returned once."""

    def __init__(self, db: Database, cipher: SecretCipher) -> None:
        self._db = db
        self._cipher = cipher

    def create(self, spec: TenantSpec) -> str:
        """The new tenant's JWT secret; 409 ``TENANT_EXISTS`` if there is one of that id."""
        tenant_id = spec.tenant_id
        secret = secrets.token_urlsafe(32)
        with self._db.engine.begin() as conn:
            if conn.execute(
                select(TENANTS.c.tenant_id).where(TENANTS.c.tenant_id == tenant_id)
            ).first():
                raise HTTPError(
                    409, "TENANT_EXISTS", f"tenant {tenant_id!r} exists; rotate its secret instead"
                )
            conn.execute(
                insert(TENANTS).values(
                    tenant_id=tenant_id,
                    jwt_secret_encrypted=self._cipher.encrypt(secret),
                    rate_limit_per_second=spec.rate_limit_per_second,
                    burst=spec.burst,
                    created_at=utcnow(),
                )
            )
        return secret

    def page(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` tenants in id order, past ``after`` if given; never a secret."""
        query = (
            select(
                TENANTS.c.tenant_id,
                TENANTS.c.rate_limit_per_second,
                TENANTS.c.burst,
                TENANTS.c.created_at,
            )
            .order_by(TENANTS.c.tenant_id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(TENANTS.c.tenant_id > after)
        with self._db.engine.connect() as conn:
            return [
                {**row, "created_at": row["created_at"].isoformat()}
                for row in conn.execute(query).mappings()
            ]

    def rotate(self, tenant_id: str) -> str:
        secret = secrets.token_urlsafe(32)
        with self._db.engine.begin() as conn:
            changed = conn.execute(
                update(TENANTS)
                .where(TENANTS.c.tenant_id == tenant_id)
                .values(jwt_secret_encrypted=self._cipher.encrypt(secret))
            )
        if changed.rowcount != 1:
            raise HTTPError(404, "TENANT_NOT_FOUND", f"no tenant {tenant_id!r}")
        return secret
