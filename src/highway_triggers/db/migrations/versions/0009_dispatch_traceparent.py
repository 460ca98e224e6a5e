"""Each dispatch keeps the W3C ``traceparent`` of the span that wrote it (tracing on), so
that the engine call joins the trace of the event that caused it.

Revision ID: 0009_dispatch_traceparent
Revises: 0008_exact_payloads
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_dispatch_traceparent"
down_revision: str | Sequence[str] | None = "0008_exact_payloads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dispatches") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dispatches") as batch:
        batch.drop_column("traceparent")
