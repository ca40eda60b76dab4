"""Why: each story must be one canonical article that knows who covered it; syndicated
copies must be found, and different stories (even short, similar ones) must not merge."""

from __future__ import annotations

from datetime import UTC, datetime

from prosora_pipelines.lib.articles import Article, content_hash, stable_id
from prosora_pipelines.lib.dedup import deduplicate, jaccard, shingles

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
) -> Article:
    url = url or f"https://{source}.example/{article_id}"
    return Article(
        id=stable_id("url", url),
        source_id=source,
        url=url,
        canonical_url=url,
        guid=None,
        title=title,
        title_derived=False,
        summary=text[:100],
        text=text,
        author=None,
        published_at=datetime(2026, 11, 1, tzinfo=UTC),
        date_status="ok",  # type: ignore[arg-type]
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
