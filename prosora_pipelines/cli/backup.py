"""``prosora backup``: copy PROSORA_HOME's tables and index to an archive, and back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prosora_pipelines.cli.terminal import console, fail
from prosora_pipelines.lib.home_backup import BackupError, create_backup, restore_backup
from prosora_pipelines.settings import get_settings

backup_app = typer.Typer(
    help="Back up and restore the tables and article index under PROSORA_HOME.",
    no_args_is_help=True,
)


@backup_app.command("create")
def backup_create(
    archive: Annotated[Path, typer.Argument(help="The .tar.gz file to write.")],
) -> None:
    """Archive PROSORA_HOME (tables, LanceDB index, SQLite app database) with digests.
    Run it between pipeline runs."""
    home = get_settings().home
    try:
        report = create_backup(home, archive)
    except BackupError as error:
        raise fail(str(error)) from None
    console.print(f"backed up {report.files} files ({report.bytes} bytes) from {home} to {archive}")


@backup_app.command("restore")
def backup_restore(
    archive: Annotated[Path, typer.Argument(help="An archive made by `prosora backup create`.")],
) -> None:
    """Restore an archive into PROSORA_HOME, which must be empty; every file is checked
    against its digest before any is put in place."""
    home = get_settings().home
    try:
        report = restore_backup(archive, home)
    except BackupError as error:
        raise fail(str(error)) from None
    console.print(f"restored {report.files} files ({report.bytes} bytes) into {home}")
