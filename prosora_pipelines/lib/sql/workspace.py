"""A DuckDB connection with every materialized table as a view, that only reads.

Parquet tables and the fetch log are views over their files (read when queried, so a large
table costs nothing until used); the article index's chunk rows come from LanceDB without
their vectors; the app database's tables are read through SQLAlchemy and registered under
``app_<table>``. The connection is in memory and, once the views exist, loses access to any
file outside the tables folder, cannot install or load extensions and cannot change its
configuration back; ``read_only_statement`` refuses anything but one SELECT before that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from prosora_pipelines.lib.sql.app_database import read_app_tables
from prosora_pipelines.lib.sql.read_only import read_only_statement
from prosora_pipelines.lib.table_names import (
    ARTICLES_TABLE,
    DIGEST_TABLE,
    FETCH_LOG,
    MEGATRENDS_TABLE,
    RAW_ENTRIES_TABLE,
    SOURCE_HEALTH_TABLE,
    TREND_TOPICS_TABLE,
)
from prosora_pipelines.lib.table_store import TableStore

PARQUET_TABLES = (
    ARTICLES_TABLE,
    RAW_ENTRIES_TABLE,
    SOURCE_HEALTH_TABLE,
    TREND_TOPICS_TABLE,
    MEGATRENDS_TABLE,
    DIGEST_TABLE,
)
CHUNKS_VIEW = "article_chunks"
APP_PREFIX = "app_"


@dataclass(frozen=True)
class View:
    name: str
    source: str
    """Where its rows come from, for the listing."""
    columns: tuple[tuple[str, str], ...]


@dataclass
class SqlWorkspace:
    connection: duckdb.DuckDBPyConnection
    views: list[View] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What could not be opened, and why."""

    def query(self, sql: str) -> pl.DataFrame:
        """The rows of one SELECT; ``WriteRefusedError`` for anything else."""
        rows: pl.DataFrame = self.connection.sql(read_only_statement(sql)).pl()
        return rows

    def close(self) -> None:
        self.connection.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _columns(connection: duckdb.DuckDBPyConnection, name: str) -> tuple[tuple[str, str], ...]:
    described = connection.sql(f'DESCRIBE "{name}"').fetchall()
    return tuple((str(row[0]), str(row[1])) for row in described)


def _chunk_rows(home: Path) -> Any:
    """The current index's chunk rows without vectors, as Arrow; None before any index."""
    from prosora_pipelines.lib.index.vector_store import IndexUnavailableError, open_current_table

    try:
        table = open_current_table(home)
    except IndexUnavailableError:
        return None
    columns = [column.name for column in table.schema if column.name != "vector"]
    return table.search().select(columns).limit(None).to_arrow()


def open_workspace(
    home: Path,
    database_url: str | None,
    *,
    read_app_database: Callable[[str], Any] = read_app_tables,
) -> SqlWorkspace:
    """Every table under ``home`` (and of the app database at ``database_url``) as views."""
    tables = TableStore(home.resolve())
    connection = duckdb.connect(
        ":memory:",
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    workspace = SqlWorkspace(connection)

    def add(name: str, source: str) -> None:
        workspace.views.append(View(name, source, _columns(connection, name)))

    # Read through the table store, so tables on object storage are served like local ones.
    for name in PARQUET_TABLES:
        frame = tables.read_table(name)
        if frame is not None:
            connection.register(name, frame.to_arrow())
            add(name, tables.table_path(name))
    fetch_log = tables.read_log(FETCH_LOG)
    if fetch_log is not None:
        connection.register(FETCH_LOG, fetch_log.to_arrow())
        add(FETCH_LOG, tables.table_path(FETCH_LOG))
    chunks = _chunk_rows(home)
    if chunks is not None:
        connection.register(CHUNKS_VIEW, chunks)
        add(CHUNKS_VIEW, "the article index (LanceDB), without vectors")
    if database_url is not None:
        app = read_app_database(database_url)
        if app.problem:
            workspace.notes.append(app.problem)
        for table, frame in app.frames.items():
            connection.register(f"{APP_PREFIX}{table}", frame)
            add(f"{APP_PREFIX}{table}", f"the app database's {table} table (a snapshot)")
    missing = [
        name
        for name in (*PARQUET_TABLES, FETCH_LOG, CHUNKS_VIEW)
        if not any(view.name == name for view in workspace.views)
    ]
    if missing:
        workspace.notes.append(f"not materialized yet: {', '.join(missing)}")
    tables_dir = _literal(str(tables.tables_dir) + "/")
    connection.execute(f"SET allowed_directories = [{tables_dir}]")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return workspace
