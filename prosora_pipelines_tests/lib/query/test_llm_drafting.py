"""Why: an LLM may write the drafts only under the extractive generator's rules. Against
local servers speaking each provider's real wire format, this proves that good answers are
used, that a broken answer gets one repair request, that invented facts never get through,
and that failures (5xx, timeouts, an open breaker) fall back to extractive drafts marked
degraded with the reason, with the API key in no reason. A trickling provider or a full
set of concurrency slots must not hold a query for longer than the configured deadline and
slot wait; and the reason users see is a short category, the provider's own words (with
their hosts and credentials) going only, redacted, to the log."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from prosora_pipelines.lib.appdb.repository import DEFAULT_VOICE_PROFILE
from prosora_pipelines.lib.llm.chat import ChatClient, ChatRequest, ProviderError
from prosora_pipelines.lib.llm.gemini import GeminiChatClient
from prosora_pipelines.lib.llm.ollama import OllamaChatClient
from prosora_pipelines.lib.llm.openai_compatible import OpenAICompatibleChatClient
from prosora_pipelines.lib.query.analysis import QueryAnalysis
from prosora_pipelines.lib.query.drafts import HOOK_TYPES
from prosora_pipelines.lib.query.evidence import Evidence
from prosora_pipelines.lib.query.extractive import ExtractiveGenerator
from prosora_pipelines.lib.query.generation import DraftRequest
from prosora_pipelines.lib.query.llm_drafting import (
    DraftsPayload,
    LLMAnalysisRefiner,
    LLMDraftGenerator,
)
from prosora_pipelines.lib.query.relevance import Statement, split_sentences
from prosora_pipelines.lib.query.voice import Voice
from prosora_pipelines_tests.support.llm_servers import (
    LEAKY_ERROR,
    LEAKY_ERROR_REDACTED,
    LEAKY_ERROR_SECRETS,
    LLMServer,
    WireFormat,
    error_with,
    malformed,
    resilient,
    server_error,
    slow,
    success,
    trickle,
)

API_KEY = "sk-test-SECRET-0123456789"
PASSAGES = [
    "Of 46 applications to the autumn cohort, 29 involved AI. Regulators said the sandbox "
    "now favours compliance-first products. Fintech teams are designing AI features with "
    "regulators in the room.",
    "Compliance work now takes between 10 and 25 percent of roadmap capacity. A proposed AI "
    "pricing engine was shelved after review. Boards ask which AI features are worth the cost.",
]
EVIDENCE = tuple(
    Evidence(
        ref=n,
        article_id=f"a{n}",
        title=f"Report {n}",
        url=f"https://e.example/{n}",
        source_id=f"s{n}",
        tier="premium",
        credibility=0.9,
        domains=(),
        published_at=None,
        snippet="",
        passage=text,
        chunk_id=f"a{n}:0",
        score=1.0,
        components={},
    )
    for n, text in enumerate(PASSAGES, start=1)
)
ANALYSIS = QueryAnalysis(
    intent="linkedin_post",
    domains={"fintech": 1.0},
    complexity="medium",
    evidence_level="standard",
    keywords=["ai", "regulation", "fintech"],
)
REQUEST = DraftRequest(
    query="AI regulation and fintech",
    analysis=ANALYSIS,
    evidence=EVIDENCE,
    voice=Voice(DEFAULT_VOICE_PROFILE),
    formats=("linkedin_post",),
    variants_per_format=3,
    hook_order=HOOK_TYPES,
    # What the engine finds on the question; here every sentence of the evidence.
    statements=tuple(
        Statement(text, item.ref, position, position, similarity=1.0, article_similarity=1.0)
        for item in EVIDENCE
        for position, text in enumerate(split_sentences(item.passage))
    ),
)


def _post(hook_type: str, claim: str, ref: int) -> dict[str, Any]:
    return {
        "hook_type": hook_type,
        "angle": f"{hook_type} angle",
        "content": {
            "hook": {"text": "What changes for fintech teams?", "refs": []},
            "body": [{"text": claim, "refs": [ref]}],
            "takeaway": "Read the sources before the takes.",
            "hashtags": ["#Fintech"],
        },
    }


GOOD_ANSWER = json.dumps(
    {
        "linkedin_post": [
            _post("data", "29 of 46 applications involved AI.", 1),
            _post("contrarian", "A proposed AI pricing engine was shelved after review.", 2),
            _post("question", "Boards ask which AI features are worth the cost.", 2),
        ]
    }
)
INVENTED_ANSWER = json.dumps(
    {
        "linkedin_post": [
            _post("data", "AI applications rose 300% this year.", 1),
            _post("contrarian", "A proposed AI pricing engine was shelved after review.", 2),
            _post("question", 'Boards say "AI is the new electricity".', 2),
        ]
    }
)


def _client(wire: WireFormat, server: LLMServer) -> ChatClient:
    if wire == "gemini":
        return GeminiChatClient(API_KEY, base_url=server.base_url, timeout=0.5)
    if wire == "ollama":
        return OllamaChatClient(base_url=server.base_url, timeout=0.5)
    return OpenAICompatibleChatClient(API_KEY, base_url=server.base_url, timeout=0.5)


def _generator(wire: WireFormat, server: LLMServer, **limits: Any) -> LLMDraftGenerator:
    client = resilient(_client(wire, server), **({"max_retries": 1} | limits))
    return LLMDraftGenerator(client, fallback=ExtractiveGenerator())


@pytest.fixture(params=["gemini", "ollama", "openai"])
def wire(request: pytest.FixtureRequest) -> WireFormat:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def server(wire: WireFormat) -> Iterator[LLMServer]:
    with LLMServer(wire) as running:
        yield running


def _prompt_of(wire: WireFormat, body: dict[str, Any]) -> str:
    if wire == "gemini":
        return str(body["contents"])
    return str(body["messages"])


def test_a_grounded_answer_becomes_the_drafts(wire: WireFormat, server: LLMServer) -> None:
    server.script(success(GOOD_ANSWER, prompt_tokens=900, completion_tokens=300))
    generation = _generator(wire, server).generate(REQUEST)
    assert generation.degraded_reason is None
    assert generation.generator.startswith(f"{wire}:")
    assert [d.hook_type for d in generation.drafts] == ["data", "contrarian", "question"]
    assert generation.drafts[0].text.split("\n\n")[1] == "29 of 46 applications involved AI. [1]"
    assert generation.usage.prompt_tokens == 900 and generation.usage.completion_tokens == 300
    prompt = _prompt_of(wire, server.requests[0].body)
    assert "[1] Report 1 (s1, premium)" in prompt and "Never invent statistics" in str(
        server.requests[0].body
    )


def test_a_malformed_answer_gets_one_repair_request(wire: WireFormat, server: LLMServer) -> None:
    server.script(success("{not json"), success(GOOD_ANSWER))
    generation = _generator(wire, server).generate(REQUEST)
    assert generation.degraded_reason is None
    assert len(generation.drafts) == 3
    assert len(server.requests) == 2
    assert "not valid JSON of the schema" in _prompt_of(wire, server.requests[1].body)


def test_invented_facts_never_get_through(wire: WireFormat, server: LLMServer) -> None:
    server.script(success(INVENTED_ANSWER), success(INVENTED_ANSWER))
    generation = _generator(wire, server).generate(REQUEST)
    assert len(server.requests) == 2
    repair = _prompt_of(wire, server.requests[1].body)
    assert "number 300 is not in the evidence" in repair
    assert "quotation “AI is the new electricity” is not in the evidence" in repair
    assert generation.degraded_reason is not None
    assert "extractive drafts fill them" in generation.degraded_reason
    assert generation.generator.endswith("+extractive-2")
    assert all("300" not in d.text and "electricity" not in d.text for d in generation.drafts)
    assert len(generation.drafts) >= 3


@pytest.mark.parametrize(
    ("failure", "category"),
    [
        (server_error(500), "provider error 500"),
        (slow(2.0), "timed out"),
        (malformed(), "malformed answer"),
    ],
)
def test_a_failing_provider_falls_back_to_extractive_drafts(
    wire: WireFormat, server: LLMServer, failure: Any, category: str
) -> None:
    server.script(failure, failure)
    generator = _generator(wire, server)
    generation = generator.generate(REQUEST)
    assert generation.generator == "extractive-2"
    assert generation.degraded_reason == (
        f"{generator.name} failed ({category}); extractive drafts instead"
    )
    assert generation.degraded_reason.startswith(f"{wire}:")
    assert len(generation.drafts) >= 3
    assert len(server.requests) == 2


def test_an_open_breaker_falls_back_without_calling(wire: WireFormat, server: LLMServer) -> None:
    server.script(server_error(503), server_error(503))
    generator = _generator(wire, server, breaker_failures=1)
    generator.generate(REQUEST)
    sent = len(server.requests)
    generation = generator.generate(REQUEST)
    assert len(server.requests) == sent
    assert generation.degraded_reason is not None
    assert generation.degraded_reason == (
        f"{generator.name} failed (circuit open); extractive drafts instead"
    )
    assert generation.generator == "extractive-2"


def test_a_trickling_provider_falls_back_by_the_deadline(
    wire: WireFormat, server: LLMServer
) -> None:
    server.default = trickle(0.05)  # each byte well within the 0.5 s read timeout
    generator = _generator(wire, server, deadline_seconds=0.4)
    started = time.monotonic()
    generation = generator.generate(REQUEST)
    assert time.monotonic() - started < 1.5  # the whole answer would take over ten seconds
    assert generation.degraded_reason == (
        f"{generator.name} failed (timed out); extractive drafts instead"
    )
    assert generation.generator == "extractive-2" and len(generation.drafts) >= 3


def test_with_every_slot_taken_a_query_falls_back_after_the_slot_wait(
    wire: WireFormat, server: LLMServer
) -> None:
    server.script(slow(0.45))
    generator = _generator(wire, server, max_concurrency=1, slot_wait_seconds=0.1)

    def hold_the_slot() -> None:
        with contextlib.suppress(ProviderError):
            generator.client.complete(ChatRequest(system="s", user="u"))

    holder = threading.Thread(target=hold_the_slot)
    holder.start()
    while not server.requests:
        time.sleep(0.01)
    generation = generator.generate(REQUEST)
    holder.join()
    assert generation.degraded_reason == (
        f"{generator.name} failed (busy); extractive drafts instead"
    )
    assert len(server.requests) == 1 and len(generation.drafts) >= 3


def test_users_see_the_category_and_the_log_a_redacted_excerpt(
    wire: WireFormat, server: LLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.default = error_with(500, f"{LEAKY_ERROR}; key {API_KEY} refused")
    generator = _generator(wire, server)
    generation = generator.generate(REQUEST)
    analysis, _ = LLMAnalysisRefiner(generator.client).refine("q", ANALYSIS)
    assert generation.degraded_reason == (
        f"{generator.name} failed (provider error 500); extractive drafts instead"
    )
    assert analysis.signals[-1] == (
        "LLM refinement failed (provider error 500); offline analysis kept"
    )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert LEAKY_ERROR_REDACTED in logged
    assert "falls back to extractive drafts" in logged
    shown = f"{generation.degraded_reason} {analysis.signals} {logged}"
    for secret in (*LEAKY_ERROR_SECRETS, API_KEY):
        assert secret not in shown


def test_the_schema_sent_is_the_drafts_payload(wire: WireFormat, server: LLMServer) -> None:
    server.script(success(GOOD_ANSWER))
    _generator(wire, server).generate(REQUEST)
    body = json.dumps(server.requests[0].body)
    assert json.dumps(DraftsPayload.model_json_schema()["properties"]["linkedin_post"]) in body


def test_the_refiner_uses_a_valid_answer(wire: WireFormat, server: LLMServer) -> None:
    refined = {
        "intent": "x_thread",
        "domains": {"fintech": 0.6, "regulation": 0.3, "astrology": 0.9},
        "complexity": "high",
        "evidence_level": "deep",
        "keywords": ["ai", "sandbox"],
    }
    server.script(success(json.dumps(refined), prompt_tokens=50, completion_tokens=20))
    analysis, usage = LLMAnalysisRefiner(_client(wire, server)).refine("q", ANALYSIS)
    assert analysis.source == "llm"
    assert analysis.intent == "x_thread"
    assert analysis.domains == {"fintech": 0.667, "regulation": 0.333}
    assert usage.total_tokens == 70


def test_the_refiner_keeps_the_offline_analysis_when_the_answer_is_bad(
    wire: WireFormat, server: LLMServer
) -> None:
    server.script(success('{"intent": "poem"}'), server_error(500))
    refiner = LLMAnalysisRefiner(_client(wire, server))
    analysis, _ = refiner.refine("q", ANALYSIS)
    assert analysis.model_dump(exclude={"signals"}) == ANALYSIS.model_dump(exclude={"signals"})
    assert "offline analysis kept" in analysis.signals[-1]
    analysis, _ = refiner.refine("q", ANALYSIS)
    assert analysis.source == "offline"
    assert analysis.signals[-1] == (
        "LLM refinement failed (provider error 500); offline analysis kept"
    )
