"""``EVENT`` triggers: start a workflow when a named internal or injected event arrives."""

from typing import Any

from pydantic import Field

from highway_triggers.core.event import Event
from highway_triggers.core.filters import matches_filter
from highway_triggers.core.plugins import hookimpl
from highway_triggers.core.router import EVENT_SUBTYPE
from highway_triggers.core.trigger import BaseTrigger, TriggerConfig


class EventConfig(TriggerConfig):
    event_type: str = Field(min_length=1, max_length=200)
    filter_expression: dict[str, Any] = Field(default_factory=dict)


class EventTrigger(BaseTrigger):
    """Indexed by ``event_type``; ``filter_expression`` is checked against the payload."""

    subtype = EVENT_SUBTYPE
    Config = EventConfig

    @classmethod
    def index_key(cls, config: EventConfig) -> str:
        return config.event_type

    @classmethod
    def matches(cls, config: EventConfig, event: Event) -> bool:
        return matches_filter(config.filter_expression, event.payload)


@hookimpl
def highway_trigger_types() -> list[type[BaseTrigger]]:
    return [EventTrigger]
