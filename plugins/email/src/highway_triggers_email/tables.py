"""The plugin's table (created by its ``migrations``)."""

from sqlalchemy import BigInteger, Column, MetaData, String, Table

from highway_triggers.plugin import UtcDateTime

metadata = MetaData()

CURSORS = Table(
    "email_cursors",
    metadata,
    Column("mailbox_id", String, primary_key=True),  # EmailConfig.mailbox_id
    Column("mailbox", String, nullable=False),  # user@host:port/folder, for people
    Column("uidvalidity", BigInteger, nullable=False),
    Column("last_uid", BigInteger, nullable=False),  # the last message routed
    Column("last_internal_date", UtcDateTime, nullable=True),  # its INTERNALDATE
    Column("updated_at", UtcDateTime, nullable=False),
)
"""Each mailbox's cursor ``(UIDVALIDITY, last UID)``: advanced in the transaction that
dispatches the message, so a message is routed once, and none is skipped."""
