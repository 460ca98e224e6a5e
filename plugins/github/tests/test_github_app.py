"""With a GitHub App configured (``HIGHWAY_GITHUB_APP_ID``, ``_APP_PRIVATE_KEY``), a GITHUB
trigger deployed without ``installation_id`` gets the App's installation on its repository,
asked of GitHub's REST API (here a fake of it on loopback, :mod:`github_api`): stored when
found; 422 on the repository when the App is not installed there; 503 when GitHub cannot
be asked or the key is no RSA PEM; on a refusal nothing is stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from github_api import (
    CLOCK_DRIFT,
    MAX_JWT_LIFETIME,
    FakeGitHubApi,
    new_private_key,
    pem,
    serving_api,
)
from github_hub import Hub, fixture, serving, with_repository
from highway_triggers_github.app import GitHubApp

from highway_triggers.plugin import HTTPError
from highway_triggers.testing import environment, error_body, free_port, running_engine

APP_ID = "314159"
APP_KEY = new_private_key()
API_TIMEOUT = 1.5
"""``HIGHWAY_GITHUB_API_TIMEOUT_SECONDS`` of the tests' gateways."""


@contextmanager
def app_gateway(tmp_path: Path, private_key: str, api_url: str) -> Iterator[Hub]:
    """A SQLite gateway with the App :data:`APP_ID` whose key is ``private_key``, asking
    GitHub's API at ``api_url``."""
    app = {
        "HIGHWAY_GITHUB_APP_ID": APP_ID,
        "HIGHWAY_GITHUB_APP_PRIVATE_KEY": private_key,
        "HIGHWAY_GITHUB_API_URL": api_url,
        "HIGHWAY_GITHUB_API_TIMEOUT_SECONDS": str(API_TIMEOUT),
    }
    with running_engine() as (engine, engine_url), environment(app):
        with serving(f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path, engine, engine_url) as hub:
            yield hub


@pytest.fixture(scope="module")
def github_api() -> Iterator[tuple[FakeGitHubApi, str]]:
    with serving_api(APP_ID, APP_KEY.public_key()) as served:
        yield served


@pytest.fixture(scope="module")
def github(github_api: tuple[FakeGitHubApi, str]) -> FakeGitHubApi:
    return github_api[0]


