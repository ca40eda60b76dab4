"""Why: a feed of thousands of similar items (one template, a shared footer) must not make
the articles step compare every item with every earlier one, and finding stories faster
must not change which articles form a story."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest

from prosora_pipelines.lib.articles import dedup
from prosora_pipelines.lib.articles.building import Article, content_hash, stable_id
from prosora_pipelines.lib.articles.dedup import deduplicate, jaccard, shingles

THRESHOLD = 0.7
WORDS = [
    "market",
    "rates",
    "lenders",
    "policy",
    "model",
    "guidance",
    "report",
    "growth",
    "chips",
    "cloud",
    "energy",
    "labour",
    "court",
    "budget",
    "trade",
    "data",
    "privacy",
    "security",
    "launch",
    "results",
    "outlook",
]


def _article(index: int, text: str, source: str = "archive") -> Article:
    url = f"https://{source}.example/posts/{index}"
    return Article(
        id=stable_id("url", url),
        source_id=source,
        url=url,
        canonical_url=url,
        guid=None,
        entry_key=f"link:{url}",
        title=f"Post {index}",
        title_derived=False,
        summary=text[:100],
        text=text,
        author=None,
        published_at=datetime(2026, 11, 1, tzinfo=UTC),
        date_status="ok",  # type: ignore[arg-type]
        fetched_at=datetime(2026, 11, 2, tzinfo=UTC),
        tier="standard",
        credibility=0.7,
        domains=("tech",),
        content_hash=content_hash(f"Post {index}", text),
        word_count=len(text.split()),
    )


def _templated(count: int) -> list[Article]:
    body = " ".join(WORDS * 3)
    return [_article(n, f"Post number {n} of the archive. {body}") for n in range(count)]


def test_similar_items_cost_comparisons_in_proportion_to_their_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0

    def counted(left: set[str], right: set[str]) -> float:
        nonlocal calls
        calls += 1
        return jaccard(left, right)

    monkeypatch.setattr(dedup, "jaccard", counted)
    count = 400
    final, report = deduplicate(_templated(count), THRESHOLD)
    assert report.stories == 1 and report.near_duplicates == count - 1
    # Every pair would be count * (count - 1) / 2 = 79,800 comparisons.
    assert calls <= 2 * count
    story = {article.coverage_sources for article in final}
    assert story == {("archive",)}


def _closure_of_pairs(articles: list[Article]) -> set[frozenset[str]]:
    """Stories by brute force: every pair at or above the threshold, taken transitively."""
    sets = {a.id: shingles(a.text) for a in articles}
    eligible = [a.id for a in articles if len(sets[a.id]) >= dedup.MIN_SHINGLES]
    parent = {item: item for item in eligible}

    def find(item: str) -> str:
        while parent[item] != item:
            item = parent[item]
        return item

    for left, right in itertools.combinations(eligible, 2):
        if jaccard(sets[left], sets[right]) >= THRESHOLD:
            parent[find(left)] = find(right)
    groups: dict[str, set[str]] = {}
    for item in eligible:
        groups.setdefault(find(item), set()).add(item)
    return {frozenset(group) for group in groups.values() if len(group) > 1}


def test_stories_are_the_transitive_closure_of_similar_pairs() -> None:
    rng = random.Random(3)
    articles = []
    for _story in range(12):
        base = [rng.choice(WORDS) for _ in range(60)]
        for copy in range(rng.randint(1, 5)):
            # Chains of edits: each copy differs a little from the previous one, so the
            # first and last copies of a story may be less alike than the threshold.
            for _ in range(copy * 2):
                base[rng.randrange(len(base))] = rng.choice(WORDS)
            articles.append(_article(len(articles), " ".join(base), source=f"s{copy}"))
    found = {
        frozenset(a.id for a in group)
        for group in dedup._near_duplicate_groups(articles, THRESHOLD)
    }
    assert found == _closure_of_pairs(articles)
    assert found, "the corpus must contain near-duplicate stories for this test to mean anything"
