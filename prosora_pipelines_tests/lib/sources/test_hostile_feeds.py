"""Why: feeds are written by strangers. A `javascript:` link must never become an article's
address, entity junk from a billion-laughs DTD must never become an article, one bad byte
must not turn a UTF-8 feed into mojibake, and whatever was wrong must show in the fetch
record and source health (one log line per source at most) instead of vanishing or
flooding the log."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from prosora_pipelines.lib.articles.building import DropReason, build_articles, stable_id
from prosora_pipelines.lib.articles.dedup import deduplicate
from prosora_pipelines.lib.articles.published_dates import DateStatus
from prosora_pipelines.lib.sources.catalog import Source
from prosora_pipelines.lib.sources.feed_parsing import ParsedFeed, parse_feed
from prosora_pipelines.lib.sources.fetching import Fetcher, FetchPolicy
from prosora_pipelines.lib.sources.health import summarize_health
from prosora_pipelines.lib.sources.ingestion import fetch_records_frame, ingest_sources
from prosora_pipelines.lib.sources.raw_entries import RawEntry
from prosora_pipelines_tests.support.feed_server import FeedServer, Route
from prosora_pipelines_tests.support.shared_data import require_shared

FETCHED = datetime(2026, 11, 22, tzinfo=UTC)
SKEW = timedelta(hours=2)
EARLIEST_PUBLISHED = date(1990, 1, 1)
FEED_URL = "https://pub.example/feed.xml"
TEXT = "Regulators published guidance on credit scoring models used by lenders this week."

LAUGHS = "".join(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">\n' for level in range(1, 10))
BILLION_LAUGHS = f"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY lol "lol">
{LAUGHS}]>
<rss version="2.0"><channel><title>Laughs</title><link>https://laughs.example/</link>
<item><title>&lol9;</title><description>&lol9;</description><guid>1</guid></item>
<item><title>&lol9;</title><description>x</description><guid>2</guid></item>
<item><title>Real title</title><description>{TEXT}</description><guid>3</guid></item>
<item><title>Title only</title><description>&lol9; &lol8;</description><guid>5</guid></item>
<item><title> </title><description>&lt;script&gt;t()&lt;/script&gt;</description><guid>4</guid>
</item>
</channel></rss>""".encode()

BAD_UTF8 = (
    (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Café</title>'
        "<link>https://cafe.example/</link>"
        "<item><title>Café’s crème brûlée — a review</title>"
        "<description>One bad byte: BAD. Everything else is UTF-8: naïve, “quoted”.</description>"
        "<link>https://cafe.example/review</link></item></channel></rss>"
    )
    .encode()
    .replace(b"BAD", b"\xff")
)


def _source(source_id: str, url: str = FEED_URL) -> Source:
    return Source(
        id=source_id,
        name=source_id,
        url=url,
        kind="rss",  # type: ignore[arg-type]
        tier="standard",  # type: ignore[arg-type]
        credibility=0.7,
        domains=("tech",),
    )


def _parse(
    body: bytes, url: str = FEED_URL, content_type: str = "application/rss+xml; charset=utf-8"
) -> ParsedFeed:
    return parse_feed(
        body,
        source_id="pub",
        url=url,
        fetched_at=FETCHED,
        allowed_skew=SKEW,
        content_type=content_type,
    )


