"""Engines and sessions for the app database, with the connection settings each needs.

SQLite gets write-ahead logging (readers never block the one writer, so the API, the
Dagster daemon and run workers can share the file), enforced foreign keys (off by default in
SQLite, and the cascades depend on them) and a busy timeout (a writer waits for another
instead of failing at once). A transaction that may write starts with ``BEGIN IMMEDIATE``:
one that began deferred, read, and then wrote after another connection committed would be
refused at once with "database is locked" (SQLite cannot wait there without risking a
deadlock), which the API's load benchmark hit on concurrent feedback writes; taking the
write lock at the start makes such transactions wait their turn within the busy timeout
instead. Sessions from :func:`reading` only read, and begin deferred: they neither wait
for the write lock nor hold it, so reads (every API request looks up its caller) do not
queue behind writes. PostgreSQL is the choice for many concurrent writers. SQLAlchemy,
not the ``sqlite3`` module, emits ``BEGIN``, so every transaction, reads and savepoints
included, is a real one (see SQLAlchemy's "Enabling
Non-Legacy SQLite Transactional Modes"; the ``autocommit`` connect argument it recommends
needs Python 3.12).

PostgreSQL goes through psycopg 3; ``postgresql://`` and ``postgres://`` URLs, as hosting
platforms hand them out, are read as ``postgresql+psycopg://``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from prosora_pipelines.settings import Settings

SQLITE_FILE_NAME = "prosora.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_SECONDS = 5
READ_ONLY_OPTION = "prosora_read_only"


def database_url_for(settings: Settings) -> str:
    """``DATABASE_URL`` when set, else the SQLite file under ``PROSORA_HOME``."""
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{settings.home / SQLITE_FILE_NAME}"


def normalize_url(url: str | URL) -> URL:
    """The URL with PostgreSQL pointed at psycopg 3, whichever spelling it arrived in."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, *, migrating: bool = False) -> Engine:
    """An engine for ``url`` with the settings described above.

    ``migrating=True`` is for ``migrate`` only and changes one thing on SQLite: foreign
    keys are not enforced, because Alembic's batch mode rebuilds a table by dropping it and
    with enforcement on that drop would cascade-delete the rows that refer to it.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Bounded waits, so an unreachable server fails a request (and /ready) in seconds:
        # on connecting, and on a pooled connection whose network stopped answering.
        return create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "keepalives": 1,
                "tcp_user_timeout": CONNECT_TIMEOUT_SECONDS * 1000,
            },
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"check_same_thread": False})
    foreign_keys = "OFF" if migrating else "ON"

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level, so PRAGMAs apply at once and BEGIN is ours to send.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA foreign_keys={foreign_keys}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Safe with WAL: a power cut may lose the last commits but never corrupts the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (the API serializes them then)."""
    return sessionmaker(engine, expire_on_commit=False)


def reading(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """``sessions`` for transactions that only read (see the module docstring); writing in
    one on SQLite may fail with "database is locked" under contention."""
    bind = sessions.kw["bind"].execution_options(**{READ_ONLY_OPTION: True})
    return sessionmaker(**{**sessions.kw, "bind": bind})
