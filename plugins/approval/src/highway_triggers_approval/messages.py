"""The approval email: plain text and HTML, the title, the description and both links."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from highway_triggers_approval.markdown import to_html
from highway_triggers_approval.outbox import Email

_TEMPLATES = Environment(
    loader=PackageLoader("highway_triggers_approval", "templates/email"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def approval_email(email: Email, sender: str, approve_url: str, reject_url: str) -> EmailMessage:
    """The message asking ``email.to`` to approve or reject, with its recorded Message-ID."""
    context = {
        "title": email.title,
        "description": email.description,
        "description_html": to_html(email.description),
        "approve_url": approve_url,
        "reject_url": reject_url,
        "expires": format_datetime(email.expires_at),
    }
    message = EmailMessage()
    message["Subject"] = f"Approval requested: {email.title}"
    message["From"] = sender
    message["To"] = email.to
    message["Message-ID"] = email.message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_TEMPLATES.get_template("approval.txt").render(**context))
    message.add_alternative(
        _TEMPLATES.get_template("approval.html").render(**context), subtype="html"
    )
    return message
