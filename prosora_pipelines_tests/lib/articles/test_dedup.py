"""Why: each story must be one canonical article that knows who covered it; syndicated
copies must be found, and different stories (even short, similar ones) must not merge. The
same entries must give the same tables whatever order they arrive in, or unchanged feeds
would switch canonical copies (and re-encode their chunks) from run to run."""

from __future__ import annotations

import dataclasses
import itertools
import random
from datetime import UTC, date, datetime

import polars as pl
from polars.testing import assert_frame_equal

from prosora_pipelines.lib.articles.building import (
    Article,
    articles_frame,
    build_articles,
    content_hash,
    stable_id,
)
from prosora_pipelines.lib.articles.dedup import deduplicate, jaccard, shingles
from prosora_pipelines.lib.articles.published_dates import DateStatus
from prosora_pipelines.lib.index.article_embedding import article_chunks
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.sample_corpus import ingest_sample
from prosora_pipelines.lib.sources.catalog import load_catalog
from prosora_pipelines.lib.sources.raw_entries import RawEntry
from prosora_pipelines.settings import SAMPLE_CATALOG

EARLIEST_PUBLISHED = date(1990, 1, 1)

STORY = (
    "Regulators in Brussels published guidance on Tuesday explaining how the AI Act applies "
    "to credit scoring models used by lenders and payment firms. The guidance says that "
    "providers must document training data, monitor drift and give applicants a meaningful "
    "explanation when an automated decision goes against them. Lenders have until the end "
    "of next year to comply, and supervisors expect the largest banks to move first. "
    "Fintech firms that license scoring models from vendors will share the obligations. "
    "Several trade groups welcomed the clarity but warned that smaller lenders lack the staff "
    "to run the required monitoring, and asked for templates and a longer transition. One "
    "compliance chief said her team had already mapped forty models against the new rules "
    "and found that most of the work lies in documentation rather than in changing models. "
    "Consumer advocates argued the explanation duty should cover pricing decisions as well."
)


def _article(
    article_id: str,
    source: str,
    text: str,
    *,
    title: str = "AI Act guidance for credit scoring",
    credibility: float = 0.8,
    tier: str = "standard",
    url: str | None = None,
    published_at: datetime | None = datetime(2026, 11, 1, tzinfo=UTC),
) -> Article:
    url = url or f"https://{source}.example/{article_id}"
    return Article(
        id=stable_id("url", url),
        source_id=source,
        url=url,
        canonical_url=url,
        guid=None,
        entry_key=f"link:{url}",
        title=title,
        title_derived=False,
        summary=text[:100],
        text=text,
        author=None,
        published_at=published_at,
        date_status=DateStatus.OK if published_at else DateStatus.MISSING,
        fetched_at=datetime(2026, 11, 2, tzinfo=UTC),
        tier=tier,
        credibility=credibility,
        domains=("policy",),
        content_hash=content_hash(title, text),
        word_count=len(text.split()),
    )


def test_same_canonical_url_collapses_to_most_credible_copy() -> None:
    low = _article("a", "pulse", STORY, credibility=0.7, url="https://ledger.example/story")
    high = _article(
        "a", "ledger", STORY, credibility=0.9, tier="premium", url="https://ledger.example/story"
    )
    result, report = deduplicate([low, high], threshold=0.7)
    assert len(result) == 1
    assert result[0].source_id == "ledger"
    assert result[0].also_published_by == ("pulse",)
    assert result[0].coverage_sources == ("ledger", "pulse")
    assert result[0].coverage_tiers == ("premium", "standard")
    assert report.exact_url_duplicates == 1


def test_same_content_under_other_url_collapses() -> None:
    first = _article("a", "policy-wire", STORY, credibility=0.88, tier="premium")
    second = _article("b", "regwatch", STORY, credibility=0.52, tier="experimental")
    result, report = deduplicate([second, first], threshold=0.7)
    assert [a.source_id for a in result] == ["policy-wire"]
    assert report.exact_content_duplicates == 1


def test_syndicated_copy_with_small_edits_is_near_duplicate_of_premium_original() -> None:
    last_sentence = (
        "Consumer advocates argued the explanation duty should cover pricing decisions as well."
    )
    edited = STORY.replace(last_sentence, "").replace("largest banks", "biggest banks")
    edited += "This article first appeared in Ledger Line."
    original = _article("a", "ledger", STORY, credibility=0.9, tier="premium")
    copy = _article(
        "b", "pulse", edited, title="AI Act guidance for credit scorers", credibility=0.74
    )
    result, report = deduplicate([copy, original], threshold=0.7)
    by_source = {a.source_id: a for a in result}
    assert by_source["pulse"].duplicate_of == by_source["ledger"].id
    assert by_source["ledger"].duplicate_of is None
    assert by_source["ledger"].coverage_sources == ("ledger", "pulse")
    assert by_source["pulse"].coverage_sources == ("ledger", "pulse")
    assert report.near_duplicates == 1
    assert report.stories == 1


