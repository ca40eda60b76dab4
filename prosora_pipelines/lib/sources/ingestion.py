"""One ingestion pass: fetch the due sources, parse what changed, record every fetch.

Feeds are fetched concurrently and each body is parsed as soon as it arrives, so parsing
overlaps the network: in worker processes when the batch is large enough to pay for them
(feedparser is pure Python and holds the GIL), else in a worker thread
(:mod:`prosora_pipelines.lib.sources.feed_parse_pool`). Web sources take two steps: the index page,
then the article pages it links to, within what is left of the source's fetch deadline.
Whatever the source does becomes its fetch record and never stops the others; an error of
our own (a bug) is not the source's fault and propagates.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta

import polars as pl

from prosora_pipelines.lib.sources.catalog import Source, SourceKind
from prosora_pipelines.lib.sources.feed_parse_pool import FeedParsePool
from prosora_pipelines.lib.sources.feed_parsing import FeedRejectedError, ParsedFeed, parse_feed
from prosora_pipelines.lib.sources.fetching import (
    CacheValidators,
    Fetcher,
    FetchRequest,
    FetchResult,
)
from prosora_pipelines.lib.sources.newsletters import (
    MailboxError,
    MailboxRead,
    entry_from_message,
    read_imap_mailbox,
    read_local_mailbox,
)
from prosora_pipelines.lib.sources.raw_entries import RawEntry
from prosora_pipelines.lib.sources.web_pages import (
    PageRejectedError,
    extract_article_page,
    find_article_links,
)


@dataclass(frozen=True)
class FetchRecord:
    """What happened when one source was fetched in one run; the unit of source health."""

    run_id: str
    source_id: str
    url: str
    started_at: datetime
    elapsed_seconds: float
    status: int | None
    bytes_read: int
    items: int
    not_modified: bool
    attempts: int
    flavour: str | None
    error_class: str | None
    error_message: str | None
    parse_warning: str | None = None
    encoding_problem: str | None = None
    declares_entities: bool = False
    repeated_entry_keys: int = 0
    rejected_links: int = 0

    @property
    def succeeded(self) -> bool:
        return self.error_class is None


FETCH_RECORD_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "source_id": pl.String(),
    "url": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "elapsed_seconds": pl.Float64(),
    "status": pl.Int64(),
    "bytes_read": pl.Int64(),
    "items": pl.Int64(),
    "not_modified": pl.Boolean(),
    "attempts": pl.Int64(),
    "flavour": pl.String(),
    "error_class": pl.String(),
    "error_message": pl.String(),
    "parse_warning": pl.String(),
    "encoding_problem": pl.String(),
    "declares_entities": pl.Boolean(),
    "repeated_entry_keys": pl.Int64(),
    "rejected_links": pl.Int64(),
}


def fetch_records_frame(records: Iterable[FetchRecord]) -> pl.DataFrame:
    return pl.DataFrame([asdict(record) for record in records], schema=FETCH_RECORD_SCHEMA)


@dataclass
class IngestResult:
    records: list[FetchRecord]
    entries: list[RawEntry]
    validators: dict[str, CacheValidators]
    warnings: list[str] = field(default_factory=list)
    """At most one line per source: what went wrong with it short of failing."""


def sources_due(
    sources: Sequence[Source], last_attempts: Mapping[str, datetime], now: datetime
) -> list[Source]:
    """Enabled sources whose refresh interval has passed since their last attempt."""
    due = []
    for source in sources:
        last = last_attempts.get(source.id)
        if source.enabled and (last is None or now - last >= source.refresh_interval):
            due.append(source)
    return due


@dataclass
class _Context:
    run_id: str
    fetcher: Fetcher
    parsers: FeedParsePool
    validators: dict[str, CacheValidators]
    fetched_at: datetime
    allowed_skew: timedelta
    max_pages: int
    on_record: Callable[[FetchRecord], None] | None
    entries: list[RawEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    records: dict[str, FetchRecord] = field(default_factory=dict)


def _record(
    context: _Context,
    source: Source,
    result: FetchResult,
    *,
    items: int = 0,
    flavour: str | None = None,
    error: tuple[str, str] | None = None,
    extra_bytes: int = 0,
    parsed: ParsedFeed | None = None,
) -> None:
    error_class, error_message = error or (result.error_class, result.error_message)
    record = FetchRecord(
        run_id=context.run_id,
        source_id=source.id,
        url=source.url,
        started_at=result.started_at,
        elapsed_seconds=round(result.elapsed_seconds, 4),
        status=result.status,
        bytes_read=result.bytes_read + extra_bytes,
        items=items,
        not_modified=result.not_modified,
        attempts=result.attempts,
        flavour=flavour,
        error_class=error_class,
        error_message=error_message,
    )
    if parsed is not None:
        record = replace(
            record,
            parse_warning=parsed.warning[:500] if parsed.warning else None,
            encoding_problem=parsed.encoding_problem,
            declares_entities=parsed.declares_entities,
            repeated_entry_keys=parsed.repeated_entry_keys,
            rejected_links=parsed.rejected_links,
        )
    context.records[source.id] = record
    if context.on_record is not None:
        context.on_record(record)


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


async def _handle_feed(context: _Context, source: Source, result: FetchResult) -> None:
    if not result.ok or result.not_modified or result.body is None:
        _record(context, source, result)
        return
    parse = functools.partial(
        parse_feed,
        result.body,
        source_id=source.id,
        url=result.final_url,
        fetched_at=context.fetched_at,
        allowed_skew=context.allowed_skew,
        content_type=result.content_type,
    )
    try:
        parsed = await context.parsers.run(parse)
    except FeedRejectedError as exc:
        _record(context, source, result, error=("FeedRejectedError", str(exc)[:500]))
        return
    problems = parsed.problems()
    if problems:
        context.warnings.append(f"{source.id}: " + "; ".join(problems))
    context.entries.extend(parsed.entries)
    context.validators[result.url] = result.validators
    _record(
        context, source, result, items=len(parsed.entries), flavour=parsed.flavour, parsed=parsed
    )


async def _handle_web(context: _Context, source: Source, result: FetchResult) -> None:
    if not result.ok or result.not_modified or result.body is None:
        _record(context, source, result, flavour="web")
        return
    links = find_article_links(_decode(result.body), result.final_url, source.link_pattern)
    links = links[: context.max_pages]
    pages = await context.fetcher.fetch_many(
        [
            FetchRequest(
                key=source.id, url=link, validators=context.validators.get(link, CacheValidators())
            )
            for link in links
        ],
        within=max(0.0, context.fetcher.policy.source_deadline - result.elapsed_seconds),
    )
    extracted = 0
    failures: list[str] = []
    for page in pages:
        if not page.ok:
            failures.append(f"{page.url}: {page.error_class}: {page.error_message}")
            continue
        if page.not_modified or page.body is None:
            continue
        try:
            entry = await asyncio.to_thread(
                extract_article_page,
                _decode(page.body),
                source_id=source.id,
                page_url=page.final_url,
                fetched_at=context.fetched_at,
                allowed_skew=context.allowed_skew,
            )
        except PageRejectedError as exc:
            failures.append(f"{page.url}: {exc}")
            continue
        context.entries.append(entry)
        context.validators[page.url] = page.validators
        extracted += 1
    if failures:
        context.warnings.append(
            f"{source.id}: {len(failures)} of {len(links)} article pages failed; "
            f"first: {failures[0]}"
        )
    if links and len(failures) == len(links):
        error = ("AllPagesFailed", f"all {len(links)} article pages failed; first: {failures[0]}")
        _record(context, source, result, flavour="web", error=error)
        return
    context.validators[result.url] = result.validators
    extra = sum(page.bytes_read for page in pages)
    _record(context, source, result, items=extracted, flavour="web", extra_bytes=extra)


def _read_mailbox(source: Source, previous: str | None, timeout: float) -> MailboxRead:
    if source.mailbox is not None:
        return read_imap_mailbox(source.url, source.mailbox, previous, timeout=timeout)
    return read_local_mailbox(source.url, previous)


async def _handle_mailbox(context: _Context, source: Source) -> None:
    """Read a mailbox source in a worker thread (imaplib and mailbox block) within its
    deadline; its messages become entries and its read state its cache validator."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    policy = context.fetcher.policy
    previous = context.validators.get(source.url, CacheValidators()).etag
    error: tuple[str, str] | None = None
    read = MailboxRead([], previous or "")
    try:
        read = await asyncio.wait_for(
            asyncio.to_thread(_read_mailbox, source, previous, policy.read_timeout),
            timeout=policy.source_deadline,
        )
    except MailboxError as exc:
        error = ("MailboxError", str(exc)[:500])
    except TimeoutError:
        error = ("TimeoutError", f"no answer within {policy.source_deadline:g} s")
    entries = [
        entry_from_message(
            raw,
            source_id=source.id,
            fetched_at=context.fetched_at,
            allowed_skew=context.allowed_skew,
        )
        for raw in read.messages
    ]
    if error is None:
        context.entries.extend(entries)
        context.validators[source.url] = CacheValidators(etag=read.validator)
    record = FetchRecord(
        run_id=context.run_id,
        source_id=source.id,
        url=source.url,
        started_at=started_at,
        elapsed_seconds=round(time.perf_counter() - started, 4),
        status=None,
        bytes_read=sum(len(raw) for raw in read.messages),
        items=len(entries) if error is None else 0,
        not_modified=read.not_modified,
        attempts=1,
        flavour="mailbox",
        error_class=error[0] if error else None,
        error_message=error[1] if error else None,
    )
    context.records[source.id] = record
    if context.on_record is not None:
        context.on_record(record)


