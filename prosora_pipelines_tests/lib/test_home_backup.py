"""Why: a backup is only worth what its restore gives back. Every file must come back byte
for byte (the SQLite app database with what still sat in its write-ahead log), a damaged or
foreign archive must be refused before anything is put in place, and a restore must never
mix into a home that already holds data."""

from __future__ import annotations

import io
import sqlite3
import tarfile
from pathlib import Path

import pytest

from prosora_pipelines.lib.home_backup import (
    MANIFEST_NAME,
    BackupError,
    create_backup,
    restore_backup,
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "tables" / "articles").mkdir(parents=True)
    (home / "tables" / "articles" / "part-0.parquet").write_bytes(bytes(range(256)) * 40)
    (home / "lancedb" / "chunks_x.lance" / "_versions").mkdir(parents=True)
    (home / "lancedb" / "chunks_x.lance" / "_versions" / "1.manifest").write_bytes(b"v1")
    (home / "dagster").mkdir()
    (home / "dagster" / "runs.db").write_bytes(b"local run history")
    return home


def _wal_database(path: Path) -> sqlite3.Connection:
    """A database in WAL mode whose last rows are still only in the log (the connection is
    kept open, so no checkpoint moves them into the main file)."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY, note TEXT)")
    connection.executemany("INSERT INTO feedback (note) VALUES (?)", [("a",), ("b",)])
    connection.commit()
    return connection


def _files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


def test_a_restored_home_holds_every_file_and_the_logged_rows(home: Path, tmp_path: Path) -> None:
    writer = _wal_database(home / "prosora.db")
    try:
        assert (home / "prosora.db-wal").stat().st_size > 0
        report = create_backup(home, tmp_path / "backup.tar.gz")
    finally:
        writer.close()
    assert report.files == 3

    restored = tmp_path / "restored"
    assert restore_backup(tmp_path / "backup.tar.gz", restored).files == 3
    original = {k: v for k, v in _files(home).items() if not k.startswith(("dagster/", "prosora"))}
    copied = _files(restored)
    assert {k: v for k, v in copied.items() if k != "prosora.db"} == original
    assert "dagster/runs.db" not in copied
    rows = sqlite3.connect(restored / "prosora.db").execute("SELECT note FROM feedback").fetchall()
    assert rows == [("a",), ("b",)]


def test_restore_refuses_a_home_that_holds_files(home: Path, tmp_path: Path) -> None:
    create_backup(home, tmp_path / "backup.tar.gz")
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    with pytest.raises(BackupError, match="already holds files"):
        restore_backup(tmp_path / "backup.tar.gz", occupied)
    assert _files(occupied) == {"keep.txt": b"mine"}


def _rewrite(archive: Path, damaged: Path, change: dict[str, bytes | None]) -> None:
    """Copies ``archive`` with members replaced (or dropped, for None)."""
    with tarfile.open(archive, "r:gz") as source, tarfile.open(damaged, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name in change:
                replacement = change[member.name]
                if replacement is None:
                    continue
                data = replacement
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))


def test_a_damaged_archive_restores_nothing(home: Path, tmp_path: Path) -> None:
    create_backup(home, tmp_path / "backup.tar.gz")
    name = "home/tables/articles/part-0.parquet"
    flipped = bytearray((home / "tables/articles/part-0.parquet").read_bytes())
    flipped[100] ^= 0xFF
    _rewrite(tmp_path / "backup.tar.gz", tmp_path / "damaged.tar.gz", {name: bytes(flipped)})
    with pytest.raises(BackupError, match="does not match its digest"):
        restore_backup(tmp_path / "damaged.tar.gz", tmp_path / "restored")
    assert not (tmp_path / "restored").exists() or not any((tmp_path / "restored").iterdir())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".restore-")] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({MANIFEST_NAME: None}, "has no manifest"),
        ({"home/lancedb/chunks_x.lance/_versions/1.manifest": None}, "do not match its manifest"),
    ],
    ids=["no-manifest", "missing-file"],
)
def test_an_archive_that_is_not_a_whole_backup_is_refused(
    home: Path, tmp_path: Path, change: dict[str, bytes | None], message: str
) -> None:
    create_backup(home, tmp_path / "backup.tar.gz")
    _rewrite(tmp_path / "backup.tar.gz", tmp_path / "other.tar.gz", change)
    with pytest.raises(BackupError, match=message):
        restore_backup(tmp_path / "other.tar.gz", tmp_path / "restored")


def test_a_file_that_is_no_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.tar.gz").write_text("not gzip")
    with pytest.raises(BackupError, match="cannot be read"):
        restore_backup(tmp_path / "notes.tar.gz", tmp_path / "restored")


def test_an_empty_home_is_not_backed_up(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackupError, match="nothing to back up"):
        create_backup(tmp_path / "empty", tmp_path / "backup.tar.gz")
    assert not (tmp_path / "backup.tar.gz").exists()
