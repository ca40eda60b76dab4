import duckdb
import pytest

from prosora_pipelines.lib.sql.read_only import WriteRefusedError, read_only_statement


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "select * from articles where title like '%; DROP VIEW articles%'",
        "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
        "FROM articles LIMIT 3",
        "DESCRIBE articles",
        "EXPLAIN SELECT 1",
        "SELECT 1; -- a comment after the only statement",
    ],
)
def test_reading_statements_pass(sql: str) -> None:
    assert read_only_statement(sql) == sql


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("INSERT INTO articles VALUES (1)", "INSERT statements are refused"),
        ("UPDATE articles SET title = 'x'", "UPDATE statements are refused"),
        ("DELETE FROM articles", "DELETE statements are refused"),
        ("DROP VIEW articles", "DROP statements are refused"),
        ("CREATE TABLE t AS SELECT 1", "CREATE statements are refused"),
        ("COPY articles TO 'out.csv'", "COPY statements are refused"),
        ("COPY (SELECT 1) TO 'out.parquet' (FORMAT parquet)", "COPY statements are refused"),
        ("ATTACH 'other.db' AS other", "ATTACH statements are refused"),
        ("INSTALL sqlite", "LOAD statements are refused"),
        ("LOAD sqlite", "LOAD statements are refused"),
        ("SET enable_external_access = true", "SET statements are refused"),
        ("EXPORT DATABASE 'dump'", "EXPORT statements are refused"),
        ("CALL pragma_version()", "CALL statements are refused"),
        ("PRAGMA show_tables", "PRAGMA statements are refused"),
        ("SELECT 1; DROP VIEW articles", "one statement at a time: 2 given"),
        ("SELECT 1;SELECT 2", "one statement at a time: 2 given"),
        ("/* SELECT */ DROP VIEW articles", "DROP statements are refused"),
        ("", "no SQL statement given"),
    ],
)
def test_everything_else_is_refused_with_one_line_saying_why(sql: str, reason: str) -> None:
    with pytest.raises(WriteRefusedError, match=reason) as refused:
        read_only_statement(sql)
    assert "\n" not in str(refused.value)


def test_text_that_is_not_sql_is_a_parser_error() -> None:
    with pytest.raises(duckdb.ParserException):
        read_only_statement("selec 1")
