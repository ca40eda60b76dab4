"""Why: ``process_query`` is the product's main promise; on both database backends it must
answer from the materialized index, store the answer with its provenance (evidence, model
versions, phase timings), apply learning patterns, say plainly when it cannot draft, and
record a failed query rather than lose it."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory
from prosora_pipelines.lib.appdb.migrations import migrate
from prosora_pipelines.lib.appdb.models import LearningPattern, Query
from prosora_pipelines.lib.appdb.repository import (
    InvalidInputError,
    NotFoundError,
    get_or_create_user,
    upsert_voice_profile,
)
from prosora_pipelines.lib.engagement.features import NUMERIC_FEATURES, length_band
from prosora_pipelines.lib.engagement.model_registry import (
    LinearEngagementModel,
    promote,
    save_model,
)
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.vector_store import CurrentIndex
from prosora_pipelines.lib.llm.openai_compatible import OpenAICompatibleChatClient
from prosora_pipelines.lib.query.engine import PHASES, QueryEngine, QueryFailedError, QueryProgress
from prosora_pipelines.lib.query.extractive import ExtractiveGenerator
from prosora_pipelines.lib.query.llm_drafting import LLMAnalysisRefiner, LLMDraftGenerator
from prosora_pipelines.lib.query.prediction import EngagementPrior, PromotedModelOrPrior
from prosora_pipelines_tests.support.llm_servers import LLMServer, resilient, trickle

QUERY = "AI regulation impact on fintech product strategy"


def _engine(database_url: str, embedder: Embedder, home: Path) -> QueryEngine:
    migrate(database_url)
    return QueryEngine(
        embedder=embedder,
        index=CurrentIndex(home),
        sessions=make_session_factory(make_engine(database_url)),
        generator=ExtractiveGenerator(),
        predictor=EngagementPrior(),
    )


@pytest.fixture
def engine(database_url: str, embedder: Embedder, sample_index_home: Path) -> Iterator[QueryEngine]:
    engine = _engine(database_url, embedder, sample_index_home)
    yield engine
    engine.sessions.kw["bind"].dispose()


@pytest.fixture
def user_id(engine: QueryEngine) -> uuid.UUID:
    with engine.sessions.begin() as session:
        return get_or_create_user(session, "writer@example.com", "Writer").id


def test_a_query_is_answered_and_stored_with_its_provenance(
    engine: QueryEngine, user_id: uuid.UUID
) -> None:
    result = engine.process_query(user_id, QUERY, {"formats": ["linkedin_post", "x_thread"]})
    assert result.status == "completed" and result.degraded_reason is None
    assert set(result.timings_ms) == set(PHASES)
    assert len(result.evidence) == 8
    # Four hooks; the data hook only when an on-topic statement has a figure to open with.
    assert [v.format for v in result.variants].count("linkedin_post") >= 3
    assert [v.format for v in result.variants].count("x_thread") >= 3
    for variant in result.variants:
        assert variant.citations
        # Citations give the canonical URL, without the feed's tracking parameters.
        assert all("utm_" not in citation.url for citation in variant.citations)
        assert variant.prediction.kind == "prior" and 0 < variant.prediction.rate < 1
        assert variant.prediction.reasons
    with engine.sessions() as session:
        stored = session.get(Query, result.query_id)
        assert stored is not None
        assert stored.status == "completed"
        assert stored.model_versions["generator"] == "extractive-2"
        assert stored.model_versions["predictor"] == "engagement-prior-1"
        assert stored.model_versions["embedding"].startswith("all-MiniLM-L6-v2@")
        assert set(stored.metrics["timings_ms"]) == set(PHASES) - {"persistence"}
        assert [e["article_id"] for e in stored.results["evidence"]] == [
            e["article_id"] for e in result.evidence
        ]
        assert [v.id for v in stored.variants] == [v.id for v in result.variants]
        assert stored.variants[0].citations[0]["url"].startswith("https://")
        assert stored.variants[0].predicted_engagement == pytest.approx(
            result.variants[0].prediction.rate, abs=1e-5
        )


def test_the_users_voice_profile_and_default_formats_are_used(
    engine: QueryEngine, user_id: uuid.UUID
) -> None:
    with engine.sessions.begin() as session:
        user = get_or_create_user(session, "writer@example.com", "Writer")
        upsert_voice_profile(
            session,
            user,
            {
                "voice_description": "Plain.",
                "frameworks": ["jobs to be done"],
                "phrases_to_use": ["here is the catch"],
                "audience": "fintech founders",
                "default_formats": ["linkedin_post"],
            },
        )
    result = engine.process_query(user_id, QUERY)
    assert {v.format for v in result.variants} == {"linkedin_post"}
    assert all("Here is the catch: " in v.text for v in result.variants)
    thread = engine.process_query(user_id, "a thread on stablecoin reserve rules")
    assert {v.format for v in thread.variants} == {"x_thread"}


def test_learning_patterns_order_the_hooks_and_are_counted(
    engine: QueryEngine, user_id: uuid.UUID
) -> None:
    with engine.sessions.begin() as session:
        pattern = LearningPattern(
            user_id=user_id,
            pattern_type="hook_type",
            pattern_data={"value": "question", "lift": 1.4, "interval": [1.1, 1.7]},
            confidence=0.8,
        )
        session.add(pattern)
        session.flush()
        pattern_id = pattern.id
    result = engine.process_query(
        user_id, QUERY, {"formats": ["x_thread"], "variants_per_format": 3}
    )
    assert [v.hook_type for v in result.variants] == ["question", "data", "contrarian"]
    assert result.patterns_applied == [pattern_id]
    assert [[p.id for p in v.patterns_applied] for v in result.variants] == [[pattern_id], [], []]
    with engine.sessions() as session:
        stored = session.get(LearningPattern, pattern_id)
        assert stored is not None and stored.usage_count == 1


def _add_patterns(
    engine: QueryEngine, user_id: uuid.UUID, *patterns: tuple[str, str, float]
) -> dict[str, uuid.UUID]:
    ids = {}
    with engine.sessions.begin() as session:
        for feature, value, lift in patterns:
            row = LearningPattern(
                user_id=user_id,
                pattern_type=feature,
                pattern_data={"value": value, "lift": lift, "interval": [lift - 0.1, lift + 0.1]},
                confidence=0.9,
            )
            session.add(row)
            session.flush()
            ids[f"{feature}={value}"] = row.id
    return ids


def test_patterns_shape_length_hashtags_links_and_posting_time(
    engine: QueryEngine, user_id: uuid.UUID
) -> None:
    options = {"formats": ["linkedin_post"], "variants_per_format": 3}
    before = engine.process_query(user_id, QUERY, options)
    assert all(v.suggested_posting_time is None and not v.patterns_applied for v in before.variants)
    assert all(len(re.findall(r"(?<!\S)#\w+", v.text)) == 3 for v in before.variants)
    with engine.sessions.begin() as session:
        user = get_or_create_user(session, "writer@example.com", "Writer")
        upsert_voice_profile(
            session,
            user,
            {
                "voice_description": "Plain.",
                "audience": "fintech founders",
                "default_formats": ["linkedin_post"],
                "timezone": "America/New_York",
            },
        )
    ids = _add_patterns(
        engine,
        user_id,
        ("length_band", "short", 1.2),
        ("hashtag_band", "0", 1.1),
        ("has_link", "yes", 1.15),
        ("posted_hour_band", "morning", 1.3),
    )
    after = engine.process_query(user_id, QUERY, options)
    assert set(after.patterns_applied) == set(ids.values())
    for variant in after.variants:
        assert len(variant.text) < 700, variant.text
        assert not re.findall(r"(?<!\S)#\w+", variant.text)
        assert "https://" in variant.text
        when = variant.suggested_posting_time
        assert when is not None and when.hour == 9 and when.utcoffset() is not None
        assert when.tzname() in {"EST", "EDT"}
        assert {p.id for p in variant.patterns_applied} == set(ids.values())
    # The fewest sentences that stay in the band: shorter despite the added link.
    assert sum(len(v.text) for v in after.variants) < sum(len(v.text) for v in before.variants)
    with engine.sessions() as session:
        stored = session.get(Query, after.query_id)
        assert stored is not None
        assert stored.results["suggested_posting_time"].endswith("-05:00")
        assert "length_band=short (+20%)" in stored.results["variant_patterns"][0]
        patterns = session.scalars(select(LearningPattern)).all()
        assert {p.usage_count for p in patterns} == {1}


def test_no_matching_evidence_gives_a_partial_answer_that_says_why(
    engine: QueryEngine, user_id: uuid.UUID
) -> None:
    result = engine.process_query(user_id, QUERY, {"sources": ["no-such-source"]})
    assert result.status == "partial"
    assert result.variants == [] and result.evidence == []
    assert result.degraded_reason is not None
    assert result.degraded_reason.startswith("no evidence: nothing in the article index matches")
    with engine.sessions() as session:
        assert session.get(Query, result.query_id) is not None


def test_bad_input_is_refused_with_the_reason(engine: QueryEngine, user_id: uuid.UUID) -> None:
    with pytest.raises(InvalidInputError, match="the text is empty"):
        engine.process_query(user_id, "   ")
    with pytest.raises(InvalidInputError, match="variants_per_format"):
        engine.process_query(user_id, QUERY, {"variants_per_format": 9})
    with pytest.raises(InvalidInputError, match=r"formats\.0"):
        engine.process_query(user_id, QUERY, {"formats": ["tiktok"]})
    # What a command line hands over from bytes that are not UTF-8 (surrogate escapes).
    for text, character in (
        ("AI\x00 act", "a control character (U+0000)"),
        ("AI\udcff", "an unpaired surrogate (U+DCFF)"),
    ):
        with pytest.raises(InvalidInputError, match=re.escape(f"the text contains {character}")):
            engine.process_query(user_id, text)
    with pytest.raises(InvalidInputError, match=r"sources\.0: .*U\+0007"):
        engine.process_query(user_id, QUERY, {"sources": ["bell\x07"]})
    with pytest.raises(NotFoundError):
        engine.process_query(uuid.uuid4(), QUERY)
    with engine.sessions() as session:
        assert session.scalars(select(Query)).all() == []


def test_a_failed_query_is_stored_as_failed(
    database_url: str, embedder: Embedder, tmp_path: Path
) -> None:
    engine = _engine(database_url, embedder, tmp_path / "no-index-here")
    with engine.sessions.begin() as session:
        user_id = get_or_create_user(session, "writer@example.com", "Writer").id
    with pytest.raises(QueryFailedError, match="no article index") as failure:
        engine.process_query(user_id, QUERY)
    with engine.sessions() as session:
        stored = session.get(Query, failure.value.query_id)
        assert stored is not None and stored.status == "failed"
        assert "no article index" in stored.results["error"]
        assert stored.variants == []
    engine.sessions.kw["bind"].dispose()


def test_progress_reports_each_phase_and_a_cancel_skips_drafting(
    engine: QueryEngine, user_id: uuid.UUID
) -> None:
    seen: list[str] = []
    progress = QueryProgress(emit=lambda name, _payload: seen.append(name))
    result = engine.process_query(user_id, QUERY, {"formats": ["x_thread"]}, progress)
    assert result.analysis.intent == "comprehensive"
    assert seen == ["analysis", "evidence", "answer"] + ["variant"] * len(result.variants)

    cancelled = QueryProgress()
    cancelled.cancel.set()
    stopped = engine.process_query(user_id, QUERY, None, cancelled)
    assert stopped.status == "partial" and stopped.variants == []
    assert stopped.degraded_reason == "cancelled before drafting: the client went away"
    with engine.sessions() as session:
        stored = session.get(Query, stopped.query_id)
        assert stored is not None and stored.status == "partial"


def test_a_question_gets_a_cited_direct_answer_stored_with_it(
    engine: QueryEngine, user_id: uuid.UUID
) -> None:
    text = "What does the EU AI Act mean for small fintechs?"
    result = engine.process_query(user_id, text, {"formats": ["linkedin_post"]})
    answer = result.answer
    assert result.analysis.intent == "comprehensive" and answer is not None
    assert answer.status in ("answered", "thin") and answer.sentences
    cited = {citation.ref for citation in answer.citations}
    for sentence in answer.sentences:
        assert set(sentence.refs) <= cited
        assert f"{sentence.text} [{sentence.refs[0]}]" in answer.text
    with engine.sessions() as session:
        stored = session.get(Query, result.query_id)
        assert stored is not None
        assert stored.results["answer"] == answer.model_dump(mode="json")


def test_thin_evidence_is_said_with_suggestions_and_fewer_drafts(
    engine: QueryEngine, user_id: uuid.UUID
) -> None:
    result = engine.process_query(user_id, "Lessons from failed neobanks")
    assert result.status == "partial"
    assert result.degraded_reason is not None
    assert result.degraded_reason.startswith("thin evidence: only")
    assert result.suggestions and all(
        s.startswith(("search: ", "source: ")) for s in result.suggestions
    )
    assert result.answer is not None and result.answer.status == "thin"
    assert 0 < len(result.variants) < 3 * 4


def _story_model() -> LinearEngagementModel:
    """A hand-made model in the registry's format (story hooks +35 %, short posts +20 %):
    what a promoted model looks like to the engine, without training one here."""
    numeric = len(NUMERIC_FEATURES)
    return LinearEngagementModel(
        columns=("hook_type=story", "length_band=short"),
        column_features=("hook_type", "length_band"),
        coefficients=np.log(np.array([1.35, 1.2])),
        intercept=0.0,
        column_means=np.array([0.25, 0.5]),
        numeric_centres=np.zeros(numeric),
        numeric_scales=np.ones(numeric),
        embedding_centre=np.zeros(384),
        projection=np.zeros((0, 384)),
        user_baselines={},
        global_baseline=0.03,
        smearing=1.0,
    )


def test_a_model_promoted_while_the_engine_runs_predicts_the_next_query(
    database_url: str, embedder: Embedder, sample_index_home: Path, tmp_path: Path
) -> None:
    migrate(database_url)
    models = tmp_path / "models"
    engine = QueryEngine(
        embedder=embedder,
        index=CurrentIndex(sample_index_home),
        sessions=make_session_factory(make_engine(database_url)),
        generator=ExtractiveGenerator(),
        predictor=PromotedModelOrPrior(models, embedder.encode, EngagementPrior()),
    )
    with engine.sessions.begin() as session:
        user_id = get_or_create_user(session, "writer@example.com", "Writer").id
    options = {"formats": ["linkedin_post"], "variants_per_format": 4}
    before = engine.process_query(user_id, QUERY, options)
    assert {v.prediction.kind for v in before.variants} == {"prior"}
    version = save_model(models, _story_model(), {"holdout": {}}, {"columns": []})
    promote(models, version, "test")
    after = engine.process_query(user_id, QUERY, options)
    assert {v.prediction.kind for v in after.variants} == {"learned"}
    assert {v.prediction.model_version for v in after.variants} == {version}
    for variant in after.variants:
        short = length_band("linkedin_post", len(variant.text)) == "short"
        expected = 0.03 * (1.35 if variant.hook_type == "story" else 1) * (1.2 if short else 1)
        assert variant.prediction.rate == pytest.approx(expected, abs=1e-5)
    story = next(v for v in after.variants if v.hook_type == "story")
    assert story.prediction.reasons[0] == "hook type story: +25% engagement"
    with engine.sessions() as session:
        stored = session.get(Query, after.query_id)
        assert stored is not None and stored.model_versions["predictor"] == version
        assert {v.prediction_model_version for v in stored.variants} == {version}
        earlier = session.get(Query, before.query_id)
        assert earlier is not None
        assert {v.prediction_model_version for v in earlier.variants} == {"engagement-prior-1"}
    engine.sessions.kw["bind"].dispose()


def test_a_querys_llm_calls_share_one_deadline(
    database_url: str, embedder: Embedder, sample_index_home: Path
) -> None:
    """Refinement, drafting and a repair each have a deadline of their own; a provider that
    trickles every answer would hold the query for the sum. The query's deadline ends them
    all: past it the query keeps the offline analysis and extractive drafts, and the
    provider's breaker is not charged for calls the query cut short."""
    with LLMServer("openai") as server:
        server.default = trickle(0.05)
        client = resilient(
            OpenAICompatibleChatClient("test-key", base_url=server.base_url, timeout=5.0),
            max_retries=1,
            deadline_seconds=5.0,
            breaker_failures=1,
        )
        migrate(database_url)
        engine = QueryEngine(
            embedder=embedder,
            index=CurrentIndex(sample_index_home),
            sessions=make_session_factory(make_engine(database_url)),
            generator=LLMDraftGenerator(client, fallback=ExtractiveGenerator()),
            predictor=EngagementPrior(),
            refiner=LLMAnalysisRefiner(client),
            llm_seconds_per_query=1.5,
        )
        engine.warm_up()  # as the API does before its first query
        with engine.sessions.begin() as session:
            user_id = get_or_create_user(session, "writer@example.com", "Writer").id
        started = time.monotonic()
        result = engine.process_query(user_id, QUERY, {"formats": ["linkedin_post"]})
        took = time.monotonic() - started
        engine.sessions.kw["bind"].dispose()
    assert took < 4.0  # each call's own deadline alone would allow ten seconds
    assert result.degraded_reason == f"{client.name} failed (timed out); extractive drafts instead"
    assert result.variants
    assert len(server.requests) == 1  # the refinement; drafting was not sent once time was up
    assert not client.breaker.is_open
