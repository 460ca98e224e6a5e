"""A GITHUB trigger's config: the repository, the events it takes and their filters."""

from __future__ import annotations

import re
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from highway_triggers import TriggerConfig
from highway_triggers_github.patterns import FilterPatterns

REPOSITORY_PATTERN = r"^[A-Za-z0-9_-]{1,100}/[A-Za-z0-9_.-]{1,100}$"
EVENT_PATTERN = r"^[a-z_]{1,64}$"
ALL_EVENTS = "*"
MAX_PATTERNS = 256
MAX_PATTERN_LENGTH = 1024
_EVENT = re.compile(EVENT_PATTERN)


def _patterns(value: Any) -> FilterPatterns:
    if isinstance(value, FilterPatterns):
        return value
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("must be a list of filter patterns")
    if len(value) > MAX_PATTERNS:
        raise ValueError(f"at most {MAX_PATTERNS} patterns")
    if any(len(item) > MAX_PATTERN_LENGTH for item in value):
        raise ValueError(f"a pattern has at most {MAX_PATTERN_LENGTH} characters")
    return FilterPatterns.parse(value)


Patterns = Annotated[
    FilterPatterns,
    PlainValidator(_patterns),
    PlainSerializer(lambda patterns: list(patterns.source)),
    WithJsonSchema({"type": "array", "items": {"type": "string"}, "minItems": 1}),
]
"""GitHub's filter patterns (``*``, ``**``, ``?``, ``+``, ``[]``, ``!``), in order."""
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=EVENT_PATTERN)]


def _not_a_dot_path(repository: str) -> str:
    if repository.split("/")[1] in (".", ".."):
        raise ValueError("a repository is not named '.' or '..'")
    return repository


Repository = Annotated[str, Field(pattern=REPOSITORY_PATTERN), AfterValidator(_not_a_dot_path)]
"""``owner/name``, as GitHub spells repositories."""


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_of(model: BaseModel, *pair: str) -> None:
    """GitHub's rule: a list and its ``_ignore`` list exclude each other."""
    if all(getattr(model, name) is not None for name in pair):
        include, ignore = pair
        raise ValueError(
            f"give {include} or {ignore}, not both (a '!' pattern in {include} excludes)"
        )


class ActionFilter(Filter):
    """Events with an ``action`` (``opened``, ``completed`` …): the actions taken, all when unset.
    For ``create`` and ``delete``, the action is the ``ref_type`` (``branch``, ``tag``)."""

    actions: Annotated[tuple[Name, ...], Field(min_length=1, max_length=64)] | None = None


class PullRequestFilter(ActionFilter):
    """``pull_request`` and ``pull_request_target``: actions, and the base branch."""

    branches: Patterns | None = None
    branches_ignore: Patterns | None = None

    @model_validator(mode="after")
    def _exclusive(self) -> Self:
        _one_of(self, "branches", "branches_ignore")
        return self


class PushFilter(Filter):
    """``push``: the branch or tag pushed, the files changed, and whether deletions count.

    With only ``branches``/``branches_ignore`` set, tag pushes do not match, and the other
    way round (GitHub's rule); ``paths`` are not looked at for tag pushes.
    """

    branches: Patterns | None = None
    branches_ignore: Patterns | None = None
    tags: Patterns | None = None
    tags_ignore: Patterns | None = None
    paths: Patterns | None = None
    paths_ignore: Patterns | None = None
    deleted: bool = False
    """Take pushes that delete a branch or tag (``deleted: true``); off by default."""

    @model_validator(mode="after")
    def _exclusive(self) -> Self:
        for kind in ("branches", "tags", "paths"):
            _one_of(self, kind, f"{kind}_ignore")
        return self


class EventConfig(BaseModel):
    """Filters by event type; an event type not named here takes ``actions`` only."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, ActionFilter] = Field(init=False)

    push: PushFilter | None = None
    pull_request: PullRequestFilter | None = None
    pull_request_target: PullRequestFilter | None = None

    def of(self, event: str) -> Filter | None:
        """The filter of ``event``, if the config gives one."""
        found = getattr(self, event, None) if event in type(self).model_fields else None
        if found is None and self.__pydantic_extra__:
            found = self.__pydantic_extra__.get(event)
        return found

    @model_validator(mode="after")
    def _event_names(self) -> Self:
        for name in self.__pydantic_extra__ or {}:
            if not _EVENT.fullmatch(name):
                raise ValueError(f"{name!r} is not a GitHub event name")
        return self


class GitHubConfig(TriggerConfig):
    """A GITHUB trigger: which repository, which events, which of them (see the README)."""

    repository: Repository
    """``owner/name``; matched without regard to case."""
    events: Annotated[
        tuple[Annotated[str, Field(pattern=rf"{EVENT_PATTERN}|^\*$")], ...],
        Field(min_length=1, max_length=64),
    ] = ("push",)
    """The event types taken (``X-GitHub-Event``); ``*`` takes every type."""
    event_config: EventConfig = EventConfig()
    authors: Annotated[tuple[re.Pattern[str], ...], Field(max_length=64)] | None = None
    """Regular expressions; an event matches when one matches the whole sender login or,
    for a push, a commit author's username."""
    ignore_bots: bool = False
    """Skip events sent by bots (sender type ``Bot``, logins ending in ``[bot]``)."""
    secret: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    """The repository webhook's secret (stored sealed); without one, the gateway-wide
    ``HIGHWAY_GITHUB_WEBHOOK_SECRET`` verifies this repository's deliveries."""
    secrets: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=4096)]], Field(max_length=16)
    ] = []
    """More secrets accepted during a rotation."""
    installation_id: Annotated[int, Field(gt=0)] | None = None
    """The GitHub App installation (looked up at deploy when the App is configured)."""

    @property
    def repository_key(self) -> str:
        """The index key: the repository's full name in lower case."""
        return self.repository.lower()

    @property
    def own_secrets(self) -> list[str]:
        return ([self.secret] if self.secret else []) + list(self.secrets)

    def takes(self, event: str) -> bool:
        return _takes(self.events, event)

    @field_validator("event_config")
    @classmethod
    def _filters_of_taken_events(
        cls, event_config: EventConfig, info: ValidationInfo
    ) -> EventConfig:
        events = info.data.get("events")  # absent when invalid: refused on its own
        names = (*type(event_config).model_fields, *(event_config.__pydantic_extra__ or {}))
        for name in names:
            if (
                events is not None
                and event_config.of(name) is not None
                and not _takes(events, name)
            ):
                raise ValueError(f"{name}: {name!r} is not in events {list(events)}")
        return event_config


def _takes(events: tuple[str, ...], event: str) -> bool:
    return ALL_EVENTS in events or event in events
