"""Celery step workers for the distributed-steps tests, on the RabbitMQ at 127.0.0.1:5672.

Each test gets its own RabbitMQ virtual host, so its ``dagster`` and ``gpu`` queues are
its own: nothing another test run (or a stale worker) publishes or consumes can reach it.
Workers start through ``dagster-celery worker start`` with the deploy folder's config, as
an operator starts them, each in its own process group so that stopping one stops the
Celery processes it forked too.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

RABBITMQ = "127.0.0.1:5672"
REPOSITORY = Path(__file__).resolve().parents[2]
WORKER_CONFIG = REPOSITORY / "deploy" / "celery.yaml"
STOP_WAIT_SECONDS = 20
READY_WAIT_SECONDS = 90


def _rabbitmqctl(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", *arguments], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def broker_url() -> Iterator[str]:
    """The URL of a fresh RabbitMQ virtual host the guest user may use; removed afterwards."""
    vhost = f"prosora-test-{uuid.uuid4().hex[:12]}"
    made = _rabbitmqctl("add_vhost", vhost) if shutil.which("rabbitmqctl") else None
    if made is None or made.returncode != 0:
        reason = f"cannot add a RabbitMQ virtual host: {made.stderr if made else 'no rabbitmqctl'}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true requires the Celery tests to run)")
        pytest.skip(reason)
    try:
        allowed = _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        assert allowed.returncode == 0, allowed.stderr
        yield f"pyamqp://guest:guest@{RABBITMQ}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def start_worker(
    name: str, queues: list[str], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """A Celery step worker named ``name`` consuming ``queues``, one task at a time, once it
    says it is ready; fails the test with its output when it stops or takes too long."""
    # One -q with a comma-separated list: given several, Celery 5 keeps only the last.
    queue_options = ["-q", ",".join(queues)]
    scripts = str(Path(sys.executable).parent)
    env = {**env, "PATH": f"{scripts}{os.pathsep}{env.get('PATH', '')}"}  # it runs `celery`
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "dagster-celery"),
                "worker",
                "start",
                "-A",
                "dagster_celery.app",
                "-y",
                str(WORKER_CONFIG),
                "-n",
                name,
                *queue_options,
                "--",
                "--concurrency=1",
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + READY_WAIT_SECONDS
    while b" ready." not in log.read_bytes():
        if worker.poll() is not None or time.monotonic() > deadline:
            stop_worker(worker)
            pytest.fail(f"Celery worker {name} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return worker


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """Stop the worker and every process it started (its own process group)."""
    for stop in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(worker.pid, stop)
        except ProcessLookupError:
            return  # the whole group is gone
        try:
            worker.wait(timeout=STOP_WAIT_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue
