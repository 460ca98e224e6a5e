"""Tenants and their JWT signing secrets (stored encrypted)."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import insert, select, update

from highway_triggers.db.tables import TENANTS
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.secrets import SecretCipher
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database

TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class TenantService:
    """Creates tenants and rotates their secrets; the secret is returned once."""

    def __init__(self, db: Database, cipher: SecretCipher) -> None:
        self._db = db
        self._cipher = cipher

    def create(
        self, tenant_id: str, rate_limit_per_second: float | None = None, burst: int | None = None
    ) -> str:
        if not TENANT_ID.match(tenant_id):
            raise HTTPError(
                422, "VALIDATION_ERROR", "tenant_id: letters, digits and _.:- only, at most 128"
            )
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
                    rate_limit_per_second=rate_limit_per_second,
                    burst=burst,
                    created_at=utcnow(),
                )
            )
        return secret

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
