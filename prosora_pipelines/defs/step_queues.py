"""Where a step runs when a job fans its steps out: the Celery queue, or the Kubernetes pod.

Only tags: under the default in-process executor they change nothing. Assets that run or
train the embedding model carry ``GPU_STEP_TAGS``. dagster-celery sends them to the ``gpu`` queue,
which only the workers on GPU hosts consume (``-q gpu``); Dagster's ``k8s_job_executor``
(and the Celery-on-Kubernetes executor) starts their step pod with the ``dagster-k8s/config``
below: on the GPU node pool (its taint tolerated), with one GPU. deploy/README.md shows
both set-ups.
"""

from typing import Any

GPU_QUEUE = "gpu"
GPU_NODE_TAINT = "nvidia.com/gpu"
GPU_STEP_TAGS: dict[str, Any] = {
    "dagster-celery/queue": GPU_QUEUE,
    "dagster-k8s/config": {
        "pod_spec_config": {
            "node_selector": {"prosora.io/pool": GPU_QUEUE},
            "tolerations": [{"key": GPU_NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}],
        },
        "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
    },
}
