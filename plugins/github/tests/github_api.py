"""A fake of GitHub's REST API for the App's installation look-up: a real Starlette app on
loopback answering ``GET /repos/{owner}/{repo}/installation`` in GitHub's documented format,
once it has verified the App JWT as GitHub does (RS256 with the App's public key, ``iss`` the
App id, at most ten minutes long, not issued in the future). Records every answer."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.testing import FakeOutage, ServerThread

MAX_JWT_LIFETIME = 600
"""GitHub refuses an App JWT whose ``exp`` is more than ten minutes after its ``iat``."""
CLOCK_DRIFT = 60
"""Seconds an ``iat`` (or ``exp``) may be off and still be taken."""
INSTALLATION_DOCS = (
    "https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app"
)
AUTH_DOCS = "https://docs.github.com/rest"
_installation_ids = itertools.count(48_000_001)


def new_private_key() -> rsa.RSAPrivateKey:
    """A new App private key (RSA 2048, as GitHub issues them)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    """The key as GitHub hands it out: PKCS#1 PEM (``BEGIN RSA PRIVATE KEY``)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@dataclass(frozen=True)
class ApiCall:
    """A request the fake answered: the repository asked about, the status answered, and
    the JWT's claims when it was taken."""

    repository: str
    status: int
    claims: dict[str, Any] | None
    headers: dict[str, str]


@dataclass
class FakeGitHubApi(FakeOutage):
    """The App ``app_id`` (its public key verifies the JWTs), installed on the repositories
    in ``installations`` (by lower-case full name, as GitHub ignores case)."""

    app_id: str
    public_key: rsa.RSAPublicKey
    installations: dict[str, int] = field(default_factory=dict)
    answered: list[ApiCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        route = Route("/repos/{owner}/{repo}/installation", self._installation, methods=["GET"])
        return Starlette(routes=[route])

    def install(self, repository: str) -> int:
        """Install the App on ``repository``; the new installation's id."""
        installation_id = next(_installation_ids)
        self.installations[repository.lower()] = installation_id
        return installation_id

    def calls_for(self, repository: str) -> list[ApiCall]:
        """The answered requests about ``repository``."""
        with self._lock:
            return [c for c in self.answered if c.repository == repository]

    async def _installation(self, request: Request) -> Response:
        repository = f"{request.path_params['owner']}/{request.path_params['repo']}"
        await self.held()
        claims: dict[str, Any] | None = None
        if self.fail_with is not None:
            status, body = self.fail_with, {"message": "Server Error"}
        elif isinstance(verified := self._verified(request), str):
            status, body = 401, {"message": verified, "documentation_url": AUTH_DOCS}
        elif (installation_id := self.installations.get(repository.lower())) is None:
            claims = verified
            status = 404
            body = {"message": "Not Found", "documentation_url": INSTALLATION_DOCS, "status": "404"}
        else:
            claims = verified
            status, body = 200, self._installation_object(installation_id, repository)
        with self._lock:
            self.answered.append(ApiCall(repository, status, claims, dict(request.headers)))
        return JSONResponse(body, status_code=status)

    def _verified(self, request: Request) -> dict[str, Any] | str:
        """The App JWT's claims, or why GitHub refuses it (its 401 message)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "Requires authentication"
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.public_key,
                algorithms=["RS256"],
                issuer=self.app_id,
                leeway=CLOCK_DRIFT,
                options={"require": ["iat", "exp", "iss"]},
            )
        except jwt.ImmatureSignatureError:
            return (
                "'Issued at' claim ('iat') must be an Integer representing the time that the "
                "assertion was issued"
            )
        except jwt.ExpiredSignatureError:
            return (
                "'Expiration time' claim ('exp') must be a numeric value representing the "
                "future time at which the assertion expires"
            )
        except jwt.PyJWTError:
            return "A JSON web token could not be decoded"
        if claims["exp"] - claims["iat"] > MAX_JWT_LIFETIME:
            return "'Expiration time' claim ('exp') is too far in the future"
        return claims

    def _installation_object(self, installation_id: int, repository: str) -> dict[str, Any]:
        owner = repository.split("/")[0]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {
            "id": installation_id,
            "account": {
                "login": owner,
                "id": 9_919,
                "node_id": "MDEyOk9yZ2FuaXphdGlvbjk5MTk=",
                "type": "Organization",
                "site_admin": False,
            },
            "repository_selection": "selected",
            "access_tokens_url": (
                f"https://api.github.com/app/installations/{installation_id}/access_tokens"
            ),
            "repositories_url": "https://api.github.com/installation/repositories",
            "html_url": f"https://github.com/organizations/{owner}/settings/installations/"
            f"{installation_id}",
            "app_id": int(self.app_id),
            "app_slug": "highway-triggers",
            "target_id": 9_919,
            "target_type": "Organization",
            "permissions": {"contents": "read", "metadata": "read", "pull_requests": "write"},
            "events": ["push", "pull_request"],
            "created_at": now,
            "updated_at": now,
            "single_file_name": None,
            "suspended_by": None,
            "suspended_at": None,
        }


@contextmanager
def serving_api(app_id: str, public_key: rsa.RSAPublicKey) -> Iterator[tuple[FakeGitHubApi, str]]:
    """The fake served on loopback, and its URL (``HIGHWAY_GITHUB_API_URL``)."""
    api = FakeGitHubApi(app_id, public_key)
    server = ServerThread(api.app()).start()
    try:
        yield api, server.url
    finally:
        server.stop()
