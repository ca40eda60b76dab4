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
    once that step started. (Dagster's webserver/daemon topology with the queued run
    coordinator is not measured here.)

Figures are wall times on whatever machine runs this; the README of deploy/ extrapolates
from them. Run: ``.venv/bin/python benchmarks/scale.py`` from the repository root;
``--quick`` runs 1× only and one round of (b); ``--multiples 1 4`` picks the sizes of (a).
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


def _first_step_started(dagster_home: Path) -> float | None:
    """The wall-clock time of the first STEP_START in the instance, if any yet."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        stamps = [
            entry.timestamp
            for run in instance.get_runs()
            for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1× only, one round of (b)")
    parser.add_argument(
        "--multiples", type=int, nargs="+", default=MULTIPLES, help="corpus sizes for (a)"
    )
    parser.add_argument(
        "--sections", nargs="+", choices=("a", "b"), default=("a", "b"), help="what to run"
    )
    parser.add_argument("--time-limit", type=int, default=7200, help="seconds before giving up")
    arguments = parser.parse_args()
    start_time_limit(arguments.time_limit)
    if "b" in arguments.sections:
        queue_section(1 if arguments.quick else QUEUE_ROUNDS)
    if "a" in arguments.sections:
        storage_section(QUICK_MULTIPLES if arguments.quick else tuple(arguments.multiples))
    stop_time_limit()


if __name__ == "__main__":
    main()
