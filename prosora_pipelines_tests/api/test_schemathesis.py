"""Why: hand-written tests send the inputs their authors thought of; callers send the rest,
and clients are generated from the OpenAPI document. Schemathesis runs here as its command
line would: every phase (the document's examples, boundary values of every constraint,
random requests, chains of calls following the responses) and every check, so beyond "no
5xx" each answer must be documented (status, content type, headers, body schema), schema-
valid input must be accepted and invalid input refused, and a 405 must name the methods.

Four operations check input the schema cannot describe, and may refuse schema-valid input
with 422 for it: feedback (figures a post can have earned, posted in the past), the
feedback import (a CSV file's rows, the same figures), history (an opaque cursor) and the
profile (a timezone the IANA database knows).
Bounded by the examples per operation, not by time, so a run is repeatable (about a
minute here)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from prosora_pipelines.api.routes import API_PREFIX
from prosora_pipelines_tests.api.conftest import MakeApi

EXAMPLES_PER_OPERATION = 15
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
CHECKED_BEYOND_THE_SCHEMA = [
    "/variants/{variant_id}/feedback",
    "/feedback/import",
    "/users/me/history",
    "/users/me/profile",
]


def _config(headers: dict[str, str]) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "headers": headers,
            "continue-on-failure": True,
            "generation": {
                "mode": "all",
                "max-examples": EXAMPLES_PER_OPERATION,
                "deterministic": True,
                "database": "none",
            },
            "checks": {"enabled": True},
            "operations": [
                {
                    "include-path": API_PREFIX + path,
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}
                    },
                }
                for path in CHECKED_BEYOND_THE_SCHEMA
            ],
        }
    )


@pytest.mark.timeout(600)
def test_the_api_does_what_its_schema_says(make_api: MakeApi) -> None:
    api = make_api(api_rate_limit_per_minute=1_000_000, api_generation_cost=1)
    config = _config(api.auth("fuzzer@example.com"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app, config=config)
    failures: dict[str, str] = {}
    errors: list[str] = []
    fuzzed: set[str] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            if event.label and event.phase.name == "FUZZING":
                fuzzed.add(event.label)
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    if node.failure_info is not None:
                        failure = node.failure_info.failure
                        key = f"{failure.operation or event.label}: {node.name}: {failure.title}"
                        failures.setdefault(
                            key, f"{failure.message}\n{node.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(repr(event))
    paths: dict[str, Any] = schema.raw_schema["paths"]
    documented = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
    assert not errors, "\n".join(errors)
    assert fuzzed == documented, f"not exercised: {sorted(documented - fuzzed)}"
    assert not failures, "\n\n".join(f"{key}\n{detail}" for key, detail in failures.items())
