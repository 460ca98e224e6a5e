"""The ``TESTGOOD`` trigger type: every hook a third-party plugin may implement.

Written only against the public plugin API (``highway_triggers`` and Starlette), the
way a third party would write it.
"""

import asyncio
import weakref
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from highway_triggers import BaseTrigger, Event, TriggerConfig, hookimpl

SUBTYPE = "TESTGOOD"
_started: "weakref.WeakSet[Any]" = weakref.WeakSet()


class Config(TriggerConfig):
    channel: str
    """Events posted to this channel start the workflow (the phase-1 index key)."""
    min_level: int = 0
    """Phase 2: only events whose payload ``level`` is at least this."""


class GoodTrigger(BaseTrigger):
    """Starts a workflow for each event posted to its channel."""

    subtype = SUBTYPE
    Config = Config

    @classmethod
    def index_key(cls, config: Config) -> str:
        return config.channel

    @classmethod
    def matches(cls, config: Config, event: Event) -> bool:
        return int(event.payload.get("level", 0)) >= config.min_level


async def post_event(request: Request) -> Response:
    """Route one TESTGOOD event to the triggers of a channel."""
    gateway = request.app.state.gateway
    payload = await request.json()
    event = Event(SUBTYPE, (request.path_params["channel"],), payload)
    result = await gateway.router.route(event)
    return JSONResponse(
        {"status": "accepted", "event_id": result.event_id, "delivered_to": result.delivered_to},
        status_code=202,
    )


async def status(request: Request) -> Response:
    """Whether this gateway ran the plugin's start-up hook."""
    return JSONResponse({"started": request.app.state.gateway in _started})


@hookimpl
def highway_trigger_types() -> list[type[BaseTrigger]]:
    return [GoodTrigger]


@hookimpl
def highway_routes(gateway: Any) -> list[BaseRoute]:
    return [
        Route("/api/v1/testgood/events/{channel}", post_event, methods=["POST"]),
        Route("/api/v1/testgood/status", status, methods=["GET"]),
    ]


@hookimpl
def highway_startup(gateway: Any) -> Any:
    async def start() -> None:
        await asyncio.sleep(0)  # a real coroutine: only a core that awaits it sets the flag
        _started.add(gateway)

    return start()


@hookimpl
def highway_migrations() -> Path:
    return Path(__file__).parent / "migrations"
