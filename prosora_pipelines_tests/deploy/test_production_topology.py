"""Why: in production the code location, the webserver and the daemon are separate
processes that share only PostgreSQL and a gRPC port (deploy/workspace.yaml). A broken
workspace file, a run queue nobody drains, or a daemon that cannot reach the code server
passes every in-process test; here the three run as they do in containers, a
materialization goes through the webserver's GraphQL and the queue, and the daemon ticks
the schedule and the catalog sensor. Then the code server moves to a second host (a network
namespace), so a run really crosses a network boundary, as between containers or nodes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from prosora_pipelines_tests.deploy.conftest import DEPLOY, VENV_BIN, DeployedInstance
from prosora_pipelines_tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

LOCATION = "prosora_pipelines"
REPOSITORY = "__repository__"
WAIT_SECONDS = 120.0
DAEMON = (str(VENV_BIN / "dagster-daemon"), "run", "-w", str(DEPLOY / "workspace.yaml"))
T = TypeVar("T")

# The daemon starts a schedule declared RUNNING from the moment it first sees it, so it
# would tick only at the next full hour. Recording that it has been running since before
# the last full hour makes the daemon catch up on that one tick as it would after a restart.
SEED_SCHEDULE_STATE = textwrap.dedent(
    """
    import time
    import dagster as dg
    from dagster._core.scheduler.instigation import (
        InstigatorState, InstigatorStatus, InstigatorType, ScheduleInstigatorData,
    )
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    instance = dg.DagsterInstance.get()
    target = WorkspaceFileTarget(paths=[{workspace!r}])
    with WorkspaceProcessContext(instance, target) as workspace:
        location = workspace.create_request_context().get_code_location({location!r})
        schedule = location.get_repository({repository!r}).get_schedule("hourly_refresh")
        since = time.time() // 3600 * 3600 - 60
        instance.add_instigator_state(InstigatorState(
            schedule.get_remote_origin(), InstigatorType.SCHEDULE,
            InstigatorStatus.DECLARED_IN_CODE,
            ScheduleInstigatorData(schedule.cron_schedule, start_timestamp=since),
        ))
    """
)

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

RUN_STATUS = """
query Run($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }
"""

LINEAGE_AND_CHECKS = """
{
  assetNodes { assetKey { path } dependencyKeys { path } }
  assetCheckExecutions(
    assetKey: {path: ["source_health"]}, checkName: "some_enabled_source_succeeds", limit: 10
  ) { runId status evaluation { success } }
}
"""

TICKS = """
query Ticks($schedule: ScheduleSelector!, $sensor: SensorSelector!) {
  scheduleOrError(scheduleSelector: $schedule) {
    ... on Schedule { scheduleState { ticks(limit: 5) { status runIds timestamp } } }
  }
  sensorOrError(sensorSelector: $sensor) {
    ... on Sensor { sensorState { ticks(limit: 5) { status runIds } } }
  }
}
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(what: str, probe: Callable[[], T | None], logs: Path) -> T:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(1.0)
    tails = "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-2500:]}"
        for log in sorted(logs.glob("*.log"))
    )
    raise AssertionError(f"{what} did not happen within {WAIT_SECONDS:g} s\n{tails}")


@dataclass(frozen=True)
class Topology:
    base_url: str
    logs: Path
    env: dict[str, str]


