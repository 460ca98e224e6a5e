"""The plugin's route: the watched mailboxes and their state."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from highway_triggers.plugin import admin, context_of, operation
from highway_triggers_email.service import service_of


class MailboxCursor(BaseModel):
    uidvalidity: int
    last_uid: int
    updated_at: str


class Mailbox(BaseModel):
    mailbox_id: str
    mailbox: str
    host: str
    port: int
    username: str
    folder: str
    addresses: list[str]
    trigger_ids: list[str]
    check_interval: float
    watching: bool
    holder: str | None
    connected: bool
    idle: bool | None
    last_check_at: str | None
    last_message_at: str | None
    last_error: str | None
    last_error_at: str | None
    failures: int
    cursor: MailboxCursor | None


class Mailboxes(BaseModel):
    mailboxes: list[Mailbox]


@operation(responses={200: Mailboxes})
async def mailboxes(request: Request) -> Response:
    """Every mailbox EMAIL triggers watch: this replica's view of it (``watching``,
    ``connected``, ``idle``, ``last_check_at``, ``last_message_at``, ``last_error``), the
    replica holding its lease, and its stored cursor."""
    found = await service_of(context_of(request)).mailboxes()
    return JSONResponse({"mailboxes": found})


routes: list[BaseRoute] = [Route("/api/v1/email/mailboxes", admin(mailboxes), methods=["GET"])]
