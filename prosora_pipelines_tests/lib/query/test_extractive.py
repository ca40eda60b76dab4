"""Why: the extractive generator is the default writer and the fallback for every LLM, so
over all 36 labelled sample queries and every format its drafts must obey the format
rules, cite only their evidence, contain no number or quotation the evidence lacks, use only
sentences that speak to the question, speak in the user's voice, and come out the same for
the same inputs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from prosora_pipelines.lib.appdb.repository import DEFAULT_VOICE_PROFILE, VoiceProfileInput
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.query.analysis import ALL_FORMATS, analyze_query
from prosora_pipelines.lib.query.drafts import HOOK_TYPES, format_violations
from prosora_pipelines.lib.query.evidence import gather_evidence
from prosora_pipelines.lib.query.extractive import ExtractiveGenerator, topic_of
from prosora_pipelines.lib.query.generation import DraftRequest, Generation
from prosora_pipelines.lib.query.grounding import ungrounded_facts
from prosora_pipelines.lib.query.relevance import AMPLE_STATEMENTS, relevant_statements
from prosora_pipelines.lib.query.voice import Voice
from prosora_pipelines.lib.sample_corpus import load_sample_truth

QUERIES = [item["q"] for item in load_sample_truth().queries]


def _generate(
    text: str, embedder: Embedder, table: Any, voice: Voice | None = None
) -> tuple[DraftRequest, Generation]:
    vector = embedder.encode([text])[0]
    analysis = analyze_query(text, embedder, vector)
    evidence = tuple(gather_evidence(table, text, vector, analysis))
    voice = voice or Voice(DEFAULT_VOICE_PROFILE)
    request = DraftRequest(
        query=text,
        analysis=analysis,
        evidence=evidence,
        voice=voice,
        formats=ALL_FORMATS,
        variants_per_format=4,
        hook_order=HOOK_TYPES,
        statements=relevant_statements(embedder, vector, analysis, evidence, voice),
    )
    return request, ExtractiveGenerator().generate(request)


def test_every_draft_for_every_sample_query_is_grounded_and_well_formed(
    embedder: Embedder, sample_index: tuple[Any, Any]
) -> None:
    _, table = sample_index
    checked = 0
    for text in QUERIES:
        request, generation = _generate(text, embedder, table)
        by_ref = {item.ref: item for item in request.evidence}
        if len(request.statements) >= 2 * AMPLE_STATEMENTS:
            for fmt in ALL_FORMATS:
                assert sum(d.format == fmt for d in generation.drafts) >= 3, (text, fmt)
        on_topic = {s.text for s in request.statements}
        for draft in generation.drafts:
            assert format_violations(draft.format, draft.text) == [], (text, draft.text)
            assert draft.refs and set(draft.refs) <= set(by_ref), text
            cited = [by_ref[ref].text for ref in draft.refs]
            assert ungrounded_facts(draft.text, cited) == [], (text, draft.text)
            used = [line for line in draft.text.split("\n") if re.search(r"\[\d+\]$", line)]
            for line in used:
                if "It starts with one headline: “" not in line:
                    assert any(sentence in line for sentence in on_topic), (text, line)
            checked += 1
    assert checked >= 36 * 6


def test_variants_differ_in_hook_and_content(
    embedder: Embedder, sample_index: tuple[Any, Any]
) -> None:
    _, table = sample_index
    _, generation = _generate("AI regulation impact on fintech product strategy", embedder, table)
    posts = [d for d in generation.drafts if d.format == "linkedin_post"]
    assert [d.hook_type for d in posts] == ["data", "contrarian", "story", "question"]
    assert len({d.text for d in posts}) == len(posts)
    assert len({d.text.split("\n\n")[0] for d in posts}) == len(posts)


def test_the_same_inputs_give_the_same_drafts(
    embedder: Embedder, sample_index: tuple[Any, Any]
) -> None:
    _, table = sample_index
    text = "stablecoin reserve rules"
    assert _generate(text, embedder, table)[1] == _generate(text, embedder, table)[1]


def test_the_voice_shapes_the_drafts(embedder: Embedder, sample_index: tuple[Any, Any]) -> None:
    _, table = sample_index
    text = "AI regulation impact on fintech product strategy"
    _, plain = _generate(text, embedder, table)
    avoided = "roadmap"
    voice = Voice(
        VoiceProfileInput(
            voice_description="Blunt.",
            frameworks=["jobs to be done"],
            phrases_to_use=["here is the catch"],
            phrases_to_avoid=[avoided],
            audience="fintech founders",
            default_formats=["linkedin_post"],
        )
    )
    assert any(voice.avoided_phrases_in(d.text) for d in plain.drafts)
    _, shaped = _generate(text, embedder, table, voice)
    assert len(shaped.drafts) >= 9
    for draft in shaped.drafts:
        assert voice.avoided_phrases_in(draft.text) == []
    posts = [d for d in shaped.drafts if d.format == "linkedin_post"]
    assert all("Here is the catch: " in d.text for d in posts)
    assert all("jobs to be done" in d.text for d in posts)
    assert any("fintech founders" in d.text for d in posts)


def test_no_usable_evidence_gives_no_drafts_and_says_why(embedder: Embedder) -> None:
    vector = embedder.encode(["x"])[0]
    request = DraftRequest(
        statements=(),
        query="x",
        analysis=analyze_query("x", embedder, vector),
        evidence=(),
        voice=Voice(DEFAULT_VOICE_PROFILE),
        formats=("x_thread",),
        variants_per_format=3,
        hook_order=HOOK_TYPES,
    )
    generation = ExtractiveGenerator().generate(request)
    assert generation.drafts == ()
    assert (
        generation.degraded_reason == "the evidence holds no sentence that speaks to the question"
    )


@pytest.mark.parametrize(
    ("query", "topic"),
    [
        ("Write a LinkedIn post about stablecoin payments", "stablecoin payments"),
        (
            "AI regulation impact on fintech product strategy",
            "AI regulation impact on fintech product strategy",
        ),
        ("What happened to rates in 2026?", "happened rates"),
    ],
)
def test_topic_drops_the_request_and_digits(query: str, topic: str) -> None:
    keywords = ["happened", "rates"] if "2026" in query else []
    assert topic_of(query, keywords) == topic
