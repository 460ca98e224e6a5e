"""Alembic environment: runs on the connection handed over by ``highway_triggers.db.migrate``."""

from alembic import context
from sqlmodel import SQLModel

import highway_triggers.db.models  # noqa: F401  (registers the core tables)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    version_table=context.config.attributes.get("version_table", "alembic_version"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
