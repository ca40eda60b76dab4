"""Why: ids come from canonical URLs; two spellings of one page must meet, two pages must not."""

from __future__ import annotations

import pytest

from prosora_pipelines.lib.canonical_url import absolute_url, canonicalize_url


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
