import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prosora_pipelines.cli import app


@pytest.fixture
def home(materialized_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROSORA_HOME", str(materialized_home))
    return materialized_home


def test_without_a_query_the_views_and_their_columns_are_listed(home: Path) -> None:
    listed = CliRunner().invoke(app, ["sql", "--json"])
    assert listed.exit_code == 0, listed.output
    views = {view["view"]: view["columns"] for view in json.loads(listed.stdout)}
    assert {"articles", "daily_digest", "article_chunks", "fetch_log"} <= set(views)
    assert views["daily_digest"]["digest_date"] == "DATE"
    shown = CliRunner().invoke(app, ["sql"])
    assert "daily_digest" in shown.output and "coverage_sources" in shown.output


def test_a_query_prints_a_table_json_or_csv(home: Path) -> None:
    query = "SELECT rank, coverage_sources FROM daily_digest ORDER BY rank"
    table = CliRunner().invoke(app, ["sql", query])
    assert table.exit_code == 0, table.output
    assert "coverage_sources" in table.output and "rows" in table.output
    rows = json.loads(CliRunner().invoke(app, ["sql", query, "--json"]).stdout)
    assert [row["rank"] for row in rows] == list(range(1, len(rows) + 1))
    as_csv = CliRunner().invoke(app, ["sql", query, "--csv"]).stdout
    parsed = list(csv.DictReader(io.StringIO(as_csv)))
    assert [json.loads(row["coverage_sources"]) for row in parsed] == [
        row["coverage_sources"] for row in rows
    ]


@pytest.mark.parametrize(
    "query",
    ["DROP VIEW articles", "SELECT 1; DELETE FROM articles", "COPY articles TO 'x.csv'"],
)
def test_writes_are_refused_on_one_line(home: Path, query: str) -> None:
    result = CliRunner().invoke(app, ["sql", query])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "refused" in result.stderr or "one statement at a time" in result.stderr


def test_a_bad_query_is_one_line_too(home: Path) -> None:
    result = CliRunner().invoke(app, ["sql", "SELECT nope FROM articles"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "nope" in result.stderr
