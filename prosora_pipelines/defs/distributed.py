"""The ingest job with each step on a Celery worker: the deployment choice for more than one
host. The ``ingest`` job stays in one process (the default); this one fans its steps out
over the workers listening on RabbitMQ.

Steps that run the embedding model carry ``GPU_STEP_TAGS``, which sends them to the ``gpu``
queue, served by the workers on GPU hosts; every other step goes to dagster-celery's
default ``dagster`` queue. The broker URL is read by the executor from
``PROSORA_CELERY_BROKER_URL`` when a run starts, so its password is never part of the job's
stored config.
"""

import dagster as dg
from dagster_celery import celery_executor

from prosora_pipelines.defs.sources.automation import INGEST_SELECTION

BROKER_URL_VARIABLE = "PROSORA_CELERY_BROKER_URL"
CELERY_EXECUTOR_CONFIG = {"broker": {"env": BROKER_URL_VARIABLE}, "backend": "rpc://"}
"""The same block goes into the workers' ``dagster-celery worker start -y`` file
(deploy/celery.yaml): workers and runs must agree on the broker."""

ingest_on_celery_job = dg.define_asset_job(
    name="ingest_on_celery",
    selection=INGEST_SELECTION,
    executor_def=celery_executor.configured(CELERY_EXECUTOR_CONFIG),
    description="The ingest job with each step on a Celery worker; embedding steps on the "
    "gpu queue.",
)
