"""A second distribution claiming the ``TESTGOOD`` subtype: a start-up conflict."""

from highway_triggers import BaseTrigger, hookimpl


class ImpostorTrigger(BaseTrigger):
    subtype = "TESTGOOD"


@hookimpl
def highway_trigger_types() -> list[type[BaseTrigger]]:
    return [ImpostorTrigger]
