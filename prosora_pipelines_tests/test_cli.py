"""Why: `make demo` is `prosora demo`, and the README's first steps are the command line; this
runs the demo as a user would (ingest with a progress bar, learning from the bundled
simulated feedback, then two answered queries), then
the query and profile commands against what it materialized, and the API's token and serve
commands."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from prosora_pipelines.cli import app
from prosora_pipelines.lib.access.tokens import TokenConfig, TokenVerifier
from prosora_pipelines.settings import get_settings

pytestmark = pytest.mark.integration


def _flat(output: str) -> str:
    return " ".join(output.split())


def test_query_before_any_index_says_what_to_do() -> None:
    result = CliRunner().invoke(app, ["query", "stablecoin reserve rules"])
    assert result.exit_code == 2
    assert "no article index" in _flat(result.output)
    assert "run `prosora materialize`" in _flat(result.output)


def test_unknown_formats_are_refused_before_any_work() -> None:
    result = CliRunner().invoke(app, ["query", "x", "--format", "tiktok"])
    assert result.exit_code == 2
    assert "unknown format tiktok" in _flat(result.output)


def test_demo_then_query_and_profile_commands() -> None:
    runner = CliRunner()
    demo = runner.invoke(app, ["demo"])
    assert demo.exit_code == 0, demo.output
    output = _flat(demo.output)
    assert "ingest" in output and "16/16" in output
    assert "Query: AI regulation impact on fintech product strategy" in output
    assert "Query: Write an X thread on stablecoin reserve rules" in output
    assert output.count("linkedin_post · ") == 3 and "intent x_thread" in output
    assert output.count("x_thread · ") == 1 + 3
    # The demo learns from the bundled simulated history, says it is simulated, shows the
    # learned patterns and the model beside the prior, and the queries then use both.
    assert "SIMULATED feedback history" in output and "not a real audience" in output
    assert "Active learned patterns" in output and "hook_type=story" in output
    assert "engagement-model-1 (promoted)" in output and "prior (hand-set)" in output
    assert output.count("predicted engagement") == 6
    assert output.count("(learned model engagement-model-1)") == 6
    assert output.count("post at ") == 6 and "follows what you learned:" in output

    answered = runner.invoke(
        app, ["query", "stablecoin reserve rules", "--format", "blog_outline", "--json"]
    )
    assert answered.exit_code == 0, answered.output
    result = json.loads(answered.output)
    assert result["status"] == "completed"
    # Up to four angles; two that pick the same statements are one draft.
    formats = [v["format"] for v in result["variants"]]
    assert 3 <= len(formats) <= 4 and set(formats) == {"blog_outline"}
    assert all(v["citations"] for v in result["variants"])

    changed = runner.invoke(
        app, ["profile", "set", "--audience", "treasury teams", "--avoid", "roadmap"]
    )
    assert changed.exit_code == 0, changed.output
    shown = runner.invoke(app, ["profile", "show", "--json"])
    profile = json.loads(shown.output)
    assert profile["audience"] == "treasury teams" and profile["phrases_to_avoid"] == ["roadmap"]
    assert profile["is_default"] is False
    clash = runner.invoke(app, ["profile", "set", "--use", "roadmap"])
    assert clash.exit_code == 2
    assert "both to use and to avoid" in _flat(clash.output)


def test_token_create_mints_a_token_the_api_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    refused = runner.invoke(app, ["token", "create", "--user", "alice@example.com"])
    assert refused.exit_code == 2 and "PROSORA_JWT_SECRET is not set" in _flat(refused.output)
    secret = "s" * 40
    monkeypatch.setenv("PROSORA_JWT_SECRET", secret)
    get_settings.cache_clear()
    minted = runner.invoke(app, ["token", "create", "--user", "Alice@Example.com", "--hours", "1"])
    assert minted.exit_code == 0, minted.output
    claims = TokenVerifier(TokenConfig(algorithm="HS256", secret=secret)).verify(
        minted.output.strip()
    )
    assert claims.subject == "alice@example.com"


def test_token_create_takes_every_address_the_api_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROSORA_JWT_SECRET", "s" * 40)
    runner = CliRunner()
    minted = runner.invoke(app, ["token", "create", "--user", "a@x"])
    assert minted.exit_code == 0, minted.output
    refused = runner.invoke(app, ["token", "create", "--user", "a" * 250 + "@x.io"])
    assert refused.exit_code == 2
    assert (
        refused.output.strip()
        == f"error: --user: subject {'a' * 250 + '@x.io'!r} is not an email address"
    )
    monkeypatch.setenv("PROSORA_JWT_SECRET", "short")
    get_settings.cache_clear()
    weak = runner.invoke(app, ["token", "create", "--user", "a@x"])
    assert weak.exit_code == 2
    assert weak.output.strip().startswith("error: PROSORA_JWT_SECRET: ")
    assert len(weak.output.strip().splitlines()) == 1


SECRET = "s" * 40


def _private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


# Each misconfiguration, and the setting its one line must start with.
MISCONFIGURATIONS: dict[str, tuple[dict[str, str], str]] = {
    "no-key": ({}, "no token key configured"),
    "rs256-with-secret": (
        {"PROSORA_JWT_ALGORITHM": "RS256", "PROSORA_JWT_SECRET": SECRET},
        "PROSORA_JWT_SECRET:",
    ),
    "short-secret": ({"PROSORA_JWT_SECRET": "short"}, "PROSORA_JWT_SECRET:"),
    "private-key": (
        {"PROSORA_JWT_ALGORITHM": "RS256", "PROSORA_JWT_PUBLIC_KEY_FILE": "{private_pem}"},
        "PROSORA_JWT_PUBLIC_KEY_FILE:",
    ),
    "missing-pem": (
        {"PROSORA_JWT_ALGORITHM": "RS256", "PROSORA_JWT_PUBLIC_KEY_FILE": "{missing}"},
        "PROSORA_JWT_PUBLIC_KEY_FILE:",
    ),
    "cors-wildcard": (
        {"PROSORA_JWT_SECRET": SECRET, "PROSORA_API_CORS_ORIGINS": '["*"]'},
        "PROSORA_API_CORS_ORIGINS",
    ),
    "cors-not-json": (
        {"PROSORA_JWT_SECRET": SECRET, "PROSORA_API_CORS_ORIGINS": "*"},
        "PROSORA_API_CORS_ORIGINS:",
    ),
    "not-a-number": (
        {"PROSORA_JWT_SECRET": SECRET, "PROSORA_API_WORKERS": "many"},
        "PROSORA_API_WORKERS:",
    ),
}


@pytest.mark.parametrize("case", MISCONFIGURATIONS)
def test_serve_names_a_misconfigured_setting_in_one_line(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private_pem = tmp_path / "private.pem"
    private_pem.write_text(_private_key_pem(), encoding="utf-8")
    places = {"private_pem": str(private_pem), "missing": str(tmp_path / "missing.pem")}
    variables, starts = MISCONFIGURATIONS[case]
    for name, value in variables.items():
        monkeypatch.setenv(name, value.format(**places))
    started: list[dict[str, object]] = []
    monkeypatch.setattr("uvicorn.run", lambda *_args, **kwargs: started.append(kwargs))
    result = CliRunner().invoke(app, ["serve"])
    assert not started, "the server started"
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {starts}"), lines[0]
    assert SECRET not in lines[0]


def test_every_command_names_a_misconfigured_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROSORA_FETCH_CONCURRENCY", "0")
    result = CliRunner().invoke(app, ["sources", "list"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: PROSORA_FETCH_CONCURRENCY: Input should be greater than or equal to 1"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_served_api_shows_no_banner_and_believes_only_configured_proxies(
    tmp_path: Path,
) -> None:
    # A real `prosora serve`: the banner and the forwarded headers are uvicorn's business,
    # which no in-process client sees. The proxy is 127.0.0.2; per-IP limits (2 a minute)
    # show which address the API believed each request came from.
    port = _free_port()
    environment = {
        **os.environ,
        "PROSORA_HOME": str(tmp_path / "home"),
        "PROSORA_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "PROSORA_JWT_SECRET": SECRET,
        "PROSORA_API_RATE_LIMIT_PER_MINUTE": "2",
        "PROSORA_API_FORWARDED_ALLOW_IPS": '["127.0.0.2"]',
    }
    command = [sys.executable, "-c", "from prosora_pipelines.cli import app; app()"]
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, "prosora serve exited"
                assert time.monotonic() < deadline, "prosora serve did not answer"
                time.sleep(0.2)
        assert health.status_code == 200
        assert "server" not in health.headers
        assert health.headers["X-Content-Type-Options"] == "nosniff"

        def statuses(local_address: str, forwarded_for: list[str]) -> list[int]:
            transport = httpx.HTTPTransport(local_address=local_address)
            with httpx.Client(base_url=base, transport=transport, timeout=10) as client:
                return [
                    client.get(
                        "/api/v1/users/me/profile", headers={"X-Forwarded-For": address}
                    ).status_code
                    for address in forwarded_for
                ]

        # Not from the proxy: the forwarded addresses are ignored, one budget for all three.
        assert statuses("127.0.0.1", ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [
            401,
            401,
            429,
        ]
        # From the proxy: each forwarded client has its own budget.
        assert statuses("127.0.0.2", ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) == [
            401,
            401,
            401,
        ]
        assert statuses("127.0.0.2", ["198.51.100.1"] * 2) == [401, 429]
    finally:
        server.terminate()
        server.wait(timeout=30)
