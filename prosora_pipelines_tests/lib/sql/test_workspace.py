from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.models import User
from prosora_pipelines.lib.sql.read_only import WriteRefusedError
from prosora_pipelines.lib.sql.workspace import SqlWorkspace, open_workspace
from prosora_pipelines.lib.table_store import TableStore

TABLE_VIEWS = {
    "articles",
    "raw_entries",
    "source_health",
    "trend_topics",
    "megatrends",
    "daily_digest",
    "fetch_log",
    "article_chunks",
}


@pytest.fixture(scope="module")
def workspace(materialized_home: Path) -> Iterator[SqlWorkspace]:
    opened = open_workspace(materialized_home, None)
    yield opened
    opened.close()


def test_every_materialized_table_is_a_view_with_its_rows(
    workspace: SqlWorkspace, materialized_home: Path
) -> None:
    assert {view.name for view in workspace.views} == TABLE_VIEWS
    assert workspace.notes == []
    stored = TableStore(materialized_home).read_table("articles")
    assert stored is not None
    counted = workspace.query("SELECT count(*) AS n FROM articles")
    assert counted["n"].to_list() == [stored.height]
    chunks = next(view for view in workspace.views if view.name == "article_chunks")
    assert "vector" not in dict(chunks.columns) and "text" in dict(chunks.columns)
    joined = workspace.query(
        "SELECT count(DISTINCT c.article_id) AS n FROM article_chunks c "
        "JOIN articles a ON a.id = c.article_id WHERE a.duplicate_of IS NULL"
    )
    assert joined["n"].item() > 0


@pytest.mark.parametrize(
    "sql",
    [
        "COPY articles TO '{tables}/copied.csv'",
        "ATTACH '{tables}/other.duckdb' AS other",
        "INSTALL sqlite",
        "DROP VIEW articles",
        "SELECT 1; CREATE TABLE t AS SELECT * FROM articles",
        "INSERT INTO articles SELECT * FROM articles",
    ],
)
def test_writes_are_refused_and_change_nothing(
    workspace: SqlWorkspace, materialized_home: Path, sql: str
) -> None:
    tables = materialized_home / "tables"
    before = sorted(path.name for path in tables.iterdir())
    with pytest.raises(WriteRefusedError):
        workspace.query(sql.format(tables=tables))
    assert sorted(path.name for path in tables.iterdir()) == before
    assert workspace.query("SELECT count(*) AS n FROM articles")["n"].item() > 0


def test_the_connection_itself_reads_no_file_outside_the_tables_and_keeps_its_settings(
    workspace: SqlWorkspace, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    with pytest.raises(duckdb.PermissionException):
        workspace.query(f"SELECT * FROM read_csv('{outside}')")
    with pytest.raises(duckdb.Error):
        workspace.connection.execute("SET enable_external_access = true")


def test_app_database_tables_are_views_too(
    materialized_home: Path, database_url: str, session: Session
) -> None:
    session.add(User(email="writer@example.com", name="Writer"))
    session.commit()
    opened = open_workspace(materialized_home, database_url)
    try:
        names = {view.name for view in opened.views}
        assert {"app_users", "app_queries", "app_variants", "app_performance_feedback"} <= names
        users = opened.query("SELECT email, id FROM app_users")
        assert users["email"].to_list() == ["writer@example.com"]
        assert users.schema["id"] == pl.String()
        with pytest.raises(WriteRefusedError):
            opened.query("DELETE FROM app_users")
    finally:
        opened.close()


def test_a_missing_sqlite_file_is_not_created_and_an_unreachable_server_is_a_note(
    materialized_home: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "none" / "prosora.db"
    opened = open_workspace(materialized_home, f"sqlite:///{missing}")
    assert not missing.exists() and not missing.parent.exists()
    assert not any(view.name.startswith("app_") for view in opened.views)
    opened.close()
    unreachable = open_workspace(
        materialized_home, "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    )
    assert unreachable.notes == ["the app database could not be read: OperationalError"]
    unreachable.close()


def test_an_empty_home_lists_what_is_not_materialized(tmp_path: Path) -> None:
    opened = open_workspace(tmp_path, None)
    assert opened.views == []
    assert opened.notes[0].startswith("not materialized yet: articles, raw_entries")
    opened.close()
