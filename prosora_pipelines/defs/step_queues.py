"""Which Celery queue a step goes to when a job runs on the Celery executor.

Only a tag: under the default in-process executor it changes nothing. Assets that run the
embedding model carry ``GPU_STEP_TAGS`` so the workers on GPU hosts (``-q gpu``) take them;
Kubernetes deployments route the same queue to the GPU node pool (deploy/README.md).
"""

GPU_QUEUE = "gpu"
GPU_STEP_TAGS = {"dagster-celery/queue": GPU_QUEUE}
