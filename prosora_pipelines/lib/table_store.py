"""Tables under ``PROSORA_HOME``: Parquet files written atomically, guarded by file locks.

Dagster run workers, the daemon and the API are separate processes. A writer takes the
table's lock for its read-modify-write, writes a temporary file and renames it into place,
so a reader sees the old table or the new one and a crash leaves the old one intact.
Append-only logs are one file per run, named by run id, so re-running a run replaces its
own file instead of adding a second copy.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class NotMaterializedError(LookupError):
    """A table a step builds from has not been stored yet (its asset never ran here)."""


def _checked(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"unsafe table name {name!r}")
    return name


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        Path(temporary).chmod(0o644)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class TableStore:
    """The folder of tables, documents and logs one Prosora installation keeps."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.tables_dir = self.home / "tables"

    def table_path(self, name: str) -> Path:
        return self.tables_dir / f"{_checked(name)}.parquet"

    def read_table(self, name: str) -> pl.DataFrame | None:
        import polars as pl  # imported on first use: commands that read no table start faster

        path = self.table_path(name)
        return pl.read_parquet(path) if path.exists() else None

    def write_table(self, name: str, frame: pl.DataFrame) -> Path:
        path = self.table_path(name)
        _atomic_write(path, lambda temporary: frame.write_parquet(temporary))
        return path

    def document_path(self, name: str) -> Path:
        return self.tables_dir / f"{_checked(name)}.json"

    def read_document(self, name: str) -> Any:
        path = self.document_path(name)
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def write_document(self, name: str, value: Any) -> Path:
        path = self.document_path(name)
        text = json.dumps(value, indent=2, sort_keys=True, default=str)
        _atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
        return path

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Exclusive lock for a read-modify-write of one table, across processes."""
        lock_path = self.home / "locks" / f"{_checked(name)}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def log_dir(self, name: str) -> Path:
        return self.tables_dir / _checked(name)

    def write_log_part(self, name: str, part: str, frame: pl.DataFrame) -> Path:
        """Write one run's records of an append-only log; the same part replaces itself."""
        path = self.log_dir(name) / f"{_checked(part)}.parquet"
        _atomic_write(path, lambda temporary: frame.write_parquet(temporary))
        return path

    def read_log(self, name: str) -> pl.DataFrame | None:
        parts = sorted(self.log_dir(name).glob("*.parquet"))
        if not parts:
            return None
        import polars as pl

        return pl.concat([pl.read_parquet(part) for part in parts], how="diagonal_relaxed")

    def prune_log(self, name: str, older_than: timedelta, *, now: datetime | None = None) -> int:
        """Remove log parts last written before ``now - older_than``; returns how many."""
        cutoff = ((now or datetime.now(UTC)) - older_than).timestamp()
        removed = 0
        for part in self.log_dir(name).glob("*.parquet"):
            if part.stat().st_mtime < cutoff:
                part.unlink(missing_ok=True)
                removed += 1
        return removed
