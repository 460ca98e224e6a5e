"""Signed, expiring, single-use links (approve by e-mail, chat buttons …).

A link carries an HS256 JWT: ``aud`` is the link's purpose, ``exp`` its expiry, ``jti`` a
random id and ``claims`` what the plugin put in it. Verifying needs no database; redeeming
records the ``jti`` in ``used_links`` inside the caller's transaction, so a link does its
work at most once, on every replica.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import jwt
from sqlalchemy import Connection, delete
from sqlalchemy.dialects import postgresql, sqlite

from highway_triggers.core.errors import HTTPError
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.tables import USED_LINKS

LINK_KEY_LABEL = b"highway-triggers signed links v1"
PRUNE_GRACE = timedelta(minutes=5)
"""Used links are kept this long past their expiry, so a replica whose clock is behind
still refuses them as used."""


def link_key(secret_material: bytes) -> bytes:
    """The links' signing key: HMAC-SHA256 of a fixed label keyed with the gateway's secret.

    Deriving it keeps the secret itself out of every token's signature, and keeps link
    tokens apart from anything else signed with that secret.
    """
    return hmac.new(secret_material, LINK_KEY_LABEL, hashlib.sha256).digest()


class LinkError(HTTPError):
    """A link that may not be used: ``INVALID_LINK`` (403: forged, altered, for another
    purpose, malformed), ``LINK_EXPIRED`` (410) or ``LINK_USED`` (410)."""

    STATUS: ClassVar[Mapping[str, int]] = {
        "INVALID_LINK": 403,
        "LINK_EXPIRED": 410,
        "LINK_USED": 410,
    }

    def __init__(self, code: str, message: str) -> None:
        super().__init__(self.STATUS[code], code, message)


def _invalid() -> LinkError:
    return LinkError("INVALID_LINK", "this link is not valid")


class SignedLinks:
    """Issue, verify and redeem link tokens signed with ``key`` (see :func:`link_key`)."""

    def __init__(self, db: Database, key: bytes) -> None:
        self._db = db
        self._key = key

    def issue(self, purpose: str, claims: Mapping[str, Any], ttl_seconds: float) -> str:
        """A token for ``purpose`` valid ``ttl_seconds`` (rounded up to the whole second)."""
        now = time.time()
        payload = {
            "aud": purpose,
            "exp": math.ceil(now + ttl_seconds),
            "iat": int(now),
            "jti": secrets.token_urlsafe(16),
            "claims": dict(claims),
        }
        return jwt.encode(payload, self._key, algorithm="HS256")

    def verify(self, purpose: str, token: str) -> dict[str, Any]:
        """The token's claims, without using it up; :class:`LinkError` if it is not valid."""
        claims: dict[str, Any] = self._decode(purpose, token)["claims"]
        return claims

    def redeem_in(self, conn: Connection, purpose: str, token: str) -> dict[str, Any]:
        """Verify the token and mark it used in ``conn``'s transaction; its claims.

        A second use is ``LINK_USED``; the failed insert does not abort the transaction.
        """
        return self._use(conn, purpose, self._decode(purpose, token))

    async def redeem(self, purpose: str, token: str) -> dict[str, Any]:
        """:meth:`redeem_in` in a transaction of its own, on a worker thread."""
        payload = self._decode(purpose, token)

        def use() -> dict[str, Any]:
            with self._db.engine.begin() as conn:
                return self._use(conn, purpose, payload)

        return await self._db.call(use)

    def prune_in(self, conn: Connection, now: datetime) -> int:
        """Forget used links expired before ``now`` (less :data:`PRUNE_GRACE`); how many."""
        result = conn.execute(delete(USED_LINKS).where(USED_LINKS.c.expires_at < now - PRUNE_GRACE))
        return result.rowcount

    def _decode(self, purpose: str, token: str) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=purpose,
                # iat is informational: a replica whose clock is behind must not refuse it
                options={"require": ["aud", "exp", "jti"], "verify_iat": False},
            )
        except jwt.ExpiredSignatureError:
            raise LinkError("LINK_EXPIRED", "this link has expired") from None
        except jwt.PyJWTError:
            raise _invalid() from None
        if not isinstance(payload.get("jti"), str) or not isinstance(payload.get("claims"), dict):
            raise _invalid()
        return payload

    def _use(self, conn: Connection, purpose: str, payload: dict[str, Any]) -> dict[str, Any]:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(USED_LINKS)
            .values(
                link_id=payload["jti"],
                purpose=purpose,
                used_at=utcnow(),
                expires_at=datetime.fromtimestamp(payload["exp"], UTC),
            )
            .on_conflict_do_nothing(index_elements=["link_id"])
        )
        if conn.execute(statement).rowcount != 1:
            raise LinkError("LINK_USED", "this link was already used")
        claims: dict[str, Any] = payload["claims"]
        return claims
