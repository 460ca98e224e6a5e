"""A second distribution whose entry point has the name of ``highway-triggers-testgood``'s:
reported, not silently skipped."""

from highway_triggers import BaseTrigger, hookimpl


class SameNameTrigger(BaseTrigger):
    subtype = "TESTSAMENAME"


@hookimpl
def highway_trigger_types() -> list[type[BaseTrigger]]:
    return [SameNameTrigger]
