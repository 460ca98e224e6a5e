"""GITHUB triggers' filters through the real route: one trigger per case on a repository of
its own, one signed delivery, and either a run started or a ``filtered`` delivery log row
saying why; then the 422s of configs that cannot work, and the matcher and trigger data on
payloads too odd to send (they must never raise)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from github_hub import Hub, fixture, with_repository
from highway_triggers_github.config import GitHubConfig
from highway_triggers_github.delivery import correlation_keys, repository_name, trigger_data
from highway_triggers_github.matcher import mismatch
from hypothesis import given, settings
from hypothesis import strategies as st

from highway_triggers.testing import gateway_settings, running_gateway, validation_errors

Delivery = tuple[str, str]
"""``(X-GitHub-Event, payload)``: a fixture file's name, or one of :data:`BUILT`."""
PUSH: Delivery = ("push", "push.added-modified")
NEW_BRANCH: Delivery = ("push", "push.new-branch")
PR_OPENED: Delivery = ("pull_request", "pull_request.opened")
PR_SYNCHRONIZE: Delivery = ("pull_request", "pull_request.synchronize")
PR_CLOSED: Delivery = ("pull_request", "pull_request.closed.merged")
PR_TARGET: Delivery = ("pull_request_target", "pull_request.opened")
ISSUE_OPENED: Delivery = ("issues", "issues.opened")
ISSUE_COMMENT: Delivery = ("issue_comment", "issue_comment.created")
RELEASE: Delivery = ("release", "release.published")
WORKFLOW_RUN: Delivery = ("workflow_run", "workflow_run.completed")
CHECK_SUITE: Delivery = ("check_suite", "check_suite.completed")
CREATE_TAG: Delivery = ("create", "create.tag")
DELETE_BRANCH: Delivery = ("delete", "delete.branch")
SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
BUILT: dict[str, dict[str, Any]] = {
    # event types without a captured fixture, in the shape of GitHub's payload reference
    "issue_comment.created": {
        **json.loads(fixture("issues.opened")),
        "action": "created",
        "comment": {"id": 492700400, "body": "You are totally right!", "user": {"login": "x"}},
    },
    "check_suite.completed": {
        "action": "completed",
        "check_suite": {"id": 118578147, "head_branch": "main", "head_sha": SHA},
    },
    "create.tag": {"ref": "v1.0.0", "ref_type": "tag", "master_branch": "main"},
    "delete.branch": {"ref": "feature/done", "ref_type": "branch", "pusher_type": "user"},
}
ROUTED = None
"""A case's expectation: a run starts (else the fragment of the delivery log's reason)."""


def payload_of(name: str) -> dict[str, Any]:
    """A fixture payload, or a built one (around the repository and sender of a fixture)."""
    if name not in BUILT:
        return dict(json.loads(fixture(name)))
    around = json.loads(fixture("issues.opened"))
    return {"repository": around["repository"], "sender": around["sender"], **BUILT[name]}


def edited(name: str, repository: str, edits: dict[str, Any]) -> bytes:
    """The payload ``name`` on ``repository``, with ``edits`` (``"a.b": value``) applied."""
    payload = payload_of(name)
    for path, value in edits.items():
        *parents, last = path.split(".")
        target = payload
        for key in parents:
            target = target[key]
        target[last] = value
    return with_repository(json.dumps(payload).encode(), repository)


def on_push(**push: Any) -> dict[str, Any]:
    """A config taking pushes filtered by ``push`` (``branches=[...]`` …)."""
    return {"event_config": {"push": push}}


def on(event: str, **filters: Any) -> dict[str, Any]:
    """A config taking ``event`` only, filtered by ``filters`` (``actions=[...]`` …)."""
    return {"events": [event], "event_config": {event: filters}}


def branch(name: str) -> dict[str, Any]:
    return {"ref": f"refs/heads/{name}"}


def tag(name: str) -> dict[str, Any]:
    return {"ref": f"refs/tags/{name}"}


