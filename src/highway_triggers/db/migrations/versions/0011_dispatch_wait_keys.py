"""A resume keeps its wait's event name and correlation key, which the engine adapter
receives (an engine may address the run's wait point by them).

Revision ID: 0011_dispatch_wait_keys
Revises: 0010_delivery_log
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_dispatch_wait_keys"
down_revision: str | Sequence[str] | None = "0010_delivery_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dispatches") as batch:
        batch.add_column(sa.Column("event_name", sa.String(), nullable=True))
        batch.add_column(sa.Column("correlation_key", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dispatches") as batch:
        batch.drop_column("correlation_key")
        batch.drop_column("event_name")
