"""Why: the trends table is what a user reads to decide what to write about. Its numbers
must be arithmetic over the articles (windows, counts, shares, growth), never constants; its
topics must be real groups of similar articles labelled by what sets them apart; and a
megatrend keyword must match whole words only, or "AI" would be found in every "said". On
the bundled sample, the themes its writers concentrated in November 7 to 20 must show up
as growing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.sources.catalog import Megatrend, load_catalog
from prosora_pipelines.lib.trends.topics import (
    MEGATRENDS_SCHEMA,
    TOPICS_SCHEMA,
    TrendReport,
    Vector,
    _label,
    article_vectors,
    cluster_vectors,
    compute_trends,
    distinctive_terms,
    growth,
    keyword_pattern,
    megatrends_frame,
    topics_frame,
    trend_windows,
    window_end,
)
from prosora_pipelines.settings import SAMPLE_CATALOG

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DIMENSION = 6


def _axis(index: int, wobble: float = 0.0, towards: int = 5) -> Vector:
    """A unit vector along ``index``, tilted by ``wobble`` towards another axis."""
    vector = np.zeros(DIMENSION, dtype=np.float32)
    vector[index] = 1.0
    vector[towards] += wobble
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _articles(rows: list[dict[str, Any]]) -> pl.DataFrame:
    defaults = {"text": "", "domains": ["tech"], "duplicate_of": None}
    return pl.DataFrame(
        [defaults | row for row in rows],
        schema={
            "id": pl.String(),
            "title": pl.String(),
            "text": pl.String(),
            "published_at": pl.Datetime("us", "UTC"),
            "domains": pl.List(pl.String()),
            "duplicate_of": pl.String(),
        },
    )


def _days_ago(days: float) -> datetime:
    return END - timedelta(days=days)


# --- windows, growth -----------------------------------------------------------------------


def test_windows_are_half_open_and_end_at_the_given_end() -> None:
    windows = trend_windows(END, 14)
    frame = pl.DataFrame(
        {
            "published_at": [
                END,
                _days_ago(13.9),
                _days_ago(14),
                _days_ago(27.9),
                _days_ago(28),
                END + timedelta(seconds=1),
                None,
            ]
        },
        schema={"published_at": pl.Datetime("us", "UTC")},
    )
    labels = frame.select(windows.label(pl.col("published_at")).alias("window"))["window"]
    assert labels.to_list() == ["recent", "recent", "previous", "previous", None, None, None]


def test_window_end_is_the_newest_canonical_date_else_the_fallback() -> None:
    articles = _articles(
        [
            {"id": "a", "title": "a", "published_at": _days_ago(3)},
            {"id": "b", "title": "b", "published_at": _days_ago(1)},
            {"id": "c", "title": "c", "published_at": END, "duplicate_of": "a"},
            {"id": "d", "title": "d", "published_at": None},
        ]
    )
    assert window_end(articles, fallback=END) == _days_ago(1)
    undated = _articles([{"id": "d", "title": "d", "published_at": None}])
    assert window_end(undated, fallback=END) == END


@pytest.mark.parametrize(
    ("recent", "previous", "expected"),
    [(10, 4, 1.5), (4, 4, 0.0), (2, 4, -0.5), (3, 0, 3.0), (0, 0, 0.0)],
)
def test_growth_is_relative_to_at_least_one(recent: int, previous: int, expected: float) -> None:
    assert growth(recent, previous) == pytest.approx(expected)


# --- clustering and labels -----------------------------------------------------------------


def test_clustering_groups_clearly_separated_vectors() -> None:
    vectors = np.stack(
        [_axis(0, 0.1), _axis(1, 0.1), _axis(0, 0.2), _axis(1, 0.2), _axis(0), _axis(2)]
    )
    labels = cluster_vectors(vectors, similarity=0.4)
    assert labels[0] == labels[2] == labels[4]
    assert labels[1] == labels[3]
    assert len({labels[0], labels[1], labels[5]}) == 3


def test_clustering_handles_a_single_vector() -> None:
    assert cluster_vectors(np.stack([_axis(0)]), similarity=0.4).tolist() == [0]


def test_labels_are_the_distinctive_terms_not_the_shared_ones() -> None:
    shared = "The market moved this quarter and the market will move again. "
    documents = [
        shared + "Stablecoin issuers hold reserves; a stablecoin is only as good as a stablecoin's"
        " reserves.",
        shared + "Agents call tools; an agent sandbox limits each agent's tool calls.",
    ]
    stablecoins, agents = distinctive_terms(documents, 3)
    assert stablecoins[:2] == ("stablecoin", "reserves")
    assert agents[0] == "agent sandbox"
    assert not {"market", "quarter"} & set(stablecoins + agents)


def test_labels_say_each_word_once_preferring_phrases() -> None:
    ranked = ["ai", "act", "agents", "ai act", "agent", "ai agents", "agent agents", "pricing"]
    assert _label(ranked, 4) == ("agents", "ai act", "pricing")
    documents = [
        "AI agents pay invoices. AI agents file claims. The agent and its agents act.",
        "Gross margin fell. Gross margin is the metric; pricing follows gross margin.",
        "Unrelated notes about gardening and soil.",
    ]
    agents, margin, _ = distinctive_terms(documents, 3)
    assert agents[0] == "ai agents"
    assert not {"ai", "agent", "agents"} & set(agents)
    assert margin[0] == "gross margin"
    assert not {"gross", "margin"} & set(margin)


# --- keywords ------------------------------------------------------------------------------


def test_keywords_match_whole_words_and_phrases_only() -> None:
    pattern = keyword_pattern(["AI", "AI Act", "agent", "C++"])
    assert pattern is not None
    for text in ["AI is here.", "new ai tools", "the EU AI\nAct", "an agent.", "C++ builds"]:
        assert pattern.search(text), text
    for text in ["she said so", "fresh AIR", "chair", "agents only", "agentic", "C+"]:
        assert not pattern.search(text), text
    phrase = keyword_pattern(["AI Act"])
    assert phrase is not None
    assert phrase.search("rules of the ai act apply")
    assert not phrase.search("AI actually helps")
    assert not phrase.search("AI rules act on")


def test_no_keywords_means_no_pattern() -> None:
    assert keyword_pattern([" ", ""]) is None


# --- the whole computation on hand-made vectors --------------------------------------------


@pytest.fixture
def synthetic() -> tuple[pl.DataFrame, dict[str, Vector]]:
    """Two recent topics (axes 0 and 1), one stray article, a previous window, noise rows."""
    rows: list[dict[str, Any]] = []
    vectors: dict[str, Vector] = {}

    def add(
        article_id: str, title: str, days: float | None, vector: Vector | None, **extra: Any
    ) -> None:
        published = None if days is None else _days_ago(days)
        rows.append({"id": article_id, "title": title, "published_at": published, **extra})
        if vector is not None:
            vectors[article_id] = vector

    stablecoin = "Stablecoin reserves and issuers under the AI Act"
    for number in range(4):
        domains = ["finance", "policy"] if number % 2 else ["finance"]
        add(f"s{number}", stablecoin, number + 1, _axis(0, 0.1 * number), domains=domains)
    for number in range(3):
        add(f"g{number}", "Agents sandbox tool calls, said the team", number + 2, _axis(1))
    add("stray", "A gardening column", 5, _axis(2))
    add("s-old", stablecoin, 20, _axis(0, 0.05))
    add("other-old-1", "Quarterly earnings roundup", 16, _axis(3))
    add("other-old-2", "Quarterly earnings roundup II", 18, _axis(4))
    add("ancient", stablecoin, 40, _axis(0))
    add("undated-1", stablecoin, None, _axis(0))
    add("undated-2", "No date either", None, None)
    add("unindexed", stablecoin, 2, None)
    add("copy", stablecoin, 1, _axis(0), duplicate_of="s0")
    return _articles(rows), vectors


def _report(
    synthetic: tuple[pl.DataFrame, dict[str, Vector]],
    megatrends: tuple[Megatrend, ...] = (),
    seed_vectors: dict[str, Vector] | None = None,
) -> TrendReport:
    articles, vectors = synthetic
    return compute_trends(articles, vectors, megatrends, end=END, seed_vectors=seed_vectors)


def test_articles_fall_in_windows_and_exclusions_are_counted(
    synthetic: tuple[pl.DataFrame, dict[str, Vector]],
) -> None:
    report = _report(synthetic)
    assert report.recent_articles == 8  # 4 + 3 + stray; the copy is not canonical
    assert report.previous_articles == 3
    assert report.undated_excluded == 2
    assert report.unindexed_excluded == 1
    assert report.windows.recent_until == END


def test_topics_have_sizes_growth_domains_and_examples(
    synthetic: tuple[pl.DataFrame, dict[str, Vector]],
) -> None:
    report = _report(synthetic)
    assert [topic.topic_id for topic in report.topics] == [1, 2]
    stablecoins, agents = report.topics
    assert set(stablecoins.article_ids) == {"s0", "s1", "s2", "s3"}
    assert (stablecoins.recent_articles, stablecoins.previous_articles) == (4, 1)
    assert stablecoins.growth == pytest.approx(3.0)
    assert stablecoins.top_domains == (("finance", 4), ("policy", 2))
    assert len(stablecoins.example_titles) == 3
    assert "stablecoin" in stablecoins.label
    assert (agents.recent_articles, agents.previous_articles) == (3, 0)
    assert agents.growth == pytest.approx(3.0)
    assert "sandbox" in agents.label or "agents" in agents.label
    assert report.unclustered == 1  # the stray article is a cluster of one


def test_megatrends_are_measured_from_keywords_and_seed_vectors(
    synthetic: tuple[pl.DataFrame, dict[str, Vector]],
) -> None:
    megatrends = (
        Megatrend(name="AI regulation", keywords=("AI Act",)),
        Megatrend(name="AI anything", keywords=("AI",)),
        Megatrend(name="Tooling", seed_text="agents and their tools"),
        Megatrend(name="Earnings", keywords=("earnings",)),
    )
    report = _report(synthetic, megatrends, seed_vectors={"Tooling": _axis(1) * 3})
    regulation, anything, tooling, earnings = report.megatrends
    assert (regulation.recent_matches, regulation.previous_matches) == (4, 1)
    assert regulation.recent_share == pytest.approx(4 / 8)
    assert regulation.previous_share == pytest.approx(1 / 3)
    assert regulation.share_change == pytest.approx(4 / 8 - 1 / 3)
    assert regulation.share_growth == pytest.approx((4 / 8) / (1 / 3) - 1)
    assert regulation.recent_by_domain == (("finance", 4), ("policy", 2))
    # "said" in the agents' titles must not count as "AI"
    assert anything.recent_matches == 4
    assert (tooling.recent_matches, tooling.previous_matches) == (3, 0)
    assert tooling.share_growth is None  # from a zero share there is no relative growth
    assert tooling.share_change == pytest.approx(3 / 8)
    assert (earnings.recent_matches, earnings.previous_matches) == (0, 2)
    assert earnings.share_growth == pytest.approx(-1.0)


def test_a_seed_text_without_its_vector_is_an_error(
    synthetic: tuple[pl.DataFrame, dict[str, Vector]],
) -> None:
    with pytest.raises(ValueError, match="Tooling"):
        _report(synthetic, (Megatrend(name="Tooling", seed_text="agents and tools"),))


def test_an_empty_corpus_gives_typed_empty_tables() -> None:
    report = compute_trends(_articles([]), {}, (Megatrend(name="X", keywords=("x",)),), end=END)
    assert (report.recent_articles, report.topics) == (0, ())
    assert report.megatrends[0].recent_share is None
    assert topics_frame(report).schema == pl.Schema(TOPICS_SCHEMA)
    assert topics_frame(report).is_empty()
    assert megatrends_frame(report).schema == pl.Schema(MEGATRENDS_SCHEMA)
    assert megatrends_frame(report).height == 1


def test_frames_hold_every_topic_and_megatrend(
    synthetic: tuple[pl.DataFrame, dict[str, Vector]],
) -> None:
    report = _report(synthetic, (Megatrend(name="AI regulation", keywords=("AI Act",)),))
    topics = topics_frame(report)
    assert topics["recent_articles"].to_list() == [4, 3]
    assert topics["top_domains"][0].to_list() == [
        {"domain": "finance", "articles": 4},
        {"domain": "policy", "articles": 2},
    ]
    assert topics["recent_until"].to_list() == [END, END]
    assert megatrends_frame(report)["recent_matches"].to_list() == [4]


# --- the bundled sample, with the real model -----------------------------------------------


@pytest.fixture(scope="module")
def sample_trends(sample_index: tuple[pl.DataFrame, Any], embedder: Embedder) -> TrendReport:
    articles, table = sample_index
    megatrends = load_catalog(SAMPLE_CATALOG).megatrends
    seeded = [m for m in megatrends if m.seed_text]
    seeds = embedder.encode([m.seed_text or "" for m in seeded])
    return compute_trends(
        articles,
        article_vectors(table),
        megatrends,
        end=window_end(articles, fallback=datetime.now(UTC)),
        seed_vectors={m.name: vector for m, vector in zip(seeded, seeds, strict=True)},
    )


def test_sample_article_vectors_are_unit_length_one_per_article(
    sample_index: tuple[pl.DataFrame, Any],
) -> None:
    articles, table = sample_index
    vectors = article_vectors(table)
    assert set(vectors) == set(articles["id"])
    norms = np.linalg.norm(np.stack(list(vectors.values())), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)


def test_sample_windows_are_the_corpus_last_four_weeks(sample_trends: TrendReport) -> None:
    assert sample_trends.windows.recent_until.date().isoformat() == "2026-11-20"
    assert sample_trends.recent_articles > sample_trends.previous_articles > 0
    assert sample_trends.undated_excluded > 0
    assert sample_trends.unindexed_excluded == 0


def test_sample_topics_are_found_and_labelled(sample_trends: TrendReport) -> None:
    assert len(sample_trends.topics) >= 3
    assert all(topic.label_terms for topic in sample_trends.topics)
    assert all(topic.recent_articles >= 2 for topic in sample_trends.topics)
    labels = " | ".join(topic.label for topic in sample_trends.topics)
    assert "stablecoin" in labels


@pytest.mark.parametrize("name", ["AI regulation", "Agentic AI"])
def test_sample_megatrends_written_to_grow_do_grow(sample_trends: TrendReport, name: str) -> None:
    measure = next(m for m in sample_trends.megatrends if m.name == name)
    assert measure.recent_share is not None and measure.previous_share is not None
    assert measure.recent_share > measure.previous_share
    assert measure.recent_matches > measure.previous_matches


def test_sample_seed_only_megatrend_matches_by_meaning(sample_trends: TrendReport) -> None:
    pricing = next(m for m in sample_trends.megatrends if m.name == "AI pricing and unit economics")
    assert pricing.recent_matches > 0
    assert pricing.recent_matches < sample_trends.recent_articles / 2
