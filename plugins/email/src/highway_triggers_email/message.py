"""What a message becomes: the trigger data handed to the engine (the README's "Trigger
data"), parsed with the standard library's ``email`` package, policy ``default``.

Mail is hostile input: a header that does not parse is read leniently or left out, a
body in an unknown charset is decoded with replacement characters; parsing never raises.
"""

from __future__ import annotations

import base64
import email.header
import email.utils
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

log = logging.getLogger(__name__)
MAX_REFERENCES = 100
"""Message-IDs kept of a ``References`` header (a long thread lists many)."""
MAX_ID_CHARS = 998
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)
_PARSER = BytesParser(policy=policy.default)
EMPTY: dict[str, Any] = {
    "from": None, "to": [], "cc": [], "reply_to": [], "subject": "", "date": None,
    "message_id": None, "in_reply_to": None, "references": [], "list_id": None,
    "text": None, "html": None, "attachments": [],
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Parsed:
    """A message's trigger data (without where it was found: ``mailbox``, ``uid``, …) and
    its attachment count (known whatever ``attachments`` hands on)."""

    data: dict[str, Any]
    attachment_count: int


def parse_message(raw: bytes, *, attachments: str = "metadata", max_bytes: int = 0) -> Parsed:
    """``from``, ``to``, ``cc``, ``reply_to``, ``subject``, ``date``, ``message_id``,
    ``in_reply_to``, ``references``, ``list_id``, ``text``, ``html`` and ``attachments``
    (``none``: ``[]``; ``metadata``: filename, content type, size; ``inline``: and the
    content in base64 when it is at most ``max_bytes``). Never raises: a message the
    parser cannot read at all is handed on with empty fields (and logged)."""
    try:
        return _parse(raw, attachments, max_bytes)
    except Exception:
        log.warning("a message of %d bytes could not be parsed", len(raw), exc_info=True)
        return Parsed(dict(EMPTY), 0)


def _parse(raw: bytes, attachments: str, max_bytes: int) -> Parsed:
    message = _PARSER.parsebytes(raw)
    assert isinstance(message, EmailMessage)
    leaves = list(_leaves(message, message))
    plain = next((leaf for leaf in leaves if leaf.is_body("text/plain")), None)
    html = next((leaf for leaf in leaves if leaf.is_body("text/html")), None)
    found = [leaf for leaf in leaves if leaf not in (plain, html) and leaf.attached]
    return Parsed(
        {
            "from": next(iter(_addresses(message, "from")), None),
            "to": _addresses(message, "to"),
            "cc": _addresses(message, "cc"),
            "reply_to": _addresses(message, "reply-to"),
            "subject": _text_header(message, "subject") or "",
            "date": _date(message),
            "message_id": _first_id(_raw(message, "message-id")),
            "in_reply_to": _first_id(_raw(message, "in-reply-to")),
            "references": _ids(_raw(message, "references"))[:MAX_REFERENCES],
            "list_id": _text_header(message, "list-id"),
            "text": None if plain is None else plain.text(),
            "html": None if html is None else html.text(),
            "attachments": []
            if attachments == "none"
            else [_attachment(leaf, attachments == "inline", max_bytes) for leaf in found],
        },
        len(found),
    )


def thread_ids(data: dict[str, Any]) -> list[str]:
    """The Message-IDs a message answers: ``In-Reply-To``, then ``References`` (newest
    first), once each, without the angle brackets."""
    ids = [data["in_reply_to"], *reversed(data["references"])]
    return list(dict.fromkeys(i.strip("<>") for i in ids if i))


def correlation_keys(data: dict[str, Any]) -> tuple[str, ...]:
    """``email:{id}`` and ``email:<{id}>`` for each id of :func:`thread_ids`: a wait on the
    Message-ID of a message the workflow sent, written either way, is resumed by a reply."""
    return tuple(key for i in thread_ids(data) for key in (f"email:{i}", f"email:<{i}>"))


class Leaf:
    """A part that holds content, its MIME headers read once from their raw text (the
    structured header parser is most of a message's parsing time when asked again and
    again)."""

    __slots__ = ("content_type", "disposition", "filename", "part", "_content_type_raw")

    def __init__(self, part: Message) -> None:
        self.part = part
        raw = {name.lower(): str(value) for name, value in reversed(list(part.raw_items()))}
        self._content_type_raw = raw.get("content-type")
        self.content_type = _mime_type(self._content_type_raw, part.get_default_type())
        disposition = raw.get("content-disposition")
        self.disposition = disposition.split(";")[0].strip().lower() if disposition else None
        named = "name" in f"{self._content_type_raw} {disposition}".lower()
        self.filename = _filename(part) if named else None

    @property
    def attached(self) -> bool:
        """An attachment: said so, named, or neither text nor a container."""
        return (
            self.disposition == "attachment"
            or self.filename is not None
            or self.content_type.split("/")[0] not in ("text", "multipart")
        )

    def is_body(self, content_type: str) -> bool:
        return self.content_type == content_type and not self.attached

    def text(self) -> str | None:
        """The decoded text: transfer encoding, then charset (an unknown one as UTF-8),
        with replacement characters where the bytes do not decode."""
        payload = self.part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            return None
        found = _CHARSET.search(self._content_type_raw or "")
        charset = found.group(1) if found else "us-ascii"
        try:
            return payload.decode(charset, "replace")
        except LookupError:
            return payload.decode("utf-8", "replace")


def _leaves(part: Message, root: Message) -> Iterator[Leaf]:
    """The parts that hold content, in order; an attached message counts as one."""
    if part.is_multipart():
        if part is root or _mime_type(_raw(part, "content-type"), "") != "message/rfc822":
            for sub in part.get_payload():
                if isinstance(sub, Message):
                    yield from _leaves(sub, root)
            return
    yield Leaf(part)


def _mime_type(raw: str | None, default: str) -> str:
    """``type/subtype`` of a Content-Type value, as the ``email`` package reads it."""
    if raw is None:
        return default
    found = raw.split(";")[0].strip().lower()
    return found if found.count("/") == 1 else "text/plain"


def _attachment(leaf: Leaf, inline: bool, max_bytes: int) -> dict[str, Any]:
    content = _bytes_of(leaf)
    return {
        "filename": leaf.filename,
        "content_type": leaf.content_type,
        "size": len(content),
        "content": base64.b64encode(content).decode()
        if inline and len(content) <= max_bytes
        else None,
    }


def _bytes_of(leaf: Leaf) -> bytes:
    part = leaf.part
    try:
        if leaf.content_type == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            return inner.as_bytes() if isinstance(inner, Message) else b""
        payload = part.get_payload(decode=True)
        return payload if isinstance(payload, bytes) else b""
    except Exception:
        return b""


def _filename(part: Message) -> str | None:
    try:
        return part.get_filename()
    except Exception:
        return None


def _text_header(message: EmailMessage, name: str) -> str | None:
    """A header's decoded text (RFC 2047 words decoded); the raw text, decoded leniently,
    when the structured parser gives up."""
    try:
        value = message.get(name)
        if value is None:
            return None
        return str(value).strip()
    except Exception:
        raw = _raw(message, name)
        return None if raw is None else _decoded(raw)


def _addresses(message: EmailMessage, name: str) -> list[dict[str, str]]:
    """``[{"name", "address"}]`` of an address header (groups flattened)."""
    try:
        header = message.get(name)
        if header is None:
            return []
        return [
            {"name": a.display_name, "address": a.addr_spec}
            for a in header.addresses
            if a.addr_spec and a.addr_spec != "<>"
        ]
    except Exception:
        raw = _raw(message, name)
        if raw is None:
            return []
        pairs = email.utils.getaddresses([_decoded(raw)])
        return [{"name": n, "address": a} for n, a in pairs if a]


def _date(message: EmailMessage) -> str | None:
    """``Date`` in ISO 8601 (a date without a zone is read as UTC); ``None`` if unreadable."""
    try:
        header = message.get("date")
        when = getattr(header, "datetime", None)
    except Exception:
        when = None
    if not isinstance(when, datetime):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


def _first_id(text: str | None) -> str | None:
    if not text:
        return None
    found = _MESSAGE_ID.search(text)
    value = found.group(0) if found else text.split()[0]
    return value[:MAX_ID_CHARS]


def _ids(text: str | None) -> list[str]:
    return [i[:MAX_ID_CHARS] for i in _MESSAGE_ID.findall(text or "")]


def _raw(message: Message, name: str) -> str | None:
    for key, value in message.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def _decoded(raw: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(raw))).strip()
    except Exception:
        return raw.strip()
