"""Running a Dagster job in this process while a progress bar follows its steps.

The job runs in a worker thread under a run id chosen here; the calling thread reads that
run's events from the instance (the same records the Dagster UI shows) and advances the bar
per finished step, showing the latest log line of the running step (for example the
embedding's "encoded 512/1043 chunks").
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import dagster as dg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

POLL_SECONDS = 0.25
FINISHED_STEP_EVENTS = {
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_SKIPPED,
}


def _describe(entry: Any) -> str | None:
    """A short line for the bar: the step's name and its latest message."""
    step = entry.step_key
    if entry.is_dagster_event:
        started = entry.dagster_event_type == dg.DagsterEventType.STEP_START
        return f"{step}: started" if started else None
    message = (entry.user_message or "").strip().splitlines()
    return f"{step}: {message[0][:80]}" if step and message else None


def execute_with_progress(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    run_config: dg.RunConfig,
    console: Console,
) -> dg.ExecuteInProcessResult:
    """``job.execute_in_process`` with a live progress bar; errors are in the result."""
    run_id = str(uuid.uuid4())
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = job.execute_in_process(
                run_config=run_config, instance=instance, raise_on_error=False, run_id=run_id
            )
        except BaseException as error:  # handed to the calling thread, which re-raises it
            outcome["error"] = error

    worker = threading.Thread(target=run, name=f"run-{run_id[:8]}", daemon=True)
    steps = len(job.graph.nodes)
    columns = (
        TextColumn("[bold]{task.fields[job]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("starting", total=steps, job=job.name)
        worker.start()
        seen = 0
        while True:
            running = worker.is_alive()
            entries = instance.all_logs(run_id) if instance.has_run(run_id) else []
            for entry in entries[seen:]:
                if entry.dagster_event_type in FINISHED_STEP_EVENTS:
                    progress.advance(task)
                description = _describe(entry)
                if description:
                    progress.update(task, description=description)
            seen = max(seen, len(entries))
            if not running:
                break
            worker.join(POLL_SECONDS)
        progress.update(task, description="done")
    if "error" in outcome:
        raise outcome["error"]
    result: dg.ExecuteInProcessResult = outcome["result"]
    return result
