"""Which SQL a read-only workspace runs: one SELECT (or EXPLAIN of one), nothing else.

The statement is classified by DuckDB's own parser, so a write hidden after a semicolon, in
a comment trick or behind an unusual spelling is seen as what DuckDB would run. This is the
first of two locks: the connection itself also refuses file access outside the tables
folder, extension installs and configuration changes (see ``workspace``).
"""

from __future__ import annotations

import duckdb

_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class WriteRefusedError(ValueError):
    """The SQL would do more than read: its message says why, in one line."""


def read_only_statement(sql: str) -> str:
    """``sql`` when it is exactly one reading statement; else ``WriteRefusedError``
    (``duckdb.ParserException`` when it is not SQL at all)."""
    statements = duckdb.extract_statements(sql)
    if not statements:
        raise WriteRefusedError("no SQL statement given")
    if len(statements) > 1:
        raise WriteRefusedError(
            f"one statement at a time: {len(statements)} given (read-only: only SELECT runs)"
        )
    kind = statements[0].type
    if kind not in _ALLOWED:
        raise WriteRefusedError(
            f"read-only: {kind.name} statements are refused, only SELECT (and EXPLAIN) run"
        )
    return sql
