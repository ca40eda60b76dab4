"""Why: learning must find real effects, shrink a sparse user toward everyone, keep history
instead of overwriting it, change nothing when nothing changed, and refuse to promote a
model that only fits noise. These run on observations built in memory (random embeddings,
so fast); the end-to-end test in ``defs/`` runs the same code on real embeddings."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.models import LearningPattern
from prosora_pipelines.lib.appdb.repository import get_or_create_user
from prosora_pipelines.lib.engagement.observations import (
    FeedbackPost,
    build_observations,
    features_of,
    observation_rows,
)
from prosora_pipelines.lib.engagement.patterns import (
    MIN_SAMPLES,
    estimate_patterns,
    learned_patterns,
    upsert_patterns,
)
from prosora_pipelines.lib.engagement.training import (
    design_matrix,
    fit_linear,
    prepare,
    train,
)
from prosora_pipelines_tests.support.engagement_simulator import (
    EngagementSimulator,
    synthetic_posts,
)

START = datetime(2026, 1, 1, tzinfo=UTC)


def _random_embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(len(texts))
    return rng.normal(size=(len(texts), 16)).astype(np.float32)


def _posts(
    count: int, users: tuple[str, ...], simulator: EngagementSimulator, seed: int = 1
) -> list[FeedbackPost]:
    posts: list[FeedbackPost] = []
    for post in synthetic_posts(seed, count, users, START):
        figures = simulator.simulate(
            post.text, post.format, post.hook_type, post.posted_at, post.user
        )
        posts.append(
            FeedbackPost(
                feedback_id=str(uuid.UUID(int=len(posts) + 1)),
                recorded_at=post.posted_at + timedelta(days=2),
                user_id=post.user,
                variant_id=str(uuid.uuid4()),
                platform="linkedin",
                posted_at=post.posted_at,
                drafted_at=post.posted_at - timedelta(hours=1),
                impressions=figures.impressions,
                reactions=figures.reactions,
                comments=figures.comments,
                shares=figures.shares,
                format=post.format,
                text=post.text,
                hook_type=post.hook_type,
                query_domains={"finance": 1.0},
                cited_tiers=("premium",),
                timezone=None,
            )
        )
    return posts


@pytest.fixture(scope="module")
def observed() -> pl.DataFrame:
    users = (str(uuid.UUID(int=101)), str(uuid.UUID(int=102)))
    table, skipped = observation_rows(
        _posts(500, users, EngagementSimulator(seed=2)), _random_embed
    )
    assert not skipped
    return table


def test_a_sparse_user_is_shrunk_toward_everyone(observed: pl.DataFrame) -> None:
    sparse = str(uuid.UUID(int=103))
    few = _posts(6, (sparse,), EngagementSimulator(seed=9, effects={}), seed=4)
    table = pl.concat([observed, observation_rows(few, _random_embed)[0]])
    estimates = {(e.user_id, e.feature, e.value): e for e in estimate_patterns(table)}
    story = [
        e for key, e in estimates.items() if key[0] == sparse and key[1:] == ("hook_type", "story")
    ]
    if story:  # the sparse user posted a story: their lift sits near everyone's, inactive
        assert not story[0].active
        assert abs(np.log(story[0].lift) - np.log(story[0].pooled_lift)) < 0.2
    for estimate in estimates.values():
        if estimate.user_id == sparse:
            assert estimate.samples < MIN_SAMPLES and not estimate.active


def test_upserts_keep_history_and_a_rerun_changes_nothing(
    session: Session, observed: pl.DataFrame
) -> None:
    users = {
        user_id: get_or_create_user(session, f"{user_id[-3:]}@example.com", "u")
        for user_id in observed["user_id"].unique().to_list()
    }
    # The users' real ids replace the made-up ones.
    table = observed.with_columns(
        pl.col("user_id").replace({k: str(v.id) for k, v in users.items()})
    )
    half = table.head(250)
    now = datetime(2026, 8, 1, tzinfo=UTC)
    first = upsert_patterns(session, estimate_patterns(half), now)
    assert first.created > 0 and first.updated == 0
    again = upsert_patterns(session, estimate_patterns(half), now + timedelta(hours=1))
    assert (again.created, again.updated, len(again.gained), len(again.lost)) == (0, 0, 0, 0)
    later = upsert_patterns(session, estimate_patterns(table), now + timedelta(days=1))
    assert later.updated > 0
    session.flush()
    rows = session.scalars(select(LearningPattern)).all()
    assert len(rows) == first.created + later.created
    moved = [row for row in rows if row.pattern_data["version"] == 2]
    assert moved
    for row in moved:
        (previous,) = row.pattern_data["history"]
        assert previous["computed_at"] == now.isoformat(timespec="seconds")
        assert set(previous) == {"lift", "interval", "samples", "computed_at"}
    user = next(iter(users.values()))
    listed = learned_patterns(session, user.id)
    assert listed and all(row.user_id == user.id for row in listed)
    actives = [row.active for row in listed]
    assert actives == sorted(actives, reverse=True)


def test_bad_rows_never_become_observations() -> None:
    post = _posts(1, ("u",), EngagementSimulator(seed=1))[0]
    impossible = [
        replace(post, feedback_id="a", reactions=post.impressions + 1),
        replace(post, feedback_id="b", impressions=0, reactions=0, comments=0, shares=0),
        replace(post, feedback_id="c", comments=-1),
        replace(post, feedback_id="d", posted_at=post.drafted_at - timedelta(days=3)),
    ]
    table, skipped = observation_rows(impossible, _random_embed)
    assert table.height == 0
    assert dict(skipped) == {
        "more interactions than impressions": 1,
        "no impressions": 1,
        "negative count": 1,
        "posted before the variant was drafted": 1,
    }


def test_observations_are_rebuilt_only_where_feedback_changed() -> None:
    posts = _posts(20, ("u",), EngagementSimulator(seed=1))
    by_id = {post.feedback_id: post for post in posts}
    embedded: list[int] = []

    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        embedded.append(len(texts))
        return _random_embed(texts)

    def read(ids: Iterable[str]) -> list[FeedbackPost]:
        return [by_id[i] for i in sorted(ids)]

    versions = {post.feedback_id: post.recorded_at for post in posts}
    first = build_observations(None, versions, read, embed)
    assert (first.added, first.replaced, first.removed) == (20, 0, 0)
    same = build_observations(first.table, versions, read, embed)
    assert not same.changed and same.table.equals(first.table) and embedded == [20]
    changed_id = posts[0].feedback_id
    by_id[changed_id] = replace(posts[0], recorded_at=posts[0].recorded_at + timedelta(days=1))
    versions[changed_id] = by_id[changed_id].recorded_at
    del versions[posts[1].feedback_id]
    update = build_observations(first.table, versions, read, embed)
    assert (update.added, update.replaced, update.removed) == (0, 1, 1)
    assert update.table.height == 19


def test_the_batched_design_is_the_one_prediction_uses(observed: pl.DataFrame) -> None:
    prepared = prepare(observed)
    model = fit_linear(prepared, alpha=3.0, components=4)
    batched = design_matrix(model, prepared)
    for index, row in enumerate(prepared.table.head(25).iter_rows(named=True)):
        single = model.design_row(features_of(row), prepared.embeddings[index])
        np.testing.assert_allclose(batched[index], single)


def test_real_effects_are_promoted_and_shuffled_labels_are_not(observed: pl.DataFrame) -> None:
    report = train(observed, None)
    assert report.beats_all, report.reason
    scores = report.scores
    assert scores["linear"].mae <= 0.85 * scores["user_mean"].mae
    shuffled_order = np.random.default_rng(3).permutation(observed.height).tolist()
    labels = observed.select("impressions", "interactions", "rate")[shuffled_order]
    noise = observed.with_columns(labels["impressions"], labels["interactions"], labels["rate"])
    noisy = train(noise, None)
    assert not noisy.beats_all, noisy.reason
    assert "does not beat" in noisy.reason
