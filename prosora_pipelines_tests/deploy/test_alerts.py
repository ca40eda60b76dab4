"""Why: an alert rule Prometheus refuses, or one that never fires on the series it is about,
pages nobody. promtool (Debian's prometheus package, as in production) checks the rules and
runs their unit tests; the Grafana dashboard must at least be JSON Grafana can import."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from prosora_pipelines_tests.deploy.conftest import DEPLOY

PROMETHEUS = DEPLOY / "prometheus"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: install Debian's prometheus package (.ci/run does)")
    return found


@pytest.mark.parametrize(
    "command",
    [["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]],
    ids=["check", "unit-tests"],
)
def test_promtool_accepts_the_rules(command: list[str]) -> None:
    result = subprocess.run(
        [_promtool(), *command],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_dashboard_is_grafana_json_on_one_data_source() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "prosora-dashboard.json").read_text("utf-8"))
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert dashboard["uid"] and panels
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert all(target["expr"] for target in panel["targets"]), panel["title"]
