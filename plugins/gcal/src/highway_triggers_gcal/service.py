"""The plugin's service in one gateway: a poller per GOOGLE_CALENDAR trigger, each run
under the trigger's lease (one replica at a time), and what health shows of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from highway_triggers.plugin import GatewayContext
from highway_triggers_gcal.metrics import GcalMetrics
from highway_triggers_gcal.poller import Poller
from highway_triggers_gcal.settings import GcalSettings
from highway_triggers_gcal.store import Store

if TYPE_CHECKING:
    from highway_triggers_gcal.trigger import GcalTrigger


def service_of(context: GatewayContext) -> GcalService:
    """The gateway's calendar service, made on first use (triggers start before start-up)."""
    return context.state(GcalService, lambda: GcalService(context))


class GcalService:
    """Pollers by trigger id."""

    def __init__(self, context: GatewayContext) -> None:
        self._context = context
        self.settings = context.plugin_settings(GcalSettings)
        self.store = Store(context.database, context.triggers)
        self.pollers: dict[str, Poller] = {}
        self.metrics = GcalMetrics(context.metrics, self._polling)

    async def add(self, trigger: GcalTrigger) -> None:
        poller = Poller(trigger, self._context, self.settings, self.store, self.metrics)
        self.pollers[trigger.id] = poller
        leases, ttl = self._context.leases, self.settings.lease_seconds
        self._context.tasks.spawn(
            poller.lease, lambda: leases.run_while_held(poller.lease, ttl, poller.run)
        )

    async def remove(self, trigger: GcalTrigger) -> None:
        """Stop the trigger's poller; an undeployed trigger's channels and state go too."""
        poller = self.pollers.pop(trigger.id, None)
        if poller is None:
            return
        await self._context.tasks.cancel(poller.lease)
        if not await self.store.deployed(trigger.id):
            await poller.retire()

    def poke(self, trigger_id: str) -> bool:
        """Sync the trigger now, if this replica runs its poller."""
        poller = self.pollers.get(trigger_id)
        if poller is not None:
            poller.poke()
        return poller is not None

    def _polling(self) -> int:
        return sum(1 for poller in self.pollers.values() if poller.state.polling)

    def health(self) -> dict[str, Any]:
        pollers = sorted(self.pollers.values(), key=lambda p: p.trigger.id)
        return {
            "api_base": self.settings.api_base,
            "calendars": [p.describe() for p in pollers],
            "problems": [p for poller in pollers if (p := poller.problem()) is not None],
        }
