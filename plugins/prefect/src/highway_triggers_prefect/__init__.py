"""highway-triggers-prefect: the ``prefect`` engine, which starts flow runs of Prefect
deployments and resumes paused and suspended ones, over Prefect's REST API."""

from __future__ import annotations

from highway_triggers import hookimpl
from highway_triggers_prefect.engine import PrefectEngine


@hookimpl
def highway_engines() -> dict[str, type]:
    return {"prefect": PrefectEngine}
