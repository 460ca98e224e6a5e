"""GitHub's filter patterns, as in a workflow's ``on.push.branches``, ``tags`` and ``paths``.

A pattern must match the whole value; it is case-sensitive. ``*`` matches any run of
characters but ``/``; ``**`` any run of characters at all, and ``**/`` zero or more whole
directories (so ``**/README.md`` matches the root ``README.md`` too, and ``docs/**/*.md``
matches ``docs/README.md``). ``?`` makes the character or ``[...]`` set before it optional,
``+`` repeats it one or more times. ``[...]`` matches one of the ASCII letters or digits it
lists, or of its ranges within ``a-z``, ``A-Z`` or ``0-9``. ``\\`` makes the next character
literal; every other character is literal. In a list, a leading ``!`` negates a pattern, and
the last pattern that matches a value decides whether the list includes it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field

_RANGE_GROUPS = (string.ascii_lowercase, string.ascii_uppercase, string.digits)
_SET_MEMBERS = frozenset(string.ascii_letters + string.digits)


@dataclass(frozen=True, slots=True)
class FilterPatterns:
    """An ordered list of GitHub filter patterns, compiled once."""

    source: tuple[str, ...]
    _rules: tuple[tuple[re.Pattern[str], bool], ...] = field(init=False, repr=False, compare=False)
    """Each pattern's regex and whether a match includes (else excludes) the value."""

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError("a filter needs at least one pattern")
        rules = tuple(_rule(pattern) for pattern in self.source)
        if not any(included for _, included in rules):
            raise ValueError(f"filter {list(self.source)!r} needs at least one pattern without '!'")
        object.__setattr__(self, "_rules", rules)

    @classmethod
    def parse(cls, patterns: Sequence[str]) -> FilterPatterns:
        """Compile *patterns*; a ``ValueError`` names a bad pattern and says what is wrong."""
        if isinstance(patterns, str):
            raise TypeError(f"expected a list of patterns, got the string {patterns!r}")
        return cls(tuple(patterns))

    def includes(self, value: str) -> bool:
        """Whether the last pattern matching *value* is a positive one (none: ``False``)."""
        for regex, included in reversed(self._rules):
            if regex.fullmatch(value):
                return included
        return False


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regex that fully matches what *pattern* does (its ``!`` stripped: a ``!`` here
    is literal); use ``fullmatch``. ``ValueError`` if the pattern is invalid."""
    return _compile(pattern, shown=pattern)


def _rule(pattern: str) -> tuple[re.Pattern[str], bool]:
    if pattern.startswith("!"):
        return _compile(pattern[1:], shown=pattern), False
    return _compile(pattern, shown=pattern), True


def _compile(pattern: str, shown: str) -> re.Pattern[str]:
    try:
        return re.compile(_translate(pattern), re.DOTALL)
    except ValueError as error:
        raise ValueError(f"invalid filter pattern {shown!r}: {error}") from None


def _translate(pattern: str) -> str:
    """The regex source for *pattern*; ``ValueError(reason)`` if invalid."""
    if not pattern:
        raise ValueError("there is nothing to match")
    parts: list[str] = []
    unrepeatable = ""  # the previous token when '?' or '+' cannot repeat it, else ""
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "*":
            if pattern.startswith("**/", position):
                token, part = "**/", "(?:.+/)?"
            elif pattern.startswith("**", position):
                token, part = "**", ".*"
            else:
                token, part = "*", "[^/]*"
            parts.append(part)
            position += len(token)
            unrepeatable = token
        elif char in "?+":
            if unrepeatable or not parts:
                after = f"after {unrepeatable!r}" if parts else "at the start"
                raise ValueError(
                    f"{char!r} {after} has nothing to repeat;"
                    f" write '\\{char}' for a literal {char!r}"
                )
            parts.append(char)
            position += 1
            unrepeatable = char
        elif char == "[":
            end = pattern.find("]", position + 1)
            if end == -1:
                raise ValueError(f"'[' in {pattern[position:]!r} is never closed by ']'")
            parts.append(_character_set(pattern[position + 1 : end]))
            position = end + 1
            unrepeatable = ""
        elif char == "\\":
            if position + 1 == len(pattern):
                raise ValueError("it ends in a lone '\\'; write '\\\\' for a literal '\\'")
            parts.append(re.escape(pattern[position + 1]))
            position += 2
            unrepeatable = ""
        else:
            parts.append(re.escape(char))
            position += 1
            unrepeatable = ""
    return "".join(parts)


def _character_set(members: str) -> str:
    """The regex class for the inside of ``[...]``: letters, digits and ranges such as ``a-z``."""
    shown = f"[{members}]"
    if not members:
        raise ValueError("'[]' lists no character")
    position = 0
    while position < len(members):
        if members[position + 1 : position + 2] == "-" and position + 2 < len(members):
            low, high = members[position], members[position + 2]
            if not any(low in group and high in group for group in _RANGE_GROUPS):
                raise ValueError(f"range '{low}-{high}' in {shown!r} is not within a-z, A-Z or 0-9")
            if low > high:
                raise ValueError(f"range '{low}-{high}' in {shown!r} runs backwards")
            position += 3
        elif members[position] in _SET_MEMBERS:
            position += 1
        else:
            raise ValueError(
                f"{shown!r} may list only ASCII letters, digits and ranges such as 'a-z',"
                f" not {members[position]!r}"
            )
    return shown
