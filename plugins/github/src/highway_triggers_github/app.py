"""The GitHub App's own API calls: which installation serves a repository."""

from __future__ import annotations

import time

import httpx
import jwt

from highway_triggers.plugin import HTTPError

API_VERSION = "2022-11-28"
JWT_LIFETIME = 540
"""Seconds an App JWT is valid (GitHub's limit is 10 minutes)."""
CLOCK_DRIFT = 60
"""Seconds ``iat`` is set back, as GitHub advises against clock drift."""


class GitHubApp:
    """An App (id and RS256 private key) talking to the REST API at ``api_url``."""

    def __init__(self, app_id: str, private_key: str, api_url: str, timeout: float) -> None:
        self._app_id = app_id
        self._private_key = private_key
        self._api_url = api_url
        self._timeout = timeout

    def token(self, now: float | None = None) -> str:
        """An App JWT (RS256): ``iss`` the App id, valid :data:`JWT_LIFETIME` seconds."""
        issued = int(time.time() if now is None else now) - CLOCK_DRIFT
        claims = {"iat": issued, "exp": issued + CLOCK_DRIFT + JWT_LIFETIME, "iss": self._app_id}
        try:
            return jwt.encode(claims, self._private_key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise HTTPError(
                503,
                "GITHUB_APP_KEY_INVALID",
                "HIGHWAY_GITHUB_APP_PRIVATE_KEY is not an RSA private key in PEM form "
                f"({type(exc).__name__})",
            ) from None

    async def installation_of(self, repository: str) -> int | None:
        """The id of the App's installation on ``owner/name``; ``None`` when the App is not
        installed there. 503 ``GITHUB_API_UNAVAILABLE`` when GitHub cannot be asked."""
        url = f"{self._api_url}/repos/{repository}/installation"
        headers = {
            "Authorization": f"Bearer {self.token()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                answer = await client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise _unavailable(f"{type(exc).__name__} from {self._api_url}") from None
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise _unavailable(f"{self._api_url} answered {answer.status_code}")
        try:
            found = answer.json()["id"]
        except (ValueError, KeyError, TypeError):
            found = None
        if not isinstance(found, int) or isinstance(found, bool):
            raise _unavailable(f"{self._api_url} answered without an installation id")
        return found


def _unavailable(why: str) -> HTTPError:
    return HTTPError(
        503, "GITHUB_API_UNAVAILABLE", f"the GitHub API could not resolve the installation: {why}"
    )