def _items(*items: str) -> bytes:
    return (
        '<rss version="2.0"><channel><title>Pub</title><link>https://pub.example/</link>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def test_links_that_are_not_web_pages_are_passed_over_and_counted() -> None:
    parsed = _parse(
        _items(
            "<item><title>Script</title><link>javascript:alert(document.cookie)</link>"
            f'<guid isPermaLink="false">js-1</guid><description>{TEXT}</description></item>',
            "<item><title>Data</title><link>data:text/html;base64,PHNjcmlwdD4=</link>"
            f"<guid>https://pub.example/2</guid><description>{TEXT} Two.</description></item>",
            "<item><title>Mail</title><link>mailto:editor@pub.example</link>"
            f"<description>{TEXT} Three.</description></item>",
            "<item><title>Local file</title><link>file:///etc/passwd</link>"
            f'<guid isPermaLink="false">file-4</guid><description>{TEXT} 4.</description></item>',
        )
    )
    assert [entry.link for entry in parsed.entries] == [None, "https://pub.example/2", None, None]
    assert parsed.rejected_links == 4
    built = build_articles(
        parsed.entries, {"pub": _source("pub")}, earliest_published=EARLIEST_PUBLISHED
    )
    assert all(a.url.startswith("https://") for a in built.articles)
    script = built.articles[0]
    assert (script.url, script.id) == (FEED_URL, stable_id("guid", "pub\nguid:js-1"))


def test_local_feeds_keep_their_file_links() -> None:
    local = "file:///srv/feeds/feed.xml"
    parsed = _parse(
        _items("<item><title>A</title><link>file:///srv/feeds/a.html</link></item>"), local
    )
    [entry] = parsed.entries
    assert entry.link is not None and entry.link.startswith("file:")
    assert parsed.rejected_links == 0


def _stored_entry(key: str, link: str | None) -> RawEntry:
    return RawEntry(
        source_id="pub",
        entry_key=key,
        link=link,
        guid=key.removeprefix("guid:"),
        title="Credit scoring guidance",
        summary_html=TEXT,
        content_html="",
        author=None,
        published_at=datetime(2026, 11, 1, tzinfo=UTC),
        date_status=DateStatus.OK,
        date_raw=None,
        fetched_at=FETCHED,
        origin="rss20",
    )


def test_stored_entries_with_unsafe_links_fall_back_to_their_guid_id() -> None:
    """Entries stored before links were checked still never give an unsafe article or
    alternate URL."""
    built = build_articles(
        [
            _stored_entry("guid:a", "javascript:alert(1)"),
            _stored_entry("guid:b", "data:text/html,<script>alert(1)</script>"),
        ],
        {"pub": _source("pub")},
        earliest_published=EARLIEST_PUBLISHED,
    )
    assert built.rejected_links == 2
    assert {a.id for a in built.articles} == {
        stable_id("guid", "pub\nguid:a"),
        stable_id("guid", "pub\nguid:b"),
    }
    [kept], report = deduplicate(built.articles, threshold=0.7)
    assert report.exact_content_duplicates == 1
    assert kept.url == kept.canonical_url == FEED_URL
    assert all(url.startswith("https://") for url in kept.also_published_urls)


def test_billion_laughs_feed_is_flagged_and_its_entity_only_entries_dropped() -> None:
    parsed = _parse(BILLION_LAUGHS)
    assert parsed.declares_entities
    built = build_articles(
        parsed.entries, {"pub": _source("pub")}, earliest_published=EARLIEST_PUBLISHED
    )
    assert built.dropped == Counter({DropReason.ENTITY_ONLY: 2, DropReason.EMPTY: 1})
    assert [(a.title, a.text, a.summary) for a in built.articles] == [
        ("Real title", TEXT, TEXT),
        ("Title only", "Title only", ""),  # as for an entry that has no text
    ]


def test_real_feeds_do_not_declare_entities() -> None:
    folder = require_shared("feeds/tricky")
    plain_doctype = _items("<item><title>A</title><link>https://pub.example/a</link></item>")
    plain_doctype = b'<!DOCTYPE rss PUBLIC "-//Netscape//DTD RSS 0.91//EN">\n' + plain_doctype
    assert not _parse(plain_doctype).declares_entities
    for name in ("techcrunch-leading-blank-line.xml", "aivars-blog-html5-entity.xml"):
        assert not _parse((folder / name).read_bytes()).declares_entities, name


def test_bad_bytes_in_a_utf8_feed_are_replaced_not_the_whole_document_redecoded() -> None:
    parsed = _parse(BAD_UTF8)
    [entry] = parsed.entries
    assert entry.title == "Café’s crème brûlée — a review"
    assert "One bad byte: \ufffd." in entry.summary_html
    assert "naïve, “quoted”" in entry.summary_html
    assert parsed.encoding_problem == "1 bytes invalid as UTF-8 replaced with U+FFFD"


def test_legacy_encoded_feed_is_still_read_and_its_encoding_problem_recorded() -> None:
    folder = require_shared("feeds/tricky")
    parsed = _parse((folder / "uolnoticias-latin1-bytes-in-utf8.xml").read_bytes())
    assert "simulações" in parsed.entries[0].title
    assert parsed.encoding_problem == "document declared as utf-8, but parsed as windows-1252"
    declared = (folder / "golem-iso-8859-1.xml").read_bytes()
    assert _parse(declared, content_type="application/rss+xml").encoding_problem is None
    assert _parse(declared).encoding_problem == (
        "document declared as utf-8, but parsed as iso-8859-1"  # the header's charset is wrong
    )


def test_problems_reach_fetch_record_and_health_with_one_log_line_per_source() -> None:
    duplicates = (require_shared("feeds/tricky") / "almonitor-duplicate-guids.xml").read_bytes()
    with FeedServer() as server:
        sources = [
            _source("duplicates", server.add("/duplicates.xml", Route(duplicates))),
            _source("laughs", server.add("/laughs.xml", Route(BILLION_LAUGHS))),
            _source("bad-utf8", server.add("/bad-utf8.xml", Route(BAD_UTF8))),
        ]
        result = asyncio.run(
            ingest_sources(
                sources,
                fetcher=Fetcher(FetchPolicy()),
                validators={},
                run_id="hostile",
                fetched_at=FETCHED,
                allowed_skew=SKEW,
            )
        )
    records = {record.source_id: record for record in result.records}
    assert records["duplicates"].repeated_entry_keys > 0
    assert records["duplicates"].items + records["duplicates"].repeated_entry_keys == 20
    assert records["laughs"].declares_entities and records["laughs"].parse_warning
    assert records["bad-utf8"].encoding_problem
    lines = Counter(warning.split(":", 1)[0] for warning in result.warnings)
    assert lines == Counter({"duplicates": 1, "laughs": 1, "bad-utf8": 1})

    unchanged = dataclasses.replace(
        records["laughs"],
        run_id="later",
        started_at=FETCHED + timedelta(hours=1),
        status=304,
        not_modified=True,
        items=0,
        declares_entities=False,
        parse_warning=None,
    )
    health = summarize_health(fetch_records_frame([*result.records, unchanged]), sources)
    rows = {row["source_id"]: row for row in health.iter_rows(named=True)}
    assert rows["duplicates"]["repeated_entry_keys"] == records["duplicates"].repeated_entry_keys
    assert rows["laughs"]["declares_entities"] is True  # a 304 keeps the document's findings
    assert rows["bad-utf8"]["encoding_problem"] == records["bad-utf8"].encoding_problem
    assert rows["bad-utf8"]["declares_entities"] is False
