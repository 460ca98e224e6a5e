"""A plugin whose hook name is misspelled: ``pm.check_pending()`` must refuse it."""

from highway_triggers import BaseTrigger, hookimpl


@hookimpl
def highway_trigger_typs() -> list[type[BaseTrigger]]:
    return []
