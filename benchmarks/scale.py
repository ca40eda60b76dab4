"""Scale benchmark: what a deployment pays for object storage and for distributed steps.

(a) Ingest → index wall time at 1×, 4× and 16× the bundled sample corpus, with the tables
    and the LanceDB index on local disk and on an S3-compatible server (moto's server
    mode on loopback, a child process). The ingest stage parses the sample feeds and
    builds their articles once, then writes the articles table at N× (each canonical
    article copied N times under new ids and URLs, so every copy is chunked and encoded);
    the index stage is the ``article_index`` asset's library call,
    :func:`prosora_pipelines.lib.index.store.refresh_article_index`: read the table from
    the store, chunk, encode, write LanceDB and build its full-text index. Encoding is the
    same work on both stores, so the index stage is split into encode and write seconds:
    the write part is what the object store adds.
(b) Run-queue overhead: seconds from launching a run to its first step starting, for the
    in-process ``prosora materialize`` and for the ``ingest_on_celery`` job launched with
    ``dagster job execute`` onto one ready Celery worker (RabbitMQ at 127.0.0.1:5672, on a
    virtual host made for this benchmark and removed after). Both read the first
    ``STEP_START`` event's time from the run's own Dagster instance; the runs are stopped
    once that step started.
(c) The same for the deploy topology: ``dagster code-server start``, ``dagster-webserver``
    and ``dagster-daemon`` as separate processes on ``deploy/dagster.yaml`` with a fresh
    PostgreSQL database (``PROSORA_BENCH_POSTGRES_URL``, default the local server), the
    ingest job launched over the webserver's GraphQL into the queued run coordinator, which
    the daemon drains into a run worker the code server starts. Each run is terminated
    once its first step started, and the next waits until it has ended.

Figures are wall times on whatever machine runs this; the README of deploy/ extrapolates
from them. Run: ``.venv/bin/python benchmarks/scale.py`` from the repository root;
``--quick`` runs 1× only and one round of (b) and (c); ``--multiples 1 4`` picks the sizes
of (a); ``--sections b c`` picks what runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import polars as pl  # noqa: E402

from benchmarks.measuring import start_time_limit, stop_time_limit, timed  # noqa: E402
from prosora_pipelines.lib.articles.building import articles_frame  # noqa: E402
from prosora_pipelines.lib.index.embedding import Embedder, load_embedder  # noqa: E402
from prosora_pipelines.lib.index.store import refresh_article_index  # noqa: E402
from prosora_pipelines.lib.index.vector_store import ArticleIndex  # noqa: E402
from prosora_pipelines.lib.sample_corpus import sample_articles  # noqa: E402
from prosora_pipelines.lib.storage_location import StorageLocation  # noqa: E402
from prosora_pipelines.lib.table_names import ARTICLES_TABLE  # noqa: E402
from prosora_pipelines.lib.table_store import TableStore  # noqa: E402

MULTIPLES = (1, 4, 16)
QUICK_MULTIPLES = (1,)
QUEUE_ROUNDS = 3
REGION = "us-east-1"
SERVER_START_SECONDS = 60.0
FIRST_STEP_WAIT_SECONDS = 600.0
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start on port {port}") from None
            time.sleep(0.1)


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server on a free loopback port, with credentials in the environment."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "benchmark")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "benchmark")
    try:
        _wait_for_port(port, server, "moto's S3 server")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def _new_bucket(endpoint: str) -> str:
    import boto3

    name = f"scale-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    client.create_bucket(Bucket=name)
    return name


def replicated(frame: pl.DataFrame, multiple: int) -> pl.DataFrame:
    """``frame`` with every article ``multiple`` times, copies under new ids and URLs."""
    copies = [
        frame.with_columns(
            (pl.col("id") + f"-copy{copy}").alias("id"),
            (pl.col("url") + f"#copy{copy}").alias("url"),
            (pl.col("canonical_url") + f"#copy{copy}").alias("canonical_url"),
        )
        if copy
        else frame
        for copy in range(multiple)
    ]
    return pl.concat(copies)


def ingest_and_index(
    location: StorageLocation, articles: pl.DataFrame, embedder: Embedder
) -> dict[str, float]:
    """Seconds of each stage: write the articles table, then refresh the index from it."""
    tables = TableStore(location)
    write_seconds, _ = timed(tables.write_table, ARTICLES_TABLE, articles)
    index_seconds, refresh = timed(
        refresh_article_index,
        tables,
        ArticleIndex.at(location),
        load_embedder=lambda: embedder,
        batch_size=64,
    )
    return {
        "ingest_write": write_seconds,
        "index": index_seconds,
        "encode": refresh.report.encode_seconds,
        "index_write": refresh.report.write_seconds,
        "chunks": float(refresh.report.chunks),
    }


def storage_section(multiples: tuple[int, ...]) -> None:
    print("(a) ingest → index, local disk vs S3-compatible server (moto on loopback)", flush=True)
    started = time.perf_counter()
    built, _ = sample_articles()
    frame = articles_frame(built).filter(pl.col("duplicate_of").is_null())
    parse_seconds = time.perf_counter() - started
    print(f"    sample feeds parsed and built once: {frame.height} articles, {parse_seconds:.2f} s")
    embedder = load_embedder()
    header = f"    {'size':>4} {'store':<6} {'articles':>8} {'chunks':>7} {'table write':>11}"
    print(header + f" {'encode':>8} {'index write':>11} {'ingest→index':>13} {'chunks/s':>9}")
    with s3_server() as endpoint, tempfile.TemporaryDirectory() as scratch:
        for multiple in multiples:
            articles = replicated(frame, multiple)
            for store in ("local", "s3"):
                home = Path(scratch) / f"{store}-{multiple}"
                location = (
                    StorageLocation(home)
                    if store == "local"
                    else StorageLocation(
                        home,
                        f"s3://{_new_bucket(endpoint)}/prosora",
                        endpoint=endpoint,
                        region=REGION,
                    )
                )
                figures = ingest_and_index(location, articles, embedder)
                total = figures["ingest_write"] + figures["index"]
                print(
                    f"    {multiple:>3}× {store:<6} {articles.height:>8} {figures['chunks']:>7.0f}"
                    f" {figures['ingest_write']:>10.2f}s {figures['encode']:>7.2f}s"
                    f" {figures['index_write']:>10.2f}s {total:>12.2f}s"
                    f" {figures['chunks'] / figures['index']:>9.1f}",
                    flush=True,
                )


def _rabbitmqctl(*arguments: str) -> None:
    subprocess.run(["rabbitmqctl", *arguments], capture_output=True, check=True, timeout=60)


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    vhost = f"prosora-bench-{uuid.uuid4().hex[:10]}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def _first_step_started(dagster_home: Path, run_id: str | None = None) -> float | None:
    """The wall-clock time of the first STEP_START in the instance (of ``run_id`` when
    given), if any yet."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run_ids = [run_id] if run_id else [run.run_id for run in instance.get_runs()]
        stamps = [
            entry.timestamp
            for each in run_ids
            for entry in instance.all_logs(each, of_type=dg.DagsterEventType.STEP_START)
        ]
    return min(stamps) if stamps else None


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    for stop in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, stop)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


