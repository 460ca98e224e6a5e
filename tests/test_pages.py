"""HTML pages (core.pages): autoescaped templates on the core's layout, security headers,
and error pages from ``html_endpoint``, served by a real uvicorn server."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from highway_triggers.core.errors import ConfigError, HTTPError
from highway_triggers.core.pages import SECURITY_HEADERS, Pages, html_endpoint
from highway_triggers.testing import ServerThread

PAGE = """{% extends "highway/base.html" %}
{% block title %}Approve {{ name }}{% endblock %}
{% block content %}<p id="who">{{ name }}</p>{% endblock %}
"""


def app(pages: Pages) -> Starlette:
    html = html_endpoint(pages)

    @html
    async def page(request: Request) -> Response:
        status = int(request.query_params.get("status", "200"))
        return pages.render(
            "page.html", status=status, headers={"X-Extra": "1"}, name=request.query_params["name"]
        )

    @html
    async def note(request: Request) -> Response:
        return pages.render("note.txt", text=request.query_params["text"])

    @html
    async def refused(request: Request) -> Response:
        raise HTTPError(409, "ALREADY_DECIDED", "<b>run</b> & co", headers={"Retry-After": "7"})

    @html
    async def invalid(request: Request) -> Response:
        raise ConfigError([{"field": "approvers", "message": "must not be empty"}])

    @html
    async def crash(request: Request) -> Response:
        raise RuntimeError("secret-internal-detail")

    @html
    async def undefined(request: Request) -> Response:
        return pages.render("page.html")  # no `name`: StrictUndefined refuses to render

    return Starlette(
        routes=[
            Route("/page", page),
            Route("/note", note),
            Route("/refused", refused),
            Route("/invalid", invalid),
            Route("/crash", crash),
            Route("/undefined", undefined),
        ]
    )


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("templates")
    (folder / "page.html").write_text(PAGE)
    (folder / "note.txt").write_text("note: {{ text }}\n")
    server = ServerThread(app(Pages(search_path=folder))).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        server.stop()


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name


def test_page_on_the_core_layout_with_security_headers(client: httpx.Client) -> None:
    response = client.get("/page", params={"name": "Ada"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert_security_headers(response)
    assert response.headers["x-extra"] == "1"
    text = response.text
    assert text.startswith("<!doctype html>")
    assert '<html lang="en">' in text and '<meta charset="utf-8">' in text
    assert 'name="viewport"' in text
    assert "<title>Approve Ada</title>" in text
    assert '<main>\n<p id="who">Ada</p>\n</main>' in text
    # the layout loads nothing and runs nothing
    assert "<script" not in text and "<link" not in text and "src=" not in text


def test_context_is_autoescaped_in_every_template(client: httpx.Client) -> None:
    attack = '<script>alert("x")</script>'
    text = client.get("/page", params={"name": attack}).text
    assert attack not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
    note = client.get("/note", params={"text": "<img src=x>"}).text
    assert note.strip() == "note: &lt;img src=x&gt;"


def test_status_passes_through(client: httpx.Client) -> None:
    response = client.get("/page", params={"name": "Ada", "status": "202"})
    assert response.status_code == 202
    assert "Ada" in response.text
    assert_security_headers(response)


def test_http_error_becomes_an_error_page(client: httpx.Client) -> None:
    response = client.get("/refused", headers={"Accept": "text/html,application/json;q=0.9"})
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["retry-after"] == "7"
    assert_security_headers(response)
    text = response.text
    assert "<title>409 Conflict</title>" in text
    assert "&lt;b&gt;run&lt;/b&gt; &amp; co" in text and "<b>run</b>" not in text
    assert "ALREADY_DECIDED" in text


def test_json_error_body_when_json_is_preferred(client: httpx.Client) -> None:
    response = client.get("/refused", headers={"Accept": "application/json"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "7"
    assert response.json() == {
        "status": "error",
        "code": "ALREADY_DECIDED",
        "message": "<b>run</b> & co",
    }


def test_config_error_is_a_422_naming_the_field(client: httpx.Client) -> None:
    page = client.get("/invalid")
    assert page.status_code == 422
    assert "VALIDATION_ERROR" in page.text and "approvers: must not be empty" in page.text
    body = client.get("/invalid", headers={"Accept": "application/json"}).json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["errors"] == [{"field": "approvers", "message": "must not be empty"}]


def test_unexpected_exception_is_a_500_page_without_details(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="highway_triggers.core.pages"):
        response = client.get("/crash")
    assert response.status_code == 500
    assert_security_headers(response)
    assert "<title>500 Internal Server Error</title>" in response.text
    assert "INTERNAL_ERROR" in response.text
    for detail in ("secret-internal-detail", "RuntimeError", "Traceback"):
        assert detail not in response.text
    (record,) = [r for r in caplog.records if r.name == "highway_triggers.core.pages"]
    assert record.exc_info is not None and "secret-internal-detail" in str(record.exc_info[1])


def test_undefined_variable_is_a_500_not_an_empty_value(client: httpx.Client) -> None:
    response = client.get("/undefined")
    assert response.status_code == 500
    assert "<title>Approve" not in response.text


def test_templates_from_a_package() -> None:
    pages = Pages("highway_triggers.core", "html/highway")
    response = pages.render("error.html", title="T", message="M", code="C")
    assert b"<title>T</title>" in response.body
