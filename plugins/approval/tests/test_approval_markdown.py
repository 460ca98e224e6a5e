"""An approval's description as HTML: escaped first, then a little Markdown; nothing the
text holds can become markup or a script."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from highway_triggers_approval.markdown import to_html

CASES = [
    ("plain text", "<p>plain text</p>"),
    ("one\ntwo", "<p>one<br>\ntwo</p>"),
    ("one\n\n\ntwo", "<p>one</p>\n<p>two</p>"),
    ("a\r\nb", "<p>a<br>\nb</p>"),
    ("**bold** and *italic*", "<p><strong>bold</strong> and <em>italic</em></p>"),
    ("2 * 3 * 4", "<p>2 * 3 * 4</p>"),
    ("`**not bold** <b>`", "<p><code>**not bold** &lt;b&gt;</code></p>"),
    ("- one\n* two", "<ul><li>one</li><li>two</li></ul>"),
    ("- one\nnot an item", "<p>- one<br>\nnot an item</p>"),
    (
        "[notes](https://example.org/n?a=1&b=2)",
        '<p><a href="https://example.org/n?a=1&amp;b=2" rel="noopener noreferrer">notes</a></p>',
    ),
    ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"),
    (
        '[x](https://e.org/"onmouseover="alert(1))',
        "<p>[x](https://e.org/&#34;onmouseover=&#34;alert(1))</p>",
    ),
    ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
    ("<img src=x onerror=alert(1)>", "<p>&lt;img src=x onerror=alert(1)&gt;</p>"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "html"), CASES)
def test_limited_markdown(text: str, html: str) -> None:
    assert to_html(text) == html


@given(st.text(alphabet=st.sampled_from("<>&\"'*`[]()-\n abc:/h"), max_size=60))
def test_no_text_becomes_markup_of_its_own(text: str) -> None:
    html = str(to_html(text))
    for tag in ("<script", "<img", "<b>", "<a "):
        assert tag not in html.replace('<a href="http', "")
    assert "<" not in text or "&lt;" in html