class Processes:
    """The deployment's processes, each in its own process group (so the runs a code
    server starts stop with it), logged to files and stopped at the end."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs = logs
        self.env = env
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *command: str) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.started.append(
                subprocess.Popen(
                    command,
                    env=self.env,
                    cwd=self.logs,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def stop(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.started):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def topology(deployed_instance: DeployedInstance, tmp_path: Path) -> Iterator[Topology]:
    logs = tmp_path / "logs"
    logs.mkdir()
    code_port, web_port = _free_port(), _free_port()
    env = {
        **deployed_instance.env,
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
        "DAGSTER_CODE_SERVER_PORT": str(code_port),
    }
    workspace = str(DEPLOY / "workspace.yaml")
    processes = Processes(logs, env)
    try:
        processes.start("code-server", *_code_server("127.0.0.1", code_port))
        _wait_for("the code server answering", lambda: _serving("127.0.0.1", code_port), logs)
        # The webserver starts while the schedule's state is written beside it.
        processes.start("webserver", *_webserver(web_port))
        seeded = subprocess.run(
            [
                str(VENV_BIN / "python"),
                "-c",
                SEED_SCHEDULE_STATE.format(
                    workspace=workspace, location=LOCATION, repository=REPOSITORY
                ),
            ],
            env=env,
            check=False,
            timeout=60,
            capture_output=True,
            text=True,
        )
        assert seeded.returncode == 0, seeded.stderr[-3000:]
        base_url = f"http://127.0.0.1:{web_port}"
        _wait_for("the webserver answering", lambda: _answers(base_url), logs)
        # The daemon is left to the test, to start once a run waits in the queue.
        yield Topology(base_url, logs, env)
    finally:
        processes.stop()


def _code_server(host: str, port: int) -> tuple[str, ...]:
    return (
        *(str(VENV_BIN / "dagster"), "code-server", "start", "--host", host, "--port", str(port)),
        *("--module-name", "prosora_pipelines.definitions", "--location-name", LOCATION),
    )


def _webserver(port: int) -> tuple[str, ...]:
    workspace = str(DEPLOY / "workspace.yaml")
    return (
        str(VENV_BIN / "dagster-webserver"),
        "-w",
        workspace,
        "-h",
        "127.0.0.1",
        "-p",
        f"{port}",
    )


def _serving(host: str, port: int) -> bool | None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return True if sock.connect_ex((host, port)) == 0 else None


def _answers(base_url: str) -> bool | None:
    try:
        return True if httpx.get(f"{base_url}/server_info", timeout=2).is_success else None
    except httpx.HTTPError:
        return None


def _queue_ingest_run(base_url: str) -> str:
    """Launch the catalog, raw entries and source health (with its check) over GraphQL, as
    the UI does; returns the run's id. With no daemon yet, the run waits in the queue
    instead of starting in the webserver."""
    launched = _graphql(
        base_url,
        LAUNCH,
        {
            "params": {
                "selector": {
                    "repositoryLocationName": LOCATION,
                    "repositoryName": REPOSITORY,
                    "jobName": "__ASSET_JOB",
                    "assetSelection": [
                        {"path": ["source_catalog"]},
                        {"path": ["raw_entries"]},
                        {"path": ["source_health"]},
                    ],
                    "assetCheckSelection": [
                        {
                            "assetKey": {"path": ["source_health"]},
                            "name": "some_enabled_source_succeeds",
                        }
                    ],
                },
                # Shares the ingest job's writer limit, as a run from the UI would need to.
                "executionMetadata": {"tags": [{"key": "prosora/writes", "value": "store"}]},
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    assert launched["run"]["status"] == "QUEUED"
    run_id: str = launched["run"]["runId"]
    return run_id


def _wait_for_run(base_url: str, run_id: str, logs: Path) -> str:
    """The run's final status, once it has one."""

    def finished() -> str | None:
        status: str = _graphql(base_url, RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
        return status if status in {"SUCCESS", "FAILURE", "CANCELED"} else None

    return _wait_for("the queued run finishing", finished, logs)


def _graphql(base_url: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = httpx.post(
        f"{base_url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
    )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def test_materialization_through_the_queue_and_daemon_ticks(
    topology: Topology,
) -> None:
    base_url, logs = topology.base_url, topology.logs
    run_id = _queue_ingest_run(base_url)
    processes = Processes(logs, topology.env)
    try:
        processes.start("daemon", *DAEMON)
        assert _wait_for_run(base_url, run_id, logs) == "SUCCESS"

        found = _graphql(base_url, LINEAGE_AND_CHECKS)
        upstream = {
            node["assetKey"]["path"][0]: {key["path"][0] for key in node["dependencyKeys"]}
            for node in found["assetNodes"]
        }
        assert upstream["raw_entries"] == {"source_catalog"}
        assert "raw_entries" in upstream["source_health"]
        # Later runs (the schedule's, the sensor's) may have checked it again since.
        executions = {execution["runId"]: execution for execution in found["assetCheckExecutions"]}
        ours = executions[run_id]
        assert ours["status"] == "SUCCEEDED" and ours["evaluation"]["success"]

        selectors = {
            "schedule": {
                "repositoryLocationName": LOCATION,
                "repositoryName": REPOSITORY,
                "scheduleName": "hourly_refresh",
            },
            "sensor": {
                "repositoryLocationName": LOCATION,
                "repositoryName": REPOSITORY,
                "sensorName": "catalog_change_sensor",
            },
        }

        def ticked() -> tuple[list[Any], list[Any]] | None:
            data = _graphql(base_url, TICKS, selectors)
            schedule = data["scheduleOrError"]["scheduleState"]["ticks"]
            sensor = data["sensorOrError"]["sensorState"]["ticks"]
            done = {"SUCCESS", "FAILURE", "SKIPPED"}
            schedule_done = [tick for tick in schedule if tick["status"] in done]
            sensor_done = [tick for tick in sensor if tick["status"] in done]
            return (schedule_done, sensor_done) if schedule_done and sensor_done else None

        schedule_ticks, sensor_ticks = _wait_for("a schedule and a sensor tick", ticked, logs)
        # The catch-up tick is the last whole hour (or the one after it, when the test runs
        # across an hour): a schedule tick that launched a run.
        assert any(
            tick["status"] == "SUCCESS" and tick["runIds"] and tick["timestamp"] % 3600 == 0
            for tick in schedule_ticks
        ), schedule_ticks
        # A fresh deployment has never seen the catalog: the sensor asks for a forced ingest.
        assert any(tick["status"] == "SUCCESS" and tick["runIds"] for tick in sensor_ticks)
    finally:
        processes.stop()


@dataclass(frozen=True)
class SecondHost:
    """A network namespace joined to this one by a veth pair: to TCP another host, with its
    own loopback and address, sharing only the file system with this one."""

    namespace: str
    address: str
    gateway: str
    """This host's address on the link between them."""


def _ip(*arguments: str) -> None:
    subprocess.run(["ip", *arguments], check=True, capture_output=True, timeout=30)


@pytest.fixture
def second_host() -> Iterator[SecondHost]:
    suffix = uuid.uuid4().hex[:6]
    namespace, outer, inner = f"prosora-{suffix}", f"vp{suffix}", f"vq{suffix}"
    subnet = f"10.233.{int(suffix[:2], 16)}"
    gateway, address = f"{subnet}.1", f"{subnet}.2"
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", namespace)
        _ip("addr", "add", f"{gateway}/30", "dev", outer)
        _ip("link", "set", outer, "up")
        _ip("-n", namespace, "addr", "add", f"{address}/30", "dev", inner)
        _ip("-n", namespace, "link", "set", inner, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        yield SecondHost(namespace, address, gateway)
    finally:
        # Deleting the namespace deletes the pair with it; the link may be left only when
        # moving its end into the namespace failed.
        subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", outer], check=False, capture_output=True)


def test_a_run_crosses_a_network_boundary_to_the_code_servers_host(
    deployed_instance: DeployedInstance, second_host: SecondHost, tmp_path: Path
) -> None:
    """The code server, and so every run worker it starts, lives on a second host: it
    reaches PostgreSQL only through this host's address on the link, and the webserver and
    daemon here reach it only over the link. A queued run launched here executes there."""
    logs = tmp_path / "logs"
    logs.mkdir()
    postgres = (
        deployed_instance.env["DAGSTER_POSTGRES_HOST"],
        int(deployed_instance.env["DAGSTER_POSTGRES_PORT"]),
    )
    # PostgreSQL listens on this host's loopback only, as a database server would listen
    # on a private address: the second host reaches it through this host's link address.
    database = TcpProxy(postgres, listen_host=second_host.gateway)
    database.start()
    code_port, web_port = _free_port(), _free_port()
    remote_home = tmp_path / "second-host-home"
    remote = Processes(
        logs,
        {
            **deployed_instance.env,
            "DAGSTER_POSTGRES_HOST": second_host.gateway,
            "DAGSTER_POSTGRES_PORT": str(database.port),
            "PROSORA_HOME": str(remote_home),
        },
    )
    local = Processes(
        logs,
        {
            **deployed_instance.env,
            "DAGSTER_CODE_SERVER_HOST": second_host.address,
            "DAGSTER_CODE_SERVER_PORT": str(code_port),
        },
    )
    try:
        in_namespace = ("ip", "netns", "exec", second_host.namespace)
        remote.start("code-server", *in_namespace, *_code_server(second_host.address, code_port))
        _wait_for(
            "the second host's code server answering over the link",
            lambda: _serving(second_host.address, code_port),
            logs,
        )
        code_server = remote.started[0].pid
        network = Path(f"/proc/{code_server}/ns/net").readlink()
        assert network != Path("/proc/self/ns/net").readlink()
        local.start("webserver", *_webserver(web_port))
        base_url = f"http://127.0.0.1:{web_port}"
        _wait_for("the webserver answering", lambda: _answers(base_url), logs)
        run_id = _queue_ingest_run(base_url)
        connections_before_run = database.accepted
        local.start("daemon", *DAEMON)
        assert _wait_for_run(base_url, run_id, logs) == "SUCCESS"

        # The run worker wrote the second host's home, not this one's ...
        written = {path.name for path in remote_home.rglob("*")}
        assert "raw_entries" in " ".join(written), sorted(written)[:20]
        local_home = Path(deployed_instance.env["PROSORA_HOME"])
        assert not local_home.exists() or not any(
            "raw_entries" in str(path) for path in local_home.rglob("*")
        )
        # ... and stored its events in PostgreSQL across the link.
        assert database.accepted > connections_before_run
    finally:
        local.stop()
        remote.stop()
        database.stop()
