import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prosora_pipelines.cli import app
from prosora_pipelines_tests.support.materialized import copied_home


@pytest.fixture
def home(materialized_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = copied_home(materialized_home, tmp_path / "home")
    monkeypatch.setenv("PROSORA_HOME", str(copy))
    return copy


def test_digest_shows_the_latest_and_makes_a_day_not_made_yet(home: Path) -> None:
    runner = CliRunner()
    latest = runner.invoke(app, ["digest"])
    assert latest.exit_code == 0, latest.output
    assert "Daily digest, Friday 20 November 2026 (UTC)" in latest.output
    made = runner.invoke(app, ["digest", "--date", "2026-11-17", "--json"])
    assert made.exit_code == 0, made.output
    body = json.loads(made.output)
    assert body["date"] == "2026-11-17" and body["articles_published"] == 6
    assert [story["rank"] for story in body["stories"]][:1] == [1]
    again = runner.invoke(app, ["digest", "--date", "2026-11-17", "--json"])
    assert json.loads(again.output) == body


def test_an_empty_day_says_so(home: Path) -> None:
    result = CliRunner().invoke(app, ["digest", "--date", "2026-12-01"])
    assert result.exit_code == 0, result.output
    assert "No articles were published on 2026-12-01." in result.output


def test_digest_before_any_articles_says_what_to_do() -> None:
    result = CliRunner().invoke(app, ["digest"])
    assert result.exit_code == 2
    assert "prosora materialize" in result.output


def test_a_day_in_the_future_is_refused_in_one_line() -> None:
    result = CliRunner().invoke(app, ["digest", "--date", "9999-12-31"])
    assert result.exit_code == 2
    assert "9999-12-31 is in the future" in result.output
