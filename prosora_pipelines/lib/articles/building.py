"""Articles: clean, identified, source-weighted records built from raw entries.

An article's id comes from its canonical URL (or, without a usable link, from its source and
entry key), so the same page seen twice is the same article. Its content hash covers the
normalised title and text, so the same text under two URLs can be recognised as one.

Entries that carry nothing a reader could use are dropped with a reason, and links that are
not web pages are dropped (the entry keeps its GUID-based id); :class:`BuiltArticles` counts
both so the articles step can report them.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

import polars as pl

from prosora_pipelines.lib.articles.canonical_url import canonicalize_url, is_article_url
from prosora_pipelines.lib.articles.html_text import html_to_text, text_to_single_line
from prosora_pipelines.lib.articles.published_dates import DateStatus, plausible
from prosora_pipelines.lib.sources.catalog import Source, SourceKind
from prosora_pipelines.lib.sources.raw_entries import RawEntry

SUMMARY_CHARACTERS = 400
FALLBACK_TITLE_CHARACTERS = 90
_WORD = re.compile(r"\w+", re.UNICODE)
# Cleaning decodes every entity HTML knows, so what is left of this shape was declared by the
# document's own DTD (a billion-laughs feed's ``&lol9;``), and feedparser leaves it unexpanded.
_ENTITY_REFERENCE = re.compile(r"&[A-Za-z_:][\w.:-]*;")


class DropReason(StrEnum):
    """Why an entry became no article."""

    EMPTY = "empty after cleaning"
    ENTITY_ONLY = "only unexpanded entity references"


class EntryDroppedError(ValueError):
    """The entry carries nothing a reader could use; ``reason`` says why."""

    def __init__(self, reason: DropReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass
class Article:
    """One article. Duplicate bookkeeping is filled in by :mod:`dedup`."""

    id: str
    source_id: str
    url: str
    canonical_url: str
    guid: str | None
    entry_key: str
    title: str
    title_derived: bool
    summary: str
    text: str
    author: str | None
    published_at: datetime | None
    date_status: DateStatus
    fetched_at: datetime
    tier: str
    credibility: float
    domains: tuple[str, ...]
    content_hash: str
    word_count: int
    duplicate_of: str | None = None
    also_published_by: tuple[str, ...] = ()
    also_published_urls: tuple[str, ...] = ()
    coverage_sources: tuple[str, ...] = field(default_factory=tuple)
    coverage_tiers: tuple[str, ...] = field(default_factory=tuple)


def stable_id(namespace: str, value: str) -> str:
    """A short, stable identifier: 20 hex characters of SHA-256."""
    return hashlib.sha256(f"{namespace}:{value}".encode()).hexdigest()[:20]


def normalized_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_hash(title: str, text: str) -> str:
    """Hash of title and text with case, punctuation and spacing ignored."""
    normalized = " ".join(normalized_words(title)) + "\n" + " ".join(normalized_words(text))
    return hashlib.sha256(normalized.encode()).hexdigest()


def _derived_title(text: str) -> str:
    line = text_to_single_line(text)
    if len(line) <= FALLBACK_TITLE_CHARACTERS:
        return line
    cut = line[:FALLBACK_TITLE_CHARACTERS].rsplit(" ", 1)[0]
    return cut + "…"


def _summary(summary_text: str, text: str) -> str:
    summary = text_to_single_line(summary_text or text)
    if len(summary) <= SUMMARY_CHARACTERS:
        return summary
    return summary[:SUMMARY_CHARACTERS].rsplit(" ", 1)[0] + "…"


def _only_entity_references(text: str) -> bool:
    return bool(text) and not _ENTITY_REFERENCE.sub("", text).strip()


def article_from_entry(entry: RawEntry, source: Source, *, earliest_published: date) -> Article:
    """Build the article of a raw entry, or raise :class:`EntryDroppedError`.

    An entry is dropped when neither title nor text is left after cleaning, and when its
    title is only unexpanded entity references: the title is what the document declared an
    entity for, so its text (often a filler such as ``x``) cannot stand in for it either.
    A text of only entity references counts as no text. A link that :func:`is_article_url`
    refuses is ignored, as if the entry had none.
    """
    content_text = html_to_text(entry.content_html)
    summary_text = html_to_text(entry.summary_html)
    text = content_text if len(content_text) >= len(summary_text) else summary_text
    title = text_to_single_line(html_to_text(entry.title))
    text_is_entities = _only_entity_references(text)
    if _only_entity_references(title) or (not title and text_is_entities):
        raise EntryDroppedError(DropReason.ENTITY_ONLY)
    if text_is_entities:
        text = summary_text = ""
    title_derived = False
    if not title:
        if not text:
            raise EntryDroppedError(DropReason.EMPTY)
        title, title_derived = _derived_title(text), True
    from_mailbox = source.kind is SourceKind.MAILBOX
    if entry.link and is_article_url(entry.link, source.url, from_mailbox=from_mailbox):
        url = entry.link
        canonical = canonicalize_url(url)
        article_id = stable_id("url", canonical)
    else:
        url = source.url
        canonical = canonicalize_url(url)
        article_id = stable_id("guid", f"{source.id}\n{entry.entry_key}")
    published_at, date_status = plausible(
        entry.published_at, entry.date_status, earliest=earliest_published
    )
    return Article(
        id=article_id,
        source_id=source.id,
        url=url,
        canonical_url=canonical,
        guid=entry.guid,
        entry_key=entry.entry_key,
        title=title,
        title_derived=title_derived,
        summary=_summary(summary_text, text),
        text=text or title,
        author=text_to_single_line(entry.author) if entry.author else None,
        published_at=published_at,
        date_status=date_status,
        fetched_at=entry.fetched_at,
        tier=source.tier.value,
        credibility=source.credibility,
        domains=source.domains,
        content_hash=content_hash(title, text),
        word_count=len(normalized_words(text)),
    )


@dataclass
class BuiltArticles:
    """The articles of a set of raw entries, and what was left out on the way."""

    articles: list[Article]
    dropped: Counter[DropReason] = field(default_factory=Counter)
    """Entries that became no article, by reason."""
    rejected_links: int = 0
    """Entries whose link was not a web page, so their article fell back to the GUID id."""


def build_articles(
    entries: Iterable[RawEntry], sources: Mapping[str, Source], *, earliest_published: date
) -> BuiltArticles:
    """Articles for the entries whose source is still in the catalog."""
    built = BuiltArticles(articles=[])
    for entry in entries:
        source = sources.get(entry.source_id)
        if source is None:
            continue
        try:
            article = article_from_entry(entry, source, earliest_published=earliest_published)
        except EntryDroppedError as dropped:
            built.dropped[dropped.reason] += 1
            continue
        if entry.link and article.url != entry.link:
            built.rejected_links += 1
        built.articles.append(article)
    return built


ARTICLE_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "source_id": pl.String(),
    "url": pl.String(),
    "canonical_url": pl.String(),
    "guid": pl.String(),
    "entry_key": pl.String(),
    "title": pl.String(),
    "title_derived": pl.Boolean(),
    "summary": pl.String(),
    "text": pl.String(),
    "author": pl.String(),
    "published_at": pl.Datetime("us", "UTC"),
    "date_status": pl.String(),
    "fetched_at": pl.Datetime("us", "UTC"),
    "tier": pl.String(),
    "credibility": pl.Float64(),
    "domains": pl.List(pl.String()),
    "content_hash": pl.String(),
    "word_count": pl.Int64(),
    "duplicate_of": pl.String(),
    "also_published_by": pl.List(pl.String()),
    "also_published_urls": pl.List(pl.String()),
    "coverage_sources": pl.List(pl.String()),
    "coverage_tiers": pl.List(pl.String()),
}
REQUIRED_ARTICLE_FIELDS = ("id", "source_id", "url", "canonical_url", "title", "text", "fetched_at")


def articles_frame(articles: Iterable[Article]) -> pl.DataFrame:
    rows = [
        {
            name: list(value) if isinstance(value := getattr(article, name), tuple) else value
            for name in ARTICLE_SCHEMA
        }
        for article in articles
    ]
    return pl.DataFrame(rows, schema=ARTICLE_SCHEMA)
