"""GitHub filter patterns: the examples of GitHub's filter pattern cheat sheet, escaping,
characters that are literal here but special in regexes, order and negation in lists, and
errors that name the bad pattern and say what is wrong."""

from __future__ import annotations

import re
import string

import pytest
from highway_triggers_github.patterns import FilterPatterns, compile_pattern
from hypothesis import given
from hypothesis import strategies as st

MATCHES = [
    # GitHub's cheat sheet: branches and tags
    ("feature/my-branch", ["feature/*"], True),
    ("feature/your-branch", ["feature/*"], True),
    ("feature/your/branch", ["feature/*"], False),
    ("feature/beta-a/my-branch", ["feature/**"], True),
    ("feature/mona/the/octocat", ["feature/**"], True),
    ("feature", ["feature/**"], False),
    ("main", ["main", "releases/mona-the-octocat"], True),
    ("releases/mona-the-octocat", ["main", "releases/mona-the-octocat"], True),
    ("main2", ["main"], False),
    ("Main", ["main"], False),
    ("mona/octocat", ["mona/octocat"], True),
    ("mona/octocats", ["mona/octocat"], False),
    ("releases", ["*"], True),
    ("releases/v1", ["*"], False),
    ("all/the/branches", ["**"], True),
    ("feature", ["*feature"], True),
    ("ver-10-feature", ["*feature"], True),
    ("feature/x", ["*feature"], False),
    ("releases/10-alpha", ["releases/**-alpha"], True),
    ("releases/beta/3-alpha", ["releases/**-alpha"], True),
    ("releases/3-beta", ["releases/**-alpha"], False),
    ("v2", ["v2*"], True),
    ("v2.9", ["v2*"], True),
    ("v3", ["v2*"], False),
    ("v1.2.3", ["v1.*"], True),
    ("v10", ["v1.*"], False),
    ("v1.10.1", ["v[12].[0-9]+.[0-9]+"], True),
    ("v2.0.0", ["v[12].[0-9]+.[0-9]+"], True),
    ("v3.0.0", ["v[12].[0-9]+.[0-9]+"], False),
    ("v1..0", ["v[12].[0-9]+.[0-9]+"], False),
    ("v1x1.1", ["v[12].[0-9]+.[0-9]+"], False),
    ("Cat", ["[CB]at"], True),
    ("Hat", ["[CB]at"], False),
    ("200", ["[1-2]00"], True),
    ("x", ["[0-9a-z]"], True),
    ("X", ["[0-9a-z]"], False),
    # GitHub's cheat sheet: paths
    ("README.md", ["*"], True),
    ("server.rb", ["*"], True),
    ("docs/file.txt", ["*"], False),
    ("page.js", ["*.jsx?"], True),
    ("page.jsx", ["*.jsx?"], True),
    ("page.jsxx", ["*.jsx?"], False),
    ("all/the/files.md", ["**"], True),
    ("app.js", ["*.js"], True),
    ("src/app.js", ["*.js"], False),
    ("index.js", ["**.js"], True),
    ("src/js/app.js", ["**.js"], True),
    ("docs/file.txt", ["docs/*"], True),
    ("docs/mona/octocat.txt", ["docs/*"], False),
    ("docs/README.md", ["docs/**"], True),
    ("docs/mona/octocat.txt", ["docs/**"], True),
    ("docs/README.md", ["docs/**/*.md"], True),
    ("docs/mona/hello-world.md", ["docs/**/*.md"], True),
    ("docs/a/markdown/file.md", ["docs/**/*.md"], True),
    ("docs/a/file.txt", ["docs/**/*.md"], False),
    ("src/docs/a.md", ["docs/**/*.md"], False),
    ("docs/hello.md", ["**/docs/**"], True),
    ("space/docs/plan/space.doc", ["**/docs/**"], True),
    ("mydocs/hello.md", ["**/docs/**"], False),
    ("README.md", ["**/README.md"], True),
    ("js/README.md", ["**/README.md"], True),
    ("xREADME.md", ["**/README.md"], False),
    ("README.md.orig", ["**/README.md"], False),
    ("a/src/app.js", ["**/*src/**"], True),
    ("my-src/code/js/app.js", ["**/*src/**"], True),
    ("source/app.js", ["**/*src/**"], False),
    ("my-post.md", ["**/*-post.md"], True),
    ("path/their-post.md", ["**/*-post.md"], True),
    ("path/post.md", ["**/*-post.md"], False),
    ("migrate-10909.sql", ["**/migrate-*.sql"], True),
    ("db/sept/migrate-v1.sql", ["**/migrate-*.sql"], True),
    ("db/migrate/v1.sql", ["**/migrate-*.sql"], False),
    # lists: the last matching pattern decides
    ("hello.md", ["*.md", "!README.md"], True),
    ("README.md", ["*.md", "!README.md"], False),
    ("docs/hello.md", ["*.md", "!README.md"], False),
    ("README.md", ["*.md", "!README.md", "README*"], True),
    ("README.doc", ["*.md", "!README.md", "README*"], True),
    ("README.md", ["README*", "*.md", "!README.md"], False),
    ("docs/keep.md", ["**", "!docs/**", "docs/keep.md"], True),
    ("docs/drop.md", ["**", "!docs/**", "docs/keep.md"], False),
    ("src/app.py", ["**", "!docs/**", "docs/keep.md"], True),
    ("other", ["!main", "release/*"], False),
    # escapes, and characters special in regexes but literal here
    ("*", ["\\*"], True),
    ("a", ["\\*"], False),
    ("why?", ["why\\?"], True),
    ("wh", ["why\\?"], False),
    ("[abc]", ["\\[abc]"], True),
    ("!file", ["\\!file"], True),
    ("a!b", ["a!b"], True),
    ("escape\\backslash", ["escape\\\\backslash"], True),
    ("release-1.0+build.5", ["release-1.0\\+build.5"], True),
    ("release-1.0+build.5", ["release-1.0+build.5"], False),
    ("release-1.00build.5", ["release-1.0+build.5"], True),
    ("abc", ["a.c"], False),
    ("a.c", ["a.c"], True),
    ("x", ["(x|y)"], False),
    ("(x|y)", ["(x|y)"], True),
    ("^main$", ["^main$"], True),
    ("main", ["^main$"], False),
    ("{a,b}", ["{a,b}"], True),
    ("a", ["{a,b}"], False),
    ("a\nb", ["a**b"], True),
    ("a\nb", ["a*b"], True),
]


