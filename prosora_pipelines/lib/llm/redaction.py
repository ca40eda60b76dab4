"""What of a provider's error text may be logged: a short excerpt with anything that could
locate or unlock a service taken out.

Providers, and the proxies in front of them, put what they like in error bodies: the URL
they called (with credentials in its userinfo or a key in its query), the API key they
refused, an ``Authorization`` header, internal hostnames. Users never see that text, only
the error's category; logs keep it for diagnosis, passed through :func:`redacted`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EXCERPT_CHARS = 240
REDACTED = "[redacted]"
HOST = "[host]"

# scheme://authority/path?query#fragment; the authority holds userinfo, host and port.
_URL = re.compile(
    r"""\b(?P<scheme>[a-z][a-z0-9+.-]*)://[^\s/?#"'<>]*
    (?P<path>[^\s?#"'<>]*)(?:\?[^\s#"'<>]*)?(?:\#[^\s"'<>]*)?""",
    re.IGNORECASE | re.VERBOSE,
)
_USERINFO = re.compile(r"\b[^\s:@/]+:[^\s@/]+@")
_AUTH_SCHEME = re.compile(r"\b(?P<scheme>bearer|basic|token)\s+[\w.~+/=-]{6,}", re.IGNORECASE)
# ``name=value``, ``name: value`` or ``"name": "value"`` where the name says it is a secret.
_NAMED_SECRET = re.compile(
    r"""(?P<name>\b[\w-]*(?:key|token|secret|password|passwd|credentials?|signature)
    ["']?\s*[:=]\s*["']?)[^\s"',;&]+""",
    re.IGNORECASE | re.VERBOSE,
)
# OpenAI and Google key formats, and any long run of letters and digits mixed.
_KEY_LIKE = re.compile(
    r"""\b(?:sk-[\w-]{8,}|AIza[\w-]{20,}
    |(?=[A-Za-z_-]*\d)(?=[\d_-]*[A-Za-z])[\w-]{32,})""",
    re.VERBOSE,
)
_IP_ADDRESS = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b")
_HOSTNAME = re.compile(
    r"\b(?:[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?\.)+[a-z]{2,63}(?::\d+)?\b", re.IGNORECASE
)


def redacted(text: str, secrets: Iterable[str | None] = ()) -> str:
    """An excerpt of ``text`` on one line, without ``secrets`` (the API key in use), URLs'
    userinfo, hosts and queries, credentials after an auth scheme or a secret's name,
    key-like strings, IP addresses and hostnames."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _URL.sub(lambda found: f"{found['scheme']}://{HOST}{found['path']}", text)
    text = _USERINFO.sub(f"{REDACTED}@", text)
    text = _AUTH_SCHEME.sub(lambda found: f"{found['scheme']} {REDACTED}", text)
    text = _NAMED_SECRET.sub(lambda found: f"{found['name']}{REDACTED}", text)
    text = _KEY_LIKE.sub(REDACTED, text)
    text = _IP_ADDRESS.sub(HOST, text)
    text = _HOSTNAME.sub(HOST, text)
    text = " ".join(text.split())
    if len(text) > EXCERPT_CHARS:
        return text[: EXCERPT_CHARS - 1] + "…"
    return text
