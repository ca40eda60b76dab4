"""Why: ``make dev`` is how people meet the product. On a fresh home it must start the Dagster
UI, the API and the writers' app (signed in by itself) on the ports asked for, print the
three addresses, without a warning on the terminal, and stop on Ctrl-C; a taken port must
stop it before anything starts, with one line that says which port and how to choose
another, not a traceback buried in the servers' logs."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_SECONDS = 150.0
# Make may not reinstall into the running interpreter's environment during a test.
MAKE = [
    "make",
    "--no-print-directory",
    "-o",
    f"{sys.prefix}/.installed",
    "dev",
    f"VENV={sys.prefix}",
]
WARNING = re.compile(r'\bWARNING\b|Warning:|warnings\.warn|"level": "warning"')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _make_dev(*assignments: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAKE, *assignments],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("variable", ["DAGSTER_PORT", "API_PORT", "APP_PORT"])
def test_a_taken_port_stops_make_dev_before_anything_starts(variable: str, taken_port: int) -> None:
    ports = {
        "DAGSTER_PORT": _free_port(),
        "API_PORT": _free_port(),
        "APP_PORT": _free_port(),
        variable: taken_port,
    }
    result = _make_dev(*(f"{name}={port}" for name, port in ports.items()), timeout=120)
    assert result.returncode != 0
    assert f"make dev: port {taken_port} on 127.0.0.1 ({variable}) is taken" in result.stderr
    assert f"make dev {variable}=<free port>" in result.stderr
    assert "API token" not in result.stdout
    assert "Traceback" not in result.stderr


def test_one_port_for_both_servers_is_refused() -> None:
    port = _free_port()
    result = _make_dev(
        f"DAGSTER_PORT={port}", f"API_PORT={port}", f"APP_PORT={_free_port()}", timeout=120
    )
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 (API_PORT) is taken" in result.stderr


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


def test_make_dev_serves_all_three_on_the_chosen_ports_without_warnings(tmp_path: Path) -> None:
    dagster_port, api_port, app_port = _free_port(), _free_port(), _free_port()
    log_path = tmp_path / "make-dev.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*MAKE, f"DAGSTER_PORT={dagster_port}", f"API_PORT={api_port}", f"APP_PORT={app_port}"],
            cwd=REPO_ROOT,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not (
            _answers(f"http://127.0.0.1:{dagster_port}/server_info")
            and _answers(f"http://127.0.0.1:{api_port}/health")
            and _answers(f"http://127.0.0.1:{app_port}/_stcore/health")
        ):
            output = log_path.read_text(errors="replace")
            assert process.poll() is None, f"make dev exited early:\n{output}"
            assert time.monotonic() < deadline, f"make dev did not answer in time:\n{output}"
            time.sleep(0.5)
        response = httpx.post(
            f"http://127.0.0.1:{dagster_port}/graphql",
            json={
                "query": "{ workspaceOrError { ... on Workspace { locationEntries { "
                "locationOrLoadError { __typename } } } } }"
            },
            timeout=30.0,
        )
        entries = response.json()["data"]["workspaceOrError"]["locationEntries"]
        assert [e["locationOrLoadError"]["__typename"] for e in entries] == ["RepositoryLocation"]
        printed = log_path.read_text(errors="replace")
        assert f"Dagster UI: http://127.0.0.1:{dagster_port}" in printed
        assert f"API:        http://127.0.0.1:{api_port}" in printed
        assert f"App:        http://127.0.0.1:{app_port}" in printed
        # The app's token is the development token make dev minted: the API accepts it.
        token = re.search(r"API token for me@prosora.local: (\S+)", printed)
        assert token is not None, printed
        profile = httpx.get(
            f"http://127.0.0.1:{api_port}/api/v1/users/me/profile",
            headers={"Authorization": f"Bearer {token.group(1)}"},
            timeout=10.0,
        )
        assert profile.status_code == 200, profile.text
    finally:
        # What Ctrl-C in the terminal does: SIGINT to the whole foreground group.
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            pytest.fail("make dev did not stop within 90 s of Ctrl-C")
    output = log_path.read_text(errors="replace")
    assert [line for line in output.splitlines() if WARNING.search(line)] == []
    assert "Launching Dagster services" in output
    assert not _answers(f"http://127.0.0.1:{api_port}/health")
    assert not _answers(f"http://127.0.0.1:{app_port}/_stcore/health")


def test_an_api_that_cannot_start_stops_make_dev_before_dagster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROSORA_JWT_SECRET", "too-short")
    result = _make_dev(
        f"DAGSTER_PORT={_free_port()}",
        f"API_PORT={_free_port()}",
        f"APP_PORT={_free_port()}",
        timeout=180,
    )
    assert result.returncode != 0
    assert "make dev: the API did not start (its output is above)" in result.stderr
    assert "Launching Dagster services" not in result.stdout + result.stderr
