"""SQL over every materialized table and the app database, read-only, with DuckDB."""
