"""The approval plugin's tables: approvals, their approvers and their decisions.

Revision ID: approval_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from highway_triggers.plugin import JSONType, UtcDateTime

revision: str = "approval_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("highway_triggers_approval",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("approval_key", sa.String(), nullable=False),
        sa.Column("workflow_run_id", sa.String(), nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=True),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("allow_self_approval", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=True),
        sa.Column("one_click", sa.Boolean(), nullable=False),
        sa.Column("notify", sa.String(), nullable=False),
        sa.Column("redirect_url_approved", sa.Text(), nullable=True),
        sa.Column("redirect_url_rejected", sa.Text(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("outcome", JSONType, nullable=True),
        sa.Column("wait_id", sa.String(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("resumed_at", UtcDateTime(), nullable=True),
        sa.Column("announced_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "approval_key", name="uq_approvals_tenant_key"),
    )
    op.create_index("ix_approvals_status_expires_at", "approvals", ["status", "expires_at"])
    op.create_index("ix_approvals_resumed_at", "approvals", ["resumed_at"])
    op.create_table(
        "approval_approvers",
        sa.Column("approval_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("approve_token", sa.Text(), nullable=False),
        sa.Column("reject_token", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("notified_at", UtcDateTime(), nullable=True),
        sa.Column("notify_attempts", sa.Integer(), nullable=False),
        sa.Column("notify_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("claimed_until", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("approval_id", "position"),
    )
    op.create_table(
        "approval_decisions",
        sa.Column("approval_id", sa.String(), nullable=False),
        sa.Column("approver", sa.String(), nullable=False),
        sa.Column("decision", sa.String(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=False),
        sa.Column("client_ip", sa.String(), nullable=True),
        sa.Column("user_agent", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("approval_id", "approver"),
    )


def downgrade() -> None:
    op.drop_table("approval_decisions")
    op.drop_table("approval_approvers")
    op.drop_index("ix_approvals_resumed_at", table_name="approvals")
    op.drop_index("ix_approvals_status_expires_at", table_name="approvals")
    op.drop_table("approvals")
