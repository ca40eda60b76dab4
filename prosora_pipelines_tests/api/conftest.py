"""API test setup: a factory for apps over the bundled sample materialized once per session
(``materialized_home``, from ``support/materialized.py``), each app with its own app
database and a real client.

The materialized home is shared and read-only by contract: every app keeps its database
elsewhere, and the session fixture checks at the end that nothing in the home changed.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from prosora_pipelines.api.app import create_app
from prosora_pipelines.lib.access.tokens import TokenConfig, mint_token
from prosora_pipelines.lib.appdb.models import LearningPattern
from prosora_pipelines.lib.appdb.models import User as UserRow
from prosora_pipelines.settings import Settings

JWT_SECRET = "api-tests-secret-4f1c9a7e2b8d6035c1e9f7a"
assert len(JWT_SECRET) == 40
API = "/api/v1"
QUERY_TEXT = "AI regulation impact on fintech product strategy"
# One format and three variants: the cheapest query that still exercises every phase.
QUERY_OPTIONS: dict[str, Any] = {"formats": ["linkedin_post"], "variants_per_format": 3}


@dataclass
class Api:
    """One app under test: its settings, the app object and a client bound to it."""

    settings: Settings
    app: FastAPI
    client: TestClient

    def token(self, email: str, **claims: Any) -> str:
        """A valid token for ``email`` under this app's issuer and audience."""
        config = TokenConfig(
            algorithm="HS256",
            secret=JWT_SECRET,
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
        )
        return mint_token(config, email, **claims)

    def auth(self, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(email)}"}


@dataclass
class ApiUser:
    """A caller of one app: requests go out with their token."""

    api: Api
    email: str
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = self.api.auth(self.email)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """``method`` on ``/api/v1`` + ``path`` with the token (plus any ``headers`` given)."""
        headers = self.headers | kwargs.pop("headers", {})
        return self.api.client.request(method, API + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def ask(self, text: str = QUERY_TEXT, **options: Any) -> dict[str, Any]:
        """POST /queries and the 201 answer."""
        response = self.post("/queries", json={"text": text, "options": QUERY_OPTIONS | options})
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer


MakeApi = Callable[..., Api]


@pytest.fixture
def make_api(materialized_home: Path, tmp_path: Path) -> Iterator[MakeApi]:
    """``make_api(database_url=None, **settings)``: an app over the materialized home with
    a token key, and its client (started, so the lifespan runs). Without a database URL
    each app gets a new SQLite file under the test's tmp_path, never in the home."""
    numbers = itertools.count()
    with ExitStack() as started:

        def make(database_url: str | None = None, **overrides: Any) -> Api:
            default_url = f"sqlite:///{tmp_path / f'app-{next(numbers)}.db'}"
            values: dict[str, Any] = {
                "home": materialized_home,
                "jwt_secret": JWT_SECRET,
                "database_url": database_url or default_url,
                **overrides,
            }
            settings = Settings(**values)
            app = create_app(settings)
            client = started.enter_context(TestClient(app))
            assert app.state.context.wait_until_warm(timeout=120), "the model did not load"
            return Api(settings, app, client)

        yield make


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    """An app with default limits on a fresh SQLite database."""
    return make_api()


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The error body of ``response``, checked to be the one envelope with the request id."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert {"code", "message", "request_id"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    assert response.headers["X-Request-ID"] == error["request_id"]
    return error


def user_id_of(api: Api, email: str) -> uuid.UUID:
    """The id the app provisioned for ``email`` (read from the app database)."""
    with api.app.state.context.sessions() as session:
        user = session.scalars(select(UserRow).where(UserRow.email == email.lower())).one()
        found: uuid.UUID = user.id
        return found


def add_pattern(
    api: Api,
    owner: str | None,
    *,
    hook: str = "question",
    lift: float = 1.3,
    confidence: float = 0.8,
    active: bool = True,
) -> uuid.UUID:
    """A hook-type learning pattern written straight into the app database, as the learning
    pipeline would: for the user with email ``owner``, or global when None."""
    pattern = LearningPattern(
        user_id=user_id_of(api, owner) if owner else None,
        pattern_type="hook_type",
        pattern_data={
            "value": hook,
            "lift": lift,
            "interval": [round(lift - 0.1, 3), round(lift + 0.1, 3)],
            "samples": 40,
        },
        confidence=confidence,
        active=active,
    )
    with api.app.state.context.sessions.begin() as session:
        session.add(pattern)
    return pattern.id