def commits(*changes: dict[str, list[str]], author: str = "Codertocat") -> dict[str, Any]:
    """A push's ``commits``, one per ``{"added"/"modified"/"removed": [paths]}`` given."""
    listed = [
        {
            "id": f"{number:040x}",
            "message": f"commit {number}",
            "author": {"name": author, "email": f"{author}@example.com", "username": author},
            "added": [],
            "modified": [],
            "removed": [],
            **change,
        }
        for number, change in enumerate(changes, 1)
    ]
    return {"commits": listed}


def sender(login: str, kind: str = "User") -> dict[str, Any]:
    return {"sender.login": login, "sender.type": kind}


def deleted(ref: str) -> dict[str, Any]:
    """A push that deletes ``ref``, as GitHub sends it: no commits, ``after`` all zeros."""
    return {"ref": ref, "deleted": True, "created": False, "after": "0" * 40, "commits": []}


def case(
    name: str,
    config: dict[str, Any],
    delivery: Delivery,
    edits: dict[str, Any],
    why_not: str | None,
) -> Any:
    return pytest.param(config, delivery, edits, why_not, id=name)


CASES = [
    # branches: GitHub's globs
    case("push/no-filter", {}, PUSH, {}, ROUTED),
    case("push/branch-listed", on_push(branches=["master"]), PUSH, {}, ROUTED),
    case(
        "push/branch-not-listed",
        on_push(branches=["main"]),
        PUSH,
        branch("dev"),
        "branch 'dev' is not in branches",
    ),
    case(
        "push/branch-case-sensitive",
        on_push(branches=["main"]),
        PUSH,
        branch("Main"),
        "branch 'Main' is not in branches",
    ),
    case("push/star-one-level", on_push(branches=["feature/*"]), PUSH, branch("feature/x"), ROUTED),
    case(
        "push/star-not-across-slash",
        on_push(branches=["feature/*"]),
        PUSH,
        branch("feature/a/b"),
        "branch 'feature/a/b' is not in branches",
    ),
    case(
        "push/double-star-across-slash",
        on_push(branches=["feature/**"]),
        PUSH,
        branch("feature/a/b"),
        ROUTED,
    ),
    case(
        "push/question-optional-char",
        on_push(branches=["releases?/*"]),
        PUSH,
        branch("release/2.0"),
        ROUTED,
    ),
    case("push/plus-repeats", on_push(branches=["v[0-9]+"]), PUSH, branch("v123"), ROUTED),
    case(
        "push/plus-needs-one",
        on_push(branches=["v[0-9]+"]),
        PUSH,
        branch("v"),
        "branch 'v' is not in branches",
    ),
    case(
        "push/set-not-listed",
        on_push(branches=["[ab]-team"]),
        PUSH,
        branch("c-team"),
        "branch 'c-team' is not in branches",
    ),
    case("push/set-range", on_push(branches=["team-[a-c]"]), PUSH, branch("team-b"), ROUTED),
    # '!' and order: the last matching pattern decides
    case(
        "push/negation-after-excludes",
        on_push(branches=["releases/**", "!releases/**-alpha"]),
        PUSH,
        branch("releases/2.0-alpha"),
        "branch 'releases/2.0-alpha' is not in branches",
    ),
    case(
        "push/negation-before-is-overridden",
        on_push(branches=["!releases/**-alpha", "releases/**"]),
        PUSH,
        branch("releases/2.0-alpha"),
        ROUTED,
    ),
    case(
        "push/negation-spares-others",
        on_push(branches=["releases/**", "!releases/**-alpha"]),
        PUSH,
        branch("releases/2.0"),
        ROUTED,
    ),
    # branches_ignore
    case(
        "push/branches-ignore-hit",
        on_push(branches_ignore=["dependabot/**"]),
        PUSH,
        branch("dependabot/npm/left-pad"),
        "branch 'dependabot/npm/left-pad' is in branches_ignore",
    ),
    case("push/branches-ignore-miss", on_push(branches_ignore=["dependabot/**"]), PUSH, {}, ROUTED),
    case(
        "push/branches-ignore-negated",
        on_push(branches_ignore=["releases/**", "!releases/keep"]),
        PUSH,
        branch("releases/keep"),
        ROUTED,
    ),
    # tags
    case("push/tag-listed", on_push(tags=["v1.*"]), PUSH, tag("v1.2"), ROUTED),
    case(
        "push/tag-not-listed",
        on_push(tags=["v1.*"]),
        PUSH,
        tag("v2.0"),
        "tag 'v2.0' is not in tags",
    ),
    case(
        "push/tags-ignore-hit",
        on_push(tags_ignore=["*-rc*"]),
        PUSH,
        tag("v1.0-rc1"),
        "tag 'v1.0-rc1' is in tags_ignore",
    ),
    case(
        "push/branch-only-filter-vs-tag",
        on_push(branches=["**"]),
        PUSH,
        tag("v1.0"),
        "tag 'v1.0': only branches are filtered for",
    ),
    case(
        "push/tag-only-filter-vs-branch",
        on_push(tags=["**"]),
        PUSH,
        {},
        "branch 'master': only tags are filtered for",
    ),
    case("push/both-filters-tag", on_push(branches=["main"], tags=["v*"]), PUSH, tag("v3"), ROUTED),
    case(
        "push/both-filters-branch",
        on_push(branches=["main"], tags=["v*"]),
        PUSH,
        branch("main"),
        ROUTED,
    ),
    case(
        "push/ignore-only-branches-vs-tag",
        on_push(branches_ignore=["wip/**"]),
        PUSH,
        tag("v1.0"),
        "tag 'v1.0': only branches are filtered for",
    ),
    # paths: every commit's added, modified and removed files
    case(
        "push/paths-none-changed",
        on_push(paths=["docs/**"]),
        PUSH,
        commits({"modified": ["src/app.py"]}, {"added": ["README.md"]}),
        "none of the 2 changed files is in paths",
    ),
    case(
        "push/paths-file-only-removed",
        on_push(paths=["docs/**"]),
        PUSH,
        commits({"removed": ["docs/old.md"], "modified": ["src/app.py"]}),
        ROUTED,
    ),
    case(
        "push/paths-file-in-second-commit",
        on_push(paths=["docs/**"]),
        PUSH,
        commits({"modified": ["src/app.py"]}, {"added": ["docs/new/guide.md"]}),
        ROUTED,
    ),
    case(
        "push/paths-double-star-root",
        on_push(paths=["**/README.md"]),
        NEW_BRANCH,
        {},
        ROUTED,
    ),
    case(
        "push/paths-star-not-across-slash",
        on_push(paths=["*.rb"]),
        PUSH,
        {},
        "none of the 2 changed files is in paths",
    ),
    case(
        "push/paths-negated-tests",
        on_push(paths=["src/**", "!src/**/*_test.py"]),
        PUSH,
        commits({"modified": ["src/a/b_test.py"]}),
        "none of the 1 changed files is in paths",
    ),
    case(
        "push/paths-ignore-all",
        on_push(paths_ignore=["docs/**", "*.md"]),
        PUSH,
        commits({"modified": ["docs/a.md"]}, {"removed": ["CHANGELOG.md"]}),
        "all 2 changed files are in paths_ignore",
    ),
    case(
        "push/paths-ignore-some",
        on_push(paths_ignore=["docs/**"]),
        PUSH,
        commits({"modified": ["docs/a.md"]}, {"modified": ["src/app.py"]}),
        ROUTED,
    ),
    case(
        "push/paths-not-for-tags",
        on_push(paths=["docs/**"]),
        PUSH,
        {**tag("v1.0"), **commits({"modified": ["src/app.py"]})},
        ROUTED,
    ),
    case(
        "push/branch-passes-paths-fail",
        on_push(branches=["main"], paths=["src/**"]),
        PUSH,
        {**branch("main"), **commits({"modified": ["docs/a.md"]})},
        "none of the 1 changed files is in paths",
    ),
    case(
        "push/commits-not-a-list",
        on_push(paths=["docs/**"]),
        PUSH,
        {"commits": 7},
        "none of the 0 changed files is in paths",
    ),
    # deleted branches and tags
    case(
        "push/deleted-not-taken",
        {},
        PUSH,
        deleted("refs/heads/gone"),
        "the push deletes 'refs/heads/gone' (event_config.push.deleted is off)",
    ),
    case("push/deleted-taken", on_push(deleted=True), PUSH, deleted("refs/heads/gone"), ROUTED),
    case(
        "push/deleted-taken-still-filtered",
        on_push(deleted=True, branches=["main"]),
        PUSH,
        deleted("refs/heads/gone"),
        "branch 'gone' is not in branches",
    ),
    # pull_request: actions and base branch
    case("pr/action-listed", on("pull_request", actions=["opened"]), PR_OPENED, {}, ROUTED),
    case(
        "pr/synchronize-listed",
        on("pull_request", actions=["opened", "synchronize"]),
        PR_SYNCHRONIZE,
        {},
        ROUTED,
    ),
    case(
        "pr/closed-not-listed",
        on("pull_request", actions=["opened", "synchronize"]),
        PR_CLOSED,
        {},
        "action 'closed' is not in actions ['opened', 'synchronize']",
    ),
    case("pr/any-action", {"events": ["pull_request"]}, PR_CLOSED, {}, ROUTED),
    case(
        "pr/base-not-listed",
        on("pull_request", branches=["main"]),
        PR_OPENED,
        {},
        "branch 'master' is not in branches",
    ),
    case(
        "pr/base-glob",
        on("pull_request", branches=["release/**"]),
        PR_OPENED,
        {"pull_request.base.ref": "release/2.0"},
        ROUTED,
    ),
    case(
        "pr/base-ignored",
        on("pull_request", branches_ignore=["mas*"]),
        PR_OPENED,
        {},
        "branch 'master' is in branches_ignore",
    ),
    case(
        "pr/base-not-a-string",
        on("pull_request", branches=["master"]),
        PR_OPENED,
        {"pull_request.base.ref": ["master"]},
        "branch None is not in branches",
    ),
    case(
        "pr/head-branch-not-the-filter",
        on("pull_request", branches=["master"]),
        PR_OPENED,
        {"pull_request.head.ref": "feature/x"},
        ROUTED,
    ),
    case(
        "pr/action-then-base",
        on("pull_request", actions=["opened"], branches=["master"]),
        PR_SYNCHRONIZE,
        {},
        "action 'synchronize' is not in actions ['opened']",
    ),
    case("pr-target/taken", on("pull_request_target", actions=["opened"]), PR_TARGET, {}, ROUTED),
    case(
        "pr-target/action-not-listed",
        on("pull_request_target", actions=["closed"]),
        PR_TARGET,
        {},
        "action 'opened' is not in actions ['closed']",
    ),
    case(
        "pr-target/not-pull-request",
        {"events": ["pull_request"]},
        PR_TARGET,
        {},
        "event 'pull_request_target' is not in events ['pull_request']",
    ),
    # other events: their actions
    case("issues/opened", on("issues", actions=["opened"]), ISSUE_OPENED, {}, ROUTED),
    case(
        "issues/not-listed",
        on("issues", actions=["closed", "reopened"]),
        ISSUE_OPENED,
        {},
        "action 'opened' is not in actions ['closed', 'reopened']",
    ),
    case(
        "issue-comment/created", on("issue_comment", actions=["created"]), ISSUE_COMMENT, {}, ROUTED
    ),
    case(
        "issue-comment/deleted",
        on("issue_comment", actions=["created"]),
        ISSUE_COMMENT,
        {"action": "deleted"},
        "action 'deleted' is not in actions ['created']",
    ),
    case("release/published", on("release", actions=["published"]), RELEASE, {}, ROUTED),
    case(
        "release/not-listed",
        on("release", actions=["created"]),
        RELEASE,
        {},
        "action 'published' is not in actions ['created']",
    ),
    case(
        "workflow-run/completed",
        on("workflow_run", actions=["completed"]),
        WORKFLOW_RUN,
        {},
        ROUTED,
    ),
    case(
        "workflow-run/requested-only",
        on("workflow_run", actions=["requested"]),
        WORKFLOW_RUN,
        {},
        "action 'completed' is not in actions ['requested']",
    ),
    case(
        "check-suite/completed", on("check_suite", actions=["completed"]), CHECK_SUITE, {}, ROUTED
    ),
    case(
        "check-suite/rerequested",
        on("check_suite", actions=["completed"]),
        CHECK_SUITE,
        {"action": "rerequested"},
        "action 'rerequested' is not in actions ['completed']",
    ),
    case("create/tag", on("create", actions=["tag"]), CREATE_TAG, {}, ROUTED),
    case(
        "create/branch-not-tag",
        on("create", actions=["tag"]),
        CREATE_TAG,
        {"ref": "feature/x", "ref_type": "branch"},
        "action 'branch' is not in actions ['tag']",
    ),
    case("delete/branch", on("delete", actions=["branch"]), DELETE_BRANCH, {}, ROUTED),
    case(
        "delete/tag-not-branch",
        on("delete", actions=["branch"]),
        DELETE_BRANCH,
        {"ref": "v0.1", "ref_type": "tag"},
        "action 'tag' is not in actions ['branch']",
    ),
    # authors: regexes that must match a whole login
    case("authors/sender", {"authors": ["Codertocat"]}, NEW_BRANCH, {}, ROUTED),
    case(
        "authors/case-sensitive",
        {"authors": ["codertocat"]},
        NEW_BRANCH,
        {},
        "no author of ['Codertocat'] is in authors",
    ),
    case(
        "authors/whole-login",
        {"authors": ["Coder"]},
        NEW_BRANCH,
        {},
        "no author of ['Codertocat'] is in authors",
    ),
    case(
        "authors/regex",
        {"events": ["issues"], "authors": ["alice|bob-.+"]},
        ISSUE_OPENED,
        sender("bob-the-builder"),
        ROUTED,
    ),
    case(
        "authors/commit-author-of-push",
        {"authors": ["octo-.*"]},
        PUSH,
        {**sender("release-pusher"), **commits({"added": ["a"]}, author="octo-dev")},
        ROUTED,
    ),
    case(
        "authors/commit-author-only-for-push",
        {"events": ["issues"], "authors": ["octo-.*"]},
        ISSUE_OPENED,
        {**sender("someone"), **commits({"added": ["a"]}, author="octo-dev")},
        "no author of ['someone'] is in authors",
    ),
    # bots
    case(
        "bots/type-bot",
        {"ignore_bots": True},
        PUSH,
        sender("ci-helper", "Bot"),
        "sender 'ci-helper' is a bot (ignore_bots)",
    ),
    case(
        "bots/login-suffix",
        {"events": ["pull_request"], "ignore_bots": True},
        PR_OPENED,
        sender("dependabot[bot]"),
        "sender 'dependabot[bot]' is a bot (ignore_bots)",
    ),
    case("bots/person", {"ignore_bots": True}, PUSH, {}, ROUTED),
    case("bots/taken-by-default", {}, PUSH, sender("ci-helper", "Bot"), ROUTED),
    # events
    case("events/star-issues", {"events": ["*"]}, ISSUE_OPENED, {}, ROUTED),
    case("events/star-release", {"events": ["*"]}, RELEASE, {}, ROUTED),
    case(
        "events/star-keeps-filters",
        {"events": ["*"], **on_push(branches=["main"])},
        PUSH,
        {},
        "branch 'master' is not in branches",
    ),
    case(
        "events/default-is-push",
        {},
        ISSUE_OPENED,
        {},
        "event 'issues' is not in events ['push']",
    ),
    case(
        "events/not-in-list",
        {"events": ["push", "issues"]},
        RELEASE,
        {},
        "event 'release' is not in events ['push', 'issues']",
    ),
    case("events/in-list", {"events": ["push", "release"]}, RELEASE, {}, ROUTED),
]


