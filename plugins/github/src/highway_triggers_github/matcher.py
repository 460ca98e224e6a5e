"""Phase 2: whether a GITHUB trigger takes a delivery, and if not, why (pure, no I/O)."""

from __future__ import annotations

from typing import Any

from highway_triggers_github.config import (
    ActionFilter,
    GitHubConfig,
    PullRequestFilter,
    PushFilter,
)
from highway_triggers_github.delivery import commit_authors
from highway_triggers_github.patterns import FilterPatterns


def mismatch(config: GitHubConfig, data: dict[str, Any]) -> str | None:
    """Why ``config`` does not take the delivery whose trigger data is ``data``; ``None``
    when it does."""
    event = data["event"]
    if not config.takes(event):
        return f"event {event!r} is not in events {list(config.events)}"
    login = (data["sender"] or {}).get("login")
    if config.ignore_bots and _is_bot(data["sender"] or {}):
        return f"sender {login!r} is a bot (ignore_bots)"
    if config.authors is not None:
        people = [login, *(commit_authors(data["payload"]) if event == "push" else ())]
        if not any(
            isinstance(who, str) and pattern.fullmatch(who)
            for who in people
            for pattern in config.authors
        ):
            return f"no author of {sorted({p for p in people if isinstance(p, str)})} is in authors"
    found = config.event_config.of(event)
    if event == "push":
        return _push(found if isinstance(found, PushFilter) else None, data)
    if isinstance(found, PullRequestFilter):
        return _actions(found, data) or _branch(found.branches, found.branches_ignore, data)
    if isinstance(found, ActionFilter):
        return _actions(found, data)
    return None


def _is_bot(sender: dict[str, Any]) -> bool:
    login = sender.get("login")
    return sender.get("type") == "Bot" or (isinstance(login, str) and login.endswith("[bot]"))


def _actions(found: ActionFilter, data: dict[str, Any]) -> str | None:
    if found.actions is None or data["action"] in found.actions:
        return None
    return f"action {data['action']!r} is not in actions {list(found.actions)}"


def _branch(
    include: FilterPatterns | None, ignore: FilterPatterns | None, data: dict[str, Any]
) -> str | None:
    """The base branch of a pull request against ``branches`` / ``branches_ignore``."""
    return _ref_name("branch", data["branch"], include, ignore)


def _ref_name(
    kind: str, name: str | None, include: FilterPatterns | None, ignore: FilterPatterns | None
) -> str | None:
    """A branch or tag name against its list (``branches``, ``tags``) and ``…_ignore`` list."""
    field = "branches" if kind == "branch" else "tags"
    if include is not None and (name is None or not include.includes(name)):
        return f"{kind} {name!r} is not in {field}"
    if ignore is not None and name is not None and ignore.includes(name):
        return f"{kind} {name!r} is in {field}_ignore"
    return None


def _push(found: PushFilter | None, data: dict[str, Any]) -> str | None:
    payload = data["payload"]
    if payload.get("deleted") is True and not (found is not None and found.deleted):
        return f"the push deletes {data['ref']!r} (event_config.push.deleted is off)"
    if found is None:
        return None
    branch, tag = data["branch"], data["tag"]
    by_branch = found.branches is not None or found.branches_ignore is not None
    by_tag = found.tags is not None or found.tags_ignore is not None
    if tag is not None:  # GitHub's rule: paths are not looked at for tags
        if by_branch and not by_tag:
            return f"tag {tag!r}: only branches are filtered for (branches without tags)"
        return _ref_name("tag", tag, found.tags, found.tags_ignore)
    if branch is None:
        return f"ref {data['ref']!r} is neither a branch nor a tag" if by_branch or by_tag else None
    if by_tag and not by_branch:
        return f"branch {branch!r}: only tags are filtered for (tags without branches)"
    return _ref_name("branch", branch, found.branches, found.branches_ignore) or _paths(found, data)


def _paths(found: PushFilter, data: dict[str, Any]) -> str | None:
    files: list[str] = data["changed_files"] or []
    if found.paths is not None and not any(found.paths.includes(path) for path in files):
        return f"none of the {len(files)} changed files is in paths"
    if found.paths_ignore is not None and files and all(map(found.paths_ignore.includes, files)):
        return f"all {len(files)} changed files are in paths_ignore"
    return None
