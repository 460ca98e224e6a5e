"""Admin API keys (stored hashed), tenant JWTs (HS256, per-tenant secrets), tenant limits."""

from __future__ import annotations

import hashlib
import logging
import hmac
import math
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from nacl.exceptions import CryptoError
from sqlalchemy import insert, select

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.secrets import SecretCipher
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.tables import API_KEYS, TENANTS

log = logging.getLogger(__name__)

KEY_PREFIX = "hwk_"
TENANT_SECRET_TTL = 10.0
VERIFIED_CACHE_SIZE = 10_000
NUMERIC_DATES = ("exp", "nbf", "iat")
"""Claims that are JSON numbers (RFC 7519 NumericDate); PyJWT also takes numeric strings."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _is_numeric_date(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def create_admin_key(db: Database, name: str) -> str:
    """Create an admin API key; only its digest is stored, the key is shown once."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.engine.begin() as conn:
        conn.execute(
            insert(API_KEYS).values(
                id=uuid.uuid4().hex, name=name, key_hash=digest(key), created_at=utcnow()
            )
        )
    return key


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """What requests need of a tenant: its JWT secret and its rate limits."""

    secret: str
    rate_limit_per_second: float | None
    burst: int | None


class Authenticator:
    """Checks admin bearer tokens and tenant JWTs; caches what it has verified."""

    def __init__(self, db: Database, cipher: SecretCipher, admin_token: str | None) -> None:
        self._db = db
        self._cipher = cipher
        self._bootstrap = admin_token.encode() if admin_token else None
        self._known_keys: set[str] = set()
        self._tenants: dict[str, tuple[TenantRecord, float]] = {}
        self._verified: dict[str, tuple[dict[str, Any], float]] = {}

    async def is_admin(self, token: str | None) -> bool:
        if not token:
            return False
        if self._bootstrap is not None and hmac.compare_digest(token.encode(), self._bootstrap):
            return True
        if not token.startswith(KEY_PREFIX):  # no API key: nothing to look up
            return False
        hashed = digest(token)
        if hashed in self._known_keys:
            return True
        if await self._db.call(self._key_exists, hashed):
            self._known_keys.add(hashed)
            return True
        return False

    async def require_admin(self, authorization: str | None) -> None:
        if not await self.is_admin(bearer_token(authorization)):
            raise HTTPError(401, "UNAUTHORIZED", "an admin bearer token is required")

    async def tenant_claims(self, token: str, tenant_id: str) -> dict[str, Any]:
        """Verify a tenant JWT for ``tenant_id``: 401 if invalid, 403 if for another tenant."""
        claims = await self.verify_tenant_token(token)
        if claims["tenant_id"] != tenant_id:
            raise HTTPError(403, "FORBIDDEN", "the token belongs to another tenant")
        return claims

    async def may_send_events(self, token: str, tenant_id: str) -> None:
        """A JWT of ``tenant_id``, or an admin token (an engine posting system events);
        401 or 403 otherwise. The JWT is tried first: it is what tenants send on the hot
        path (an admin check looks an ``hwk_`` key up in the database)."""
        try:
            await self.tenant_claims(token, tenant_id)
        except HTTPError as refused:
            if refused.status != 401 or not await self.is_admin(token):
                raise

    async def verify_tenant_token(self, token: str) -> dict[str, Any]:
        """The claims of a tenant JWT signed with its tenant's secret; 401 otherwise.

        A verified token is remembered until it expires or for TENANT_SECRET_TTL seconds,
        whichever is first, so that a client's next request skips the HMAC.
        """
        cached = self._verified.get(token)
        if cached is not None and time.monotonic() < cached[1] and time.time() < cached[0]["exp"]:
            return cached[0]
        claims = await self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (claims, time.monotonic() + TENANT_SECRET_TTL)
        return claims

    async def _verify(self, token: str) -> dict[str, Any]:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise HTTPError(401, "INVALID_TOKEN", "the bearer token is not a valid JWT") from None
        claimed = unverified.get("tenant_id")
        secret = await self.tenant_secret(claimed) if isinstance(claimed, str) else None
        if secret is None:
            raise HTTPError(401, "INVALID_TOKEN", "the JWT names no known tenant")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, secret, algorithms=["HS256"], options={"require": ["exp", "tenant_id"]}
            )
        except jwt.PyJWTError as exc:
            raise HTTPError(401, "INVALID_TOKEN", f"the JWT was rejected: {exc}") from None
        for claim in NUMERIC_DATES:
            if claim in claims and not _is_numeric_date(claims[claim]):
                raise HTTPError(
                    401, "INVALID_TOKEN", f"the JWT was rejected: {claim} must be a number"
                )
        return claims

    async def tenant_secret(self, tenant_id: str) -> str | None:
        """The tenant's JWT secret; cached briefly so a rotation reaches every replica."""
        record = await self.tenant(tenant_id)
        return None if record is None else record.secret

    async def tenant_limits(self, tenant_id: str) -> tuple[float | None, int | None]:
        """The tenant's ``(rate_limit_per_second, burst)``; ``None`` where it has none."""
        record = await self.tenant(tenant_id)
        return (None, None) if record is None else (record.rate_limit_per_second, record.burst)

    async def tenant(self, tenant_id: str) -> TenantRecord | None:
        """The tenant's secret and limits, cached for TENANT_SECRET_TTL seconds."""
        cached = self._tenants.get(tenant_id)
        if cached is not None and time.monotonic() - cached[1] < TENANT_SECRET_TTL:
            return cached[0]
        row = await self._db.call(self._tenant_row, tenant_id)
        if row is None:
            return None
        try:
            secret = self._cipher.decrypt(row.jwt_secret_encrypted)
        except CryptoError:
            log.error("the secret of tenant %r does not open with HIGHWAY_SECRET_KEY", tenant_id)
            raise HTTPError(
                503,
                "SECRET_KEY_MISMATCH",
                "the gateway cannot open this tenant's secret: it runs with another secret key",
            ) from None
        record = TenantRecord(secret, row.rate_limit_per_second, row.burst)
        self._tenants[tenant_id] = (record, time.monotonic())
        return record

    def forget_tenant(self, tenant_id: str) -> None:
        """Drop what is cached for a tenant (its secret was rotated)."""
        self._tenants.pop(tenant_id, None)
        self._verified.clear()

    def _key_exists(self, hashed: str) -> bool:
        with self._db.engine.connect() as conn:
            return (
                conn.execute(select(API_KEYS.c.id).where(API_KEYS.c.key_hash == hashed)).first()
                is not None
            )

    def _tenant_row(self, tenant_id: str) -> Any:
        columns = (TENANTS.c.jwt_secret_encrypted, TENANTS.c.rate_limit_per_second, TENANTS.c.burst)
        with self._db.engine.connect() as conn:
            return conn.execute(select(*columns).where(TENANTS.c.tenant_id == tenant_id)).first()