async def ingest_sources(
    sources: Sequence[Source],
    *,
    fetcher: Fetcher,
    validators: Mapping[str, CacheValidators],
    run_id: str,
    fetched_at: datetime,
    allowed_skew: timedelta,
    max_pages_per_web_source: int = 30,
    on_record: Callable[[FetchRecord], None] | None = None,
) -> IngestResult:
    """Fetch and parse ``sources``; returns entries, one record per source, new validators."""
    context = _Context(
        run_id=run_id,
        fetcher=fetcher,
        parsers=FeedParsePool(
            sum(source.kind in (SourceKind.RSS, SourceKind.ATOM) for source in sources)
        ),
        validators=dict(validators),
        fetched_at=fetched_at,
        allowed_skew=allowed_skew,
        max_pages=max_pages_per_web_source,
        on_record=on_record,
    )
    return await _ingest(context, sources)


async def _ingest(context: _Context, sources: Sequence[Source]) -> IngestResult:
    context.parsers.warm_up()
    by_url = {source.url: source for source in sources}
    pending: list[asyncio.Task[None]] = [
        asyncio.create_task(_handle_mailbox(context, source))
        for source in sources
        if source.kind is SourceKind.MAILBOX
    ]

    async def on_result(result: FetchResult) -> None:
        source = by_url[result.url]
        handler = _handle_web if source.kind is SourceKind.WEB else _handle_feed
        pending.append(asyncio.create_task(handler(context, source, result)))

    requests = [
        FetchRequest(
            key=source.id,
            url=source.url,
            validators=context.validators.get(source.url, CacheValidators()),
        )
        for source in sources
        if source.kind is not SourceKind.MAILBOX
    ]
    await context.fetcher.fetch_many(requests, on_result=on_result)
    await asyncio.gather(*pending)
    return IngestResult(
        records=[context.records[source.id] for source in sources],
        entries=context.entries,
        validators=context.validators,
        warnings=context.warnings,
    )
