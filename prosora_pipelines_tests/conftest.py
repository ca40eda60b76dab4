"""Test-wide setup: every test writes under its own temporary PROSORA_HOME, never .prosora."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prosora_pipelines.settings import get_settings


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "prosora-home"
    monkeypatch.setenv("PROSORA_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-home"))
    (tmp_path / "dagster-home").mkdir()
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
