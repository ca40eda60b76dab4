"""Why: the learning loop must really learn. Drafts with known features are posted by three
users over six months; a simulated audience with planted effects (the engagement simulator)
says what each earned; the figures go in through the API, one post at a time and as CSV
exports; then the real ``engagement`` job runs in process. The learned patterns must point
the way the planted effects do, the promoted model must beat the user-mean baseline clearly
on the newest posts, a re-run must change nothing, and a model trained on shuffled labels
must not be promoted. Figures the database should never have held (written around the API's
rules) must not reach training."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from prosora_pipelines.api.app import create_app
from prosora_pipelines.definitions import defs
from prosora_pipelines.lib.access.tokens import TokenConfig, mint_token
from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory
from prosora_pipelines.lib.appdb.migrations import migrate
from prosora_pipelines.lib.appdb.models import LearningPattern, PerformanceFeedback, Variant
from prosora_pipelines.lib.appdb.repository import (
    QueryRecord,
    VariantRecord,
    get_or_create_user,
    record_query,
)
from prosora_pipelines.lib.engagement.features import pattern_values, post_features
from prosora_pipelines.lib.engagement.model_registry import (
    load_promoted,
    models_dir,
    promoted_version,
    versions,
)
from prosora_pipelines.lib.table_names import ENGAGEMENT_OBSERVATIONS_TABLE
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import Settings, get_settings
from prosora_pipelines_tests.support.engagement_simulator import (
    PLANTED_EFFECTS,
    EngagementSimulator,
    SyntheticPost,
    synthetic_posts,
)
from prosora_pipelines_tests.support.materializations import materialized_metadata

pytestmark = pytest.mark.integration

JWT_SECRET = "engagement-tests-secret-5b2e8c1d9f7a3064"
USERS = ("ana@example.com", "ben@example.com", "chloe@example.com")
POSTS = 540
CSV_SHARE = 3  # every third post's figures arrive in a CSV export, the rest one by one
EVIDENCE = [
    {"ref": 1, "tier": "premium", "title": "a"},
    {"ref": 2, "tier": "standard", "title": "b"},
]


@dataclass
class Learned:
    home: Path
    database_url: str
    posts: list[SyntheticPost]
    simulator: EngagementSimulator
    first: dg.ExecuteInProcessResult
    second: dg.ExecuteInProcessResult
    left_out: int


def _run_job(home: Path, database_url: str, **options: Any) -> dg.ExecuteInProcessResult:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROSORA_HOME", str(home))
        patch.setenv("PROSORA_DATABASE_URL", database_url)
        get_settings.cache_clear()
        try:
            return (
                defs()
                .resolve_job_def("engagement")
                .execute_in_process(
                    instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, **options
                )
            )
        finally:
            get_settings.cache_clear()


def _store_drafts(database_url: str, posts: list[SyntheticPost]) -> list[uuid.UUID]:
    """One query and variant per post, backdated to two hours before the post went out, as
    if drafted then."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    ids = []
    with sessions.begin() as session:
        users = {email: get_or_create_user(session, email, email.split("@")[0]) for email in USERS}
        for post in posts:
            stored = record_query(
                session,
                users[post.user],
                QueryRecord(
                    text="fintech regulation",
                    analysis={"domains": {"finance": 0.7, "policy": 0.3}},
                    results={"evidence": EVIDENCE},
                    processing_time_ms=1.0,
                    created_at=post.posted_at - timedelta(hours=2),
                    variants=[
                        VariantRecord(
                            format=post.format,
                            text=post.text,
                            hook_type=post.hook_type,
                            citations=[{"ref": 1}, {"ref": 2}],
                            predicted_engagement=0.03,
                            model_version="test",
                        )
                    ],
                ),
            )
            variant_id = stored.variants[0].id
            session.execute(
                update(Variant)
                .where(Variant.id == variant_id)
                .values(created_at=post.posted_at - timedelta(hours=2))
            )
            ids.append(variant_id)
    engine.dispose()
    return ids


def _feedback(post: SyntheticPost, simulator: EngagementSimulator) -> dict[str, Any]:
    figures = simulator.simulate(post.text, post.format, post.hook_type, post.posted_at, post.user)
    return {
        "platform": "linkedin",
        "posted_at": post.posted_at.isoformat(),
        "impressions": figures.impressions,
        "reactions": figures.reactions,
        "comments": figures.comments,
        "shares": figures.shares,
    }


