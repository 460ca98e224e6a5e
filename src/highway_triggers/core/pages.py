"""Server-rendered HTML pages for plugins: Jinja2 templates, security headers, error pages.

A plugin's templates extend the core's layout ``highway/base.html`` (blocks ``title`` and
``content``). Everything is autoescaped and an undefined variable is an error, so a page
never shows a missing value as empty text.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
)
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from highway_triggers.core.errors import ConfigError, HTTPError
from highway_triggers.core.http import Endpoint, config_error
from highway_triggers.core.openapi import paged

logger = logging.getLogger(__name__)

CORE_TEMPLATES = Path(__file__).parent / "html"
"""The core's templates; they are all under ``highway/``."""

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
"""Sent with every page: no scripts, no framing, no referrer (links carry tokens), no cache."""


class Pages:
    """Server-rendered pages of one plugin: its templates folder plus the core's layout.

    Templates are looked up in ``package``'s ``folder``, then in ``search_path`` (a plain
    directory, e.g. for tests), then in the core's ``highway/`` templates.
    """

    def __init__(
        self,
        package: str | None = None,
        folder: str = "templates",
        *,
        search_path: Path | None = None,
    ) -> None:
        loaders: list[BaseLoader] = []
        if package is not None:
            loaders.append(PackageLoader(package, folder))
        if search_path is not None:
            loaders.append(FileSystemLoader(search_path))
        loaders.append(FileSystemLoader(CORE_TEMPLATES))
        self.env = Environment(
            loader=ChoiceLoader(loaders), autoescape=True, undefined=StrictUndefined
        )

    def render(
        self,
        template: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """``template`` rendered with ``context``, with :data:`SECURITY_HEADERS` (``headers``
        are added and win over them)."""
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(
            html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})}
        )

    def error(self, error: HTTPError, request: Request | None = None) -> Response:
        """An error page with the error's status and headers; the JSON error body
        instead when ``request`` prefers JSON."""
        if request is not None and _prefers_json(request):
            return JSONResponse(error.body(), status_code=error.status, headers=error.headers)
        try:
            title = f"{error.status} {HTTPStatus(error.status).phrase}"
        except ValueError:
            title = f"{error.status} Error"
        return self.render(
            "highway/error.html",
            status=error.status,
            headers=error.headers,
            title=title,
            message=error.message,
            code=error.code,
        )


def _prefers_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def html_endpoint(pages: Pages) -> Callable[[Endpoint], Endpoint]:
    """Decorate a route that answers HTML: errors raised in it become error pages.

    :class:`HTTPError` is shown as it is, :class:`ConfigError` as a 422 ``VALIDATION_ERROR``
    naming the field; anything else is logged and shown as a 500 page without details.
    ``/openapi.json`` gives the route's errors as pages or, for a client that asks for
    JSON, the error body.
    """

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def answer(request: Request) -> Response:
            try:
                return await endpoint(request)
            except HTTPError as exc:
                return pages.error(exc, request)
            except ConfigError as exc:
                return pages.error(config_error(exc), request)
            except Exception:
                logger.exception("page %s %s failed", request.method, request.url.path)
                failure = HTTPError(500, "INTERNAL_ERROR", "the page could not be shown")
                return pages.error(failure, request)

        return paged(answer)

    return decorate
