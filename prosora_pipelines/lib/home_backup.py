"""Backing up and restoring what the pipelines wrote under ``PROSORA_HOME``: the Parquet
tables, the LanceDB article index with its manifest, and the app database when it is the
SQLite file there. PostgreSQL (the app database and Dagster's storage in production) is
backed up with its own tools (deploy/README.md).

An archive is a gzipped tar holding every file under ``home/`` and, last, a manifest of
their sizes and SHA-256 digests. Restoring refuses a home that already holds files, checks
every digest and only then moves the files into place, so a damaged archive leaves nothing
half restored. The Dagster instance folder (``dagster/``) is left out: a team's runs live
in PostgreSQL, and a laptop's run history is not data.

Take a backup while no run writes to the home (between scheduled runs, or with the
schedule paused): LanceDB and the tables are copied file by file, not frozen.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MANIFEST_NAME = "prosora-backup.json"
FORMAT_VERSION = 1
EXCLUDED_TOP_LEVEL = frozenset({"dagster"})
SQLITE_SUFFIXES = (".db",)
SQLITE_SIDE_FILES = ("-wal", "-shm")
CHUNK_BYTES = 1 << 20


class BackupError(RuntimeError):
    """The backup could not be written, or the archive cannot be restored as it is."""


@dataclass(frozen=True)
class BackupReport:
    files: int
    bytes: int


class _HashingReader(io.RawIOBase):
    """Reads a file for tarfile while computing its digest, so what is hashed is exactly
    what went into the archive even if the file changes meanwhile."""

    def __init__(self, handle: io.BufferedReader) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        count = self.handle.readinto(buffer)
        self.digest.update(memoryview(buffer)[:count])
        return count


def _backed_up_files(home: Path) -> Iterator[Path]:
    for path in sorted(home.rglob("*")):
        relative = path.relative_to(home)
        if relative.parts[0] in EXCLUDED_TOP_LEVEL or not path.is_file():
            continue
        if path.name.endswith(SQLITE_SIDE_FILES):
            continue  # folded into the database's own copy below
        yield path


def _consistent_copy(path: Path, staging: Path) -> Path:
    """A SQLite database through SQLite's backup API (its write-ahead log included, as a
    reader sees it); any other file as it is."""
    if path.suffix not in SQLITE_SUFFIXES:
        return path
    copy = staging / path.name
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return copy


def create_backup(home: Path, archive: Path) -> BackupReport:
    """Writes ``archive`` (replaced only once complete) from ``home``."""
    if not home.is_dir():
        raise BackupError(f"nothing to back up: {home} is not a folder")
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f".{archive.name}.partial")
    entries: dict[str, dict[str, object]] = {}
    total = 0
    try:
        with (
            tempfile.TemporaryDirectory(prefix="prosora-backup-") as staging,
            tarfile.open(partial, "w:gz") as tar,
        ):
            for path in _backed_up_files(home):
                name = path.relative_to(home).as_posix()
                source = _consistent_copy(path, Path(staging))
                info = tar.gettarinfo(str(source), arcname=f"home/{name}")
                with source.open("rb") as handle:
                    reader = _HashingReader(handle)
                    tar.addfile(info, io.BufferedReader(reader, CHUNK_BYTES))
                entries[name] = {"bytes": info.size, "sha256": reader.digest.hexdigest()}
                total += info.size
            if not entries:
                raise BackupError(f"nothing to back up: {home} holds no tables or index")
            manifest = json.dumps(
                {"format": FORMAT_VERSION, "files": entries}, indent=1, sort_keys=True
            ).encode()
            info = tarfile.TarInfo(MANIFEST_NAME)
            info.size = len(manifest)
            tar.addfile(info, io.BytesIO(manifest))
        partial.replace(archive)
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(files=len(entries), bytes=total)


def _manifest(tar: tarfile.TarFile) -> dict[str, dict[str, object]]:
    try:
        member = tar.getmember(MANIFEST_NAME)
    except KeyError:
        raise BackupError("not a Prosora backup: the archive has no manifest") from None
    handle = tar.extractfile(member)
    if handle is None:
        raise BackupError("not a Prosora backup: the manifest is not a file")
    manifest = json.loads(handle.read())
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    files: dict[str, dict[str, object]] = manifest["files"]
    return files


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def restore_backup(archive: Path, home: Path) -> BackupReport:
    """Restores ``archive`` into ``home``, which must be missing or empty."""
    if home.exists() and any(home.iterdir()):
        raise BackupError(f"{home} already holds files: restore into an empty PROSORA_HOME")
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=home.parent))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                expected = _manifest(tar)
                members = [m for m in tar.getmembers() if m.name != MANIFEST_NAME]
                names = {PurePosixPath(m.name).relative_to("home").as_posix() for m in members}
                if names != set(expected):
                    raise BackupError("the archive's files do not match its manifest")
                # "data": regular files and folders only, nothing outside the target.
                tar.extractall(staging, members=members, filter="data")
        except (tarfile.TarError, EOFError, OSError, ValueError) as error:
            raise BackupError(f"the archive cannot be read ({type(error).__name__})") from None
        total = 0
        for name, entry in expected.items():
            restored = staging / "home" / name
            if _digest(restored) != entry["sha256"]:
                raise BackupError(f"{name} does not match its digest: the archive is damaged")
            total += restored.stat().st_size
        if home.exists():
            home.rmdir()
        (staging / "home").replace(home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BackupReport(files=len(expected), bytes=total)
