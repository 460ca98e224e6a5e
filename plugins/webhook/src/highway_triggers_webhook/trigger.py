"""``WEBHOOK`` triggers: start a workflow on requests to ``/api/v1/public/webhook/{path}``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import AfterValidator, Field, ValidationError, field_validator

from highway_triggers import BaseTrigger, TriggerConfig
from highway_triggers.plugin import AUTH, Auth, NoAuth
from highway_triggers_webhook.options import WebhookOptions

SUBTYPE = "WEBHOOK"
Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
METHODS: tuple[str, ...] = get_args(Method)
PATH_MAX_LENGTH = 200
PATH_RULE = (
    f"at most {PATH_MAX_LENGTH} characters: segments of ASCII letters, digits and ._~- "
    "joined by /, none of them . or .."
)
PATH_PATTERN = r"^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$"
_SEGMENTS = re.compile(PATH_PATTERN)


def is_webhook_path(path: str) -> bool:
    """Whether a WEBHOOK trigger may be deployed at ``path`` (:data:`PATH_RULE`)."""
    return (
        len(path) <= PATH_MAX_LENGTH
        and _SEGMENTS.fullmatch(path) is not None
        and not {".", ".."} & set(path.split("/"))
    )


def _webhook_path(path: str) -> str:
    if not is_webhook_path(path):
        raise ValueError(PATH_RULE)
    return path


WebhookPath = Annotated[str, AfterValidator(_webhook_path)]


class WebhookConfig(TriggerConfig, WebhookOptions):
    """A WEBHOOK trigger's config; ``webhook_path`` defaults to the workflow id at deploy."""

    webhook_path: WebhookPath
    allowed_methods: list[Method] = Field(default=["POST"], min_length=1)
    auth: Auth = Field(default_factory=NoAuth)

    @field_validator("allowed_methods", mode="before")
    @classmethod
    def _upper(cls, methods: Any) -> Any:
        if isinstance(methods, list):
            return [m.upper() if isinstance(m, str) else m for m in methods]
        return methods


class WebhookTrigger(BaseTrigger):
    """Indexed by its path, which no other active WEBHOOK trigger may hold."""

    subtype = SUBTYPE
    Config = WebhookConfig
    exclusive_index_key = True

    __slots__ = ("guard",)

    def __init__(self, **fields: Any) -> None:
        super().__init__(**fields)
        # built here, so that a config whose secrets cannot be unsealed is never indexed
        config = cast(WebhookConfig, self.config)
        self.guard = config.guard(config.auth, self.context.unseal)

    @classmethod
    def index_key(cls, config: WebhookConfig) -> str:
        return config.webhook_path

    @classmethod
    def prepare_config(
        cls, config: dict[str, Any], *, workflow_id: str, seal: Callable[[str], str]
    ) -> dict[str, Any]:
        """The workflow id as the default path; the auth object's secrets sealed."""
        prepared = {**config, "webhook_path": config.get("webhook_path", workflow_id)}
        if isinstance(path := prepared["webhook_path"], str):
            prepared["webhook_path"] = path.strip("/")
        try:
            auth = AUTH.validate_python(config["auth"])
        except (KeyError, ValidationError):
            return prepared  # no secrets, or an error that validation will name
        prepared["auth"] = auth.sealed(seal).model_dump(mode="json")
        return prepared
