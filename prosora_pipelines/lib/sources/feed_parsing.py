"""Feed documents (RSS 0.9x/1.0/2.0, RDF, Atom) into raw entries, surviving real-world mess.

feedparser does the parsing, including bozo feeds that still carry items. Before giving
up on a document we try the repairs real feeds need: gunzip a body whose encoding header
was lost, drop whitespace before the XML declaration, and ignore an encoding declaration
that contradicts the bytes. A document that yields no feed is rejected with a reason;
nothing here raises anything else.

What was wrong with a document it could still read is counted on the :class:`ParsedFeed`
(repeated entries, links that are not web pages, an encoding problem, a DTD declaring
entities), for the fetch record and source health rather than one log line per item. A
document that is UTF-8 apart from a few bad bytes keeps UTF-8, with U+FFFD for those bytes:
feedparser would re-decode the whole document as windows-1252 (``CafÃ©``).
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
from feedparser.exceptions import CharacterEncodingOverride, CharacterEncodingUnknown

from prosora_pipelines.lib.articles.canonical_url import absolute_url, is_article_url
from prosora_pipelines.lib.articles.published_dates import resolve_published
from prosora_pipelines.lib.sources.raw_entries import RawEntry, entry_key_for

_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_MAX_GUNZIPPED_BYTES = 50 * 1024 * 1024
_URL_LIKE = re.compile(r"^(https?://|//|www\.)", re.IGNORECASE)
# An <!ENTITY declaration inside the DOCTYPE's internal subset (up to its closing "]>").
# XML keywords are case-sensitive, so a plain search for the keyword rules most bodies out.
_ENTITY_KEYWORD = b"<!ENTITY"
_ENTITY_DECLARATION = re.compile(rb"<!DOCTYPE[^>\[]*\[(?:(?!\]\s*>).)*?<!ENTITY", re.DOTALL)
_UTF8_CONTENT_TYPE = "application/xml; charset=utf-8"
_DECLARATION_IGNORED = "contradictory encoding declaration ignored"
_UTF8_REPLACED = "bytes invalid as UTF-8 replaced with U+FFFD"
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_NON_ASCII = re.compile("[^\x00-\x7f\udc80-\udcff]")


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
    repeated_entry_keys: int = 0
    """Entries skipped because an earlier entry of the document had the same key."""
    rejected_links: int = 0
    """Entry links refused by :func:`is_article_url` (``javascript:``, ``data:``, ...)."""
    encoding_problem: str | None = None
    declares_entities: bool = False
    """The document's DTD declares entities (as billion-laughs documents do)."""

    def problems(self) -> list[str]:
        """What was wrong with the document, one phrase each, for a single log line."""
        found = []
        if self.repeated_entry_keys:
            found.append(f"{self.repeated_entry_keys} entries with a repeated key skipped")
        if self.rejected_links:
            found.append(f"{self.rejected_links} links that are not web pages dropped")
        if self.encoding_problem:
            found.append(f"encoding: {self.encoding_problem}")
        if self.declares_entities:
            found.append("its DTD declares entities")
        return found


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
        yield _DECLARATION_IGNORED, text.encode("utf-8")


def _parse(document: bytes, content_type: str) -> Any:
    # No base URL is given: feedparser would join schemeless links ("host.tld/post") to it
    # as paths; links are made absolute here instead, by ``absolute_url``.
    return feedparser.parse(
        document,
        sanitize_html=False,
        resolve_relative_uris=False,
        response_headers={"content-type": content_type},
    )


def _mostly_utf8(body: bytes) -> tuple[str, int] | None:
    """The body as UTF-8 with U+FFFD for its bad bytes, and how many, when it is UTF-8 text
    with some bad bytes.

    A document in a legacy single-byte encoding (Latin-1 without a declaration) has fewer
    valid multi-byte UTF-8 characters than bad bytes, so it is left to feedparser's fallback.
    """
    escaped = body.decode("utf-8", "surrogateescape")
    bad = len(_UNDECODABLE.findall(escaped))
    if not bad or len(_NON_ASCII.findall(escaped)) < bad:
        return None
    return body.decode("utf-8", "replace"), bad


