"""The parser (the standard library's ``email``, policy ``default``): the sample messages
become the documented trigger data; encoded words, both bodies, attachments in each
mode, thread headers; and mail that is broken or hostile never makes it raise."""

from __future__ import annotations

import base64
from email.message import EmailMessage

from email_hub import fixture
from highway_triggers_email.message import correlation_keys, parse_message, thread_ids
from hypothesis import given, settings
from hypothesis import strategies as st

SHAPE = {
    "from", "to", "cc", "reply_to", "subject", "date", "message_id", "in_reply_to",
    "references", "list_id", "text", "html", "attachments",
}  # fmt: skip


def test_a_plain_message() -> None:
    parsed = parse_message(fixture("plain"))
    assert parsed.data == {
        "from": {"name": "Alice Example", "address": "alice@example.org"},
        "to": [{"name": "Ops Team", "address": "ops@example.net"}],
        "cc": [],
        "reply_to": [],
        "subject": "Deploy window for Thursday",
        "date": "2024-06-04T09:15:00+00:00",
        "message_id": "<20240604091500.1a2b3c@mail.example.org>",
        "in_reply_to": None,
        "references": [],
        "list_id": None,
        "text": "Hi team,\r\n\r\nCan we move the deploy window to Thursday 14:00 UTC?\r\n"
        "The migration needs about 20 minutes.\r\n\r\nThanks,\r\nAlice\r\n",
        "html": None,
        "attachments": [],
    }
    assert parsed.attachment_count == 0
    assert correlation_keys(parsed.data) == ()


def test_a_multipart_alternative_message_has_both_bodies() -> None:
    data = parse_message(fixture("multipart-alternative")).data
    assert data["from"] == {"name": "Build Bot", "address": "ci@example.org"}
    assert data["text"] == (
        'Build #482 on main passed in 4m12s.\r\nCommit: 6dcb09b by Alice — "Fix flaky test"\r\n'
    )  # quoted-printable, UTF-8
    assert data["html"] is not None and data["html"].startswith("<html><body><p><b>Build #482")
    assert "&mdash;" in data["html"] and data["attachments"] == []


def test_a_reply_names_the_messages_it_answers() -> None:
    data = parse_message(fixture("reply")).data
    original = "<20240604091500.1a2b3c@mail.example.org>"
    assert (data["in_reply_to"], data["references"]) == (original, [original])
    assert data["cc"] == [{"name": "Ops Team", "address": "ops@example.net"}]
    assert thread_ids(data) == ["20240604091500.1a2b3c@mail.example.org"]
    assert correlation_keys(data) == (
        "email:20240604091500.1a2b3c@mail.example.org",
        "email:<20240604091500.1a2b3c@mail.example.org>",
    )


def test_thread_ids_put_the_direct_parent_first_then_the_newest_references() -> None:
    data = {"in_reply_to": "<c@x>", "references": ["<a@x>", "<b@x>", "<c@x>"]}
    assert thread_ids(data) == ["c@x", "b@x", "a@x"]


def test_encoded_words_and_list_headers_are_decoded() -> None:
    raw = (
        b"From: =?utf-8?q?Ren=C3=A9e_M=C3=BCller?= <renee@example.org>\r\n"
        b"To: team@example.org\r\n"
        b"Subject: =?utf-8?q?Caf=C3=A9_=E2=80=94?= =?utf-8?b?csOpc3Vtw6k=?=\r\n"
        b"List-Id: Ops announcements <ops.lists.example.org>\r\n"
        b"Message-ID: <encoded@example.org>\r\n"
        b"\r\nbody\r\n"
    )
    data = parse_message(raw).data
    assert data["subject"] == "Café —résumé"
    assert data["from"] == {"name": "Renée Müller", "address": "renee@example.org"}
    assert data["list_id"] == "Ops announcements <ops.lists.example.org>"


def with_attachments() -> bytes:
    built = EmailMessage()
    built["From"], built["To"], built["Subject"] = "a@example.org", "b@example.org", "files"
    built.set_content("see attached")
    built.add_alternative("<p>see attached</p>", subtype="html")
    pdf = b"\x00\x01pdf-bytes"
    built.add_attachment(pdf, maintype="application", subtype="pdf", filename="report.pdf")
    built.add_attachment(b"x" * 5000, maintype="image", subtype="png", filename="big.png")
    inner = EmailMessage()
    inner["Subject"] = "forwarded"
    inner.set_content("inner text")
    built.add_attachment(inner)
    return built.as_bytes()


def test_attachments_in_each_mode() -> None:
    raw = with_attachments()
    assert parse_message(raw, attachments="none").data["attachments"] == []
    assert parse_message(raw, attachments="none").attachment_count == 3
    listed = parse_message(raw, attachments="metadata").data
    assert [(a["filename"], a["content_type"], a["content"]) for a in listed["attachments"]] == [
        ("report.pdf", "application/pdf", None),
        ("big.png", "image/png", None),
        (None, "message/rfc822", None),
    ]
    assert [a["size"] for a in listed["attachments"][:2]] == [11, 5000]
    assert (listed["text"], listed["html"]) == ("see attached\n", "<p>see attached</p>\n")
    inline = parse_message(raw, attachments="inline", max_bytes=1000).data["attachments"]
    assert base64.b64decode(inline[0]["content"]) == b"\x00\x01pdf-bytes"
    assert inline[1]["content"] is None  # larger than max_bytes: metadata only


def test_broken_headers_and_an_unknown_charset_do_not_raise() -> None:
    raw = (
        b"From: <<<@@@>>> broken\r\n"
        b"To: undisclosed-recipients:;\r\n"
        b"Date: the day after tomorrow\r\n"
        b"Subject: =?x-unknown?q?caf=E9?=\r\n"
        b"Content-Type: text/plain; charset=x-unknown\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n!!!not base64!!!\r\n"
    )
    data = parse_message(raw).data
    assert set(data) == SHAPE
    assert (data["date"], data["message_id"], data["to"]) == (None, None, [])
    assert isinstance(data["subject"], str) and isinstance(data["text"], str)


def test_every_prefix_of_the_samples_parses() -> None:
    for name in ("plain", "multipart-alternative", "reply"):
        raw = fixture(name)
        for end in range(0, len(raw), 7):
            parsed = parse_message(raw[:end], attachments="inline", max_bytes=100)
            assert set(parsed.data) == SHAPE


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes_parse_to_the_documented_shape(raw: bytes) -> None:
    assert set(parse_message(raw, attachments="inline", max_bytes=100).data) == SHAPE