def launch_to_first_step(command: list[str], env: dict[str, str], dagster_home: Path) -> float:
    """Seconds from starting ``command`` to its run's first step starting; stops it then."""
    errors = dagster_home.parent / "launch.log"
    launched_at = time.time()
    with errors.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + FIRST_STEP_WAIT_SECONDS
        while (started := _first_step_started(dagster_home)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                ended, said = process.poll(), errors.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"no step started (exit {ended}): {' '.join(command)}\n{said}")
            time.sleep(0.25)  # the figure comes from the event's own time, not from polling
        return started - launched_at
    finally:
        _stop_group(process)


def _fresh_environment(scratch: Path, name: str, broker: str) -> tuple[dict[str, str], Path]:
    dagster_home = scratch / name / "dagster"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(
        (REPO_ROOT / "prosora_pipelines" / "dagster.yaml").read_text()
    )
    import dagster as dg

    # Create the instance's storage now: the launched process and this one's polling would
    # otherwise race to create the same SQLite tables.
    with dg.DagsterInstance.from_config(str(dagster_home)):
        pass
    env = {key: value for key, value in os.environ.items() if not key.startswith("PROSORA_")}
    env.update(
        PROSORA_HOME=str(scratch / name / "home"),
        DAGSTER_HOME=str(dagster_home),
        PROSORA_CELERY_BROKER_URL=broker,
        PYTHONPATH=str(REPO_ROOT),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    return env, dagster_home


def queue_section(rounds: int) -> None:
    print("(b) run-queue overhead: launch → first step started", flush=True)
    in_process: list[float] = []
    on_celery: list[float] = []
    with rabbitmq_vhost() as broker, tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        worker_env, _ = _fresh_environment(scratch, "worker", broker)
        worker_log = scratch / "worker.log"
        worker_command = [str(BIN / "dagster-celery"), "worker", "start", "-A"]
        worker_command += ["dagster_celery.app", "-y", str(REPO_ROOT / "deploy" / "celery.yaml")]
        worker_command += ["-q", "dagster,gpu", "-n", f"bench-{uuid.uuid4().hex[:6]}"]
        with worker_log.open("wb") as log:
            worker = subprocess.Popen(
                [*worker_command, "--", "--concurrency=1"],
                env=worker_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + SERVER_START_SECONDS
            while b" ready." not in worker_log.read_bytes():
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Celery worker did not start: {worker_log.read_text()}")
                time.sleep(0.2)
            for round_number in range(rounds):
                env, home = _fresh_environment(scratch, f"in-process-{round_number}", broker)
                command = [str(BIN / "prosora"), "materialize", "--force"]
                in_process.append(launch_to_first_step(command, env, home))
                env, home = _fresh_environment(scratch, f"celery-{round_number}", broker)
                command = [str(BIN / "dagster"), "job", "execute", "-m"]
                command += ["prosora_pipelines.definitions", "-j", "ingest_on_celery"]
                on_celery.append(launch_to_first_step(command, env, home))
        finally:
            _stop_group(worker)
    for label, seconds in (
        ("prosora materialize (in process)", in_process),
        ("ingest_on_celery (dagster job execute, 1 worker)", on_celery),
    ):
        spread = f"{min(seconds):.2f}–{max(seconds):.2f}" if len(seconds) > 1 else "(1 run)"
        print(f"    {label:<50} median {statistics.median(seconds):6.2f} s  {spread}")


LAUNCH_INGEST = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""
TERMINATE = "mutation Stop($runId: String!) { terminateRun(runId: $runId) { __typename } }"
RUN_STATUS = "query Status($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"
ENDED = {"SUCCESS", "FAILURE", "CANCELED"}
CODE_LOCATION = "prosora_pipelines"
REPOSITORY = {"repositoryLocationName": CODE_LOCATION, "repositoryName": "__repository__"}
INSTIGATORS = """
query Instigators($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    ... on Repository {
      sensors { id sensorState { status } }
      schedules { id scheduleState { status } }
    }
  }
}
"""
STOP_SENSOR = "mutation Stop($id: String!) { stopSensor(id: $id) { __typename } }"
STOP_SCHEDULE = "mutation Stop($id: String!) { stopRunningSchedule(id: $id) { __typename } }"


@contextmanager
def postgres_database() -> Iterator[dict[str, str]]:
    """A new, empty database on the benchmark's PostgreSQL server, as the ``DAGSTER_POSTGRES_*``
    variables of deploy/dagster.yaml; dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(
        os.environ.get(
            "PROSORA_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"
        )
    )
    name = f"prosora_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield {
            "DAGSTER_POSTGRES_HOST": server.host or "127.0.0.1",
            "DAGSTER_POSTGRES_PORT": str(server.port or 5432),
            "DAGSTER_POSTGRES_USER": server.username or "postgres",
            "DAGSTER_POSTGRES_PASSWORD": server.password or "",
            "DAGSTER_POSTGRES_DB": name,
        }
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _graphql(base_url: str, query: str, variables: dict[str, object]) -> dict[str, Any]:
    import httpx

    response = httpx.post(
        f"{base_url}/graphql", json={"query": query, "variables": variables}, timeout=60
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    if "errors" in body:
        raise RuntimeError(f"GraphQL refused {query.split()[1]}: {body['errors']}")
    data: dict[str, Any] = body["data"]
    return data


def _webserver_answers(base_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{base_url}/server_info", timeout=2).is_success
    except httpx.HTTPError:
        return False


def _start_logged(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop_instigators(base_url: str) -> None:
    """Stop every sensor and schedule, so only the measured runs enter the queue (a fresh
    deployment's catalog sensor would otherwise start an ingest that holds the writers'
    slot)."""
    found = _graphql(base_url, INSTIGATORS, {"selector": REPOSITORY})["repositoryOrError"]
    for sensor in found["sensors"]:
        if sensor["sensorState"]["status"] == "RUNNING":
            _graphql(base_url, STOP_SENSOR, {"id": sensor["id"]})
    for schedule in found["schedules"]:
        if schedule["scheduleState"]["status"] == "RUNNING":
            _graphql(base_url, STOP_SCHEDULE, {"id": schedule["id"]})


def _topology_round(base_url: str, dagster_home: Path) -> float:
    """Seconds from launching the ingest job over GraphQL to its first step starting."""
    launched_at = time.time()
    selector = {**REPOSITORY, "jobName": "ingest"}
    launched = _graphql(base_url, LAUNCH_INGEST, {"params": {"selector": selector}})["launchRun"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"the webserver did not launch the run: {launched}")
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + FIRST_STEP_WAIT_SECONDS
    while (started := _first_step_started(dagster_home, run_id)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} started no step within {FIRST_STEP_WAIT_SECONDS} s")
        time.sleep(0.25)  # the figure comes from the event's own time, not from polling
    _graphql(base_url, TERMINATE, {"runId": run_id})
    while _graphql(base_url, RUN_STATUS, {"runId": run_id})["runOrError"]["status"] not in ENDED:
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} did not end after it was terminated")
        time.sleep(0.5)
    return started - launched_at


def topology_section(rounds: int) -> None:
    print("(c) deploy topology: GraphQL launch → queue → daemon → first step started", flush=True)
    seconds: list[float] = []
    with postgres_database() as database, tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        dagster_home = scratch / "dagster"
        dagster_home.mkdir()
        (dagster_home / "dagster.yaml").write_text(
            (REPO_ROOT / "deploy" / "dagster.yaml").read_text()
        )
        code_port, web_port = _free_port(), _free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("PROSORA_")}
        env.update(
            database,
            PROSORA_HOME=str(scratch / "home"),
            DAGSTER_HOME=str(dagster_home),
            DAGSTER_CODE_SERVER_HOST="127.0.0.1",
            DAGSTER_CODE_SERVER_PORT=str(code_port),
            PYTHONPATH=str(REPO_ROOT),
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
        )
        os.environ.update(database)  # this process reads the run's events from the instance
        workspace = str(REPO_ROOT / "deploy" / "workspace.yaml")
        base_url = f"http://127.0.0.1:{web_port}"
        started: list[subprocess.Popen[bytes]] = []
        try:
            code_server = [str(BIN / "dagster"), "code-server", "start", "--host", "127.0.0.1"]
            code_server += ["--port", str(code_port), "-m", "prosora_pipelines.definitions"]
            code_server += ["--location-name", CODE_LOCATION]
            started.append(_start_logged(code_server, env, scratch / "code-server.log"))
            _wait_for_port(code_port, started[-1], "the code server")
            webserver = [str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1"]
            started.append(
                _start_logged([*webserver, "-p", str(web_port)], env, scratch / "webserver.log")
            )
            deadline = time.monotonic() + SERVER_START_SECONDS
            while not _webserver_answers(base_url):
                if started[-1].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the webserver did not start")
                time.sleep(0.2)
            _stop_instigators(base_url)
            daemon = [str(BIN / "dagster-daemon"), "run", "-w", workspace]
            started.append(_start_logged(daemon, env, scratch / "daemon.log"))
            seconds = [_topology_round(base_url, dagster_home) for _ in range(rounds)]
        finally:
            for process in reversed(started):
                _stop_group(process)
    spread = f"{min(seconds):.2f}–{max(seconds):.2f}" if len(seconds) > 1 else "(1 run)"
    label = "ingest via webserver → queue → daemon (PostgreSQL)"
    print(f"    {label:<50} median {statistics.median(seconds):6.2f} s  {spread}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1× only, one round of (b), (c)")
    parser.add_argument(
        "--multiples", type=int, nargs="+", default=MULTIPLES, help="corpus sizes for (a)"
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=("a", "b", "c"),
        default=("a", "b", "c"),
        help="what to run",
    )
    parser.add_argument("--time-limit", type=int, default=7200, help="seconds before giving up")
    arguments = parser.parse_args()
    start_time_limit(arguments.time_limit)
    if "b" in arguments.sections:
        queue_section(1 if arguments.quick else QUEUE_ROUNDS)
    if "c" in arguments.sections:
        topology_section(1 if arguments.quick else QUEUE_ROUNDS)
    if "a" in arguments.sections:
        storage_section(QUICK_MULTIPLES if arguments.quick else tuple(arguments.multiples))
    stop_time_limit()


if __name__ == "__main__":
    main()