def _best_parse(body: bytes, content_type: str) -> tuple[Any, list[str], bytes]:
    """The parse with the most entries, the repairs it took, and the (gunzipped) body."""
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
    if isinstance(best.get("bozo_exception"), CharacterEncodingOverride):
        replaced = _mostly_utf8(body)
        if replaced is not None:
            text, bad = replaced
            # The header's charset outranks the document's declaration for application/xml.
            reparsed = _parse(text.encode("utf-8"), _UTF8_CONTENT_TYPE)
            if len(reparsed.entries) >= len(best.entries):
                best = reparsed
                best_repairs = [*repairs, f"{bad} {_UTF8_REPLACED}"]
    return best, best_repairs, body


def _first(entry: Any, *names: str) -> Any:
    for name in names:
        # dict.get skips feedparser's deprecated published/updated aliasing (and its warning).
        value = dict.get(entry, name)
        if value:
            return value
    return None


def _entry_link(entry: Any, base: str, feed_url: str) -> tuple[str | None, int]:
    """The entry's page: its link, else a permalink GUID, else its enclosure (podcasts).

    Candidates that are not web pages are passed over; returns the link and how many were.
    """
    links = entry.get("links") or []
    guid = entry.get("id")
    candidates = [
        entry.get("link"),
        *(c.get("href") for c in links if c.get("rel", "alternate") == "alternate"),
        guid if guid and (entry.get("guidislink") or _URL_LIKE.match(guid)) else None,
        *(c.get("href") for c in links),
    ]
    rejected: set[str] = set()
    for candidate in candidates:
        if not candidate:
            continue
        link = absolute_url(str(candidate), base)
        if is_article_url(link, feed_url):
            return link, len(rejected)
        rejected.add(link)
    return None, len(rejected)


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
    parsed, repairs, body = _best_parse(body, content_type or "application/xml")
    bozo_reason = str(parsed.get("bozo_exception", "")) if parsed.bozo else None
    if not parsed.entries and (bozo_reason or not parsed.get("version")):
        reason = bozo_reason or "no RSS, RDF or Atom document found"
        raise FeedRejectedError(f"no entries could be read: {reason}")
    base = _feed_base(parsed, url)
    entries: list[RawEntry] = []
    repeated = rejected_links = 0
    seen_keys: set[str] = set()
    for entry in parsed.entries:
        link, rejected = _entry_link(entry, base, url)
        title = str(entry.get("title") or "")
        summary = str(entry.get("summary") or "")
        guid = entry.get("id") or None
        key = entry_key_for(guid, link, title, summary)
        if key in seen_keys:
            repeated += 1
            continue
        seen_keys.add(key)
        rejected_links += rejected
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
        repeated_entry_keys=repeated,
        rejected_links=rejected_links,
        encoding_problem=_encoding_problem(parsed, repairs),
        declares_entities=_ENTITY_KEYWORD in body and bool(_ENTITY_DECLARATION.search(body)),
    )


def _encoding_problem(parsed: Any, repairs: list[str]) -> str | None:
    """What was wrong with the document's encoding: a repair made for it, or a legacy
    encoding feedparser fell back to because the declared one did not fit the bytes.

    A document read as UTF-8 in the end has no problem worth reporting: servers commonly
    send UTF-8 as ``text/xml`` without a charset, which RFC 3023 says is ASCII.
    """
    for repair in repairs:
        if repair == _DECLARATION_IGNORED or repair.endswith(_UTF8_REPLACED):
            return repair
    exception = parsed.get("bozo_exception")
    if isinstance(exception, CharacterEncodingUnknown):
        return str(exception)
    if isinstance(exception, CharacterEncodingOverride) and parsed.get("encoding") != "utf-8":
        return str(exception)
    return None
