"""The app database's tables as data frames, read through SQLAlchemy.

DuckDB's SQLite and PostgreSQL scanners are extensions it downloads on first use, which
these machines cannot do; SQLAlchemy reads both. Tables are found by reflection, so tables
later migrations add appear without a change here. A SQLite file is opened read-only (and
not created when missing).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine, MetaData, create_engine, select, types
from sqlalchemy.engine import make_url

from prosora_pipelines.lib.appdb.engine import make_engine, normalize_url

_SKIPPED = {"alembic_version"}


@dataclass(frozen=True)
class AppTables:
    frames: dict[str, pl.DataFrame]
    """Table name to its rows."""
    problem: str | None = None
    """Why the database could not be read, when it could not."""


def _dtype(column_type: Any) -> pl.DataType:
    if isinstance(column_type, types.Boolean):
        return pl.Boolean()
    if isinstance(column_type, types.Integer):
        return pl.Int64()
    if isinstance(column_type, types.Float | types.Numeric):
        return pl.Float64()
    if isinstance(column_type, types.DateTime):
        return pl.Datetime("us", "UTC" if getattr(column_type, "timezone", False) else None)
    if isinstance(column_type, types.Date):
        return pl.Date()
    return pl.String()


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _engine(url: str) -> Engine | None:
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return None
        path = Path(parsed.database)
        if not path.exists():
            return None
        return create_engine(make_url(f"sqlite:///file:{path}?mode=ro&uri=true"))
    return make_engine(parsed)


def read_app_tables(url: str) -> AppTables:
    """Every table of the database at ``url``; none (with the problem) if it cannot be read,
    and none without a problem when a SQLite file does not exist yet."""
    from sqlalchemy.exc import SQLAlchemyError

    engine = _engine(url)
    if engine is None:
        return AppTables({})
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        frames: dict[str, pl.DataFrame] = {}
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                if table.name in _SKIPPED:
                    continue
                schema = {column.name: _dtype(column.type) for column in table.columns}
                rows = connection.execute(select(table)).mappings().all()
                columns = {
                    name: [row[name] if dtype != pl.String() else _text(row[name]) for row in rows]
                    for name, dtype in schema.items()
                }
                frames[table.name] = pl.DataFrame(columns, schema=schema)
        return AppTables(frames)
    except SQLAlchemyError as error:
        return AppTables({}, f"the app database could not be read: {type(error).__name__}")
    finally:
        engine.dispose()
