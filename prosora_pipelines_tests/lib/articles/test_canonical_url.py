"""Why: ids come from canonical URLs; two spellings of one page must meet, two pages must not."""

from __future__ import annotations

import pytest

from prosora_pipelines.lib.articles.canonical_url import (
    absolute_url,
    canonicalize_url,
    is_article_url,
)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTPS://WWW.Example.COM/Path/?b=2&a=1#frag", "https://example.com/Path?a=1&b=2"),
        ("https://example.com:443/a/", "https://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        (
            "https://example.com/a?utm_source=rss&utm_medium=feed&id=7&fbclid=x&gclid=y",
            "https://example.com/a?id=7",
        ),
        ("https://example.com/a?mc_cid=1&mc_eid=2&_hsenc=3", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com//a//b", "https://example.com/a/b"),
        ("  https://example.com/a  ", "https://example.com/a"),
    ],
)
def test_canonicalize(raw: str, canonical: str) -> None:
    assert canonicalize_url(raw) == canonical


def test_meaningful_query_and_path_case_kept() -> None:
    assert canonicalize_url("https://e.com/A?p=2") != canonicalize_url("https://e.com/a?p=2")
    assert canonicalize_url("https://e.com/a?p=2") != canonicalize_url("https://e.com/a?p=3")


def test_non_http_urls_pass_through() -> None:
    assert canonicalize_url("urn:uuid:1234") == "urn:uuid:1234"


@pytest.mark.parametrize(
    ("link", "base", "expected"),
    [
        ("/posts/a", "https://site.example/blog", "https://site.example/posts/a"),
        ("posts/a", "https://site.example/blog/", "https://site.example/blog/posts/a"),
        ("coghlan.me/post/1", None, "https://coghlan.me/post/1"),
        ("//cdn.example/x", None, "https://cdn.example/x"),
        ("https://x.example/a", "https://other.example", "https://x.example/a"),
    ],
)
def test_absolute_url(link: str, base: str | None, expected: str) -> None:
    assert absolute_url(link, base) == expected


@pytest.mark.parametrize(
    ("url", "feed_url", "allowed"),
    [
        ("https://example.com/a", "https://example.com/feed", True),
        ("HTTP://Example.com/a", "https://example.com/feed", True),
        ("javascript:alert(document.cookie)", "https://example.com/feed", False),
        ("  JavaScript:alert(1)", "https://example.com/feed", False),
        ("java\tscript:alert(1)", "https://example.com/feed", False),
        ("data:text/html;base64,PHNjcmlwdD4=", "https://example.com/feed", False),
        ("mailto:editor@example.com", "https://example.com/feed", False),
        ("urn:uuid:1234", "https://example.com/feed", False),
        ("https:///no-host", "https://example.com/feed", False),
        ("https://[::1/broken", "https://example.com/feed", False),
        ("/relative/path", "https://example.com/feed", False),
        ("file:///srv/feeds/post.html", "file:///srv/feeds/feed.xml", True),
        ("file:///etc/passwd", "https://example.com/feed", False),
    ],
)
def test_only_web_pages_and_local_files_of_local_feeds_are_article_urls(
    url: str, feed_url: str, allowed: bool
) -> None:
    assert is_article_url(url, feed_url) is allowed
