"""The plugin's tables (created by its ``migrations``)."""

from sqlalchemy import Boolean, Column, Index, MetaData, String, Table, UniqueConstraint

from highway_triggers.plugin import JSONType, UtcDateTime

metadata = MetaData()

SIGNATURES = Table(
    "webhook_signatures",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant_id", String, nullable=False),
    Column("signature", JSONType, nullable=False),  # an auth object, its secrets sealed
    Column("created_at", UtcDateTime, nullable=False),
)
"""Signature objects of per-run webhooks, referable by id from later registrations."""

REGISTRATIONS = Table(
    "webhook_registrations",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant_id", String, nullable=False),
    Column("workflow_run_id", String, nullable=False),
    Column("token", String, nullable=False, unique=True),  # the wait's token: a credential
    Column("wait_id", String, nullable=True),  # None: registered before webhook_0002
    Column("signature_id", String, nullable=False),
    Column("options", JSONType, nullable=False),
    Column("multi_use", Boolean, nullable=False),
    Column("idempotency_key", String, nullable=True),
    Column("expires_at", UtcDateTime, nullable=True, index=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("tenant_id", "idempotency_key", name="ux_webhook_registrations_key"),
)
"""Per-run webhooks; each resumes its run through the plugin's wait ``wait_id`` on ``token``."""

HELD = Table(
    "webhook_held_requests",
    metadata,
    Column("request_id", String, primary_key=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("answered_at", UtcDateTime, nullable=True),
    Column("answer", JSONType, nullable=True),
    Index("ix_webhook_held_requests_expiry", "expires_at"),
)
"""Requests held open (``response: wait``) and the answers runs posted for them."""
