"""The plugin's tables (created by its ``migrations``)."""

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from highway_triggers.plugin import JSONType, UtcDateTime

metadata = MetaData()

APPROVALS = Table(
    "approvals",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant_id", String, nullable=False),
    Column("approval_key", String, nullable=False),
    Column("workflow_run_id", String, nullable=False),
    Column("workflow_id", String, nullable=True),
    Column("title", String, nullable=False),
    Column("description", Text, nullable=False),
    Column("required_approvals", Integer, nullable=False),
    Column("allow_self_approval", Boolean, nullable=False),
    Column("requested_by", String, nullable=True),
    Column("one_click", Boolean, nullable=False),
    Column("notify", String, nullable=False),
    Column("redirect_url_approved", Text, nullable=True),
    Column("redirect_url_rejected", Text, nullable=True),
    Column("status", String, nullable=False),  # pending, approved, rejected, expired
    Column("outcome", JSONType, nullable=True),  # what the run resumes with, once decided
    Column("wait_id", String, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("resumed_at", UtcDateTime, nullable=True),  # the resume was routed (committed)
    Column("announced_at", UtcDateTime, nullable=True),  # approval_pending was emitted
    UniqueConstraint("tenant_id", "approval_key", name="uq_approvals_tenant_key"),
    Index("ix_approvals_status_expires_at", "status", "expires_at"),  # the pending ones, by expiry
    Index("ix_approvals_resumed_at", "resumed_at"),  # NULL: pending, or decided not resumed yet
)
"""One approval asked for a suspended run; idempotent on ``(tenant_id, approval_key)``."""

APPROVERS = Table(
    "approval_approvers",
    metadata,
    Column("approval_id", String, nullable=False),
    Column("position", Integer, nullable=False),
    Column("email", String, nullable=False),
    Column("approve_token", Text, nullable=False),  # sealed
    Column("reject_token", Text, nullable=False),  # sealed
    Column("message_id", String, nullable=False),  # of the approval email, the same on retries
    Column("notified_at", UtcDateTime, nullable=True),
    Column("notify_attempts", Integer, nullable=False),
    Column("notify_error", Text, nullable=True),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("claimed_until", UtcDateTime, nullable=True),  # a replica is sending it
    PrimaryKeyConstraint("approval_id", "position"),
)
"""Each approver of an approval: their links and the state of their email."""

DECISIONS = Table(
    "approval_decisions",
    metadata,
    Column("approval_id", String, nullable=False),
    Column("approver", String, nullable=False),
    Column("decision", String, nullable=False),  # approve, reject
    Column("comment", Text, nullable=True),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("client_ip", String, nullable=True),
    Column("user_agent", String, nullable=True),
    PrimaryKeyConstraint("approval_id", "approver"),
)
"""What each approver decided: one decision per approver."""
