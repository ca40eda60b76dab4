"""Canonical URLs: one spelling per page, so the same story from two feeds gets one id.

Scheme and host are lower-cased, default ports and fragments dropped, tracking parameters
removed and the remaining query sorted. Paths keep their case: servers may treat it as
meaningful.

Only web pages may become an article's address: a feed's ``javascript:``, ``data:`` or
``mailto:`` link would otherwise be shown to readers and opened by them. ``file:`` URLs are
allowed only for entries of a local feed, so a remote feed cannot point readers at files.
``mid:`` URIs (RFC 2392, a message by its Message-ID) are allowed only for newsletters read
from a mailbox without a "view in browser" link: the stable name of that message.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref_src",
        "cmpid",
        "ncid",
        "sr_share",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "vero_", "oly_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOCAL_SCHEME = "file"
MESSAGE_ID_SCHEME = "mid"
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_BARE_HOST = re.compile(r"^(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d+)?(?:/|$)", re.IGNORECASE)


def is_tracking_parameter(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMETERS or lowered.startswith(TRACKING_PREFIXES)


def absolute_url(link: str, base: str | None) -> str:
    """Resolve a link as found in a feed: relative to ``base``, schemeless hosts as https."""
    link = link.strip()
    if not link:
        return link
    if _SCHEME.match(link):
        return link
    if link.startswith("//"):
        return "https:" + link
    if _BARE_HOST.match(link) and not link.startswith(("/", ".")):
        return "https://" + link
    return urljoin(base, link) if base else link


def is_article_url(url: str, feed_url: str, *, from_mailbox: bool = False) -> bool:
    """Whether ``url`` may be an article's address: http(s) with a host, ``file:`` when the
    feed it came from is itself a local file, ``mid:`` when it came from a mailbox."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unbalanced "[" in the host
        return False
    scheme = parts.scheme.lower()
    if scheme in _DEFAULT_PORTS:
        return bool(parts.netloc) and bool(parts.hostname)
    if scheme == MESSAGE_ID_SCHEME:
        return from_mailbox and bool(parts.path.strip()) and not parts.netloc
    return scheme == _LOCAL_SCHEME and urlsplit(feed_url.strip()).scheme.lower() == _LOCAL_SCHEME


def canonicalize_url(url: str) -> str:
    """The canonical spelling of an absolute http(s) URL; other URLs are returned trimmed."""
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = parts.hostname.lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    netloc = host
    if parts.port and parts.port != _DEFAULT_PORTS[scheme]:
        netloc = f"{host}:{parts.port}"
    path = re.sub(r"/{2,}", "/", parts.path) or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    query_pairs = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_parameter(key)
    ]
    query = urlencode(sorted(query_pairs), doseq=True)
    return urlunsplit((scheme, netloc, path, query, ""))
