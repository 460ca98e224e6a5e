"""An approval's description as HTML: plain text or limited Markdown, escaped first.

Paragraphs (blank lines), line breaks, lists (lines starting with ``- `` or ``* ``),
``**bold**``, ``*italic*``, ```code``` and ``[text](https://…)`` links. Everything is
escaped before any of it is recognised, so the text can never add markup of its own; a
link must be ``http(s)``.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_BLOCKS = re.compile(r"\n(?:[ \t]*\n)+")
_ITEM = re.compile(r"^[ \t]*[-*][ \t]+")
_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^\s()]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"\*(?=\S)(.+?)(?<=\S)\*")


def to_html(text: str) -> Markup:
    """``text`` as safe HTML."""
    blocks = _BLOCKS.split(text.replace("\r\n", "\n").replace("\r", "\n").strip())
    return Markup("\n").join(_block(b) for b in blocks if b.strip())


def _block(block: str) -> Markup:
    lines = block.split("\n")
    if all(_ITEM.match(line) for line in lines):
        items = Markup("").join(
            Markup("<li>{}</li>").format(_inline(_ITEM.sub("", line))) for line in lines
        )
        return Markup("<ul>{}</ul>").format(items)
    return Markup("<p>{}</p>").format(Markup("<br>\n").join(_inline(line) for line in lines))


def _inline(text: str) -> Markup:
    """Code spans are kept as they are written; the rest gets links and emphasis."""
    parts = _CODE.split(text)  # odd indexes are code
    html = [
        f"<code>{escape(part)}</code>" if index % 2 else _emphasis(str(escape(part)))
        for index, part in enumerate(parts)
    ]
    return Markup("".join(html))


def _emphasis(escaped: str) -> str:
    """Links, bold and italic in text already escaped (``"`` is ``&#34;`` there, so a URL
    cannot leave its attribute)."""
    escaped = _LINK.sub(r'<a href="\2" rel="noopener noreferrer">\1</a>', escaped)
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    return _ITALIC.sub(r"<em>\1</em>", escaped)
