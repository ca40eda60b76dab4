"""Why: the alerts in deploy/prometheus/alerts.yml watch gauges the API computes when
scraped (readiness, index age, failing sources, unlearned feedback, the LLM breaker). A
gauge that is missing, mislabelled or computed from the wrong thing silences its alert."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta

import yaml

from prosora_pipelines_tests.api.conftest import Api, ApiUser, MakeApi
from prosora_pipelines_tests.deploy.conftest import DEPLOY


def _gauges(api: Api) -> dict[str, float]:
    text = api.client.get("/metrics").text
    return {
        name: float(value)
        for name, value in re.findall(r"^(prosora_[a-z_]+) ([0-9.e+-]+)$", text, re.MULTILINE)
    }


def test_scrape_reports_readiness_index_time_and_failing_sources(api: Api) -> None:
    ready = api.client.get("/ready").json()
    gauges = _gauges(api)
    assert gauges["prosora_ready"] == (1.0 if ready["status"] == "ready" else 0.0)
    assert gauges["prosora_index_updated_timestamp_seconds"] == (
        datetime.fromisoformat(ready["index_updated_at"]).timestamp()
    )
    # The session's home is the bundled sample, every source of which answers.
    assert gauges["prosora_sources_failing_ratio"] == 0.0
    # The extractive generator has no LLM client, so no breaker to report.
    assert "prosora_llm_circuit_open" not in gauges


def test_feedback_waiting_to_be_learned_from_is_reported(
    make_api: MakeApi, database_url: str
) -> None:
    api = make_api(database_url)
    alice = ApiUser(api, "alice@example.com")
    variant_id = alice.ask()["variants"][0]["id"]
    assert "prosora_feedback_unlearned_since_timestamp_seconds" not in _gauges(api)
    posted_at = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    recorded = alice.post(
        f"/variants/{variant_id}/feedback",
        json={
            "platform": "LinkedIn",
            "posted_at": posted_at.isoformat(),
            "impressions": 100,
            "reactions": 5,
            "comments": 1,
            "shares": 0,
            "clicks": 2,
        },
    )
    assert recorded.status_code == 201, recorded.text
    assert _gauges(api)["prosora_feedback_unlearned_since_timestamp_seconds"] == (
        datetime.fromisoformat(recorded.json()["recorded_at"]).timestamp()
    )


def _exported_series(text: str) -> set[str]:
    """Every sample name a scrape can hold, from its TYPE lines (families without samples
    yet included): a histogram's buckets, count and sum; other families by their name (a
    counter's TYPE line already names its ``_total``)."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        else:
            names.add(name)
    return names


def _metric_names(expression: str) -> set[str]:
    words = set(re.findall(r"\b[a-z_][a-z0-9_]*\b(?=\s*[{\[)]|\s*(?:==|>|<|$|\s))", expression))
    return {word for word in words if word.startswith("prosora_") or word == "up"}


def test_every_metric_the_alerts_and_dashboard_use_is_exported(make_api: MakeApi) -> None:
    """An app with every gauge present: an LLM generator whose server refuses connections
    (so the breaker opens after one failure) and a recorded feedback."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    api = make_api(
        generator="openai",
        llm_base_url=f"http://127.0.0.1:{port}/v1",
        llm_api_key="sk-test",
        llm_max_retries=0,
        llm_breaker_failures=1,
    )
    alice = ApiUser(api, "alice@example.com")
    variant_id = alice.ask()["variants"][0]["id"]
    posted_at = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    feedback = {"platform": "x", "posted_at": posted_at.isoformat(), "impressions": 10}
    feedback |= {"reactions": 1, "comments": 0, "shares": 0, "clicks": 0}
    assert alice.post(f"/variants/{variant_id}/feedback", json=feedback).status_code == 201

    text = api.client.get("/metrics").text
    assert _gauges(api)["prosora_llm_circuit_open"] == 1.0
    exported = _exported_series(text) | {"up"}

    used: dict[str, set[str]] = {}
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text("utf-8"))
    for group in alerts["groups"]:
        for rule in group["rules"]:
            used[rule["alert"]] = _metric_names(rule["expr"])
    dashboard = json.loads((DEPLOY / "grafana" / "prosora-dashboard.json").read_text("utf-8"))
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used[panel["title"]] = used.get(panel["title"], set()) | _metric_names(target["expr"])
    assert all(used.values()), {name: names for name, names in used.items() if not names}
    unknown = {name: names - exported for name, names in used.items() if names - exported}
    assert unknown == {}
