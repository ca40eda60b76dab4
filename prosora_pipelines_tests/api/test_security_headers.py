"""Why: browsers and caches act on headers, not on intentions. Every answer, errors answered
by middleware included, must forbid content sniffing and carry a Content-Security-Policy
(the API's allows nothing, the docs pages bring their own), and nothing a user's credentials
opened may be stored by a cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from prosora_pipelines.api.app import create_app
from prosora_pipelines.api.security_headers import API_POLICY
from prosora_pipelines.lib.access.tokens import TokenConfig, mint_token
from prosora_pipelines.settings import Settings

SECRET = "h" * 40


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    root: Path = tmp_path_factory.mktemp("headers")
    settings = Settings(
        home=root / "home",
        jwt_secret=SECRET,
        database_url=f"sqlite:///{root / 'app.db'}",
        api_max_body_bytes=1024,
    )
    return TestClient(create_app(settings))


def _bearer(email: str) -> dict[str, str]:
    token = mint_token(TokenConfig(algorithm="HS256", secret=SECRET), email)
    return {"Authorization": f"Bearer {token}"}


def test_every_answer_forbids_sniffing_and_has_a_policy(client: TestClient) -> None:
    answers = {
        "authenticated": client.get("/api/v1/users/me/profile", headers=_bearer("h@example.com")),
        "unauthenticated": client.get("/api/v1/users/me/profile"),
        "invalid input": client.get("/api/v1/search", headers=_bearer("h@example.com")),
        "too large": client.put(
            "/api/v1/users/me/profile", headers=_bearer("h@example.com"), content=b"x" * 2048
        ),
        "unknown route": client.get("/nowhere"),
        "wrong method": client.delete("/health"),
        "liveness": client.get("/health"),
        "openapi": client.get("/openapi.json"),
    }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "authenticated": 200,
        "unauthenticated": 401,
        "invalid input": 422,
        "too large": 413,
        "unknown route": 404,
        "wrong method": 405,
        "liveness": 200,
        "openapi": 200,
    }
    for name, answer in answers.items():
        assert answer.headers["X-Content-Type-Options"] == "nosniff", name
        assert answer.headers["Content-Security-Policy"] == API_POLICY, name
        assert answer.headers["Referrer-Policy"] == "no-referrer", name
        assert "server" not in answer.headers, name


def test_nothing_behind_credentials_is_cached(client: TestClient) -> None:
    private = [
        client.get("/api/v1/users/me/profile", headers=_bearer("h@example.com")),
        client.get("/api/v1/users/me/profile"),
        client.get("/api/v1/no-such-route"),
        client.get("/metrics", headers=_bearer("h@example.com")),
    ]
    for answer in private:
        assert answer.headers["Cache-Control"] == "no-store", answer.request.url
    # Public, credential-free answers (the docs' files) stay cacheable.
    asset = client.get("/docs-assets/swagger-ui.css")
    assert asset.status_code == 200 and "no-store" not in asset.headers.get("Cache-Control", "")


def test_the_docs_pages_bring_their_own_policy(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        policy = client.get(page).headers["Content-Security-Policy"]
        assert policy != API_POLICY and "script-src 'self'" in policy, page
