"""Web sources: article links from an index page, and the main text of each article page.

Main-text extraction is trafilatura's job (a maintained extractor that beats hand-written
boilerplate rules); this module only adds what trafilatura leaves to the caller: which
links on an index are articles, the page's canonical URL, and a published instant with
its time of day when the page's metadata carries one.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit

import trafilatura
from bs4 import BeautifulSoup

from prosora_pipelines.lib.articles.published_dates import resolve_published
from prosora_pipelines.lib.sources.raw_entries import RawEntry, entry_key_for

_PUBLISHED_META = (
    ("property", "article:published_time"),
    ("name", "article:published_time"),
    ("itemprop", "datePublished"),
    ("name", "date"),
    ("name", "pubdate"),
)


class PageRejectedError(ValueError):
    """The page holds no article text; the message says why."""


def find_article_links(html: str, page_url: str, pattern: str | None) -> list[str]:
    """Absolute links on an index page that look like articles, in page order, unique.

    With a ``pattern`` a link is an article when the pattern matches its absolute URL;
    without one, every same-host link deeper than the index page counts.
    """
    soup = BeautifulSoup(html, "lxml")
    index = urlsplit(page_url)
    index_dir = index.path.rsplit("/", 1)[0] + "/"
    matcher = re.compile(pattern) if pattern else None
    links: list[str] = []
    for anchor in soup.find_all("a", href=True):
        absolute = urljoin(page_url, str(anchor["href"])).split("#", 1)[0]
        parts = urlsplit(absolute)
        if parts.scheme not in {"http", "https", "file"} or absolute == page_url:
            continue
        if matcher is not None:
            keep = bool(matcher.search(absolute))
        else:
            keep = (
                parts.netloc == index.netloc
                and parts.path.startswith(index_dir)
                and parts.path.rstrip("/") != index_dir.rstrip("/")
            )
        if keep and absolute not in links:
            links.append(absolute)
    return links


def _head_metadata(soup: BeautifulSoup) -> tuple[str | None, str | None]:
    canonical_tag = soup.find("link", rel="canonical", href=True)
    canonical = str(canonical_tag["href"]).strip() if canonical_tag else None
    for attribute, value in _PUBLISHED_META:
        tag = soup.find("meta", attrs={attribute: value, "content": True})
        if tag:
            return canonical, str(tag["content"])
    time_tag = soup.find("time", datetime=True)
    return canonical, (str(time_tag["datetime"]) if time_tag else None)


def extract_article_page(
    html: str,
    *,
    source_id: str,
    page_url: str,
    fetched_at: datetime,
    allowed_skew: timedelta,
) -> RawEntry:
    """One raw entry for an article page; raise :class:`PageRejectedError` when it has no text."""
    soup = BeautifulSoup(html, "lxml")
    canonical, published_raw = _head_metadata(soup)
    link = urljoin(page_url, canonical) if canonical else page_url
    document = trafilatura.bare_extraction(
        html,
        url=link,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        favor_precision=True,
    )
    if document is None:
        raise PageRejectedError("no main text found on the page")
    if not isinstance(document, dict):
        document = document.as_dict()
    if not (document.get("text") or "").strip():
        raise PageRejectedError("no main text found on the page")
    title = str(document.get("title") or "").strip()
    text = str(document["text"]).strip()
    first_line, _, rest = text.partition("\n")
    if title and first_line.strip() == title and rest.strip():
        text = rest.strip()
    published = resolve_published(
        published_raw or document.get("date"),
        None,
        fetched_at=fetched_at,
        allowed_skew=allowed_skew,
    )
    summary = str(document.get("description") or "")
    return RawEntry(
        source_id=source_id,
        entry_key=entry_key_for(None, link, title, summary),
        link=link,
        guid=None,
        title=title,
        summary_html=summary,
        content_html=text,
        author=document.get("author") or None,
        published_at=published.at,
        date_status=published.status,
        date_raw=published.raw,
        fetched_at=fetched_at,
        origin="web",
    )
