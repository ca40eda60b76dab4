"""Newsletters as sources: messages written for the project, read from an mbox file, a
Maildir folder and a real IMAP server (dovecot on loopback)."""

from __future__ import annotations

import asyncio
import mailbox
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prosora_pipelines.lib.articles.building import build_articles
from prosora_pipelines.lib.articles.canonical_url import is_article_url
from prosora_pipelines.lib.sources.catalog import CatalogError, Source, parse_catalog
from prosora_pipelines.lib.sources.fetching import CacheValidators, Fetcher, FetchPolicy
from prosora_pipelines.lib.sources.ingestion import IngestResult, ingest_sources
from prosora_pipelines.lib.sources.newsletters import (
    MailboxError,
    entry_from_message,
    read_imap_mailbox,
)
from prosora_pipelines_tests.support import imap_server

MESSAGES = Path(__file__).with_name("newsletters")
FETCHED_AT = datetime(2026, 11, 21, 12, tzinfo=UTC)
SKEW = timedelta(hours=2)


def _raw(name: str) -> bytes:
    return (MESSAGES / f"{name}.eml").read_bytes()


def _source(url: str, **extra: Any) -> Source:
    raw = {"id": "newsletters", "name": "Newsletters", "url": url, "kind": "mailbox",
           "tier": "standard", "credibility": 0.7, "domains": ["finance"], **extra}  # fmt: skip
    return parse_catalog({"sources": [raw]}, base_dir=Path("/")).sources[0]


def _ingest(source: Source, validators: dict[str, CacheValidators] | None = None) -> IngestResult:
    return asyncio.run(
        ingest_sources(
            [source],
            fetcher=Fetcher(FetchPolicy(source_deadline=10)),
            validators=validators or {},
            run_id="run",
            fetched_at=FETCHED_AT,
            allowed_skew=SKEW,
        )
    )


def test_a_message_becomes_an_entry_like_a_feed_item() -> None:
    entry = entry_from_message(
        _raw("ledger-weekly"), source_id="n", fetched_at=FETCHED_AT, allowed_skew=SKEW
    )
    assert entry.title == "Ledger Weekly: stablecoin reserves get a stress test"
    assert entry.author == "Ledger Weekly"
    assert (
        entry.entry_key == "mail:weekly.ledger-weekly.example/lw-2026-11-17@ledger-weekly.example"
    )
    assert entry.link == "https://ledger-weekly.example/issues/2026-11-17?utm_source=newsletter"
    assert entry.published_at == datetime(2026, 11, 17, 7, 30, tzinfo=UTC)
    assert "100 percent cover" in entry.content_html


def test_without_a_web_link_the_url_is_the_message_id_and_the_key_the_sender() -> None:
    plain = entry_from_message(
        _raw("product-notes"), source_id="n", fetched_at=FETCHED_AT, allowed_skew=SKEW
    )
    assert plain.link == "mid:pn-118@mail.product-notes.example"
    assert plain.entry_key == "mail:hello@product-notes.example/pn-118@mail.product-notes.example"
    assert plain.published_at == datetime(2026, 11, 18, 8, tzinfo=UTC)
    assert plain.content_html.startswith("<p>Usage-based pricing")
    # A "View online" link that is not a web page is passed over.
    digest = entry_from_message(
        _raw("fintech-digest"), source_id="n", fetched_at=FETCHED_AT, allowed_skew=SKEW
    )
    assert digest.link == "mid:fd-77@fintech-digest.example"
    assert digest.title == "Open finance — who pays when it fails?"
    assert digest.entry_key.startswith("mail:daily.fintech-digest.example/")


def test_mid_urls_are_article_urls_for_mailbox_sources_only() -> None:
    assert is_article_url("mid:a@b.example", "file:///mail.mbox", from_mailbox=True)
    assert not is_article_url("mid:a@b.example", "file:///feed.xml")
    assert not is_article_url("mid:a@b.example", "https://feed.example/rss")
    assert not is_article_url("mid:", "file:///mail.mbox", from_mailbox=True)
    assert not is_article_url("javascript:alert(1)", "file:///mail.mbox", from_mailbox=True)


