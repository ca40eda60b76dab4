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

Every wait on PostgreSQL is bounded (``DatabaseTimeouts``), so a server that is down, or up
but answering nothing, fails a request in seconds instead of holding it and its thread: the
connect timeout bounds opening a connection, the pool timeout waiting for a free one, and
the statement timeout each round trip. The server enforces the statement timeout itself
when it is alive; a server that answers nothing cannot, so the client gives up on its own
a little later (``STATEMENT_DEADLINE_MARGIN_SECONDS``) and closes that connection, since it
is then in an unknown state. ``unavailability`` tells these failures from our own faults.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from psycopg.abc import PQGen

SQLITE_FILE_NAME = "prosora.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_SECONDS = 5
READ_ONLY_OPTION = "prosora_read_only"
STATEMENT_DEADLINE_MARGIN_SECONDS = 1.0
PSYCOPG_WAIT_INTERVAL_SECONDS = 0.1
"""How often psycopg's wait wakes up to notice Ctrl-C (its own default)."""
# SQLite's answers that mean "not now" rather than "wrong": busy or locked past the busy
# timeout, the file cannot be opened, a disk error.
_SQLITE_UNAVAILABLE = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_IOERR,
}
_RV = TypeVar("_RV")


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long a PostgreSQL connection may take to open (whole seconds, at least 2, as
    libpq counts them), one statement to answer, and a request to wait for a free pooled
    connection (that one applies to SQLite too)."""

    connect_seconds: int
    statement_seconds: float
    pool_seconds: float


def unavailability(error: BaseException) -> str | None:
    """Why ``error`` means the app database cannot serve right now (unreachable, too slow,
    no free connection, SQLite busy past its timeout), or None when it is another error,
    which is a fault to fix rather than to retry."""
    if isinstance(error, PoolTimeoutError):
        return "no pooled connection came free within the pool timeout"
    if not isinstance(error, DBAPIError):
        return None
    message = str(error.orig).strip()
    described = type(error.orig).__name__ + (f": {message.splitlines()[0]}" if message else "")
    if error.connection_invalidated:
        return described
    if not isinstance(error, OperationalError):
        return None
    if isinstance(error.orig, sqlite3.Error):
        code = getattr(error.orig, "sqlite_errorcode", None)
        return described if code is not None and code & 0xFF in _SQLITE_UNAVAILABLE else None
    # PostgreSQL: psycopg raises OperationalError for how the server is doing, never for
    # what a statement says: unreachable, gone away, a statement cancelled at its timeout,
    # shutting down, out of connections or space, a transaction to retry.
    return described


def normalize_url(url: str | URL) -> URL:
    """The URL with PostgreSQL pointed at psycopg 3, whichever spelling it arrived in."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def _postgres_engine(parsed: URL, timeouts: DatabaseTimeouts | None) -> Engine:
    """Bounded waits, so an unreachable server fails a request (and /ready) in seconds: on
    connecting, on a pooled connection whose network stopped answering, and, with
    ``timeouts``, on every statement and on a pool with no free connection."""
    connect_seconds = timeouts.connect_seconds if timeouts else CONNECT_TIMEOUT_SECONDS
    connect_args: dict[str, Any] = {
        "connect_timeout": connect_seconds,
        "keepalives": 1,
        "tcp_user_timeout": connect_seconds * 1000,
    }
    if timeouts is None:
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    server_limit = f"-c statement_timeout={round(timeouts.statement_seconds * 1000)}"
    given = parsed.query.get("options")
    connect_args["options"] = f"{given} {server_limit}" if isinstance(given, str) else server_limit
    engine = create_engine(
        parsed,
        pool_pre_ping=True,
        pool_timeout=timeouts.pool_seconds,
        connect_args=connect_args,
    )
    deadline = timeouts.statement_seconds + STATEMENT_DEADLINE_MARGIN_SECONDS

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        return _deadline_connection_class(deadline).connect(*cargs, **cparams)

    return engine


def _deadline_connection_class(deadline_seconds: float) -> Any:
    """A psycopg connection class whose every round trip gives up after
    ``deadline_seconds``: psycopg waits for the server in ``Connection.wait``, which takes a
    timeout but is given none, so a server that accepts a statement and never answers would
    hold the caller forever."""
    import psycopg

    class DeadlineConnection(psycopg.Connection[Any]):
        def wait(
            self,
            gen: PQGen[_RV],
            interval: float = PSYCOPG_WAIT_INTERVAL_SECONDS,
            timeout: float | None = None,
        ) -> _RV:
            limit = deadline_seconds if timeout is None else timeout
            started = time.monotonic()
            try:
                return super().wait(gen, interval, limit)
            except psycopg.OperationalError:
                if time.monotonic() - started < limit:
                    raise
                # Mid-statement, the connection's state is unknown: close it, which also
                # tells the pool to discard it.
                self.close()
                raise psycopg.OperationalError(
                    f"the server did not answer within {limit:g} s"
                ) from None

    return DeadlineConnection


def make_engine(
    url: str | URL, *, migrating: bool = False, timeouts: DatabaseTimeouts | None = None
) -> Engine:
    """An engine for ``url`` with the settings described above.

    ``migrating=True`` is for ``migrate`` only and changes one thing on SQLite: foreign
    keys are not enforced, because Alembic's batch mode rebuilds a table by dropping it and
    with enforcement on that drop would cascade-delete the rows that refer to it.
    ``timeouts`` bound statements and pool waits (without them, only connecting is).
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        return _postgres_engine(parsed, timeouts)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    pool_args = {"pool_timeout": timeouts.pool_seconds} if timeouts else {}
    engine = create_engine(parsed, connect_args={"check_same_thread": False}, **pool_args)
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