def test_different_stories_on_same_topic_stay_apart() -> None:
    other = (
        "A consortium of payment companies announced a shared sandbox for testing fraud models "
        "against synthetic transaction data. Members will contribute anonymised patterns and "
        "the sandbox will publish quarterly benchmark results. The group expects regulators to "
        "observe the first round of tests, which begins in January with eleven participants."
    )
    result, report = deduplicate(
        [_article("a", "ledger", STORY), _article("b", "pulse", other, title="Fraud sandbox")],
        threshold=0.7,
    )
    assert all(a.duplicate_of is None for a in result)
    assert report.near_duplicates == 0


def test_short_boilerplate_items_do_not_merge() -> None:
    items = [_article(str(n), "hn", "Comments", title=f"Show HN: project {n}") for n in range(5)]
    result, report = deduplicate(items, threshold=0.7)
    assert len(result) == 5
    assert report.exact_content_duplicates == 0 and report.near_duplicates == 0


def test_shingles_and_jaccard() -> None:
    assert jaccard(shingles(STORY), shingles(STORY)) == 1.0
    assert jaccard(set(), shingles(STORY)) == 0.0
    assert shingles("one two") == {"one two"}


def test_equal_copies_of_one_url_choose_the_same_canonical_in_every_order() -> None:
    """A feed's RSS and Atom versions: same credibility, tier and date, so only the source
    id (then the entry key) can decide, never the order the copies arrive in."""
    url = "https://ledger.example/story"
    copies = [
        _article("a", "ledger-rss", STORY, url=url),
        _article("a", "ledger-atom", STORY, url=url),
        dataclasses.replace(
            _article("a", "ledger-atom", STORY, url=url), entry_key="guid:the-same-page-again"
        ),
    ]
    kept_copies = []
    for order in itertools.permutations(copies):
        [kept], report = deduplicate(list(order), threshold=0.7)
        assert report.exact_url_duplicates == 2
        kept_copies.append(kept)
    assert {(kept.source_id, kept.entry_key) for kept in kept_copies} == {
        ("ledger-atom", "guid:the-same-page-again")
    }
    assert all(kept == kept_copies[0] for kept in kept_copies)
    assert kept_copies[0].also_published_by == ("ledger-rss",)


def test_implausibly_early_copy_never_wins_the_tie() -> None:
    """A copy dated 1900 is not the earliest publication: it counts as undated."""

    def entry(source_id: str, published: datetime) -> RawEntry:
        return RawEntry(
            source_id=source_id,
            entry_key=f"guid:{source_id}",
            link="https://ledger.example/story",
            guid=source_id,
            title="AI Act guidance for credit scoring",
            summary_html=STORY,
            content_html="",
            author=None,
            published_at=published,
            date_status=DateStatus.OK,
            date_raw=published.isoformat(),
            fetched_at=datetime(2026, 11, 2, tzinfo=UTC),
            origin="rss20",
        )

    catalog = load_catalog(SAMPLE_CATALOG)
    template = catalog.sources[0]
    sources = {
        name: template.model_copy(update={"id": name, "credibility": 0.8})
        for name in ("zeta-wire", "alpha-wire")
    }
    built = build_articles(
        [
            entry("zeta-wire", datetime(1900, 1, 1, tzinfo=UTC)),
            entry("alpha-wire", datetime(2026, 11, 1, tzinfo=UTC)),
        ],
        sources,
        earliest_published=EARLIEST_PUBLISHED,
    )
    dated = {a.source_id: (a.published_at, a.date_status) for a in built.articles}
    assert dated["zeta-wire"] == (None, DateStatus.IMPLAUSIBLE)
    [kept], _ = deduplicate(built.articles, threshold=0.7)
    assert kept.source_id == "alpha-wire"
    assert kept.also_published_by == ("zeta-wire",)


def test_shuffled_entries_give_identical_articles_and_chunks(embedder: Embedder) -> None:
    """The sample corpus, with each feed also served under a second source id of the same
    credibility and tier (as a publisher's RSS and Atom versions are), in several orders."""
    catalog = load_catalog(SAMPLE_CATALOG)
    sources = {s.id: s for s in catalog.sources}
    twins = {f"{s.id}-atom": s.model_copy(update={"id": f"{s.id}-atom"}) for s in catalog.sources}
    entries = ingest_sample().entries
    entries += [dataclasses.replace(e, source_id=f"{e.source_id}-atom") for e in entries]

    def tables(order: list[RawEntry]) -> tuple[pl.DataFrame, pl.DataFrame]:
        built = build_articles(order, {**sources, **twins}, earliest_published=EARLIEST_PUBLISHED)
        articles = articles_frame(deduplicate(built.articles, threshold=0.7)[0])
        chunks = pl.DataFrame(
            article_chunks(articles.filter(pl.col("duplicate_of").is_null()), embedder)
        )
        return articles, chunks

    expected_articles, expected_chunks = tables(entries)
    collapsed = expected_articles["also_published_by"].explode().drop_nulls()
    assert collapsed.str.ends_with("-atom").sum() >= len(catalog.sources) // 2
    for seed in range(3):
        shuffled = entries.copy()
        random.Random(seed).shuffle(shuffled)
        articles, chunks = tables(shuffled)
        assert_frame_equal(articles, expected_articles)
        assert_frame_equal(chunks, expected_chunks)
