"""Why: past one host, the ingest job's steps fan out over Celery workers, and the embedding
step must land on the GPU workers only. Two real workers on the RabbitMQ at 127.0.0.1:5672
(one on the default queue, one on ``gpu``) run the ``ingest_on_celery`` job launched as an
operator launches it; the run's own events say which worker ran which step."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml

from prosora_pipelines.defs.step_queues import GPU_QUEUE
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines_tests.support.celery_workers import REPOSITORY, start_worker, stop_worker

pytestmark = pytest.mark.integration

RUN_TIMEOUT_SECONDS = 600
CELERY_WORKER_KEY = "Celery worker"


def _workers_by_step(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """Each step's Celery worker, from the engine event the worker logs as it starts it."""
    ran_on: dict[str, str] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or not event.is_engine_event or record.step_key is None:
            continue
        metadata = event.engine_event_data.metadata
        if CELERY_WORKER_KEY in metadata:
            ran_on[record.step_key] = str(metadata[CELERY_WORKER_KEY].value)
    return ran_on


def test_ingest_steps_run_on_two_workers_with_embedding_on_the_gpu_queue(
    isolated_home: Path, tmp_path: Path, broker_url: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "PROSORA_CELERY_BROKER_URL": broker_url,
        "PYTHONPATH": str(REPOSITORY),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    cpu_name, gpu_name = f"cpu-{suffix}", f"gpu-{suffix}"
    workers = [
        start_worker(cpu_name, ["dagster"], env, tmp_path / "cpu-worker.log"),
        start_worker(gpu_name, [GPU_QUEUE], env, tmp_path / "gpu-worker.log"),
    ]
    vhost = broker_url.rsplit("/", 1)[1]
    for kind in ("cpu", "gpu"):  # on the test's own virtual host, not the broker's default
        assert f"5672/{vhost}" in (tmp_path / f"{kind}-worker.log").read_text()
    run_config = tmp_path / "run.yaml"
    run_config.write_text(yaml.safe_dump({"ops": {"raw_entries": {"config": {"force": True}}}}))
    try:
        launched = subprocess.run(
            [
                str(Path(sys.executable).parent / "dagster"),
                "job",
                "execute",
                "-m",
                "prosora_pipelines.definitions",
                "-j",
                "ingest_on_celery",
                "-c",
                str(run_config),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
    finally:
        for worker in workers:
            stop_worker(worker)
    logs = "".join(
        (tmp_path / name).read_text(errors="replace")
        for name in ("cpu-worker.log", "gpu-worker.log")
    )
    assert launched.returncode == 0, launched.stderr[-3000:] + logs[-3000:]

    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        assert run.job_name == "ingest_on_celery" and run.is_success
        ran_on = _workers_by_step(instance, run.run_id)
    assert ran_on["article_index"] == f"{gpu_name}@{os.uname().nodename}"
    others = {step: host for step, host in ran_on.items() if step != "article_index"}
    assert {"source_catalog", "raw_entries", "articles", "trends"} <= set(others)
    assert set(others.values()) == {f"{cpu_name}@{os.uname().nodename}"}
    articles = TableStore(isolated_home).read_table("articles")
    assert articles is not None and articles.height > 100
