"""The webhook plugin's tables: signature objects, per-run registrations, held requests.

Revision ID: webhook_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from highway_triggers.plugin import JSONType, UtcDateTime

revision: str = "webhook_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("highway_triggers_webhook",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_signatures",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("signature", JSONType, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_registrations",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("workflow_run_id", sa.String(), nullable=False),
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("signature_id", sa.String(), nullable=False),
        sa.Column("options", JSONType, nullable=False),
        sa.Column("multi_use", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="ux_webhook_registrations_key"),
    )
    op.create_index("ix_webhook_registrations_expires_at", "webhook_registrations", ["expires_at"])
    op.create_table(
        "webhook_held_requests",
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("answered_at", UtcDateTime(), nullable=True),
        sa.Column("answer", JSONType, nullable=True),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_webhook_held_requests_expiry", "webhook_held_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_held_requests_expiry", table_name="webhook_held_requests")
    op.drop_table("webhook_held_requests")
    op.drop_index("ix_webhook_registrations_expires_at", table_name="webhook_registrations")
    op.drop_table("webhook_registrations")
    op.drop_table("webhook_signatures")
