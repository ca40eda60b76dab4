"""Why: nothing here can start Docker or Kubernetes, so the deployment files are checked
the way those tools would read them: every YAML parses, the Dockerfile lints clean, the
Kubernetes manifests and the pod parts of the Helm values validate against the Kubernetes
schemas, every component is given the settings it cannot run without, and images, ports
and limits agree from one file to the next. A typo in any of them would otherwise show
only on the operator's first deploy."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import dagster as dg
import kubernetes_validate
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config
from dagster_docker.container_context import DockerContainerContext
from docker.types import HostConfig

from prosora_pipelines.defs.distributed import BROKER_URL_VARIABLE
from prosora_pipelines.settings import Settings, env_name
from prosora_pipelines_tests.deploy.conftest import DEPLOY, REPO_ROOT, VENV_BIN

KUBERNETES = DEPLOY / "kubernetes"
MANIFESTS = ["prosora-api.yaml", "prosora-storage.yaml", "prosora-workers.yaml"]
KUBERNETES_VERSION = kubernetes_validate.utils.latest_version()
PROJECT_VERSION = re.search(
    r'version="([^"]+)"', (REPO_ROOT / "setup.py").read_text(encoding="utf-8")
)
assert PROJECT_VERSION is not None

# The code's defaults suit one laptop, not a deployment: PROSORA_HOME would be a folder
# inside the container instead of the shared volume, the catalog the bundled sample, the app
# database a SQLite file per container, the API would refuse to start without a token key,
# and each API replica would count rate limits on its own.
PIPELINE = {"PROSORA_HOME", "PROSORA_CATALOG", "PROSORA_DATABASE_URL"}
API = {"PROSORA_HOME", "PROSORA_DATABASE_URL", "PROSORA_JWT_SECRET", "PROSORA_REDIS_URL"}
DAGSTER_POSTGRES = {
    "DAGSTER_POSTGRES_HOST",
    "DAGSTER_POSTGRES_PORT",
    "DAGSTER_POSTGRES_USER",
    "DAGSTER_POSTGRES_PASSWORD",
    "DAGSTER_POSTGRES_DB",
}
CODE_SERVER_PORT = 4000
API_PORT = 8000


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _setting_names() -> set[str]:
    names = set()
    for field_name, field in Settings.model_fields.items():
        names.add(env_name(field_name))
        alias = field.validation_alias
        names.update(getattr(alias, "choices", []) if alias is not None else [])
    return {str(name) for name in names}


def _container_env(container: dict[str, Any]) -> set[str]:
    return {entry["name"] for entry in container.get("env", [])}


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.y*ml")), ids=lambda p: p.name)
def test_every_yaml_file_parses(path: Path) -> None:
    assert _documents(path)


def test_dockerfile_lints_clean() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "hadolint"), "--no-color", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_non_root_and_keeps_secrets_out() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM \S+ AS (\S+)$", text, flags=re.MULTILINE)
    assert {"build", "runtime", "code-location", "api"} <= set(stages)
    assert re.search(r"^ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim", text, flags=re.MULTILINE)
    assert "ARG TORCH_VARIANT=cpu" in text
    assert re.search(r"^USER 10001:10001$", text, flags=re.MULTILINE)
    assert text.count("HEALTHCHECK") == 2
    assert not re.search(r"(PASSWORD|SECRET|API_KEY|TOKEN)\s*=", text)


def test_both_dagster_instances_are_valid_and_differ_only_in_the_run_launcher(
    tmp_path: Path,
) -> None:
    for name in ("dagster.yaml", "dagster-docker.yaml"):
        home = tmp_path / name
        home.mkdir()
        (home / "dagster.yaml").write_bytes((DEPLOY / name).read_bytes())
        dagster_instance_config(str(home))
    plain, docker = _yaml(DEPLOY / "dagster.yaml"), _yaml(DEPLOY / "dagster-docker.yaml")
    assert docker.pop("run_launcher")["class"] == "DockerRunLauncher"
    assert plain == docker
    assert plain["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert plain["concurrency"]["pools"]["default_limit"] == 1


def test_the_docker_run_launcher_passes_each_pipeline_setting_to_runs() -> None:
    launcher = _yaml(DEPLOY / "dagster-docker.yaml")["run_launcher"]["config"]
    assert set(launcher["env_vars"]) >= PIPELINE | DAGSTER_POSTGRES
    compose = _yaml(DEPLOY / "docker-compose.yml")
    assert launcher["network"] in compose["networks"].values() or launcher["network"] in {
        network.get("name") for network in compose["networks"].values()
    }
    volume = launcher["container_kwargs"]["volumes"][0].split(":")[0]
    assert compose["volumes"][volume]["name"] == volume


def test_compose_services_get_what_they_need() -> None:
    services = _yaml(DEPLOY / "docker-compose.yml")["services"]
    needs = {
        "migrate": DAGSTER_POSTGRES,
        "code-server": DAGSTER_POSTGRES | PIPELINE,
        "webserver": DAGSTER_POSTGRES | {"DAGSTER_CODE_SERVER_HOST", "DAGSTER_CODE_SERVER_PORT"},
        "daemon": DAGSTER_POSTGRES | PIPELINE | {"DAGSTER_CODE_SERVER_PORT"},
        "api": API,
    }
    for name, required in needs.items():
        missing = required - set(services[name]["environment"])
        assert not missing, f"{name} lacks {sorted(missing)}"
    for name in ("postgres", "redis", "webserver", "daemon"):
        assert "healthcheck" in services[name], name
    assert services["postgres"]["volumes"][0].startswith("postgres-data:")
    assert "/var/run/docker.sock:/var/run/docker.sock" in services["daemon"]["volumes"]
    assert services["ollama"]["profiles"] == ["ollama"]
    gpu = services["ollama-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert services["migrate"]["command"] == ["dagster", "instance", "migrate"]
    for name in ("code-server", "webserver", "daemon"):
        assert services[name]["depends_on"], name
    # Values are references to deploy/.env, never the secrets themselves.
    for service in services.values():
        for key, value in service.get("environment", {}).items():
            if re.search("PASSWORD|SECRET", key):
                assert str(value).startswith("${"), key


def test_every_prosora_variable_in_the_deploy_files_is_a_real_setting() -> None:
    known = _setting_names()
    used: set[str] = set()
    for path in [*DEPLOY.rglob("*.y*ml"), DEPLOY / "Dockerfile"]:
        used |= set(re.findall(r"\bPROSORA_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")))
    # Image names and the compose-only variable choosing them are not settings; the Celery
    # broker URL is read from the environment by Dagster's executor config when a run starts.
    used -= {"PROSORA_CODE_IMAGE", "PROSORA_API_IMAGE", BROKER_URL_VARIABLE}
    assert used - known == set()


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifests_validate_against_the_kubernetes_schemas(name: str) -> None:
    for document in _documents(KUBERNETES / name):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def _deployments() -> dict[str, dict[str, Any]]:
    found = {}
    for name in MANIFESTS:
        for document in _documents(KUBERNETES / name):
            if document["kind"] == "Deployment":
                found[document["metadata"]["name"]] = document["spec"]["template"]["spec"]
    return found


def test_kubernetes_workloads_get_what_they_need() -> None:
    deployments = _deployments()
    api = deployments["prosora-api"]["containers"][0]
    assert _container_env(api) >= API
    secret_backed = {
        entry["name"]
        for entry in api["env"]
        if entry.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "prosora-secrets"
    }
    assert {"PROSORA_DATABASE_URL", "PROSORA_JWT_SECRET"} <= secret_backed
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    for worker in ("prosora-worker-cpu", "prosora-worker-gpu"):
        env = _container_env(deployments[worker]["containers"][0])
        assert env >= PIPELINE | DAGSTER_POSTGRES, worker
    gpu = deployments["prosora-worker-gpu"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu["nodeSelector"] and gpu["tolerations"]
    assert gpu["containers"][0]["command"][-2:] == ["--queue", "gpu"]
    hpa = next(
        doc
        for doc in _documents(KUBERNETES / "prosora-api.yaml")
        if doc["kind"] == "HorizontalPodAutoscaler"
    )
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_helm_values_pod_parts_validate_and_carry_the_settings() -> None:
    """The chart's own schema is not vendored here; what the chart hands to Kubernetes
    unchanged (env, volumes, probes, resources, security contexts) is validated as the Pod
    it becomes, and the Dagster parts are compared with deploy/dagster.yaml."""
    values = _yaml(KUBERNETES / "dagster-values.yaml")
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    user_code = values["dagster-user-deployments"]
    assert user_code["enabled"]
    (deployment,) = user_code["deployments"]
    assert _container_env(deployment) >= PIPELINE
    assert deployment["port"] == CODE_SERVER_PORT
    assert deployment["includeConfigInLaunchedRuns"]["enabled"]
    container = {
        "name": "code",
        "image": f"{deployment['image']['repository']}:{deployment['image']['tag']}",
        "env": deployment["env"],
        "volumeMounts": deployment["volumeMounts"],
        "resources": deployment["resources"],
        **values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["containerConfig"],
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "user-code"},
        "spec": {
            "containers": [container],
            "volumes": deployment["volumes"],
            "securityContext": deployment["podSecurityContext"],
        },
    }
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)

    instance = _yaml(DEPLOY / "dagster.yaml")
    concurrency = values["concurrency"]
    assert concurrency["enabled"]
    assert concurrency["pools"]["defaultLimit"] == instance["concurrency"]["pools"]["default_limit"]
    runs = instance["concurrency"]["runs"]
    assert concurrency["runs"]["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert concurrency["runs"]["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]
    retries = values["dagsterDaemon"]["runRetries"]
    assert retries["maxRetries"] == instance["run_retries"]["max_retries"]
    dagster_version = dg.__version__
    assert values["dagsterWebserver"]["image"]["tag"] == dagster_version
    assert values["dagsterDaemon"]["image"]["tag"] == dagster_version


def test_images_and_ports_agree_across_files() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    exposed = dict(re.findall(r"^FROM runtime AS (\S+)\nEXPOSE (\d+)", dockerfile, re.MULTILINE))
    assert exposed == {"code-location": str(CODE_SERVER_PORT), "api": str(API_PORT)}
    assert f'"--port", "{CODE_SERVER_PORT}"' in dockerfile
    assert f'"--port", "{API_PORT}"' in dockerfile

    services = _yaml(DEPLOY / "docker-compose.yml")["services"]
    assert str(CODE_SERVER_PORT) in services["code-server"]["command"]
    assert services["webserver"]["environment"]["DAGSTER_CODE_SERVER_PORT"] == str(CODE_SERVER_PORT)
    assert services["api"]["ports"] == [f"127.0.0.1:{API_PORT}:{API_PORT}"]

    version = PROJECT_VERSION.group(1)
    images = [services[name]["image"] for name in ("code-server", "webserver", "daemon", "api")]
    values = _yaml(KUBERNETES / "dagster-values.yaml")
    (user_code,) = values["dagster-user-deployments"]["deployments"]
    images.append(f"{user_code['image']['repository']}:{user_code['image']['tag']}")
    for deployment in _deployments().values():
        images += [container["image"] for container in deployment["containers"]]
    for image in images:
        assert re.search(r"prosora-(code|code-cuda|api):", image), image
        assert image.rstrip("}").endswith(f":{version}"), image

    api = _deployments()["prosora-api"]["containers"][0]
    assert api["ports"][0]["containerPort"] == API_PORT
    assert api["command"][-1] == str(API_PORT)
    workspace = (DEPLOY / "workspace.yaml").read_text(encoding="utf-8")
    assert "DAGSTER_CODE_SERVER_PORT" in workspace


def test_the_compose_file_mentions_no_image_without_a_pinned_tag() -> None:
    services = _yaml(DEPLOY / "docker-compose.yml")["services"]
    for name, service in services.items():
        image = service["image"]
        tag = image.rstrip("}").rsplit(":", 1)[-1]
        assert re.fullmatch(r"\d+(\.\d+)+(-[a-z0-9]+)?", tag), (name, image)


def test_the_documented_gpu_run_context_reaches_the_container_as_a_gpu_request() -> None:
    """deploy/README.md's RUN_CONTAINER_CONTEXT, as the code server passes it on: Dagster's
    Docker run launcher must take it, and the Docker client must turn its device request
    into the engine's DeviceRequests."""
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    documented = re.search(r"RUN_CONTAINER_CONTEXT='([^']+)'", readme)
    assert documented is not None
    context = DockerContainerContext.create_from_config(json.loads(documented.group(1)))
    host = HostConfig(version="1.44", device_requests=context.container_kwargs["device_requests"])
    (request,) = host["DeviceRequests"]
    assert (request["Driver"], request["Count"], request["Capabilities"]) == (
        "nvidia",
        1,
        [["gpu"]],
    )
    services = _yaml(DEPLOY / "docker-compose.yml")["services"]
    passed = services["code-server"]["environment"]["DAGSTER_CONTAINER_CONTEXT"]
    assert passed == "${RUN_CONTAINER_CONTEXT:-null}"