@pytest.mark.parametrize(
    ("value", "patterns", "expected"),
    MATCHES,
    ids=[f"{','.join(patterns)}|{value}" for value, patterns, _ in MATCHES],
)
def test_includes(value: str, patterns: list[str], expected: bool) -> None:
    assert FilterPatterns.parse(patterns).includes(value) is expected


INVALID = [
    ([], "a filter needs at least one pattern"),
    ([""], "invalid filter pattern '': there is nothing to match"),
    (["main", "!"], "invalid filter pattern '!': there is nothing to match"),
    (["!README.md"], "filter ['!README.md'] needs at least one pattern without '!'"),
    (["!a", "!b"], "needs at least one pattern without '!'"),
    (["[a-]"], "'[a-]' may list only ASCII letters, digits and ranges such as 'a-z', not '-'"),
    (["[-a]"], "'[-a]' may list only ASCII letters, digits and ranges such as 'a-z', not '-'"),
    (["[z-a]"], "range 'z-a' in '[z-a]' runs backwards"),
    (["[9-0]"], "range '9-0' in '[9-0]' runs backwards"),
    (["[A-z]"], "range 'A-z' in '[A-z]' is not within a-z, A-Z or 0-9"),
    (["[a-9]"], "range 'a-9' in '[a-9]' is not within a-z, A-Z or 0-9"),
    (["[._]"], "'[._]' may list only ASCII letters, digits and ranges such as 'a-z', not '.'"),
    (["[!a]"], "not '!'"),
    (["[^a]"], "not '^'"),
    (["[é]"], "not 'é'"),
    (["[]"], "'[]' lists no character"),
    (["v[12"], "invalid filter pattern 'v[12': '[' in '[12' is never closed by ']'"),
    (["main", "!v[12"], "invalid filter pattern '!v[12': '[' in '[12' is never closed"),
    (["abc\\"], "invalid filter pattern 'abc\\\\': it ends in a lone '\\'"),
    (["+1"], "'+' at the start has nothing to repeat; write '\\+' for a literal '+'"),
    (["?"], "'?' at the start has nothing to repeat; write '\\?' for a literal '?'"),
    (["*?"], "'?' after '*' has nothing to repeat"),
    (["**+"], "'+' after '**' has nothing to repeat"),
    (["docs/**/?"], "'?' after '**/' has nothing to repeat"),
    (["a+?"], "'?' after '+' has nothing to repeat"),
    (["a++"], "'+' after '+' has nothing to repeat"),
]


@pytest.mark.parametrize(
    ("patterns", "message"),
    INVALID,
    ids=[str(patterns) for patterns, _ in INVALID],
)
def test_invalid_patterns_are_refused_saying_why(patterns: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        FilterPatterns.parse(patterns)


def test_a_string_is_not_taken_for_a_list_of_one_character_patterns() -> None:
    with pytest.raises(TypeError, match="expected a list of patterns, got the string 'main'"):
        FilterPatterns.parse("main")


def test_compile_pattern_takes_one_pattern_whose_bang_is_literal() -> None:
    assert compile_pattern("!file").fullmatch("!file")
    assert compile_pattern("v[12].[0-9]+").fullmatch("v1.10")
    assert not compile_pattern("v[12].[0-9]+").fullmatch("v1x10")
    with pytest.raises(ValueError, match=re.escape("invalid filter pattern '[z-a]': range")):
        compile_pattern("[z-a]")


def test_filters_compare_by_their_patterns() -> None:
    assert FilterPatterns.parse(["main", "!x"]) == FilterPatterns(("main", "!x"))
    assert FilterPatterns.parse(["main"]) != FilterPatterns.parse(["main", "!x"])
    assert FilterPatterns.parse(["main"]).source == ("main",)


SAFE = string.ascii_letters + string.digits + "-_./"


def escaped(text: str) -> str:
    """*text* with a backslash before every character: a pattern matching it literally."""
    return "".join("\\" + char for char in text)


@given(st.text(SAFE, min_size=1), st.text(SAFE))
def test_safe_text_as_pattern_includes_exactly_itself(text: str, other: str) -> None:
    for pattern in (text, escaped(text)):
        patterns = FilterPatterns.parse([pattern])
        assert patterns.includes(text)
        assert patterns.includes(other) is (other == text)
        assert not patterns.includes(text + "a")
        assert not patterns.includes(text[:-1])


@given(st.text(min_size=1), st.text())
def test_any_escaped_text_includes_exactly_itself(text: str, other: str) -> None:
    patterns = FilterPatterns.parse([escaped(text)])
    assert patterns.includes(text)
    assert patterns.includes(other) is (other == text)
