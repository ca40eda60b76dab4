"""Why: real publishers' feeds are the input. Every real snapshot must become articles with
titles and links, and every malformed one must be read or rejected with a reason, never
crash the parser. Uses the team's shared snapshots in ../shared/feeds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from prosora_pipelines.lib.articles.building import BuiltArticles, build_articles
from prosora_pipelines.lib.articles.published_dates import DateStatus
from prosora_pipelines.lib.sources.catalog import Source
from prosora_pipelines.lib.sources.feed_parsing import FeedRejectedError, ParsedFeed, parse_feed
from prosora_pipelines_tests.support.shared_data import require_shared, shared_dir

FETCHED = datetime(2026, 11, 22, tzinfo=UTC)
FEED_URL = "https://feeds.example.org/feed.xml"
EARLIEST_PUBLISHED = date(1990, 1, 1)
SOURCE = Source(
    id="corpus",
    name="Corpus",
    url=FEED_URL,
    kind="rss",  # type: ignore[arg-type]
    tier="standard",  # type: ignore[arg-type]
    credibility=0.7,
    domains=("tech",),
)


def _files(folder: str) -> list[str]:
    path = shared_dir() / "feeds" / folder
    names = sorted(p.name for p in path.glob("*") if p.suffix in {".xml", ".gz"})
    return names or ["<absent>"]


def _articles(parsed: ParsedFeed) -> BuiltArticles:
    return build_articles(
        parsed.entries, {SOURCE.id: SOURCE}, earliest_published=EARLIEST_PUBLISHED
    )


def _parse(path: Path) -> ParsedFeed:
    return parse_feed(
        path.read_bytes(),
        source_id="corpus",
        url=FEED_URL,
        fetched_at=FETCHED,
        allowed_skew=timedelta(hours=2),
    )


@pytest.mark.parametrize("name", _files("real"))
def test_real_feed_becomes_articles_with_titles_and_links(name: str) -> None:
    folder = require_shared("feeds/real")
    parsed = _parse(folder / name)
    assert parsed.entries, f"{name}: no entries"
    built = _articles(parsed)
    assert not built.dropped, f"{name}: entries dropped: {built.dropped}"
    for article in built.articles:
        assert article.title.strip(), f"{name}: empty title for {article.url}"
        assert article.url.startswith(("http://", "https://")), f"{name}: bad link {article.url}"
        assert article.date_status is not DateStatus.FUTURE, f"{name}: {article.url}"


@pytest.mark.parametrize("name", _files("tricky"))
def test_tricky_feed_is_read_or_rejected_with_a_reason(name: str) -> None:
    folder = require_shared("feeds/tricky")
    try:
        parsed = _parse(folder / name)
    except FeedRejectedError as rejection:
        assert str(rejection).strip(), f"{name}: rejected without a reason"
        return
    assert parsed.entries, f"{name}: accepted with no entries"
    articles = _articles(parsed).articles
    assert articles, f"{name}: no usable articles"
    for article in articles:
        assert article.title.strip()
        assert "\x02" not in article.text and "\x03" not in article.text


def _tricky(name: str) -> ParsedFeed:
    return _parse(require_shared("feeds/tricky") / name)


def test_truncated_and_mangled_documents_are_rejected_with_reasons() -> None:
    for name in ("reuters-mostread-truncated.xml", "dylanharris-double-xml-decl.xml"):
        with pytest.raises(FeedRejectedError, match="no entries could be read"):
            _tricky(name)


def test_gzip_body_is_gunzipped_and_recorded_as_a_repair() -> None:
    parsed = _tricky("nshipster-gzip-body.xml.gz")
    assert len(parsed.entries) == 25
    assert parsed.repairs == ["gunzipped a body served without Content-Encoding"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("golem-iso-8859-1.xml", "ä|ö|ü|ß"),
        ("ibash-windows-1251.xml", "Цитата"),
        ("kc0011-investment-forum-gb2312.xml", "纪念"),
        ("cerclepsy-latin1-no-encoding-decl.xml", "é"),
    ],
)
def test_legacy_encodings_decoded(name: str, expected: str) -> None:
    import re

    text = " ".join(e.title + " " + e.summary_html for e in _tricky(name).entries)
    assert re.search(expected, text), name
    assert "\ufffd" not in text


def test_links_made_absolute() -> None:
    schemeless = _tricky("coghlan-schemeless-links.xml").entries[0].link
    assert schemeless is not None and schemeless.startswith("https://coghlan.me/")
    for name in ("kopias-blog-relative-links.xml", "makeartwithpython-atom-relative-links.xml"):
        for entry in _tricky(name).entries:
            assert entry.link and entry.link.startswith("https://"), (name, entry.link)


def test_items_without_link_use_permalink_guid() -> None:
    entries = _tricky("huggingface-blog-items-without-link.xml").entries
    assert len(entries) == 175
    assert all(e.link == e.guid and e.link.startswith("https://") for e in entries)


def test_duplicate_and_empty_guids() -> None:
    repeated = _tricky("almonitor-duplicate-guids.xml").entries
    assert len({e.entry_key for e in repeated}) == len(repeated)
    empty_guids = _tricky("boston-com-empty-guids.xml").entries
    assert len({e.entry_key for e in empty_guids}) == len(empty_guids) == 10


def test_missing_dates_are_flagged_not_invented() -> None:
    for entry in _tricky("django-community-no-dates.xml").entries:
        assert entry.published_at is None and entry.date_status is DateStatus.MISSING
