"""highway-triggers: turn outside occurrences into starts and resumes of workflow runs."""

from highway_triggers.core.event import Event, RouteResult
from highway_triggers.core.plugins import hookimpl
from highway_triggers.core.trigger import BaseTrigger, TriggerConfig

__all__ = ["BaseTrigger", "Event", "RouteResult", "TriggerConfig", "hookimpl"]
__version__ = "0.1.0"
