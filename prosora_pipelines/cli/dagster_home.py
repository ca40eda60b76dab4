"""The Dagster instance the command line runs jobs in, so the installed ``prosora`` command
works without the Makefile having set ``DAGSTER_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

from prosora_pipelines.settings import DAGSTER_INSTANCE_CONFIG


def ensure_dagster_home(home: Path) -> Path:
    """``DAGSTER_HOME`` when it is set; else ``home/dagster``, created with the bundled
    instance config when it has none, and put in the environment, where Dagster looks."""
    configured = os.environ.get("DAGSTER_HOME")
    if configured:
        return Path(configured)
    folder = home / "dagster"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dagster.yaml"
    if not config.exists():
        # Written whole or not at all: a half-written config would break every later run.
        staging = folder / f".dagster.yaml.{os.getpid()}"
        try:
            staging.write_bytes(DAGSTER_INSTANCE_CONFIG.read_bytes())
            staging.replace(config)
        finally:
            staging.unlink(missing_ok=True)
    os.environ["DAGSTER_HOME"] = str(folder)
    return folder