@pytest.mark.parametrize(("config", "delivery", "edits", "why_not"), CASES)
def test_filter(
    sqlite_hub: Hub,
    config: dict[str, Any],
    delivery: Delivery,
    edits: dict[str, Any],
    why_not: str | None,
) -> None:
    event, name = delivery
    repository = sqlite_hub.repository()
    workflow_id = sqlite_hub.deploy({"repository": repository, **config})
    delivery_id = f"{workflow_id}-delivery"

    answer = sqlite_hub.deliver(event, edited(name, repository, edits), delivery_id=delivery_id)

    assert answer.status_code == 202, answer.text
    if why_not is ROUTED:
        assert answer.json()["delivered_to"] == 1
        (start,) = sqlite_hub.starts(workflow_id)
        assert start.body["trigger_data"]["event"] == event
        assert start.body["trigger_data"]["delivery_id"] == delivery_id
        return
    assert answer.json()["delivered_to"] == 0
    (row,) = sqlite_hub.logged(delivery_id)
    assert row["outcome"] == "filtered"
    assert why_not in row["reason"]
    assert [(t["workflow_id"], why_not in t["reason"]) for t in row["targets"]] == [
        (workflow_id, True)
    ]


def deploy_request(client: httpx.Client, config: dict[str, Any]) -> httpx.Response:
    """The answer to deploying one GITHUB trigger with ``config`` (whatever its status)."""
    return client.post(
        "/api/v1/deployment/workflows/gh-invalid/deploy",
        json={"triggers": [{"type": "GITHUB", "config": config}]},
    )


