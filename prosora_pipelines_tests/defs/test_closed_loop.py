"""Why: learning is only worth having if the next drafts do better. The engine drafts for a
fixed set of queries, a simulated audience with planted effects (the engagement simulator)
says what each draft earned when posted on a schedule, the figures are imported as a CSV
export, and the real ``engagement`` job materializes observations, patterns and the model.
Then the engine drafts for the same queries again, steered by what was learned and posted
when it suggests: the audience's expected engagement of those drafts must be at least
1.15 × that of the first ones. Everything is seeded, so the figures repeat run to run."""

from __future__ import annotations

import csv
import io
import statistics
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from sqlalchemy import update

from prosora_pipelines.definitions import defs
from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory
from prosora_pipelines.lib.appdb.migrations import migrate
from prosora_pipelines.lib.appdb.models import Variant
from prosora_pipelines.lib.appdb.repository import get_or_create_user
from prosora_pipelines.lib.engagement.feedback_import import import_feedback
from prosora_pipelines.lib.engagement.model_registry import models_dir
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.vector_store import CurrentIndex
from prosora_pipelines.lib.query.engine import QueryEngine
from prosora_pipelines.lib.query.extractive import ExtractiveGenerator
from prosora_pipelines.lib.query.prediction import EngagementPrior, PromotedModelOrPrior
from prosora_pipelines.lib.query.responses import QueryResult
from prosora_pipelines.settings import get_settings
from prosora_pipelines_tests.support.engagement_simulator import EngagementSimulator

pytestmark = pytest.mark.integration

USER = "writer@example.com"
QUERIES = (
    "AI regulation impact on fintech product strategy",
    "What the EU AI Act means for general-purpose model providers",
    "Banks letting AI agents move money",
    "Explainability in credit scoring",
    "Usage-based pricing for AI features",
    "Product-led growth in the enterprise",
    "Evaluating LLM agents before production",
    "Payment APIs and audit trails for AI transactions",
    "Model risk management for large language models",
    "Stablecoin reserve rules",
    "Platform engineering and boring CI",
    "Consent and disclosure for AI in regulated products",
)
OPTIONS = {"formats": ["linkedin_post", "x_thread"], "variants_per_format": 3}
HISTORY_START = datetime(2026, 1, 5, tzinfo=UTC)
HISTORY_DAYS = 150
REQUIRED_LIFT = 1.15


def _schedule(count: int) -> list[datetime]:
    """When the user posted the first drafts: spread over the history, at seeded hours."""
    rng = np.random.default_rng(11)
    return [
        HISTORY_START + timedelta(days=HISTORY_DAYS * index / count, hours=int(rng.integers(0, 24)))
        for index in range(count)
    ]


def _ask_all(engine: QueryEngine, user_id: uuid.UUID) -> list[QueryResult]:
    return [engine.process_query(user_id, text, OPTIONS) for text in QUERIES]


def _expected(
    simulator: EngagementSimulator, results: Sequence[QueryResult], times: Sequence[datetime]
) -> list[float]:
    """The audience's noiseless engagement rate of every draft, each posted at its
    suggested time when it has one, else at its slot of the schedule."""
    variants = [variant for result in results for variant in result.variants]
    return [
        simulator.expected_rate(
            variant.text,
            variant.format,
            variant.hook_type,
            variant.suggested_posting_time or when,
            USER,
        )
        for variant, when in zip(variants, times, strict=False)
    ]


def _feedback_csv(
    simulator: EngagementSimulator, results: Sequence[QueryResult], times: Sequence[datetime]
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["variant_id", "platform", "posted_at", "impressions", "reactions", "comments", "shares"]
    )
    variants = [variant for result in results for variant in result.variants]
    for variant, when in zip(variants, times, strict=True):
        figures = simulator.simulate(variant.text, variant.format, variant.hook_type, when, USER)
        platform = "linkedin" if variant.format == "linkedin_post" else "x"
        writer.writerow(
            [
                variant.id,
                platform,
                when.isoformat(),
                figures.impressions,
                figures.reactions,
                figures.comments,
                figures.shares,
            ]
        )
    return out.getvalue().encode()


def test_drafts_after_learning_earn_more_than_before(
    embedder: Embedder,
    sample_index_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate(database_url)
    sessions = make_session_factory(make_engine(database_url))
    engine = QueryEngine(
        embedder=embedder,
        index=CurrentIndex(sample_index_home),
        sessions=sessions,
        generator=ExtractiveGenerator(),
        predictor=PromotedModelOrPrior(models_dir(home), embedder.encode, EngagementPrior()),
    )
    with sessions.begin() as session:
        user_id = get_or_create_user(session, USER, "Writer").id
    simulator = EngagementSimulator(seed=5, base_rates={USER: 0.03}, audiences={USER: 2000})

    before = _ask_all(engine, user_id)
    drafted = [variant.id for result in before for variant in result.variants]
    times = _schedule(len(drafted))
    with sessions.begin() as session:
        # Drafted before the history starts, so every posting time fits its draft.
        session.execute(
            update(Variant)
            .where(Variant.id.in_(drafted))
            .values(created_at=HISTORY_START - timedelta(days=1))
        )
        user = get_or_create_user(session, USER, "Writer")
        report = import_feedback(session, user, _feedback_csv(simulator, before, times))
    assert report.created == len(drafted)

    monkeypatch.setenv("PROSORA_HOME", str(home))
    monkeypatch.setenv("PROSORA_DATABASE_URL", database_url)
    get_settings.cache_clear()
    result = (
        defs()
        .resolve_job_def("engagement")
        .execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    )
    get_settings.cache_clear()
    materialized = {
        event.materialization.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.materialization is not None
    }
    # The model may or may not be promoted from this little feedback (its check decides);
    # the drafts are steered by the patterns either way.
    assert {"engagement_observations", "learning_patterns"} <= materialized

    after = _ask_all(engine, user_id)
    assert all(result.patterns_applied for result in after)
    assert all(v.patterns_applied for result in after for v in result.variants)
    mean_before = statistics.fmean(_expected(simulator, before, times))
    mean_after = statistics.fmean(_expected(simulator, after, times))
    lift = mean_after / mean_before
    print(f"closed loop: expected engagement {mean_before:.4f} -> {mean_after:.4f} ({lift:.2f}x)")
    assert lift >= REQUIRED_LIFT, (mean_before, mean_after)
    sessions.kw["bind"].dispose()
