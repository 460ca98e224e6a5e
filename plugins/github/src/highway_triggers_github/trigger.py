"""``GITHUB`` triggers: start a workflow on repository events that pass its filters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard, cast

from pydantic import TypeAdapter, ValidationError

from highway_triggers import BaseTrigger, Event
from highway_triggers.plugin import ConfigError, GatewayContext, GitHubAuth, IngressGuard
from highway_triggers_github.app import GitHubApp
from highway_triggers_github.config import GitHubConfig, Repository
from highway_triggers_github.matcher import mismatch
from highway_triggers_github.settings import GitHubSettings

SUBTYPE = "GITHUB"
_REPOSITORY: TypeAdapter[str] = TypeAdapter(Repository)


def _is_repository(value: Any) -> TypeGuard[str]:
    """Whether ``value`` is a valid ``owner/name`` (else validation names the error)."""
    try:
        _REPOSITORY.validate_python(value)
    except ValidationError:
        return False
    return True


class GitHubTrigger(BaseTrigger):
    """Indexed by its repository (lower case); its own secret, if any, verifies deliveries."""

    subtype = SUBTYPE
    Config = GitHubConfig

    __slots__ = ("guard",)

    def __init__(self, **fields: Any) -> None:
        super().__init__(**fields)
        # built here, so that a config whose secrets cannot be unsealed is never indexed
        config = cast(GitHubConfig, self.config)
        self.guard: IngressGuard | None = None
        """The check of the repository's own secret; ``None``: the gateway-wide secret."""
        if config.own_secrets:
            self.guard = self.context.guard(GitHubAuth(type="github", secrets=config.own_secrets))

    @classmethod
    def index_key(cls, config: GitHubConfig) -> str:
        return config.repository_key

    @classmethod
    def matches(cls, config: GitHubConfig, event: Event) -> bool:
        return mismatch(config, event.payload) is None

    @classmethod
    def mismatch(cls, config: GitHubConfig, event: Event) -> str | None:
        return mismatch(config, event.payload)

    @classmethod
    def prepare_config(
        cls, config: dict[str, Any], *, workflow_id: str, seal: Callable[[str], str]
    ) -> dict[str, Any]:
        """The webhook secrets sealed (a sealed one stays as it is)."""
        prepared = dict(config)
        if isinstance(secret := config.get("secret"), str) and secret:
            prepared["secret"] = seal(secret)
        if isinstance(secrets := config.get("secrets"), list):
            prepared["secrets"] = [seal(s) if isinstance(s, str) and s else s for s in secrets]
        return prepared

    @classmethod
    async def resolve_config(
        cls, config: dict[str, Any], *, context: GatewayContext
    ) -> dict[str, Any]:
        """A secret must verify the repository's deliveries; with the GitHub App configured,
        a missing ``installation_id`` is looked up (422 on ``repository`` when the App is
        not installed there, 503 when GitHub cannot be asked)."""
        settings = context.plugin_settings(GitHubSettings)
        if not (config.get("secret") or config.get("secrets") or settings.webhook_secrets):
            message = "give the repository webhook's secret, or set HIGHWAY_GITHUB_WEBHOOK_SECRET"
            raise ConfigError([{"field": "secret", "message": message}])
        repository = config.get("repository")
        if (
            settings.app_id is None
            or settings.private_key is None
            or config.get("installation_id") is not None
            or not _is_repository(repository)
        ):
            return config
        app = GitHubApp(
            settings.app_id, settings.private_key, settings.api_url, settings.api_timeout_seconds
        )
        installation = await app.installation_of(repository)
        if installation is None:
            message = f"the GitHub App {settings.app_id} is not installed on {repository}"
            raise ConfigError([{"field": "repository", "message": message}])
        return {**config, "installation_id": installation}
