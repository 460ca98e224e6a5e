"""parse_json's two parsers agree (core/json_body.py): jiter with its check, and the
standard library's hooked decoder alone, give the same value (floats to the bit) or refuse
with the same error, for generated documents, numbers of every shape, odd strings,
duplicate keys, nesting around the limit and byte-level mutations."""

from __future__ import annotations

import codecs
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from highway_triggers.core import json_body
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.json_body import DEFAULT_MAX_DEPTH, parse_json

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=30,
)
NUMBER_TEXT = st.from_regex(
    r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,5})?", fullmatch=True
)


def outcome(parse: Any, body: bytes) -> tuple[str, str]:
    """What a parser makes of ``body``: the value's repr (it tells 1 from 1.0 from True and
    shows every bit of a float), or the error's status and code."""
    try:
        return ("value", repr(parse(body)))
    except HTTPError as error:
        return ("refused", f"{error.status} {error.code}")


def assert_same(body: bytes) -> None:
    fast = outcome(parse_json, body)
    without_bom = body.removeprefix(codecs.BOM_UTF8)  # parse_json drops it before either
    strict = outcome(lambda b: json_body._parse_strictly(b, DEFAULT_MAX_DEPTH), without_bom)
    assert fast == strict, body[:200]


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS, st.booleans(), st.sampled_from([(",", ":"), (", ", ": ")]))
def test_generated_documents(document: Any, ascii_only: bool, separators: tuple[str, str]) -> None:
    body = json.dumps(document, ensure_ascii=ascii_only, separators=separators)
    assert_same(body.encode("utf-8", "surrogatepass"))


@settings(max_examples=400, deadline=None)
@given(NUMBER_TEXT, st.sampled_from(["[{}]", '{{"n": {}}}', "{}", " [1, {} ,2] "]))
def test_numbers_of_every_shape(number: str, around: str) -> None:
    """Long mantissas and fractions, large and small exponents, int64's edges."""
    assert_same(around.format(number).encode())


@pytest.mark.parametrize(
    "text",
    [
        "[9223372036854775807]", "[-9223372036854775808]", "[9223372036854775808]",
        "[-9223372036854775809]", "[18446744073709551616]", "[9007199254740993]",
        "[1e308]", "[1.7976931348623157e308]", "[1.7976931348623159e308]", "[1e309]",
        "[-1E+400]", '{"a": 12e00400}', "[1e-400]", '["null", null, 1e400]',
        '["4e764", "fd489864e764", "1e400"]', '["\\u0000"]', '["\\\\u0000"]', '["\\ud800"]',
        '{"\\udc00": 1}', '["\\ud83d\\ude00"]', '["\\ud800\\u0041"]', '{"a": 1, "a": 2}',
        '{"a": 1, "\\u0061": 2}', "[NaN]", "[Infinity]", "[-Infinity]", "[1,]", "[01]",
        "\ufeff[1]", "[" * 64 + "]" * 64, "[" * 65 + "]" * 65, '{"a":' * 64 + "1" + "}" * 64,
        '{"a":' * 65 + "1" + "}" * 65, "[" * 300 + "]" * 300, "[1] x", "", " ", '"x"', "7",
        '{"a": "\\u003a", "a": 1}', '{"a:b": 1, "a:b": 2}', '{"\\u003a": 1, "\\u003A": 2}',
        '[{"n": 1, "n": null}]', '["\\u006e", 1e400]', '["\\u000a", -1e999]',
        '{"a": [1e400], "b": "\\n"}', "[" * 63 + "1" + "]" * 63, "[" * 64 + "1" + "]" * 64,
        '{"a":' * 63 + "[]" + "}" * 63, '{"a":' * 64 + "{}" + "}" * 64,
    ],
)  # fmt: skip
def test_edge_cases(text: str) -> None:
    assert_same(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS, st.data())
def test_mutated_bytes(document: Any, data: st.DataObject) -> None:
    """A valid document with a byte replaced, inserted or removed: refused alike, or taken
    alike."""
    body = bytearray(json.dumps(document).encode())
    position = data.draw(st.integers(min_value=0, max_value=len(body)))
    change = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    byte = data.draw(st.integers(min_value=0, max_value=255))
    if change == "insert":
        body.insert(position, byte)
    elif position < len(body):
        if change == "replace":
            body[position] = byte
        else:
            del body[position]
    assert_same(bytes(body))


ODD_TEXT = st.text(alphabet=':n\n\\"aé😀\x00', max_size=6)
"""Strings of the characters the fast path's check counts or looks for."""


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        ODD_TEXT,
        st.recursive(ODD_TEXT | st.none(), lambda inner: st.lists(inner, max_size=3), max_leaves=8),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
    st.booleans(),
)
def test_a_duplicate_key_is_refused_alike(
    document: dict[str, Any], ascii_only: bool, nested: bool
) -> None:
    """An object with its first key written twice, at the top or nested, whatever colons,
    ``n`` and escapes its strings hold."""
    key, value = next(iter(document.items()))
    pair = json.dumps({key: value}, ensure_ascii=ascii_only)[1:-1]
    body = json.dumps(document, ensure_ascii=ascii_only)[:-1] + ", " + pair + "}"
    if nested:
        body = '{"outer": [1, ' + body + "]}"
    assert_same(body.encode())
    assert outcome(parse_json, body.encode()) == ("refused", "400 UNSUPPORTED_JSON")


def test_ordinary_json_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body like a GitHub push (hex digests, nulls, escapes, emoji) never reaches the
    standard decoder; a float that overflowed does."""
    body = json.dumps(
        {"after": "fd489864e764", "base_ref": None, "message": 'a "quote"\n😀', "size": 1},
        ensure_ascii=False,
    ).encode()

    def slow(body: bytes, max_depth: int) -> Any:
        raise AssertionError("took the slow path")

    monkeypatch.setattr(json_body, "_parse_strictly", slow)
    assert parse_json(body)["message"].endswith("😀")
    with pytest.raises(AssertionError, match="slow path"):
        parse_json(b'{"n": 1e400}')
