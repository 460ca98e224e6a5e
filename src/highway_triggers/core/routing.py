"""The gateway's router: Starlette's, with the routes a fixed path can reach looked up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send


class IndexedRouter(Router):
    """Starlette's :class:`Router`, which tries every route in order for each request,
    with a shortcut for the paths of routes without parameters (``/api/v1/github/webhook``):
    only the routes that can match such a path are tried, in their order.

    A request answers exactly as with Starlette's router: the first route that matches it
    fully handles it, and anything else (a 405, a redirect, a 404, a path with a parameter,
    an app under a ``root_path``) goes through Starlette's own scan.
    """

    def __init__(self, routes: Sequence[BaseRoute], **kwargs: Any) -> None:
        super().__init__(list(routes), **kwargs)
        self._by_path = _routes_by_path(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            for route in self._by_path.get(scope["path"], ()):
                match, child_scope = route.matches(scope)
                if match == Match.FULL:
                    scope.setdefault("router", self)
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)


def _routes_by_path(routes: Sequence[BaseRoute]) -> dict[str, list[BaseRoute]]:
    """Each fixed path of ``routes``: the routes, in order, that may match it (those whose
    pattern matches it, and any route that has no path pattern, such as a host)."""
    fixed = [r.path for r in routes if isinstance(r, Route) and not r.param_convertors]
    return {
        path: [
            route
            for route in routes
            if (pattern := getattr(route, "path_regex", None)) is None or pattern.match(path)
        ]
        for path in fixed
    }