def _send_feedback(
    settings: Settings,
    posts: list[SyntheticPost],
    variant_ids: list[uuid.UUID],
    simulator: EngagementSimulator,
) -> None:
    config = TokenConfig(algorithm="HS256", secret=JWT_SECRET, issuer=None, audience=None)
    exports: dict[str, io.StringIO] = {}
    with TestClient(create_app(settings)) as client:
        headers = {
            email: {"Authorization": f"Bearer {mint_token(config, email)}"} for email in USERS
        }
        for index, (post, variant_id) in enumerate(zip(posts, variant_ids, strict=True)):
            figures = _feedback(post, simulator)
            if index % CSV_SHARE == 0:
                if post.user not in exports:
                    exports[post.user] = io.StringIO()
                    csv.writer(exports[post.user]).writerow(
                        [
                            "Variant",
                            "Network",
                            "Post date",
                            "Impressions",
                            "Likes",
                            "Replies",
                            "Reposts",
                        ]
                    )
                csv.writer(exports[post.user]).writerow(
                    [
                        variant_id,
                        figures["platform"],
                        figures["posted_at"],
                        figures["impressions"],
                        figures["reactions"],
                        figures["comments"],
                        figures["shares"],
                    ]
                )
                continue
            response = client.post(
                f"/api/v1/variants/{variant_id}/feedback", json=figures, headers=headers[post.user]
            )
            assert response.status_code == 201, response.text
        for email, export in exports.items():
            response = client.post(
                "/api/v1/feedback/import",
                files={"file": ("export.csv", export.getvalue().encode(), "text/csv")},
                headers=headers[email],
            )
            assert response.status_code == 200, response.text
            assert response.json()["updated"] == 0


def _write_around_the_rules(database_url: str, variant_ids: list[uuid.UUID]) -> int:
    """Feedback rows the API would refuse, written straight into the database."""
    engine = make_engine(database_url)
    with make_session_factory(engine).begin() as session:
        drafted = session.scalars(select(Variant).where(Variant.id == variant_ids[0])).one()
        bad = [
            {"impressions": 10, "reactions": 50, "comments": 0, "shares": 0},
            {"impressions": 0, "reactions": 0, "comments": 0, "shares": 0},
            {"impressions": 100, "reactions": 5, "comments": 0, "shares": 0, "early": True},
        ]
        for number, figures in enumerate(bad):
            early = figures.pop("early", False)
            session.add(
                PerformanceFeedback(
                    variant_id=drafted.id,
                    platform=f"other{number}",
                    posted_at=drafted.created_at - timedelta(days=30 if early else -1),
                    clicks=0,
                    engagement_rate=None,
                    **figures,
                )
            )
    engine.dispose()
    return len(bad)


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Learned]:
    home = tmp_path_factory.mktemp("learning") / "home"
    database_url = f"sqlite:///{home / 'prosora.db'}"
    migrate(database_url)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    posts = synthetic_posts(11, POSTS, USERS, end - timedelta(days=180), days=180)
    simulator = EngagementSimulator(seed=5)
    variant_ids = _store_drafts(database_url, posts)
    settings = Settings(
        home=home,
        jwt_secret=JWT_SECRET,
        database_url=database_url,
        api_rate_limit_per_minute=100_000,
    )
    _send_feedback(settings, posts, variant_ids, simulator)
    left_out = _write_around_the_rules(database_url, variant_ids)
    first = _run_job(home, database_url)
    second = _run_job(home, database_url)
    yield Learned(home, database_url, posts, simulator, first, second, left_out)


def test_observations_hold_every_good_post_and_nothing_impossible(learned: Learned) -> None:
    observations = materialized_metadata(learned.first)["engagement_observations"]
    assert observations["observations"] == POSTS
    assert observations["users"] == len(USERS)
    assert sum(v for k, v in observations.items() if k.startswith("left_out:")) == learned.left_out
    table = TableStore(learned.home).read_table(ENGAGEMENT_OBSERVATIONS_TABLE)
    assert table is not None and table.height == POSTS
    assert table.filter(pl.col("interactions") > pl.col("impressions")).height == 0
    assert set(table["platform"].unique().to_list()) == {"linkedin"}


def _learned_rows(database_url: str) -> list[LearningPattern]:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        rows = list(session.scalars(select(LearningPattern)))
    engine.dispose()
    return rows


def test_every_planted_effect_is_recovered_in_direction(learned: Learned) -> None:
    rows = _learned_rows(learned.database_url)
    mix = [
        pattern_values(post_features(p.text, p.format, p.hook_type, [], [], p.posted_at, None))
        for p in learned.posts
    ]
    checked = 0
    for (feature, value), _ in PLANTED_EFFECTS.items():
        expected = learned.simulator.expected_lift(feature, value, mix)
        assert expected is not None, (feature, value)
        if abs(expected - 1) < 0.05:
            continue
        mine = [r for r in rows if r.pattern_type == feature and r.pattern_data["value"] == value]
        assert len(mine) == len(USERS), (feature, value)
        pooled = mine[0].pattern_data["pooled_lift"]
        assert (pooled > 1) == (expected > 1), (feature, value, pooled, expected)
        for row in mine:
            if row.active:  # an active pattern never points the wrong way
                assert (row.pattern_data["lift"] > 1) == (expected > 1), (feature, value, row)
        checked += 1
    assert checked >= 10
    active = [row for row in rows if row.active]
    assert len(active) >= 15
    for row in rows:
        low, high = row.pattern_data["interval"]
        assert low <= row.pattern_data["lift"] <= high
        assert row.active == (row.pattern_data["samples"] >= 8 and (low > 1 or high < 1))


