"""Feed documents (RSS 0.9x/1.0/2.0, RDF, Atom) into raw entries, surviving real-world mess.

feedparser does the parsing, including bozo feeds that still carry items. Before giving
up on a document we try the repairs real feeds need: gunzip a body whose encoding header
was lost, drop whitespace before the XML declaration, and ignore an encoding declaration
that contradicts the bytes. A document that yields no feed is rejected with a reason;
nothing here raises anything else.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import feedparser

from prosora_pipelines.lib.canonical_url import absolute_url
from prosora_pipelines.lib.published_dates import resolve_published
from prosora_pipelines.lib.raw_entries import RawEntry, entry_key_for

_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_MAX_GUNZIPPED_BYTES = 50 * 1024 * 1024
_URL_LIKE = re.compile(r"^(https?://|//|www\.)", re.IGNORECASE)


class FeedRejectedError(ValueError):
    """The document is not a usable feed; the message says why."""


@dataclass(frozen=True)
class ParsedFeed:
    flavour: str
    title: str
    link: str | None
    entries: list[RawEntry]
    repairs: list[str] = field(default_factory=list)
    warning: str | None = None
    skipped: list[str] = field(default_factory=list)


def _gunzip(body: bytes) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = decompressor.decompress(body, _MAX_GUNZIPPED_BYTES)
    if decompressor.unconsumed_tail:
        raise FeedRejectedError("gzip body expands past the size limit")
    return data


def _repaired_documents(body: bytes) -> Iterator[tuple[str, bytes]]:
    """The body as served, then the repairs worth trying, each with its name."""
    yield "", body
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped != body:
        yield "leading whitespace removed", stripped
    without_declaration = _XML_DECLARATION.sub(b"", stripped, count=1)
    if without_declaration != stripped:
        try:
            text = without_declaration.decode("utf-8")
        except UnicodeDecodeError:
            text = without_declaration.decode("latin-1")
        yield "contradictory encoding declaration ignored", text.encode("utf-8")


def _parse(document: bytes, content_type: str) -> Any:
    # No base URL is given: feedparser would join schemeless links ("host.tld/post") to it
    # as paths; links are made absolute here instead, by ``absolute_url``.
    return feedparser.parse(
        document,
        sanitize_html=False,
        resolve_relative_uris=False,
        response_headers={"content-type": content_type},
    )


def _best_parse(body: bytes, content_type: str) -> tuple[Any, list[str]]:
    repairs: list[str] = []
    if body[:2] == b"\x1f\x8b":
        try:
            body = _gunzip(body)
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise FeedRejectedError(f"body looks gzipped but does not decompress: {exc}") from None
        repairs.append("gunzipped a body served without Content-Encoding")
    best: Any = None
    best_repairs = repairs
    for repair, document in _repaired_documents(body):
        parsed = _parse(document, content_type)
        steps = [*repairs, repair] if repair else repairs
        if best is None or len(parsed.entries) > len(best.entries):
            best, best_repairs = parsed, steps
        if parsed.entries and not parsed.bozo:
            break
    return best, best_repairs


def _first(entry: Any, *names: str) -> Any:
    for name in names:
        # dict.get skips feedparser's deprecated published/updated aliasing (and its warning).
        value = dict.get(entry, name)
        if value:
            return value
    return None


def _entry_link(entry: Any, base: str | None) -> str | None:
    """The entry's page: its link, else a permalink GUID, else its enclosure (podcasts)."""
    links = entry.get("links") or []
    link = entry.get("link") or next(
        (c["href"] for c in links if c.get("href") and c.get("rel", "alternate") == "alternate"),
        None,
    )
    guid = entry.get("id")
    if not link and guid and (entry.get("guidislink") or _URL_LIKE.match(guid)):
        link = guid
    if not link:
        link = next((c["href"] for c in links if c.get("href")), None)
    return absolute_url(link, base) if link else None


def _entry_content(entry: Any) -> str:
    contents = entry.get("content") or []
    values = [str(item.get("value") or "") for item in contents]
    return max(values, key=len) if values else ""


def _feed_base(parsed: Any, url: str) -> str:
    """The URL entry links are relative to: the channel's link made absolute, else the feed's."""
    channel_link = parsed.feed.get("link")
    if not channel_link:
        return url
    resolved = absolute_url(str(channel_link), url)
    return resolved if re.match(r"^(https?|file)://", resolved) else url


def parse_feed(
    body: bytes,
    *,
    source_id: str,
    url: str,
    fetched_at: datetime,
    allowed_skew: timedelta,
    content_type: str | None = None,
) -> ParsedFeed:
    """Parse a feed document into raw entries; raise :class:`FeedRejectedError` if none."""
    if not body.strip():
        raise FeedRejectedError("empty body")
    parsed, repairs = _best_parse(body, content_type or "application/xml")
    bozo_reason = str(parsed.get("bozo_exception", "")) if parsed.bozo else None
    if not parsed.entries and (bozo_reason or not parsed.get("version")):
        reason = bozo_reason or "no RSS, RDF or Atom document found"
        raise FeedRejectedError(f"no entries could be read: {reason}")
    base = _feed_base(parsed, url)
    entries: list[RawEntry] = []
    skipped: list[str] = []
    seen_keys: set[str] = set()
    for entry in parsed.entries:
        link = _entry_link(entry, base)
        title = str(entry.get("title") or "")
        summary = str(entry.get("summary") or "")
        guid = entry.get("id") or None
        key = entry_key_for(guid, link, title, summary)
        if key in seen_keys:
            skipped.append(f"{source_id}: repeated entry key {key!r} skipped")
            continue
        seen_keys.add(key)
        raw_date = _first(entry, "published", "updated", "created")
        parsed_date = _first(entry, "published_parsed", "updated_parsed", "created_parsed")
        published = resolve_published(
            raw_date, parsed_date, fetched_at=fetched_at, allowed_skew=allowed_skew
        )
        entries.append(
            RawEntry(
                source_id=source_id,
                entry_key=key,
                link=link,
                guid=guid,
                title=title,
                summary_html=summary,
                content_html=_entry_content(entry),
                author=entry.get("author") or None,
                published_at=published.at,
                date_status=published.status,
                date_raw=published.raw,
                fetched_at=fetched_at,
                origin=str(parsed.get("version") or "unknown"),
            )
        )
    return ParsedFeed(
        flavour=str(parsed.get("version") or "unknown"),
        title=str(parsed.feed.get("title") or ""),
        link=parsed.feed.get("link"),
        entries=entries,
        repairs=repairs,
        warning=bozo_reason,
        skipped=skipped,
    )
