"""Alembic migrations for the app database, run from code rather than an ``alembic.ini``.

The scripts live in this package, so an installed wheel migrates its own database: the
API, the Dagster definitions and the command line call ``migrate(url)`` on start-up, and it
does nothing when the schema is already current.

The version table is ``prosora_alembic_version``, not Alembic's default ``alembic_version``,
because in production the app tables may share a PostgreSQL database with the Dagster
instance, whose storage keeps its own Alembic history under the default name.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Connection

from prosora_pipelines.lib.appdb.engine import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSION_TABLE = "prosora_alembic_version"
# Any fixed 64-bit number, the same in every process: PostgreSQL's advisory lock for
# migrations, so two processes starting together migrate one after the other.
MIGRATION_LOCK_KEY = 0x70726F736F7261


class MigrationError(RuntimeError):
    """The database could not be brought to the newest schema."""


def alembic_config(connection: Connection) -> Config:
    """An Alembic configuration for these scripts that migrates over ``connection``."""
    config = Config()
    # The value goes through configparser interpolation, where "%" is special.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def migrate(url: str | URL) -> None:
    """Upgrade the database at ``url`` to the newest revision, in one transaction.

    On SQLite the migration runs with foreign keys unenforced (see ``make_engine``) and is
    followed by ``PRAGMA foreign_key_check``, so a migration that breaks a reference is
    rolled back rather than committed.
    """
    engine = make_engine(url, migrating=True)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            command.upgrade(alembic_config(connection), "head")
            if connection.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    connection.rollback()
                    raise MigrationError(f"migration left broken foreign keys: {broken[:5]}")
            connection.commit()
    finally:
        engine.dispose()
