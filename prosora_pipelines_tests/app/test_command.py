"""Why: `prosora app` is how the app is started (by hand and by `make dev`). It must bind only
where asked, never open a browser or send usage statistics (these machines are offline and
the app is self-hosted), never show tracebacks to writers, and refuse an API address that is
not one before starting anything."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from prosora_pipelines.cli import app
from prosora_pipelines.cli.web_app import APP_SCRIPT, streamlit_arguments


def test_streamlit_is_started_on_the_address_asked_for_quietly_and_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[list[str]] = []
    monkeypatch.setattr(
        "streamlit.web.cli.main", lambda arguments, **_: started.append(list(arguments))
    )
    result = CliRunner().invoke(app, ["app", "--port", "8765"])
    assert result.exit_code == 0, result.output
    assert started == [streamlit_arguments("127.0.0.1", 8765)]
    flags = dict(zip(started[0][2::2], started[0][3::2], strict=True))
    assert started[0][:2] == ["run", str(APP_SCRIPT)] and APP_SCRIPT.is_file()
    assert flags["--server.address"] == "127.0.0.1"
    assert flags["--server.port"] == "8765"
    assert flags["--server.headless"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert flags["--client.showErrorDetails"] == "none"


def test_an_api_address_that_is_not_one_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROSORA_API_URL", "127.0.0.1:8000")
    monkeypatch.setattr("streamlit.web.cli.main", lambda *_, **__: pytest.fail("started"))
    result = CliRunner().invoke(app, ["app"])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: PROSORA_API_URL: String should match")
