"""``GOOGLE_CALENDAR`` triggers: start a workflow when a calendar's events are created,
updated, cancelled, or about to start."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from highway_triggers import BaseTrigger, Event
from highway_triggers_gcal.config import GcalConfig
from highway_triggers_gcal.matcher import mismatch
from highway_triggers_gcal.poller import SUBTYPE
from highway_triggers_gcal.service import service_of

SEALED_FIELDS = ("client_secret", "refresh_token", "private_key")


class GcalTrigger(BaseTrigger):
    """Indexed by its calendar; its own poller routes the calendar's changes to it."""

    subtype = SUBTYPE
    Config = GcalConfig
    config: GcalConfig
    __slots__ = ()

    @classmethod
    def index_key(cls, config: GcalConfig) -> str:
        return config.calendar_id

    @classmethod
    def matches(cls, config: GcalConfig, event: Event) -> bool:
        return mismatch(config, event.payload) is None

    @classmethod
    def mismatch(cls, config: GcalConfig, event: Event) -> str | None:
        return mismatch(config, event.payload)

    @classmethod
    def prepare_config(
        cls, config: dict[str, Any], *, workflow_id: str, seal: Callable[[str], str]
    ) -> dict[str, Any]:
        """The credentials' secrets sealed (a sealed one stays as it is)."""
        credentials = config.get("credentials")
        if not isinstance(credentials, dict):
            return config
        sealed = {
            name: seal(value)
            if name in SEALED_FIELDS and isinstance(value, str) and value
            else value
            for name, value in credentials.items()
        }
        return {**config, "credentials": sealed}

    async def start(self) -> None:
        await service_of(self.context).add(self)

    async def stop(self) -> None:
        await service_of(self.context).remove(self)