CONFIG = "triggers[0].config"
INVALID = [
    pytest.param(
        on_push(branches=["main"], branches_ignore=["dev"]),
        "event_config.push",
        "give branches or branches_ignore, not both",
        id="branches-and-branches-ignore",
    ),
    pytest.param(
        on_push(tags=["v*"], tags_ignore=["*-rc"]),
        "event_config.push",
        "give tags or tags_ignore, not both",
        id="tags-and-tags-ignore",
    ),
    pytest.param(
        on_push(paths=["src/**"], paths_ignore=["docs/**"]),
        "event_config.push",
        "give paths or paths_ignore, not both",
        id="paths-and-paths-ignore",
    ),
    pytest.param(
        on("pull_request", branches=["main"], branches_ignore=["dev"]),
        "event_config.pull_request",
        "give branches or branches_ignore, not both",
        id="pr-branches-and-branches-ignore",
    ),
    pytest.param(
        on_push(branches=["!main", "!dev"]),
        "event_config.push.branches",
        "needs at least one pattern without '!'",
        id="only-negations",
    ),
    pytest.param(
        on_push(paths=["docs/[a"]),
        "event_config.push.paths",
        "invalid filter pattern 'docs/[a': '[' in '[a' is never closed by ']'",
        id="unclosed-set",
    ),
    pytest.param(
        on_push(tags=["v1", "+1"]),
        "event_config.push.tags",
        "'+' at the start has nothing to repeat",
        id="nothing-to-repeat",
    ),
    pytest.param(
        on("pull_request", branches=["[z-a]"]),
        "event_config.pull_request.branches",
        "range 'z-a' in '[z-a]' runs backwards",
        id="pr-backwards-range",
    ),
    pytest.param(
        on_push(branches=[""]),
        "event_config.push.branches",
        "there is nothing to match",
        id="empty-pattern",
    ),
    pytest.param(
        on_push(tags="v*"),
        "event_config.push.tags",
        "must be a list of filter patterns",
        id="pattern-string-not-list",
    ),
    pytest.param(
        on_push(paths=["docs/**", 7]),
        "event_config.push.paths",
        "must be a list of filter patterns",
        id="pattern-list-with-number",
    ),
    pytest.param(
        {"authors": ["octocat", "(unclosed"]},
        "authors.1",
        "regular expression",
        id="authors-bad-regex",
    ),
    pytest.param(
        {"event_config": {"issues": {"actions": ["opened"]}}},
        "event_config",
        "'issues' is not in events ['push']",
        id="event-config-for-untaken-event",
    ),
    pytest.param(
        {"events": ["issues"], **on_push(branches=["main"])},
        "event_config",
        "'push' is not in events ['issues']",
        id="push-filter-without-push",
    ),
    pytest.param(
        on_push(branch=["main"]),
        "event_config.push.branch",
        "Extra inputs are not permitted",
        id="unknown-push-filter-key",
    ),
    pytest.param(
        on("issues", branches=["main"]),
        "event_config.issues.branches",
        "Extra inputs are not permitted",
        id="unknown-action-filter-key",
    ),
    pytest.param(
        {"branches": ["main"]},
        "branches",
        "Extra inputs are not permitted",
        id="filter-key-at-top-level",
    ),
    pytest.param(
        {"event_config": {"Push-Event": {"actions": ["x"]}}, "events": ["*"]},
        "event_config",
        "'Push-Event' is not a GitHub event name",
        id="bad-event-name-in-event-config",
    ),
    pytest.param({"events": ["Push"]}, "events.0", "should match pattern", id="event-name-case"),
    pytest.param({"events": ["push!"]}, "events.0", "should match pattern", id="event-name-tail"),
    pytest.param({"events": ["push", "*x"]}, "events.1", "should match pattern", id="star-prefix"),
    pytest.param({"events": ["x*"]}, "events.0", "should match pattern", id="star-suffix"),
    pytest.param({"events": ["e" * 65]}, "events.0", "should match pattern", id="event-too-long"),
    pytest.param({"events": []}, "events", "at least 1 item", id="no-events"),
]


