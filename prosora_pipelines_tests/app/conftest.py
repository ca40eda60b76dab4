"""App test setup: the real API served by uvicorn on a loopback port over the sample
materialized once per session (``support/materialized.py``), and AppTests of the
writers' app signed in to it."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from streamlit.testing.v1 import AppTest

from prosora_pipelines.api.app import create_app
from prosora_pipelines.app.session import API_TOKEN, API_URL
from prosora_pipelines.lib.access.tokens import TokenConfig, mint_token
from prosora_pipelines.settings import Settings
from prosora_pipelines_tests.api.conftest import JWT_SECRET

APP_SCRIPT = Path(__file__).resolve().parents[2] / "prosora_pipelines" / "app" / "main.py"
# A query streams in a few hundred milliseconds on the sample; reruns of the pages in
# milliseconds. The allowance covers a busy shared CI machine.
APP_TIMEOUT_SECONDS = 60.0


@dataclass
class LiveApi:
    """An API served on a loopback port, with tokens for its users."""

    url: str
    settings: Settings
    server: uvicorn.Server

    def token(self, email: str) -> str:
        config = TokenConfig(
            algorithm="HS256",
            secret=JWT_SECRET,
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
        )
        return mint_token(config, email)


def serve(settings: Settings) -> Iterator[LiveApi]:
    """The API app for ``settings`` under uvicorn in a thread, warm, until the caller is done."""
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name="live-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the API did not start"
        assert time.monotonic() < deadline, "the API did not start within a minute"
        time.sleep(0.05)
    assert app.state.context.wait_until_warm(timeout=120), "the model did not load"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", settings, server)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def live_api(
    materialized_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    """One API for the app tests (each test signs in as a user of its own), with limits
    no test reaches."""
    database = tmp_path_factory.mktemp("app-api") / "app.db"
    yield from serve(
        Settings(
            home=materialized_home,
            jwt_secret=JWT_SECRET,
            database_url=f"sqlite:///{database}",
            api_rate_limit_per_minute=100_000,
        )
    )


@pytest.fixture(scope="session")
def limited_api(
    materialized_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    """An API allowing one request unit a minute: any question is refused with 429."""
    database = tmp_path_factory.mktemp("limited-api") / "app.db"
    yield from serve(
        Settings(
            home=materialized_home,
            jwt_secret=JWT_SECRET,
            database_url=f"sqlite:///{database}",
            api_rate_limit_per_minute=1,
        )
    )


_users = itertools.count()
OpenApp = Callable[..., AppTest]


@pytest.fixture
def open_app(live_api: LiveApi) -> OpenApp:
    """``open_app(page=None, api=live_api, email=None)``: the app signed in as a new user
    (or ``email``), run once on ``page`` (a path under app/, e.g. ``pages/history.py``)."""

    def open_(
        page: str | None = None, api: LiveApi = live_api, email: str | None = None
    ) -> AppTest:
        app = AppTest.from_file(str(APP_SCRIPT), default_timeout=APP_TIMEOUT_SECONDS)
        app.session_state[API_URL] = api.url
        app.session_state[API_TOKEN] = api.token(email or f"writer-{next(_users)}@example.com")
        app.run()
        if page is not None:
            app.switch_page(page)
            app.run()
        return app

    return open_


def texts(app: AppTest) -> str:
    """Everything the app shows as text (markdown, captions, alerts, titles), one a line."""
    parts: list[Any] = [
        *app.title,
        *app.header,
        *app.subheader,
        *app.markdown,
        *app.caption,
        *app.info,
        *app.warning,
        *app.error,
        *app.success,
    ]
    return "\n".join(str(part.value) for part in parts)


def assert_no_exception(app: AppTest) -> None:
    assert not app.exception, [exception.value for exception in app.exception]
