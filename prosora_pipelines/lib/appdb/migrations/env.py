"""Alembic's environment for the app database: migrate over the connection ``migrate`` (or
``alembic_config``) hands in, comparing against the models for autogenerate.

SQLite cannot alter most of a table in place, so there every operation is rendered in batch
mode (copy to a new table, then swap), which keeps migrations portable to both databases.
"""

from __future__ import annotations

from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from prosora_pipelines.lib.appdb.migrations import VERSION_TABLE
from prosora_pipelines.lib.appdb.models import Base, UtcDateTime


def render_item(kind: str, obj: object, _context: AutogenContext) -> str | Literal[False]:
    """Write ``UtcDateTime`` columns into new migrations as the type the database sees, so a
    migration never imports the models it may outlive."""
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(connection, Connection):
    raise RuntimeError(
        "app database migrations run over a live connection: call "
        "prosora_pipelines.lib.appdb.migrations.migrate(url)"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