@pytest.fixture(params=["mbox", "maildir"])
def local_mailbox(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    names = ["ledger-weekly", "product-notes", "fintech-digest"]
    if request.param == "mbox":
        path = tmp_path / "newsletters.mbox"
        box: mailbox.Mailbox[Any] = mailbox.mbox(path)
    else:
        path = tmp_path / "Maildir"
        box = mailbox.Maildir(path)
    for name in names:
        box.add(_raw(name))
    box.flush()
    box.close()
    return path


def test_a_local_mailbox_is_ingested_then_not_modified_until_it_changes(
    local_mailbox: Path,
) -> None:
    source = _source(str(local_mailbox))
    first = _ingest(source)
    (record,) = first.records
    assert (record.error_class, record.items, record.flavour) == (None, 3, "mailbox")
    assert len({entry.entry_key for entry in first.entries}) == 3
    built = build_articles(
        first.entries, {source.id: source}, earliest_published=datetime(1990, 1, 1).date()
    )
    urls = sorted(article.url for article in built.articles)
    assert urls == [
        "https://ledger-weekly.example/issues/2026-11-17?utm_source=newsletter",
        "mid:fd-77@fintech-digest.example",
        "mid:pn-118@mail.product-notes.example",
    ]
    ledger = next(a for a in built.articles if a.url.startswith("https"))
    assert ledger.canonical_url == "https://ledger-weekly.example/issues/2026-11-17"
    assert ledger.author == "Ledger Weekly" and "Unsubscribe" in ledger.text
    again = _ingest(source, first.validators)
    assert (again.records[0].not_modified, again.records[0].items, again.entries) == (True, 0, [])


def test_a_missing_or_malformed_mailbox_is_a_failed_record_not_a_crash(tmp_path: Path) -> None:
    missing = _ingest(_source(str(tmp_path / "nowhere.mbox")))
    assert missing.records[0].error_class == "MailboxError"
    assert "no mailbox at" in (missing.records[0].error_message or "")
    (tmp_path / "folder").mkdir()
    not_maildir = _ingest(_source(str(tmp_path / "folder")))
    assert "not a Maildir" in (not_maildir.records[0].error_message or "")
    assert not_maildir.entries == []


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"url": "imap://mail.example"}, "IMAP needs TLS"),
        ({"url": "imaps://mail.example"}, "needs 'mailbox' with user and password_env"),
        (
            {"url": "imaps://mail.example", "mailbox": {"user": "u", "password_env": "lower"}},
            "password_env",
        ),
        (
            {"url": "mail.mbox", "mailbox": {"user": "u", "password_env": "P"}},
            "applies to imaps:// urls only",
        ),
        ({"url": "https://mail.example/inbox"}, "a mailbox url is imaps://"),
        ({"kind": "rss", "url": "imaps://mail.example"}, "needs kind 'mailbox'"),
        (
            {"kind": "rss", "url": "feed.xml", "mailbox": {"user": "u", "password_env": "P"}},
            "mailbox applies to kind 'mailbox' only",
        ),
    ],
)
def test_catalog_rules_for_mailboxes(extra: dict[str, Any], problem: str) -> None:
    with pytest.raises(CatalogError, match=problem):
        _source(**({"url": "x"} | extra))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def imap() -> Iterator[imap_server.ImapServer]:
    if imap_server.DOVECOT is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "dovecot is missing (Debian dovecot-imapd); CI=true requires the IMAP tests"
            )
        pytest.skip("dovecot is not installed (Debian dovecot-imapd): IMAP tests skipped")
    with imap_server.running_imap_server() as server:
        yield server


@pytest.mark.integration
def test_imap_reads_only_messages_not_seen_before_by_uidvalidity_and_uid(
    imap: imap_server.ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_PASSWORD", imap_server.PASSWORD)
    access = {
        "user": imap_server.USER,
        "password_env": "NEWSLETTER_PASSWORD",
        "ca_file": str(imap.ca_file),
    }
    source = _source(imap.url, mailbox=access)
    imap.deliver("1.eml", _raw("ledger-weekly"))
    imap.deliver("2.eml", _raw("product-notes"))
    first = _ingest(source)
    assert (first.records[0].error_message, first.records[0].items) == (None, 2)
    validator = first.validators[imap.url].etag or ""
    assert validator.startswith("imap-") and validator.endswith("-2")
    unchanged = _ingest(source, first.validators)
    assert (unchanged.records[0].not_modified, unchanged.entries) == (True, [])
    imap.deliver("3.eml", _raw("fintech-digest"))
    third = _ingest(source, unchanged.validators)
    assert [entry.guid for entry in third.entries] == ["fd-77@fintech-digest.example"]
    assert third.validators[imap.url].etag == validator[: -len("-2")] + "-3"
    # The server renumbered the folder (another UIDVALIDITY): read it again from the start.
    renumbered = {imap.url: CacheValidators(etag="imap-1-3")}
    again = _ingest(source, renumbered)
    assert len(again.entries) == 3


@pytest.mark.integration
def test_imap_failures_are_clear(
    imap: imap_server.ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _source(
        imap.url,
        mailbox={
            "user": imap_server.USER,
            "password_env": "NEWSLETTER_PASSWORD",
            "ca_file": str(imap.ca_file),
        },
    )
    assert source.mailbox is not None
    monkeypatch.delenv("NEWSLETTER_PASSWORD", raising=False)
    with pytest.raises(MailboxError, match="NEWSLETTER_PASSWORD"):
        read_imap_mailbox(imap.url, source.mailbox, None, timeout=5)
    monkeypatch.setenv("NEWSLETTER_PASSWORD", "wrong")
    with pytest.raises(MailboxError, match="login refused"):
        read_imap_mailbox(imap.url, source.mailbox, None, timeout=5)
    monkeypatch.setenv("NEWSLETTER_PASSWORD", imap_server.PASSWORD)
    untrusted = source.mailbox.model_copy(update={"ca_file": None})
    with pytest.raises(MailboxError, match="SSL"):
        read_imap_mailbox(imap.url, untrusted, None, timeout=5)
    missing_folder = source.mailbox.model_copy(update={"folder": "Newsletters"})
    with pytest.raises(MailboxError, match="SELECT Newsletters"):
        read_imap_mailbox(imap.url, missing_folder, None, timeout=5)
