"""Why: ``make dev`` is how people meet the pipelines. The real webserver must start from
``workspace.yaml`` with the repo's ``dagster.yaml``, load the code location without error and
show the four assets; unit tests on the definitions cannot catch a broken workspace file,
instance config or code server start-up."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from prosora_pipelines.definitions import defs
from prosora_pipelines.settings import DAGSTER_INSTANCE_CONFIG

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBSERVER = Path(sys.executable).parent / "dagster-webserver"
STARTUP_TIMEOUT_SECONDS = 90.0

QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        locationOrLoadError {
          __typename
          ... on PythonError { message }
        }
      }
    }
  }
  assetNodes { assetKey { path } groupName }
}
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass(frozen=True)
class Webserver:
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def webserver(tmp_path: Path) -> Iterator[Webserver]:
    """A webserver started from the repo's workspace.yaml; stopped, with its children, after."""
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    shutil.copyfile(DAGSTER_INSTANCE_CONFIG, dagster_home / "dagster.yaml")
    port = _free_port()
    log_path = tmp_path / "webserver.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(WEBSERVER), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Webserver(f"http://127.0.0.1:{port}", log_path, process)
    finally:
        _stop(process)


def _wait_for_server_info(server: Webserver) -> dict[str, Any]:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"webserver exited with code {server.process.returncode}; its output:\n"
                f"{server.output()}"
            )
        try:
            response = httpx.get(f"{server.base_url}/server_info", timeout=5.0)
            if response.status_code == 200:
                info: dict[str, Any] = response.json()
                return info
            last_error = f"HTTP {response.status_code}"
        except httpx.TransportError as exc:
            last_error = repr(exc)
        time.sleep(0.25)
    pytest.fail(
        f"webserver did not answer /server_info within {STARTUP_TIMEOUT_SECONDS:.0f}s "
        f"({last_error}); its output:\n{server.output()}"
    )


def test_webserver_serves_the_asset_graph(webserver: Webserver) -> None:
    info = _wait_for_server_info(webserver)
    assert info.get("dagster_webserver_version"), info
    assert info.get("dagster_version"), info

    response = httpx.post(f"{webserver.base_url}/graphql", json={"query": QUERY}, timeout=30.0)
    assert response.status_code == 200, f"{response.text}\n{webserver.output()}"
    payload = response.json()
    assert "errors" not in payload, payload
    data = payload["data"]

    workspace = data["workspaceOrError"]
    assert workspace["__typename"] == "Workspace", workspace
    locations = {
        entry["name"]: entry["locationOrLoadError"] for entry in workspace["locationEntries"]
    }
    assert set(locations) == {"prosora_pipelines"}, locations
    assert locations["prosora_pipelines"]["__typename"] == "RepositoryLocation", (
        f"{locations}\n{webserver.output()}"
    )

    groups = {"/".join(node["assetKey"]["path"]): node["groupName"] for node in data["assetNodes"]}
    graph = defs().resolve_asset_graph()
    expected = {
        key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()
    }
    assert groups == expected
    assert {"source_catalog", "raw_entries", "articles", "article_index"} <= set(groups)
