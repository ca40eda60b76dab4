"""Why: `/docs` and `/redoc` loaded Swagger UI and ReDoc from a CDN, so offline (or behind a
proxy that blocks CDNs) they were blank pages. Each page is loaded here and every script,
stylesheet and icon it references, and the OpenAPI document the UI fetches, must come from
the app itself and answer 200; the page's own Content-Security-Policy must allow exactly
that: this origin, plus its inline script by hash."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from prosora_pipelines.api.app import create_app
from prosora_pipelines.settings import Settings

CONTENT_TYPES = {"script": "javascript", "stylesheet": "text/css", "icon": "image/"}


class _References(HTMLParser):
    """The URLs a page loads: scripts, stylesheets and icons, and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.inline_scripts: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            if attributes.get("src"):
                self.urls.append(("script", str(attributes["src"])))
            else:
                self._in_inline_script = True
                self.inline_scripts.append("")
        elif tag == "link" and attributes.get("href"):
            relation = str(attributes.get("rel") or "")
            kind = "stylesheet" if "stylesheet" in relation else "icon"
            self.urls.append((kind, str(attributes["href"])))
        elif tag == "redoc" and attributes.get("spec-url"):
            self.urls.append(("openapi", str(attributes["spec-url"])))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self.inline_scripts[-1] += data


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    root: Path = tmp_path_factory.mktemp("docs")
    settings = Settings(
        home=root / "home", jwt_secret="d" * 40, database_url=f"sqlite:///{root / 'app.db'}"
    )
    return TestClient(create_app(settings))


@pytest.mark.parametrize(("page", "expected"), [("/docs", "script"), ("/redoc", "script")])
def test_a_docs_page_loads_everything_from_the_app(
    client: TestClient, page: str, expected: str
) -> None:
    response = client.get(page)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    references = _References()
    references.feed(response.text)
    kinds = {kind for kind, _ in references.urls}
    assert expected in kinds and "icon" in kinds, references.urls
    if page == "/docs":
        assert "stylesheet" in kinds
        # Swagger UI fetches the OpenAPI document named in its inline script.
        (url,) = re.findall(r"url: '([^']+)'", references.inline_scripts[0])
        references.urls.append(("openapi", url))
    for kind, url in references.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from elsewhere"
        assert url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200, f"{page} references {url}: {asset.status_code}"
        assert asset.content, url
        if kind in CONTENT_TYPES:
            assert CONTENT_TYPES[kind] in asset.headers["content-type"], (url, asset.headers)
        else:
            assert asset.json()["openapi"].startswith("3.")

    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    sources = policy["script-src"].split()
    assert [source for source in sources if not source.startswith("'sha256-")] == ["'self'"]
    for script in references.inline_scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in sources, "the page's inline script is blocked"
    assert policy["connect-src"] == "'self'" and policy["frame-ancestors"] == "'none'"


def test_no_docs_page_reaches_for_another_origin(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        text = client.get(page).text
        assert not re.search(r"https?://", text), f"{page} names another origin"