@pytest.fixture(scope="module")
def app_hub(
    github_api: tuple[FakeGitHubApi, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    with app_gateway(tmp_path_factory.mktemp("github-app"), pem(APP_KEY), github_api[1]) as hub:
        yield hub


def deploy(hub: Hub, workflow_id: str, *configs: dict[str, Any]) -> httpx.Response:
    return hub.admin.post(
        f"/api/v1/deployment/workflows/{workflow_id}/deploy",
        json={"triggers": [{"type": "GITHUB", "config": config} for config in configs]},
    )


def deployment(hub: Hub, workflow_id: str) -> dict[str, Any]:
    answer = hub.admin.get(f"/api/v1/deployment/workflows/{workflow_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def routes_push(hub: Hub, workflow_id: str, repository: str) -> None:
    """A push to ``repository`` starts ``workflow_id``."""
    body = with_repository(fixture("push.added-modified"), repository)
    assert hub.deliver("push", body).status_code == 202
    hub.starts(workflow_id)


# resolved -------------------------------------------------------------------------------


def test_a_deploy_without_installation_id_stores_the_apps_installation(
    app_hub: Hub, github: FakeGitHubApi
) -> None:
    repository = Hub.repository()
    installation_id = github.install(repository)

    workflow_id = app_hub.deploy({"repository": repository})

    [trigger] = deployment(app_hub, workflow_id)["triggers"]
    assert trigger["config"]["installation_id"] == installation_id
    stored = app_hub.admin.get(f"/api/v1/triggers/{trigger['trigger_id']}").json()
    assert stored["config"]["installation_id"] == installation_id
    [call] = github.calls_for(repository)
    assert call.status == 200
    assert call.claims is not None and call.claims["iss"] == APP_ID
    assert call.headers["accept"] == "application/vnd.github+json"
    assert call.headers["x-github-api-version"] == "2022-11-28"
    routes_push(app_hub, workflow_id, repository)


def test_a_given_installation_id_is_kept_and_github_not_asked(
    app_hub: Hub, github: FakeGitHubApi
) -> None:
    repository = Hub.repository()
    github.install(repository)

    workflow_id = app_hub.deploy({"repository": repository, "installation_id": 777})

    [trigger] = deployment(app_hub, workflow_id)["triggers"]
    assert trigger["config"]["installation_id"] == 777
    assert github.calls_for(repository) == []


# not installed --------------------------------------------------------------------------


def assert_not_installed(answer: httpx.Response, field: str, repository: str) -> None:
    body = error_body(answer, 422, "VALIDATION_ERROR")
    [error] = body["errors"]
    assert error["field"] == field
    assert f"not installed on {repository}" in error["message"]
    assert APP_ID in error["message"]


def test_a_first_deploy_on_a_repository_without_the_app_is_refused(
    app_hub: Hub, github: FakeGitHubApi
) -> None:
    repository = Hub.repository()

    answer = deploy(app_hub, "gh-app-first", {"repository": repository})

    assert_not_installed(answer, "triggers[0].config.repository", repository)
    assert [c.status for c in github.calls_for(repository)] == [404]
    assert deployment(app_hub, "gh-app-first")["status"] == "UNDEPLOYED"
    assert (
        app_hub.admin.get("/api/v1/triggers", params={"workflow_id": "gh-app-first"}).json()[
            "count"
        ]
        == 0
    )


def test_a_redeploy_naming_a_repository_without_the_app_keeps_the_deployment(
    app_hub: Hub, github: FakeGitHubApi
) -> None:
    installed, other = Hub.repository(), Hub.repository()
    github.install(installed)
    workflow_id = app_hub.deploy({"repository": installed})
    before = deployment(app_hub, workflow_id)

    answer = deploy(app_hub, workflow_id, {"repository": installed}, {"repository": other})

    assert_not_installed(answer, "triggers[1].config.repository", other)
    assert deployment(app_hub, workflow_id)["triggers"] == before["triggers"]
    routes_push(app_hub, workflow_id, installed)


def test_a_standalone_trigger_on_a_repository_without_the_app_is_refused(
    app_hub: Hub, github: FakeGitHubApi
) -> None:
    installed, moved_to, other = Hub.repository(), Hub.repository(), Hub.repository()
    github.install(installed)
    moved_installation = github.install(moved_to)
    workflow_id = "gh-app-standalone"

    def create(repository: str) -> httpx.Response:
        return app_hub.admin.post(
            "/api/v1/triggers",
            json={
                "type": "GITHUB",
                "config": {"repository": repository},
                "workflow_id": workflow_id,
            },
        )

    refused = create(other)
    # named as the core's validation names a stand-alone trigger's fields
    assert_not_installed(refused, "trigger.config.repository", other)
    triggers = app_hub.admin.get("/api/v1/triggers", params={"workflow_id": workflow_id})
    assert triggers.json()["count"] == 0

    created = create(installed)
    assert created.status_code == 201, created.text
    trigger = created.json()
    url = f"/api/v1/triggers/{trigger['trigger_id']}"

    moved_away = app_hub.admin.put(url, json={"config": {"repository": other}})
    assert_not_installed(moved_away, "trigger.config.repository", other)
    assert app_hub.admin.get(url).json() == trigger
    routes_push(app_hub, workflow_id, installed)

    # an update looks the new repository up, it does not keep the old installation
    moved = app_hub.admin.put(url, json={"config": {"repository": moved_to}})
    assert moved.status_code == 200, moved.text
    assert moved.json()["config"]["installation_id"] == moved_installation


# GitHub cannot be asked -----------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502])
def test_github_answering_an_error_refuses_the_deploy_with_503(
    app_hub: Hub, github: FakeGitHubApi, status: int
) -> None:
    repository = Hub.repository()
    github.install(repository)
    deployed = app_hub.deploy({"repository": repository})
    before = deployment(app_hub, deployed)

    with github.down(status):
        first = deploy(app_hub, f"gh-app-down-{status}", {"repository": repository})
        again = deploy(app_hub, deployed, {"events": ["push", "release"], "repository": repository})

    for answer in (first, again):
        body = error_body(answer, 503, "GITHUB_API_UNAVAILABLE")
        assert f"answered {status}" in body["message"]
    assert deployment(app_hub, f"gh-app-down-{status}")["status"] == "UNDEPLOYED"
    assert deployment(app_hub, deployed)["triggers"] == before["triggers"]
    routes_push(app_hub, deployed, repository)


def test_github_not_answering_within_the_timeout_refuses_the_deploy_with_503(
    app_hub: Hub, github: FakeGitHubApi
) -> None:
    repository = Hub.repository()
    github.install(repository)

    with github.stalling():
        started = time.monotonic()
        answer = deploy(app_hub, "gh-app-stalled", {"repository": repository})
        took = time.monotonic() - started

    body = error_body(answer, 503, "GITHUB_API_UNAVAILABLE")
    assert "Timeout" in body["message"]
    assert API_TIMEOUT * 0.9 <= took < API_TIMEOUT + 3
    assert deployment(app_hub, "gh-app-stalled")["status"] == "UNDEPLOYED"


def test_github_unreachable_refuses_the_deploy_with_503(tmp_path: Path) -> None:
    nothing_listens = f"http://127.0.0.1:{free_port()}"
    with app_gateway(tmp_path, pem(APP_KEY), nothing_listens) as hub:
        answer = deploy(hub, "gh-app-unreachable", {"repository": Hub.repository()})

        body = error_body(answer, 503, "GITHUB_API_UNAVAILABLE")
        assert "ConnectError" in body["message"] and nothing_listens in body["message"]
        assert deployment(hub, "gh-app-unreachable")["status"] == "UNDEPLOYED"


# the App's private key ------------------------------------------------------------------


def test_a_pem_with_escaped_line_breaks_is_read(
    tmp_path: Path, github_api: tuple[FakeGitHubApi, str]
) -> None:
    github, url = github_api
    escaped = pem(APP_KEY).replace("\n", "\\n")
    assert "\n" not in escaped
    repository = Hub.repository()
    installation_id = github.install(repository)

    with app_gateway(tmp_path, escaped, url) as hub:
        workflow_id = hub.deploy({"repository": repository})

        [trigger] = deployment(hub, workflow_id)["triggers"]
        assert trigger["config"]["installation_id"] == installation_id
        assert [c.status for c in github.calls_for(repository)] == [200]


def ec_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


NOT_RSA_KEYS = {
    "garbled PEM": (
        "-----BEGIN RSA PRIVATE KEY-----\nTUlJRW93SUJBQUtDQVFFQXUxU1Uxc2VjcmV0\n"
        "-----END RSA PRIVATE KEY-----\n"
    ),
    "EC key": ec_key_pem(),
}


@pytest.mark.parametrize("private_key", NOT_RSA_KEYS.values(), ids=NOT_RSA_KEYS)
def test_a_private_key_that_is_no_rsa_pem_refuses_the_deploy_with_503(
    tmp_path: Path, github_api: tuple[FakeGitHubApi, str], private_key: str
) -> None:
    github, url = github_api
    repository = Hub.repository()
    github.install(repository)

    with app_gateway(tmp_path, private_key, url) as hub:
        answer = deploy(hub, "gh-app-bad-key", {"repository": repository})

        body = error_body(answer, 503, "GITHUB_APP_KEY_INVALID")
        assert "HIGHWAY_GITHUB_APP_PRIVATE_KEY" in body["message"]
        key_lines = [line for line in private_key.splitlines() if "-----" not in line]
        assert not any(line in answer.text for line in key_lines)
        assert github.calls_for(repository) == []
        assert deployment(hub, "gh-app-bad-key")["status"] == "UNDEPLOYED"


# the App JWT ----------------------------------------------------------------------------


def test_the_app_jwt_is_rs256_signed_for_the_app_and_short_lived() -> None:
    app = GitHubApp(APP_ID, pem(APP_KEY), "http://127.0.0.1:9", API_TIMEOUT)
    now = time.time()

    claims = jwt.decode(
        app.token(),
        APP_KEY.public_key(),
        algorithms=["RS256"],
        issuer=APP_ID,
        options={"require": ["iat", "exp", "iss"]},
    )

    assert claims["iss"] == APP_ID
    assert now - CLOCK_DRIFT - 1 <= claims["iat"] <= now
    assert claims["exp"] > now + 60
    assert claims["exp"] - claims["iat"] <= MAX_JWT_LIFETIME


def test_the_app_jwt_is_dated_from_the_time_given() -> None:
    app = GitHubApp(APP_ID, pem(APP_KEY), "http://127.0.0.1:9", API_TIMEOUT)
    then = 1_700_000_000

    claims = jwt.decode(
        app.token(now=then),
        APP_KEY.public_key(),
        algorithms=["RS256"],
        options={"verify_exp": False},
    )

    assert then - CLOCK_DRIFT <= claims["iat"] <= then < claims["exp"]
    assert claims["exp"] - claims["iat"] <= MAX_JWT_LIFETIME


def test_a_jwt_github_refuses_is_a_503_not_a_missing_installation(
    github_api: tuple[FakeGitHubApi, str],
) -> None:
    github, url = github_api
    repository = Hub.repository()
    github.install(repository)
    wrong_key = GitHubApp(APP_ID, pem(new_private_key()), url, API_TIMEOUT)

    with pytest.raises(HTTPError) as refused:
        asyncio.run(wrong_key.installation_of(repository))

    assert (refused.value.status, refused.value.code) == (503, "GITHUB_API_UNAVAILABLE")
    assert "answered 401" in refused.value.message
    assert [c.status for c in github.calls_for(repository)] == [401]


# the fake verifies the JWT as GitHub does -----------------------------------------------


def signed(key: rsa.RSAPrivateKey = APP_KEY, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iat": now - 30, "exp": now + 500, "iss": APP_ID, **changes}
    return jwt.encode(claims, key, algorithm="RS256")


def test_the_fake_github_takes_a_valid_app_jwt(github_api: tuple[FakeGitHubApi, str]) -> None:
    github, url = github_api
    repository = Hub.repository()
    installation_id = github.install(repository)

    answer = httpx.get(
        f"{url}/repos/{repository}/installation",
        headers={"Authorization": f"Bearer {signed()}"},
    )

    assert answer.status_code == 200
    assert answer.json()["id"] == installation_id
    assert answer.json()["app_id"] == int(APP_ID)


BAD_JWTS: dict[str, Callable[[], str]] = {
    "another key": lambda: signed(new_private_key()),
    "another app": lambda: signed(iss="271828"),
    "longer than ten minutes": lambda: signed(exp=int(time.time()) + 700),
    "issued in the future": lambda: signed(iat=int(time.time()) + 2 * CLOCK_DRIFT),
    "expired": lambda: signed(iat=int(time.time()) - 700, exp=int(time.time()) - 2 * CLOCK_DRIFT),
    "HS256": lambda: jwt.encode({"iss": APP_ID}, "x" * 32, algorithm="HS256"),
}


@pytest.mark.parametrize("token", BAD_JWTS.values(), ids=BAD_JWTS)
def test_the_fake_github_refuses_a_bad_app_jwt(
    github_api: tuple[FakeGitHubApi, str], token: Callable[[], str]
) -> None:
    github, url = github_api
    repository = Hub.repository()
    github.install(repository)

    answer = httpx.get(
        f"{url}/repos/{repository}/installation",
        headers={"Authorization": f"Bearer {token()}"},
    )

    assert answer.status_code == 401
    assert answer.json()["documentation_url"].startswith("https://docs.github.com/")
    assert [c.claims for c in github.calls_for(repository)] == [None]
