"""Tables under ``PROSORA_HOME`` or an object-store prefix: Parquet files written atomically.

Dagster run workers, the daemon and the API are separate processes. A writer takes the
table's lock for its read-modify-write, writes a temporary file and renames it into place,
so a reader sees the old table or the new one and a crash leaves the old one intact. On
an object store a PUT is itself all-or-nothing (readers see the old object or the new
one), so files are written in place. Append-only logs are one file per run, named by run
id, so re-running a run replaces its own file instead of adding a second copy.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prosora_pipelines.lib.storage_location import StorageLocation, as_location

if TYPE_CHECKING:
    import polars as pl
    from pyarrow.fs import FileSystem

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
    """The tables, documents and logs one Prosora installation keeps.

    ``location`` is a local home folder, or a :class:`StorageLocation` that may put the
    files on an object store. Locks are always local files under the home: they serialize
    the writers of one host; across hosts, each table has one writing asset and Dagster
    runs an asset's materializations one at a time.
    """

    def __init__(self, location: Path | StorageLocation) -> None:
        self.location = as_location(location)
        self.home = self.location.home
        self.tables_dir = self.home / "tables"
        self._object_store: tuple[FileSystem, str] | None = (
            self.location.object_store() if self.location.is_object_store else None
        )

    def _key(self, relative: str) -> str:
        """The object key of ``relative`` (a name under the tables folder)."""
        assert self._object_store is not None
        return f"{self._object_store[1]}/{relative}"

    def _read_bytes(self, relative: str) -> bytes | None:
        if self._object_store is None:
            path = self.tables_dir / relative
            return path.read_bytes() if path.exists() else None
        from pyarrow.fs import FileType

        file_system, _ = self._object_store
        key = self._key(relative)
        if file_system.get_file_info(key).type != FileType.File:
            return None
        with file_system.open_input_stream(key) as stream:
            return bytes(stream.read())

    def _write_bytes(self, relative: str, data: bytes) -> str:
        if self._object_store is None:
            path = self.tables_dir / relative
            _atomic_write(path, lambda temporary: temporary.write_bytes(data))
            return str(path)
        file_system, _ = self._object_store
        key = self._key(relative)
        with file_system.open_output_stream(key) as stream:
            stream.write(data)
        return f"{self.location.root}/tables/{relative}"

    def table_path(self, name: str) -> str:
        """Where table ``name`` is stored: a local path or an ``s3://`` URI."""
        return f"{self.location.root}/tables/{_checked(name)}.parquet"

    def read_table(self, name: str) -> pl.DataFrame | None:
        return self._read_parquet(f"{_checked(name)}.parquet")

    def _read_parquet(self, relative: str) -> pl.DataFrame | None:
        import polars as pl  # imported on first use: commands that read no table start faster

        if self._object_store is None:  # read from the file: no copy of it in memory first
            path = self.tables_dir / relative
            return pl.read_parquet(path) if path.exists() else None
        data = self._read_bytes(relative)
        return pl.read_parquet(io.BytesIO(data)) if data is not None else None

    def write_table(self, name: str, frame: pl.DataFrame) -> str:
        return self._write_bytes(f"{_checked(name)}.parquet", _parquet_bytes(frame))

    def read_document(self, name: str) -> Any:
        data = self._read_bytes(f"{_checked(name)}.json")
        return json.loads(data.decode("utf-8")) if data is not None else None

    def write_document(self, name: str, value: Any) -> str:
        text = json.dumps(value, indent=2, sort_keys=True, default=str)
        return self._write_bytes(f"{_checked(name)}.json", text.encode("utf-8"))

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

    def _log_parts(self, name: str) -> list[tuple[str, float]]:
        """Each part of log ``name``: its name under the tables folder and when it was written."""
        folder = _checked(name)
        if self._object_store is None:
            return [
                (f"{folder}/{part.name}", part.stat().st_mtime)
                for part in sorted((self.tables_dir / folder).glob("*.parquet"))
            ]
        from pyarrow.fs import FileSelector, FileType

        file_system, _ = self._object_store
        listed = file_system.get_file_info(FileSelector(self._key(folder), allow_not_found=True))
        return sorted(
            (f"{folder}/{info.base_name}", info.mtime.timestamp() if info.mtime else 0.0)
            for info in listed
            if info.type == FileType.File and info.base_name.endswith(".parquet")
        )

    def write_log_part(self, name: str, part: str, frame: pl.DataFrame) -> str:
        """Write one run's records of an append-only log; the same part replaces itself."""
        relative = f"{_checked(name)}/{_checked(part)}.parquet"
        return self._write_bytes(relative, _parquet_bytes(frame))

    def read_log(self, name: str) -> pl.DataFrame | None:
        parts = self._log_parts(name)
        if not parts:
            return None
        import polars as pl

        read = (self._read_parquet(relative) for relative, _ in parts)
        frames = [frame for frame in read if frame is not None]  # None: pruned since listed
        return pl.concat(frames, how="diagonal_relaxed") if frames else None

    def prune_log(self, name: str, older_than: timedelta, *, now: datetime | None = None) -> int:
        """Remove log parts last written before ``now - older_than``; returns how many."""
        cutoff = ((now or datetime.now(UTC)) - older_than).timestamp()
        removed = 0
        for relative, written in self._log_parts(name):
            if written >= cutoff:
                continue
            if self._object_store is None:
                (self.tables_dir / relative).unlink(missing_ok=True)
            else:
                self._object_store[0].delete_file(self._key(relative))
            removed += 1
        return removed


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()