@pytest.mark.parametrize(("config", "field", "message"), INVALID)
def test_invalid_config_is_refused_naming_the_field(
    sqlite_hub: Hub, config: dict[str, Any], field: str, message: str
) -> None:
    fields = validation_errors(
        deploy_request(sqlite_hub.admin, {"repository": "octo-org/valid", **config})
    )

    named = set(fields)
    if field.startswith("events."):  # every item refused: the tuple is too short as well
        named.discard(f"{CONFIG}.events")
    assert named == {f"{CONFIG}.{field}"}
    assert message in fields[f"{CONFIG}.{field}"]


@pytest.mark.parametrize(
    "repository", ["octo-org", "octo org/repo", "octo-org/repo/extra", "/repo", "o/" + "r" * 101]
)
def test_a_bad_repository_name_is_refused(sqlite_hub: Hub, repository: str) -> None:
    fields = validation_errors(deploy_request(sqlite_hub.admin, {"repository": repository}))

    assert list(fields) == [f"{CONFIG}.repository"]


def test_without_any_secret_a_trigger_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HIGHWAY_GITHUB_WEBHOOK_SECRET", "HIGHWAY_GITHUB_PREVIOUS_WEBHOOK_SECRETS"):
        monkeypatch.delenv(name, raising=False)
    with running_gateway(gateway_settings(f"sqlite:///{tmp_path / 'g.db'}", tmp_path)) as gateway:
        admin = gateway.client()
        fields = validation_errors(deploy_request(admin, {"repository": "octo-org/no-secret"}))
        own_secret = deploy_request(admin, {"repository": "octo-org/no-secret", "secret": "s3"})

    assert list(fields) == [f"{CONFIG}.secret"]
    assert "HIGHWAY_GITHUB_WEBHOOK_SECRET" in fields[f"{CONFIG}.secret"]
    assert own_secret.status_code == 200, own_secret.text


