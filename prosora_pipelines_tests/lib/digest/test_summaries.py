import json
from collections.abc import Iterator

import pytest

from prosora_pipelines.lib.digest.summaries import (
    EXTRACTIVE,
    LLMSummarizer,
    extractive_summary,
)
from prosora_pipelines.lib.llm.openai_compatible import OpenAICompatibleChatClient
from prosora_pipelines.lib.query.relevance import split_sentences
from prosora_pipelines_tests.support.llm_servers import LLMServer, server_error, success

TITLE = "Stablecoin issuers face new reserve rules"
TEXT = (
    "Regulators published reserve rules for stablecoin issuers on Monday. "
    "The weather in the capital was mild for the season. "
    "Issuers must hold reserves of 100 percent in cash and short-dated bonds. "
    "Analysts expect smaller stablecoin issuers to merge. "
    "Short."
)


def test_extractive_keeps_the_lead_and_the_sentences_closest_to_the_title_in_order() -> None:
    summary = extractive_summary(TITLE, TEXT)
    assert summary == (
        "Regulators published reserve rules for stablecoin issuers on Monday. "
        "Issuers must hold reserves of 100 percent in cash and short-dated bonds. "
        "Analysts expect smaller stablecoin issuers to merge."
    )
    assert len(split_sentences(extractive_summary(TITLE, TEXT, sentences=2))) == 2


def test_extractive_of_a_text_without_full_sentences_is_its_opening_words() -> None:
    assert extractive_summary("Links", "see the thread") == "see the thread"


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with LLMServer("openai") as running:
        yield running


def _summarizer(server: LLMServer) -> LLMSummarizer:
    return LLMSummarizer(OpenAICompatibleChatClient("key", base_url=server.base_url, timeout=2))


def test_a_grounded_llm_summary_is_used_and_named(server: LLMServer) -> None:
    grounded = (
        "Regulators set reserve rules for stablecoin issuers. "
        "Issuers must hold reserves of 100 percent."
    )
    server.script(success(json.dumps({"summary": grounded})))
    summarizer = _summarizer(server)
    summary = summarizer.summarize(TITLE, TEXT, [TEXT])
    assert (summary.text, summary.method) == (grounded, summarizer.client.name)
    prompt = str(server.requests[0].body["messages"])
    assert "100 percent in cash" in prompt


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Issuers must hold 120 percent. Regulators acted.", "ungrounded"),
        ('Officials said "the era of wildcat coins is over". Issuers react.', "ungrounded"),
        ("Rules arrived.", "ungrounded"),
        ("{not json", "malformed answer"),
    ],
)
def test_an_llm_summary_that_fails_the_checks_gives_way_to_the_extractive_one(
    server: LLMServer, answer: str, reason: str
) -> None:
    text = answer if answer.startswith("{") else json.dumps({"summary": answer})
    server.script(success(text))
    summary = _summarizer(server).summarize(TITLE, TEXT, [TEXT])
    assert summary.text == extractive_summary(TITLE, TEXT)
    assert summary.method.startswith(EXTRACTIVE) and reason in summary.method


def test_a_provider_failure_gives_way_to_the_extractive_summary(server: LLMServer) -> None:
    server.script(server_error(503))
    summary = _summarizer(server).summarize(TITLE, TEXT, [TEXT])
    assert summary.text == extractive_summary(TITLE, TEXT)
    assert summary.method.endswith("provider error 503)")
