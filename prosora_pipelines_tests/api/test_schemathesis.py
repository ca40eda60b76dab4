"""Why: hand-written tests send the inputs their authors thought of; callers send the rest.
Schemathesis generates requests from the app's own OpenAPI document, for every operation,
both fitting the schema and deliberately not, as an authenticated user, and the app must
never answer one of them with a server error: every bad input is the caller's 4xx.
Bounded to a few examples per operation and mode so it runs in seconds; the rate limit is
raised out of the way.

(Schemathesis's ``from_fixture`` pytest integration fails on pytest 9, so each operation's
strategy is driven by Hypothesis directly; a failure lists every operation that failed.)"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from prosora_pipelines_tests.api.conftest import MakeApi

EXAMPLES_PER_OPERATION = 25


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_generated_request_makes_the_api_fail(make_api: MakeApi, mode: GenerationMode) -> None:
    api = make_api(api_rate_limit_per_minute=1_000_000, api_generation_cost=1)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    headers = api.auth("fuzzer@example.com")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            run()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE, f"{operation.label}: no valid request"
            # Nothing about this operation's request can be made invalid (no parameters).
        except Exception as error:  # collected, so one run reports every failing operation
            failures.append(f"{operation.label}: {error}")
    documented = sum(len(methods) for methods in schema.raw_schema["paths"].values())
    assert operations == documented, "every documented operation was exercised"
    assert not failures, "\n\n".join(failures)
