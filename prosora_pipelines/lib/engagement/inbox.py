"""The feedback inbox: CSV exports dropped into a folder are imported, then moved aside.

A file ``<inbox>/<name>.csv`` is imported for one user with ``feedback_import.import_feedback``
(all of its rows or none). An imported file moves to ``<inbox>/imported/``; a refused one to
``<inbox>/rejected/`` beside ``<name>.csv.errors.txt``, which says every problem with its
line, so nothing is lost and the user can fix the file and drop it in again. Moved files get
the time of the import in front of their name, so a file dropped twice under one name keeps
both copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from prosora_pipelines.lib.appdb.repository import AppDbError, get_or_create_user
from prosora_pipelines.lib.engagement.feedback_import import ImportReport, import_feedback

INBOX_FOLDER = "feedback_inbox"
IMPORTED = "imported"
REJECTED = "rejected"


@dataclass(frozen=True)
class InboxReport:
    """What one pass over the inbox did: files imported (with what they stored) and refused
    (with why)."""

    imported: tuple[tuple[str, ImportReport], ...]
    rejected: tuple[tuple[str, str], ...]


def inbox_folder(home: Path) -> Path:
    return home / INBOX_FOLDER


def waiting_files(inbox: Path) -> list[Path]:
    """The CSV files waiting in the inbox, oldest first."""
    if not inbox.is_dir():
        return []
    files = [path for path in inbox.iterdir() if path.is_file() and path.suffix.lower() == ".csv"]
    return sorted(files, key=lambda path: (path.stat().st_mtime_ns, path.name))


def _move(path: Path, folder: Path, now: datetime) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{now:%Y%m%dT%H%M%S}-{path.name}"
    path.replace(target)
    return target


def import_inbox(
    inbox: Path, sessions: sessionmaker[Session], email: str, now: datetime
) -> InboxReport:
    """Import every waiting file for the user ``email`` (created if new), one transaction
    per file, and move each aside (module docstring)."""
    imported: list[tuple[str, ImportReport]] = []
    rejected: list[tuple[str, str]] = []
    for path in waiting_files(inbox):
        try:
            with sessions.begin() as session:
                user = get_or_create_user(session, email, email.split("@", 1)[0] or email)
                report = import_feedback(session, user, path.read_bytes(), now=now)
        except AppDbError as error:
            moved = _move(path, inbox / REJECTED, now)
            moved.with_name(moved.name + ".errors.txt").write_text(f"{error}\n", encoding="utf-8")
            rejected.append((path.name, str(error)))
            continue
        _move(path, inbox / IMPORTED, now)
        imported.append((path.name, report))
    return InboxReport(tuple(imported), tuple(rejected))
