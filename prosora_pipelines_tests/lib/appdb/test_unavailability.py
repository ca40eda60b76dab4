"""Why: the API answers 503 "retry later" for a database that cannot serve right now and 500
for a fault of ours, so the line between the two must be drawn on real errors from both
backends: a server that refuses connections, no free pooled connection, SQLite locked past
its timeout are unavailability; a missing table or bad SQL is not, whatever its class."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.exc import OperationalError as SAOperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from prosora_pipelines.lib.appdb.engine import DatabaseTimeouts, make_engine, unavailability

TIMEOUTS = DatabaseTimeouts(connect_seconds=2, statement_seconds=0.5, pool_seconds=0.2)


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _raised(engine_url: str, statement: str) -> DBAPIError:
    engine = make_engine(engine_url, timeouts=TIMEOUTS)
    try:
        with pytest.raises(DBAPIError) as caught, engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()
    return caught.value


def test_a_refused_connection_is_unavailability() -> None:
    url = f"postgresql://postgres@127.0.0.1:{_unused_port()}/postgres"
    error = _raised(url, "SELECT 1")
    reason = unavailability(error)
    assert reason is not None and reason.startswith("OperationalError: ")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_statement_over_the_timeout_is_unavailability(database_url: str) -> None:
    error = _raised(database_url, "SELECT pg_sleep(3)")
    assert "QueryCanceled" in (unavailability(error) or "")


def test_our_own_faults_are_not_unavailability(database_url: str) -> None:
    error = _raised(database_url, "SELECT * FROM no_such_table")
    assert isinstance(error, SAOperationalError | ProgrammingError)
    assert unavailability(error) is None
    assert unavailability(KeyError("x")) is None


def test_sqlite_locked_past_its_timeout_is_unavailability(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with pytest.raises(SAOperationalError) as caught, engine.connect() as connection:
            connection.execute(text("SELECT x FROM t"))
    finally:
        engine.dispose()
        holder.close()
    assert "database is locked" in (unavailability(caught.value) or "")


def test_no_free_pooled_connection_is_unavailability(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}", timeouts=TIMEOUTS)
    held = [engine.connect() for _ in range(15)]  # the pool's 5, and its 10 overflow
    try:
        with pytest.raises(PoolTimeoutError) as caught:
            engine.connect()
    finally:
        for connection in held:
            connection.close()
        engine.dispose()
    assert unavailability(caught.value) == "no pooled connection came free within the pool timeout"