def config_of(**fields: Any) -> GitHubConfig:
    return GitHubConfig.model_validate({"repository": "octo-org/unit", **fields})


FILTERING = [
    config_of(),
    config_of(events=["*"], ignore_bots=True, authors=["octo.*"]),
    config_of(**on_push(branches=["main"], paths=["docs/**"], deleted=True)),
    config_of(**on_push(tags=["v*"], paths_ignore=["*.md"])),
    config_of(**on("pull_request", actions=["opened"], branches_ignore=["wip/**"])),
    config_of(**on("create", actions=["tag"])),
]
EVENTS = ["push", "pull_request", "issues", "issue_comment", "create", "release", "workflow_run"]


def test_a_payload_without_repository_or_sender() -> None:
    data = trigger_data("push", "d-1", {"ref": "refs/heads/main"})

    assert (data["repository"], data["sender"], data["branch"]) == (None, None, "main")
    assert repository_name({}) is None
    assert correlation_keys("issues", {"issue": {"number": 1}}) == ()
    assert mismatch(config_of(ignore_bots=True), data) is None
    assert mismatch(config_of(authors=["octo.*"]), data) == "no author of [] is in authors"


@pytest.mark.parametrize(
    "commits",
    ["docs/a.md", 7, {"added": ["docs/a.md"]}, [None, "docs/a.md", ["docs/b.md"]]],
    ids=["string", "number", "object", "list-of-non-objects"],
)
def test_commits_that_are_not_objects_change_no_files(commits: Any) -> None:
    payload = {"ref": "refs/heads/main", "commits": commits, "sender": {"login": "x"}}
    data = trigger_data("push", "d-1", payload)

    assert data["changed_files"] == []
    assert mismatch(config_of(**on_push(paths=["**"])), data) == (
        "none of the 0 changed files is in paths"
    )
    assert mismatch(config_of(authors=["octo.*"]), data) == "no author of ['x'] is in authors"