def test_the_promoted_model_beats_the_user_mean_clearly(learned: Learned) -> None:
    checks = {e.check_name: e for e in learned.first.get_asset_check_evaluations()}
    assert checks["engagement_model_beats_current"].passed, checks
    models = models_dir(learned.home)
    version = promoted_version(models)
    assert version is not None and versions(models) == [version]
    metrics = json.loads((models / "engagement" / version / "metrics.json").read_text())
    scores = metrics["scores"]
    assert scores["linear"]["mae"] <= 0.85 * scores["user_mean"]["mae"], scores
    assert scores["linear"]["pairwise_accuracy"] >= 0.65, scores
    assert metrics["holdout_size"] == round(POSTS * 0.2)
    predictor = load_promoted(models)
    assert predictor is not None and predictor.version == version
    features = json.loads((models / "engagement" / version / "features.json").read_text())
    assert features["columns"] == list(predictor.model.columns)


def test_a_second_run_changes_nothing(learned: Learned) -> None:
    assert learned.second.success
    second = materialized_metadata(learned.second)
    assert second["engagement_observations"]["added"] == 0
    assert second["engagement_observations"]["replaced"] == 0
    assert second["learning_patterns"]["created"] == second["learning_patterns"]["updated"] == 0
    assert second["engagement_model"]["reused"] is True
    models = models_dir(learned.home)
    assert len(versions(models)) == 1
    rows = _learned_rows(learned.database_url)
    assert {row.pattern_data["version"] for row in rows} == {1}


def test_a_model_trained_on_shuffled_labels_is_not_promoted(
    learned: Learned, tmp_path: Path
) -> None:
    home = tmp_path / "shuffled"
    table = TableStore(learned.home).read_table(ENGAGEMENT_OBSERVATIONS_TABLE)
    assert table is not None
    order = np.random.default_rng(1).permutation(table.height)
    labels = table.select("impressions", "interactions", "rate")[order.tolist()]
    shuffled = table.with_columns(labels["impressions"], labels["interactions"], labels["rate"])
    TableStore(home).write_table(ENGAGEMENT_OBSERVATIONS_TABLE, shuffled)
    database_url = f"sqlite:///{home / 'prosora.db'}"
    result = _run_job(home, database_url, asset_selection=[dg.AssetKey("engagement_model")])
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    verdict = checks["engagement_model_beats_current"]
    assert not verdict.passed
    assert "does not beat" in (verdict.description or "")
    assert promoted_version(models_dir(home)) is None
    assert len(versions(models_dir(home))) == 1
    assert not result.success  # the blocking check stops the run


def test_the_command_line_shows_learns_and_imports(learned: Learned, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from prosora_pipelines.cli import app

    environment = {
        "PROSORA_HOME": str(learned.home),
        "PROSORA_DATABASE_URL": learned.database_url,
        "PROSORA_USER_EMAIL": USERS[0],
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    (tmp_path / "dagster").mkdir()
    runner = CliRunner()

    def run(*arguments: str) -> Any:
        get_settings.cache_clear()
        try:
            return runner.invoke(app, list(arguments), env=environment)
        finally:
            get_settings.cache_clear()

    shown = run("patterns", "--json")
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)
    assert rows and rows[0]["active"] and all("interval" in row for row in rows)
    table = run("patterns")
    assert "Learned patterns" in table.output and "hook_type=story" in table.output

    again = run("learn")
    assert again.exit_code == 0, again.output
    assert "patterns gained: none" in again.output and "patterns lost: none" in again.output
    assert "model: unchanged" in again.output and "already the promoted model" in again.output

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "variant_id,platform,posted_at,impressions,reactions,comments,shares\n"
        f"{uuid.uuid4()},linkedin,2026-01-05T09:00:00+00:00,10,50,0,0\n"
        f"{uuid.uuid4()},linkedin,2026-01-05T09:00:00+00:00,100,5,0,0\n"
    )
    refused = run("feedback", "import", str(bad))
    assert refused.exit_code == 2
    assert "more than the 10 impressions" in refused.output
    assert "line 3, column variant_id: variant" in refused.output
    assert "does not exist" in refused.output
