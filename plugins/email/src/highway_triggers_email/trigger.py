"""``EMAIL`` triggers: start a workflow on the messages of an IMAP mailbox that pass the
trigger's filters."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from highway_triggers import BaseTrigger, Event
from highway_triggers.plugin import ConfigError, GatewayContext
from highway_triggers_email.config import ENV_NAME_PATTERN, EmailConfig
from highway_triggers_email.matcher import mismatch
from highway_triggers_email.service import service_of
from highway_triggers_email.watcher import SUBTYPE


class EmailTrigger(BaseTrigger):
    """Indexed by its watched address; the mailbox's watcher routes each message to the
    triggers of that mailbox."""

    subtype = SUBTYPE
    Config = EmailConfig
    config: EmailConfig
    __slots__ = ()

    @classmethod
    def index_key(cls, config: EmailConfig) -> str:
        return config.index_address

    @classmethod
    def matches(cls, config: EmailConfig, event: Event) -> bool:
        return cls.mismatch(config, event) is None

    @classmethod
    def mismatch(cls, config: EmailConfig, event: Event) -> str | None:
        return mismatch(config, event.payload, int(event.meta.get("attachment_count", 0)))

    @classmethod
    def prepare_config(
        cls, config: dict[str, Any], *, workflow_id: str, seal: Callable[[str], str]
    ) -> dict[str, Any]:
        """The password sealed (a sealed one stays as it is)."""
        if isinstance(password := config.get("password"), str) and password:
            return {**config, "password": seal(password)}
        return config

    @classmethod
    async def resolve_config(
        cls, config: dict[str, Any], *, context: GatewayContext
    ) -> dict[str, Any]:
        """``password_env`` must name a variable set on this replica (422 otherwise); what
        validation refuses (a malformed name, a password besides) it names itself."""
        name = config.get("password_env")
        if (
            isinstance(name, str)
            and re.fullmatch(ENV_NAME_PATTERN, name)
            and config.get("password") is None
            and not os.environ.get(name)
        ):
            message = f"the environment variable {name} is not set"
            raise ConfigError([{"field": "password_env", "message": message}])
        return config

    async def start(self) -> None:
        await service_of(self.context).add(self)

    async def stop(self) -> None:
        await service_of(self.context).remove(self)
