"""The ``CRON`` trigger type: a schedule, fired by this gateway's scheduler."""

from __future__ import annotations

from highway_triggers import BaseTrigger
from highway_triggers_cron.config import CronConfig
from highway_triggers_cron.service import scheduler_of


class CronTrigger(BaseTrigger):
    """Starts its workflow at the times of its cron expression, once per slot across replicas."""

    subtype = "CRON"
    Config = CronConfig
    config: CronConfig
    __slots__ = ()

    @classmethod
    def index_key(cls, config: CronConfig) -> str:
        return config.cron_expression

    async def start(self) -> None:
        if self.config.enabled:
            scheduler_of(self.context).add(self)

    async def stop(self) -> None:
        scheduler_of(self.context).remove(self.id)
