"""Duplicate detection: one canonical article per story, and who else covered it.

Exact duplicates (same canonical URL, or same content hash under another URL) collapse
into one article. Near-duplicates, the same story syndicated with small edits, are found
with MinHash LSH (datasketch) over word 5-shingles of the text (titles are often
rewritten by the syndicating site, so they are left out) and confirmed with the exact Jaccard
similarity of the shingle sets; at or above the threshold (default 0.7) two articles are
one story. The copy from the most credible source (then the higher tier, the earliest
plausible publication, the smaller source id, the smaller entry key) stays canonical; the
others record ``duplicate_of``. Source and entry key identify a copy, so this order is total
and the same entries give the same canonical copies whatever order they arrive in (copies of
one URL share their article id, so the id cannot break a tie). Every canonical article
counts the sources and tiers that covered its story.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from datasketch import MinHash, MinHashLSH

from prosora_pipelines.lib.articles.building import Article, normalized_words

SHINGLE_WORDS = 5
MIN_SHINGLES = 12
NUM_PERMUTATIONS = 128
LSH_THRESHOLD_FACTOR = 0.8
_TIER_RANK = {"premium": 0, "standard": 1, "experimental": 2}
_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DedupReport:
    input_articles: int
    exact_url_duplicates: int
    exact_content_duplicates: int
    near_duplicates: int
    stories: int

    @property
    def duplicate_rate(self) -> float:
        duplicates = (
            self.exact_url_duplicates + self.exact_content_duplicates + self.near_duplicates
        )
        return duplicates / self.input_articles if self.input_articles else 0.0


def _preference(article: Article) -> tuple[float, int, datetime, str, str]:
    """Sort key of the copies of one story, most preferred first; undated copies come last."""
    return (
        -article.credibility,
        _TIER_RANK.get(article.tier, len(_TIER_RANK)),
        article.published_at or _FAR_FUTURE,
        article.source_id,
        article.entry_key,
    )


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[str]:
    words = normalized_words(text)
    if len(words) < size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[index : index + size]) for index in range(len(words) - size + 1)}


def jaccard(left: set[str], right: set[str]) -> float:
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def _collapse(articles: Iterable[Article], key_of: str) -> tuple[list[Article], int]:
    """Merge articles sharing ``key_of``; the preferred copy absorbs the others' sources."""
    groups: dict[str, list[Article]] = defaultdict(list)
    for article in articles:
        groups[getattr(article, key_of)].append(article)
    kept: list[Article] = []
    merged = 0
    for group in groups.values():
        group.sort(key=_preference)
        keeper, others = group[0], group[1:]
        if others:
            merged += len(others)
            publishers = {*keeper.also_published_by}
            urls = {*keeper.also_published_urls}
            for other in others:
                publishers.update({other.source_id, *other.also_published_by})
                urls.update({other.url, *other.also_published_urls})
            publishers.discard(keeper.source_id)
            urls.discard(keeper.url)
            keeper = replace(
                keeper,
                also_published_by=tuple(sorted(publishers)),
                also_published_urls=tuple(sorted(urls)),
            )
        kept.append(keeper)
    return kept, merged


class _UnionFind:
    def __init__(self, items: Sequence[str]) -> None:
        self.parent = {item: item for item in items}

    def find(self, item: str) -> str:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, left: str, right: str) -> None:
        self.parent[self.find(left)] = self.find(right)


