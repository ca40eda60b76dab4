"""Why: the operator's backup of the tables and index is proven by the one thing that
matters after a loss: a fresh PROSORA_HOME restored from it answers a search exactly as
the original did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from prosora_pipelines.cli import app
from prosora_pipelines.settings import get_settings

QUERY = "AI regulation impact on fintech product strategy"


def _in_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("PROSORA_HOME", str(home))
    get_settings.cache_clear()


def _search(runner: CliRunner) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["search", QUERY, "--k", "8", "--json"])
    assert result.exit_code == 0, result.output
    hits: list[dict[str, Any]] = json.loads(result.output)["hits"]
    return hits


def _timeless(hit: dict[str, Any]) -> dict[str, Any]:
    """The hit apart from its recency (and the score it enters), which depend on when the
    search ran."""
    components = {k: v for k, v in hit["components"].items() if k != "recency"}
    rest = {k: v for k, v in hit.items() if k not in {"score", "components"}}
    return {**rest, "components": components}


def test_a_restored_home_answers_the_same_search(
    sample_index_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    archive = tmp_path / "prosora-home.tar.gz"
    _in_home(monkeypatch, sample_index_home)
    before = _search(runner)
    created = runner.invoke(app, ["backup", "create", str(archive)])
    assert created.exit_code == 0, created.output

    fresh = tmp_path / "fresh-home"
    _in_home(monkeypatch, fresh)
    restored = runner.invoke(app, ["backup", "restore", str(archive)])
    assert restored.exit_code == 0, restored.output
    after = _search(runner)
    # Scores weigh recency against the clock, which moved between the two searches.
    assert len(before) == 8
    assert [_timeless(hit) for hit in after] == [_timeless(hit) for hit in before]

    again = runner.invoke(app, ["backup", "restore", str(archive)])
    assert again.exit_code != 0 and "already holds files" in again.output
