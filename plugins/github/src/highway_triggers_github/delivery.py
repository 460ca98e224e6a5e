"""What a GitHub delivery becomes: the trigger data handed to the engine (one documented
shape for every event type) and the correlation keys that resume waiting runs."""

from __future__ import annotations

from typing import Any

PULL_REQUEST_EVENTS = frozenset(
    {
        "pull_request",
        "pull_request_target",
        "pull_request_review",
        "pull_request_review_comment",
        "pull_request_review_thread",
    }
)
ISSUE_EVENTS = frozenset({"issues", "issue_comment"})
HEADS, TAGS = "refs/heads/", "refs/tags/"


def trigger_data(event: str, delivery_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``event``, ``action``, ``delivery_id``, ``repository``, ``installation_id``, ``ref``,
    ``branch``, ``tag``, ``sha``, ``sender``, ``changed_files``, ``pull_request`` and the
    full ``payload`` (see the README's "Trigger data")."""
    ref, branch, tag, sha = map(_text, _ref_of(event, payload))
    return {
        "event": event,
        "action": _action(event, payload),
        "delivery_id": delivery_id,
        "repository": _repository(payload.get("repository")),
        "installation_id": _get(payload, "installation", "id"),
        "ref": ref,
        "branch": branch,
        "tag": tag,
        "sha": sha,
        "sender": _sender(payload.get("sender")),
        "changed_files": changed_files(payload) if event == "push" else None,
        "pull_request": _pull_request(payload.get("pull_request")),
        "payload": payload,
    }


def repository_name(payload: dict[str, Any]) -> str | None:
    """``repository.full_name`` as sent, when the delivery is about a repository."""
    name = _get(payload, "repository", "full_name")
    return name if isinstance(name, str) and name else None


def correlation_keys(event: str, payload: dict[str, Any]) -> tuple[str, ...]:
    """``github:{repo}#pr:{number}`` for pull request events (and comments on a pull
    request), ``github:{repo}#issue:{number}`` for issue events; ``{repo}`` as sent and in
    lower case, so that a wait registered with either spelling is found."""
    repo = repository_name(payload)
    if repo is None:
        return ()
    suffixes = []
    if event in PULL_REQUEST_EVENTS:
        number = _get(payload, "pull_request", "number") or payload.get("number")
        if isinstance(number, int):
            suffixes.append(f"pr:{number}")
    elif event in ISSUE_EVENTS:
        issue = payload.get("issue")
        number = issue.get("number") if isinstance(issue, dict) else None
        if isinstance(number, int):
            if isinstance(issue, dict) and issue.get("pull_request"):  # a comment on a PR
                suffixes.append(f"pr:{number}")
            suffixes.append(f"issue:{number}")
    names = dict.fromkeys((repo, repo.lower()))
    return tuple(f"github:{name}#{suffix}" for suffix in suffixes for name in names)


def changed_files(payload: dict[str, Any]) -> list[str]:
    """The files a push added, modified or removed, over every commit it lists, once each."""
    files: dict[str, None] = {}
    for commit in _array(payload.get("commits")):
        if isinstance(commit, dict):
            for kind in ("added", "modified", "removed"):
                for path in _array(commit.get(kind)):
                    if isinstance(path, str):
                        files[path] = None
    return list(files)


def commit_authors(payload: dict[str, Any]) -> list[str]:
    """The usernames of a push's commit authors."""
    return [
        name
        for commit in _array(payload.get("commits"))
        if isinstance(name := _get(commit, "author", "username"), str)
    ]


def _array(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else none (an odd payload is not an error)."""
    return value if isinstance(value, list) else []


def _action(event: str, payload: dict[str, Any]) -> str | None:
    action = payload.get("ref_type" if event in ("create", "delete") else "action")
    return action if isinstance(action, str) else None


def _ref_of(event: str, payload: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """``(ref, branch, tag, sha)`` of the event, where it has them."""
    if event == "push":
        ref = payload.get("ref")
        ref = ref if isinstance(ref, str) else None
        sha = payload.get("after")
        return ref, _strip(ref, HEADS), _strip(ref, TAGS), sha
    if event in ("create", "delete"):
        name, kind = payload.get("ref"), payload.get("ref_type")
        if not isinstance(name, str):
            return None, None, None, None
        if kind == "tag":
            return TAGS + name, None, name, None
        return HEADS + name, name, None, None
    if event in PULL_REQUEST_EVENTS:
        pr = payload.get("pull_request")
        return None, _get(pr, "base", "ref"), None, _get(pr, "head", "sha")
    if event == "release":
        return None, None, _get(payload, "release", "tag_name"), None
    for run in ("workflow_run", "check_suite", "check_run"):
        if isinstance(found := payload.get(run), dict):
            return None, found.get("head_branch"), None, found.get("head_sha")
    return None, None, None, None


def _text(value: Any) -> str | None:
    """``value`` if it is a string (a name or sha in an odd payload may be anything)."""
    return value if isinstance(value, str) else None


def _strip(ref: str | None, prefix: str) -> str | None:
    return ref[len(prefix) :] if ref is not None and ref.startswith(prefix) else None


def _repository(repo: Any) -> dict[str, Any] | None:
    if not isinstance(repo, dict):
        return None
    owner = repo.get("owner")
    return {
        "full_name": repo.get("full_name"),
        "id": repo.get("id"),
        "name": repo.get("name"),
        "owner": owner.get("login") if isinstance(owner, dict) else None,
        "private": repo.get("private"),
        "default_branch": repo.get("default_branch"),
        "html_url": repo.get("html_url"),
    }


def _sender(sender: Any) -> dict[str, Any] | None:
    if not isinstance(sender, dict):
        return None
    return {"login": sender.get("login"), "id": sender.get("id"), "type": sender.get("type")}


def _pull_request(pr: Any) -> dict[str, Any] | None:
    if not isinstance(pr, dict):
        return None
    return {
        "number": pr.get("number"),
        "title": pr.get("title"),
        "state": pr.get("state"),
        "draft": pr.get("draft"),
        "merged": pr.get("merged"),
        "user": _get(pr, "user", "login"),
        "head_ref": _get(pr, "head", "ref"),
        "head_sha": _get(pr, "head", "sha"),
        "base_ref": _get(pr, "base", "ref"),
        "html_url": pr.get("html_url"),
    }


def _get(value: Any, *keys: str) -> Any:
    """``value[k1][k2]…``, or ``None`` where a level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