def test_odd_parts_of_a_commit_are_skipped() -> None:
    payload = {
        "commits": [
            {"added": "docs/a.md", "modified": [3, "src/b.py"], "removed": None, "author": "x"},
            {"added": ["docs/a.md"], "author": {"username": 5}},
            {"removed": ["c.txt"], "author": {"username": "octo-dev"}},
        ],
        "sender": "not an object",
    }
    data = trigger_data("push", "d-1", payload)

    assert data["changed_files"] == ["src/b.py", "docs/a.md", "c.txt"]
    assert data["sender"] is None
    assert mismatch(config_of(authors=["octo-.*"]), data) is None


KEYS = (
    "repository", "full_name", "sender", "login", "type", "commits", "added", "modified",
    "removed", "author", "username", "ref", "ref_type", "action", "deleted", "pull_request",
    "base", "head", "number", "issue", "installation", "id", "workflow_run", "check_suite",
    "head_branch", "release", "tag_name", "after",
)  # fmt: skip
"""The keys the trigger data and the matcher look at."""
JSON_KEYS = st.sampled_from(KEYS)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_KEYS, inner, max_size=4),
    max_leaves=12,
)
KeyPath = tuple[str | int, ...]


def paths_in(value: Any, above: KeyPath = ()) -> list[KeyPath]:
    """The paths to every value under ``value`` reached through :data:`KEYS` and indexes."""
    found: list[KeyPath] = []
    steps = value.items() if isinstance(value, dict) else enumerate(value)
    for step, inner in steps:
        if isinstance(step, int) or step in KEYS:
            found.append((*above, step))
            if isinstance(inner, dict | list):
                found.extend(paths_in(inner, (*above, step)))
    return found


