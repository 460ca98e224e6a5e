"""The parts of a command that talks to a running gateway over its HTTP API: its options
(``--url``, ``--token``, ``--json``), the client, and how answers and refusals are shown.

The core's state commands and those plugins add (``highway_cli_commands``) use them alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import httpx

from highway_triggers.client import HighwayClient, HighwayError
from highway_triggers.settings import is_http_url

DEFAULT_URL = "http://127.0.0.1:8003"
TIMEOUT_SECONDS = 60.0
"""How long a command waits for the gateway (a deploy starts its triggers before answering)."""

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _gateway_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not is_http_url(value):
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value.rstrip("/")


def gateway_options(command: F) -> F:
    """``--url`` and ``--token``: which gateway a command talks to, and as whom."""
    command = click.option(
        "--token",
        envvar="HIGHWAY_ADMIN_TOKEN",
        show_envvar=True,
        default=None,
        help="The gateway's admin token or an API key (prefer the variable: arguments are"
        " visible to other users).",
    )(command)
    return click.option(
        "--url",
        envvar="HIGHWAY_URL",
        show_envvar=True,
        default=DEFAULT_URL,
        show_default=True,
        callback=_gateway_url,
        help="The running gateway's base URL.",
    )(command)


def json_option(command: F) -> F:
    """``--json`` (``as_json``): print the gateway's answer as JSON, for scripts."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)


def page_options(command: F) -> F:
    """``--limit``, ``--cursor`` and ``--all`` (``every_page``) of a paged listing."""
    command = click.option(
        "--all", "every_page", is_flag=True, help="Follow next_cursor to the last page."
    )(command)
    command = click.option(
        "--cursor", default=None, help="The next_cursor a previous page ended with."
    )(command)
    return click.option(
        "--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Rows a page."
    )(command)


def show(as_json: bool, value: Any, text: str) -> None:
    """``value`` as JSON with ``--json``, else ``text``."""
    click.echo(json.dumps(value, indent=2, default=str) if as_json else text)


@contextmanager
def connect(url: str, token: str | None) -> Iterator[HighwayClient]:
    """A client for the gateway at ``url``; what goes wrong becomes one clear line."""
    try:
        with HighwayClient(url, token, timeout=TIMEOUT_SECONDS) as client:
            yield client
    except httpx.TransportError as exc:
        raise click.ClickException(
            f"cannot reach the gateway at {url}: {exc or type(exc).__name__}"
            " (is it running? --url or HIGHWAY_URL names it)"
        ) from None
    except HighwayError as exc:
        raise click.ClickException(_refusal(url, token, exc)) from None


def show_answer(
    url: str,
    token: str | None,
    as_json: bool,
    request: Callable[[HighwayClient], T],
    text: Callable[[T], str],
) -> T:
    """``request`` of the gateway at ``url``: its answer, printed as JSON with ``--json``,
    else as ``text`` makes it."""
    with connect(url, token) as client:
        answer = request(client)
    show(as_json, answer, text(answer))
    return answer


def show_pages(
    url: str,
    token: str | None,
    as_json: bool,
    path: str,
    name: str,
    params: dict[str, Any],
    every_page: bool,
    text: Callable[[list[dict[str, Any]]], str],
) -> None:
    """A paged listing (``{name: [...], "count", "next_cursor"}``): one page, or with
    ``every_page`` each page to the last; where the next page starts goes to stderr."""
    rows: list[dict[str, Any]] = []
    cursor = params.get("cursor")
    with connect(url, token) as client:
        while True:
            page = client.get(path, params={**params, "cursor": cursor})
            rows += page[name]
            cursor = page["next_cursor"]
            if cursor is None or not every_page:
                break
    show(as_json, {name: rows, "count": len(rows), "next_cursor": cursor}, text(rows))
    if cursor is not None and not as_json:
        click.echo(f"more: --cursor {cursor} (or --all)", err=True)


def _refusal(url: str, token: str | None, exc: HighwayError) -> str:
    if exc.status == 401:
        sent = "the token given" if token else "a request without a token"
        return (
            f"the gateway at {url} refused {sent} ({exc.code}: {exc.message}); set"
            " HIGHWAY_ADMIN_TOKEN (or --token) to its admin token or an API key"
        )
    lines = [f"{exc.code}: {exc.message}"]
    errors = exc.body.get("errors")
    if isinstance(errors, list) and len(errors) > 1:
        lines += [
            f"  {e.get('field', '-')}: {e.get('message')}" for e in errors if isinstance(e, dict)
        ]
    return "\n".join(lines)
