"""The one strict parser of JSON request bodies: what it accepts can be stored (SQLite and
PostgreSQL JSONB) and delivered to an engine unchanged; everything else is a 400.

Refused, beyond malformed JSON and bodies that are not UTF-8 (``MALFORMED_BODY``): nesting
deeper than ``max_depth`` arrays and objects (``JSON_TOO_DEEP``); duplicate keys in one
object, ``NaN`` / ``Infinity`` / ``-Infinity`` and numbers that overflow a float, integers
outside the signed 64-bit range, and strings (keys included) with a NUL character or a lone
surrogate (``UNSUPPORTED_JSON``). A leading UTF-8 byte order mark is ignored.

Two parsers, one behaviour. jiter parses first: it refuses ``NaN``, malformed text and
lone surrogates itself, and a check of what it returns (:func:`_plain`) clears the rest by
comparing the body with orjson's indented serialisation of the value: every integer within
53 bits (orjson's strict-integer option); as many ``:`` in both (a duplicate key would have
lost one: the value's strings are the body's, so only a key lost changes the count; a body
escaping a colon as ``\\u003a`` is not cleared); as many ``n`` (orjson writes a float that
overflowed as ``null``, one ``n`` more; an escape the body spells out only adds ``n``); no
line indented ``max_depth`` levels (nothing nested that deep); no ``\\u0000`` escape. A
body jiter refuses or the check cannot clear goes to the standard library's decoder with
hooks for objects and numbers (and a walk over strings and depth where the bytes call for
it), which decides and names the error. In a loaded gateway the hooked decoder costs twice
its time alone (a list and a tuple per object, a Python call per number); jiter with its
check costs a third of it (an 8 KB GitHub push: 24 µs against 41 µs with jiter's own
duplicate-key check and a count of brackets, and 66 µs for the decoder).
"""

from __future__ import annotations

import codecs
import functools
import json
import re
from typing import Any

import jiter
import orjson

from highway_triggers.core.errors import HTTPError