def _near_duplicate_groups(articles: Sequence[Article], threshold: float) -> list[list[Article]]:
    """Stories of two or more articles: linked when the exact Jaccard of their shingles
    reaches ``threshold``, among the pairs the LSH bands propose (and transitively).

    Each band bucket keeps its articles by the story they belong to, so a new article is
    compared with each other story in its bucket only until one member matches; a story
    it already belongs to is skipped. Without this, a feed of many similar items (one
    template, a shared footer) compared every item with every earlier one.
    """
    shingle_sets = {a.id: shingles(a.text) for a in articles}
    candidates = [a for a in articles if len(shingle_sets[a.id]) >= MIN_SHINGLES]
    # The bands only propose candidates; the exact Jaccard decides. They are tuned below the
    # threshold and weighted against misses, since a missed pair cannot be recovered later.
    bands = MinHashLSH(
        threshold=threshold * LSH_THRESHOLD_FACTOR,
        num_perm=NUM_PERMUTATIONS,
        weights=(0.2, 0.8),
    ).hashranges
    signatures = MinHash.generator(
        ([s.encode() for s in shingle_sets[a.id]] for a in candidates),
        num_perm=NUM_PERMUTATIONS,
        seed=1,
    )
    union = _UnionFind([a.id for a in candidates])
    buckets: list[dict[bytes, dict[str, list[str]]]] = [{} for _ in bands]
    for article, signature in zip(candidates, signatures, strict=True):
        mine = shingle_sets[article.id]
        keys = [signature.hashvalues[start:end].tobytes() for start, end in bands]
        for band, key in zip(buckets, keys, strict=True):
            bucket = band.get(key)
            if bucket is None:
                continue
            for story, members in _stories_now(bucket, union).items():
                if story == union.find(article.id):
                    continue
                if any(jaccard(mine, shingle_sets[member]) >= threshold for member in members):
                    union.union(article.id, story)
        story = union.find(article.id)
        for band, key in zip(buckets, keys, strict=True):
            band.setdefault(key, {}).setdefault(story, []).append(article.id)
    groups: dict[str, list[Article]] = defaultdict(list)
    for article in candidates:
        groups[union.find(article.id)].append(article)
    return [group for group in groups.values() if len(group) > 1]


def _stories_now(bucket: dict[str, list[str]], union: _UnionFind) -> dict[str, list[str]]:
    """The bucket regrouped in place by current story, stories having merged since."""
    for story in list(bucket):
        current = union.find(story)
        if current == story:
            continue
        moved = bucket.pop(story)
        kept = bucket.setdefault(current, [])
        if len(kept) < len(moved):
            kept, moved = moved, kept
            bucket[current] = kept
        kept.extend(moved)
    return bucket


def deduplicate(articles: Sequence[Article], threshold: float) -> tuple[list[Article], DedupReport]:
    """Collapse exact duplicates, mark near-duplicates, and count each story's coverage."""
    tier_of_source = {article.source_id: article.tier for article in articles}
    by_url, url_duplicates = _collapse(articles, "id")
    by_content, content_duplicates = _collapse(by_url, "content_hash")
    result = {article.id: article for article in by_content}
    near = 0
    for group in _near_duplicate_groups(by_content, threshold):
        group.sort(key=_preference)
        keeper = group[0]
        for other in group[1:]:
            result[other.id] = replace(other, duplicate_of=keeper.id)
            near += 1
    story_sources: dict[str, set[str]] = defaultdict(set)
    for article in result.values():
        story_sources[article.duplicate_of or article.id].update(
            (article.source_id, *article.also_published_by)
        )
    coverage: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for story, sources in story_sources.items():
        tiers = {tier_of_source[source] for source in sources}
        coverage[story] = (
            tuple(sorted(sources)),
            tuple(sorted(tiers, key=lambda t: _TIER_RANK.get(t, 9))),
        )
    final: list[Article] = []
    for article in result.values():
        sources_covering, tiers_covering = coverage[article.duplicate_of or article.id]
        final.append(
            replace(article, coverage_sources=sources_covering, coverage_tiers=tiers_covering)
        )
    final.sort(key=lambda a: a.id)
    report = DedupReport(
        input_articles=len(articles),
        exact_url_duplicates=url_duplicates,
        exact_content_duplicates=content_duplicates,
        near_duplicates=near,
        stories=sum(1 for article in final if article.duplicate_of is None),
    )
    return final, report
