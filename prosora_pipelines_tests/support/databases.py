"""Database fixtures for every test that touches the app database (a pytest plugin loaded by
the root conftest): the app database must behave the same on its two backends, so each such
test runs on a SQLite file and on a fresh PostgreSQL database that is dropped afterwards.

PostgreSQL is the server on 127.0.0.1:5432 with trust authentication. When it cannot be
reached the PostgreSQL cases are skipped with the reason, except under ``CI=true``, where
they fail: continuous integration must exercise both backends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory
from prosora_pipelines.lib.appdb.migrations import migrate

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@cache
def _postgres_unreachable() -> str | None:
    """Why the PostgreSQL server cannot be used, or None; asked once per session."""
    engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except OperationalError as error:
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: {error.orig}"
    finally:
        engine.dispose()
    return None


def require_postgres() -> None:
    """Skip (or fail under ``CI=true``) when the PostgreSQL server cannot be used."""
    reason = _postgres_unreachable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true requires the PostgreSQL tests to run)")
        pytest.skip(reason)


@contextmanager
def fresh_postgres_database(prefix: str = "prosora_test") -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (its psycopg URL), dropped afterwards
    with every connection still open to it."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app' / 'prosora.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to the newest schema."""
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session as the application makes them; the test decides when to commit."""
    with make_session_factory(engine)() as session:
        yield session
