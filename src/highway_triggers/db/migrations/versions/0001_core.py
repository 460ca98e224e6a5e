"""The core's tables.

Revision ID: 0001_core
Revises: -
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from highway_triggers.db.columns import JSONType, UtcDateTime

revision: str = "0001_core"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("highway_triggers",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("key_hash", sa.String(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "deliveries",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("delivery_id", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "delivery_id"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deliveries_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "deployment_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("detail", JSONType, nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deployment_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployment_history_workflow_id"), ["workflow_id"], unique=False
        )

    op.create_table(
        "deployments",
        sa.Column("workflow_id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("spec", JSONType, nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id"),
    )
    op.create_table(
        "dispatches",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("mode", sa.String(), nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=True),
        sa.Column("execution_id", sa.String(), nullable=True),
        sa.Column("trigger_id", sa.String(), nullable=True),
        sa.Column("wait_id", sa.String(), nullable=True),
        sa.Column("tenant_id", sa.String(), nullable=True),
        sa.Column("trigger_type", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("locked_until", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dispatches", schema=None) as batch_op:
        batch_op.create_index("ix_dispatches_due", ["status", "next_attempt_at"], unique=False)

    state = op.create_table(
        "gateway_state",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.bulk_insert(state, [{"key": "index_revision", "value": 0}])
    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("jwt_secret_encrypted", sa.String(), nullable=False),
        sa.Column("rate_limit_per_second", sa.Float(), nullable=True),
        sa.Column("burst", sa.Integer(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "trigger_index",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=True),
        sa.Column("trigger_subtype", sa.String(), nullable=False),
        sa.Column("trigger_config", JSONType, nullable=False),
        sa.Column("index_key", sa.String(), nullable=True),
        sa.Column("deployment_status", sa.String(), nullable=False),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trigger_index", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trigger_index_lookup",
            ["trigger_subtype", "index_key", "deployment_status"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_trigger_index_revision"), ["revision"], unique=False)
        batch_op.create_index(batch_op.f("ix_trigger_index_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_trigger_index_workflow_id"), ["workflow_id"], unique=False
        )

    op.create_table(
        "waits",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=True),
        sa.Column("workflow_run_id", sa.String(), nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=True),
        sa.Column("event_name", sa.String(), nullable=False),
        sa.Column("correlation_key", sa.String(), nullable=True),
        sa.Column("token", sa.String(), nullable=True),
        sa.Column("multi_use", sa.Boolean(), nullable=False),
        sa.Column("payload_schema", JSONType, nullable=True),
        sa.Column("idempotency_key", sa.String(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("consumed_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("waits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_waits_correlation_key"), ["correlation_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_waits_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_waits_token"), ["token"], unique=False)
        batch_op.create_index(
            "ux_waits_open_single_use",
            ["tenant_id", "event_name", "correlation_key"],
            unique=True,
            sqlite_where=sa.text("consumed_at IS NULL AND multi_use = 0"),
            postgresql_where=sa.text("consumed_at IS NULL AND multi_use = false"),
        )


def downgrade() -> None:
    with op.batch_alter_table("waits", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_waits_open_single_use",
            sqlite_where=sa.text("consumed_at IS NULL AND multi_use = 0"),
            postgresql_where=sa.text("consumed_at IS NULL AND multi_use = false"),
        )
        batch_op.drop_index(batch_op.f("ix_waits_token"))
        batch_op.drop_index(batch_op.f("ix_waits_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_waits_correlation_key"))

    op.drop_table("waits")
    with op.batch_alter_table("trigger_index", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trigger_index_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_trigger_index_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_trigger_index_revision"))
        batch_op.drop_index("ix_trigger_index_lookup")

    op.drop_table("trigger_index")
    op.drop_table("tenants")
    op.drop_table("gateway_state")
    with op.batch_alter_table("dispatches", schema=None) as batch_op:
        batch_op.drop_index("ix_dispatches_due")

    op.drop_table("dispatches")
    op.drop_table("deployments")
    with op.batch_alter_table("deployment_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_history_workflow_id"))

    op.drop_table("deployment_history")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_received_at"))

    op.drop_table("deliveries")
    op.drop_table("api_keys")