DEFAULT_MAX_DEPTH = 64
"""Arrays and objects nested deeper than this are refused (``HIGHWAY_MAX_JSON_DEPTH``)."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_WHITESPACE = " \t\n\r"
_ODD_ESCAPES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
"""Escapes the raw bytes must hold for a parsed string to hold a NUL or a lone surrogate:
strict UTF-8 has no encoded surrogates, and JSON no raw control characters in strings."""
_UNCHECKED_ESCAPES = re.compile(rb"\\u00(?:00|3[aA])")
"""Escapes :func:`_plain` cannot clear: a NUL, which jiter takes (it refuses lone
surrogates, as the decoder's walk does), and a colon, which the count of colons misses."""


class MalformedJSON(HTTPError):
    """400 ``MALFORMED_BODY``: the body is not JSON at all."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "MALFORMED_BODY", message)


def parse_json(body: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The JSON value of ``body``; :class:`MalformedJSON` when it is not JSON, else
    :class:`HTTPError` 400 ``JSON_TOO_DEEP`` or ``UNSUPPORTED_JSON`` for JSON the gateway
    does not take (see the module's docstring)."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    try:
        value = jiter.from_json(body, allow_inf_nan=False)
    except ValueError:
        pass  # the standard decoder below finds and names what is wrong
    else:
        if _plain(body, value, max_depth):
            return value
    return _parse_strictly(body, max_depth)


def _plain(body: bytes, value: Any, max_depth: int) -> bool:
    """Whether jiter's ``value`` of ``body`` needs none of the standard decoder's checks
    (see the module's docstring). ``False`` only sends the body down the slower path."""
    if b"\\" in body and _UNCHECKED_ESCAPES.search(body) is not None:
        return False
    try:
        text = orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER | orjson.OPT_INDENT_2)
    except TypeError:  # an integer past 53 bits (or past 64), or nesting past orjson's 255
        return False
    return (
        text.count(b":") == body.count(b":")
        and text.count(b"n") == body.count(b"n")
        and _indent(max_depth) not in text
    )


@functools.cache
def _indent(depth: int) -> bytes:
    """The start of a line of orjson's ``OPT_INDENT_2`` text holding a value ``depth`` deep."""
    return b"\n" + b"  " * depth


def _parse_strictly(body: bytes, max_depth: int) -> Any:
    """:func:`parse_json` by the standard library's decoder alone."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJSON(f"the body is not UTF-8 (byte {exc.start})") from None
    value = _decode(text.strip(_WHITESPACE), max_depth)
    strings = b"\\" in body and _ODD_ESCAPES.search(body) is not None
    if strings or body.count(b"[") + body.count(b"{") > max_depth:
        _walk(value, max_depth, strings)
    return value


def _decode(text: str, max_depth: int) -> Any:
    """``json.loads`` with the hooks, less its two whitespace regexes (``text`` is stripped).
    A body that is not JSON is :class:`MalformedJSON` even where a hook refused a value
    before the scanner reached the error."""
    try:
        return _whole(_DECODER, text)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except MalformedJSON:
        raise
    except HTTPError:
        try:
            _whole(_LENIENT, text)
        except RecursionError:
            pass
        raise


def _whole(decoder: json.JSONDecoder, text: str) -> Any:
    try:
        value, end = decoder.raw_decode(text)
    except json.JSONDecodeError as exc:
        raise MalformedJSON(f"the body is not valid JSON: {exc}") from None
    if end != len(text):
        raise MalformedJSON(f"the body is not valid JSON: extra data at character {end}")
    return value


def _too_deep(max_depth: int) -> HTTPError:
    return HTTPError(
        400, "JSON_TOO_DEEP", f"the body nests arrays and objects deeper than {max_depth} levels"
    )


def _unsupported(message: str) -> HTTPError:
    return HTTPError(400, "UNSUPPORTED_JSON", message)


def _shown(text: str) -> str:
    """``text`` for an error message: escaped, and cut after 40 characters."""
    return ascii(text if len(text) <= 40 else text[:40] + "…")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _unsupported(f"duplicate key {_shown(key)} in a JSON object")
            seen.add(key)
    return found


def _int(text: str) -> int:
    # 19 characters hold every integer of up to 18 digits and a sign, inside int64
    if len(text) < 19:
        return int(text)
    value = int(text) if len(text) <= 20 else None  # no int() of thousands of digits
    if value is None or not INT64_MIN <= value <= INT64_MAX:
        raise _unsupported(f"integer {_shown(text)} is outside the signed 64-bit range")
    return value


def _float(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf - inf is nan
        raise _unsupported(f"number {_shown(text)} overflows a 64-bit float")
    return value


def _constant(name: str) -> float:
    raise _unsupported(f"{name} is not supported in JSON bodies")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_int=_int, parse_float=_float, parse_constant=_constant
)
_LENIENT = json.JSONDecoder(parse_int=len, parse_float=len, parse_constant=len)
"""Only whether the text is JSON at all: it takes every oddity and converts no number."""


def _walk(value: Any, max_depth: int, strings: bool) -> None:
    """Refuse nesting past ``max_depth`` and, when ``strings``, a NUL or a lone surrogate in
    any string; iterative, so that it stays within the stack whatever the depth."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= max_depth:
                raise _too_deep(max_depth)
            for key, child in item.items():
                if strings:
                    _check_string(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth >= max_depth:
                raise _too_deep(max_depth)
            stack.extend((child, depth + 1) for child in item)
        elif strings and isinstance(item, str):
            _check_string(item)


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise _unsupported(f"the string {_shown(text)} holds a NUL character ('\\x00')")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # only a surrogate does not encode
            found = ascii(text[exc.start])
            raise _unsupported(f"the string {_shown(text)} holds a lone surrogate ({found})")