SAMPLED = (PUSH, PR_OPENED, ISSUE_COMMENT, RELEASE, WORKFLOW_RUN, CHECK_SUITE, CREATE_TAG)
SAMPLES = {name: payload_of(name) for _, name in SAMPLED}


def replaced(payload: Any, path: KeyPath, value: Any) -> None:
    """``payload`` at ``path`` set to ``value``, unless an earlier replacement took the path."""
    *parents, last = path
    for step in parents:
        payload = _item(payload, step)
    if isinstance(payload, dict) or _item(payload, last) is not None:
        payload[last] = value


def _item(value: Any, step: str | int) -> Any:
    """``value[step]``, or ``None`` when there is no such item."""
    if isinstance(value, dict):
        return value.get(step)
    if isinstance(value, list) and isinstance(step, int) and step < len(value):
        return value[step]
    return None


@st.composite
def damaged_samples(draw: st.DrawFn) -> dict[str, Any]:
    """A sample payload with up to four of the values the plugin reads replaced by any JSON."""
    payload = copy.deepcopy(SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))])
    for path in draw(st.lists(st.sampled_from(paths_in(payload)), min_size=1, max_size=4)):
        replaced(payload, path, draw(JSON))
    return payload


@settings(max_examples=300, deadline=None)
@given(damaged_samples() | st.dictionaries(JSON_KEYS, JSON, max_size=6))
def test_any_json_object_gives_trigger_data_and_a_verdict(payload: dict[str, Any]) -> None:
    for event in EVENTS:
        data = trigger_data(event, "d-1", payload)
        repository_name(payload)
        correlation_keys(event, payload)

        for config in FILTERING:
            assert isinstance(mismatch(config, data), str | None)
