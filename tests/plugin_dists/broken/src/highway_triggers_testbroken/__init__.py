"""A plugin that fails on import: the gateway must skip it and report why."""

raise RuntimeError("highway-triggers-testbroken is broken on purpose")
