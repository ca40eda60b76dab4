"""Why: the Dagster graph is the product's contract with the scheduler and the UI. Its shape
(assets, groups, dependencies, kinds, owners, automation, checks and whether they block, jobs,
schedules, sensors) must change only on purpose, so it is kept as a committed snapshot
(``__snapshots__/test_definitions/``) whose diff shows in review. After a deliberate change:

    pytest prosora_pipelines_tests/defs/test_definitions.py --snapshot-update

Loading the graph must stay cheap (no ML libraries), ``dg check defs`` must pass, and the
sensor that re-fetches on a catalog edit must behave as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pytest
import yaml
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from prosora_pipelines.definitions import defs as load_defs
from prosora_pipelines.defs.sources.resources import SourceCatalogResource
from prosora_pipelines.settings import DAGSTER_INSTANCE_CONFIG

if TYPE_CHECKING:
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = Path(sys.executable).parent
HEAVY_MODULES = ("torch", "sentence_transformers", "lancedb", "sklearn")

TINY_CATALOG = """\
version: 1
sources:
  - id: ledger-line
    name: Ledger Line
    url: https://ledger-line.example/feed.xml
    kind: rss
    tier: premium
    credibility: 0.9
    domains: [finance]
"""


@pytest.fixture
def definitions() -> dg.Definitions:
    return load_defs()


def _asset_entry(graph: AssetGraph, key: dg.AssetKey) -> dict[str, object]:
    node = graph.get(key)
    condition = node.automation_condition
    return {
        "group": node.group_name,
        "upstream": sorted(parent.to_user_string() for parent in node.parent_keys),
        "kinds": sorted(node.kinds),
        "owners": sorted(node.owners),
        "code_version": node.code_version,
        "automation": None if condition is None else condition.get_label() or condition.name,
        "pool": getattr(node.assets_def.node_def, "pool", None),
        "resources": _resources(node.assets_def),
        "checks": {
            check.name: {
                "blocking": graph.get_check_spec(check).blocking,
                "resources": _resources(graph.assets_def_for_key(check)),
            }
            for check in sorted(node.check_keys, key=lambda check: check.name)
        },
    }


def _resources(definition: dg.AssetsDefinition) -> list[str]:
    """Resources a node needs, less the I/O manager that Dagster gives every node."""
    return sorted(definition.required_resource_keys - {"io_manager"})


def _keys(keys: Iterable[dg.AssetKey]) -> list[str]:
    return sorted(key.to_user_string() for key in keys)


def graph_snapshot(definitions: dg.Definitions) -> dict[str, object]:
    """The shape of the code location: assets, checks, jobs, schedules and sensors."""
    graph = definitions.resolve_asset_graph()
    jobs = [
        definitions.resolve_implicit_global_asset_job_def(),
        *definitions.resolve_all_job_defs(),
    ]
    schedules = [definitions.resolve_schedule_def(s.name) for s in definitions.schedules or []]
    sensors = [definitions.resolve_sensor_def(s.name) for s in definitions.sensors or []]
    return {
        "assets": {
            key.to_user_string(): _asset_entry(graph, key) for key in graph.get_all_asset_keys()
        },
        "jobs": {
            job.name: {
                "assets": _keys(job.asset_layer.executable_asset_keys),
                "executor": job.executor_def.name,
            }
            for job in jobs
        },
        "schedules": {
            schedule.name: {
                "job": schedule.job_name,
                "cron": schedule.cron_schedule,
                "timezone": schedule.execution_timezone,
                "default_status": schedule.default_status.value,
            }
            for schedule in schedules
        },
        "sensors": {
            sensor.name: {
                "type": sensor.sensor_type.value,
                "job": sensor.job_name if sensor.has_jobs else None,
                "assets": None
                if sensor.asset_selection is None
                else _keys(sensor.asset_selection.resolve(graph)),
                "minimum_interval_seconds": sensor.minimum_interval_seconds,
                "default_status": sensor.default_status.value,
                "resources": sorted(sensor.required_resource_keys),
            }
            for sensor in sensors
        },
    }


def test_code_location_matches_snapshot(
    definitions: dg.Definitions, snapshot: SnapshotAssertion
) -> None:
    """On a deliberate change, rewrite the snapshot and commit it with the change:
    ``pytest prosora_pipelines_tests/defs/test_definitions.py --snapshot-update``."""
    assert graph_snapshot(definitions) == snapshot(extension_class=JSONSnapshotExtension)


LEARNING_ASSETS = {"engagement_observations", "learning_patterns", "engagement_model"}


def test_ingest_job_selects_every_asset_but_learning(definitions: dg.Definitions) -> None:
    job = definitions.resolve_job_def("ingest")
    selected = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert selected == _asset_names(definitions) - LEARNING_ASSETS
    assert "source_catalog" in selected


def test_engagement_job_selects_the_learning_assets(definitions: dg.Definitions) -> None:
    job = definitions.resolve_job_def("engagement")
    selected = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert selected == LEARNING_ASSETS
    assert definitions.resolve_schedule_def("daily_learning").job_name == "engagement"
    sensor = definitions.resolve_sensor_def("feedback_arrival")
    assert sensor.job_name == "engagement"
    assert sensor.required_resource_keys == {"app_database", "learning"}


def _asset_names(definitions: dg.Definitions) -> set[str]:
    return {key.to_user_string() for key in definitions.resolve_all_asset_keys()}


def test_hourly_schedule_targets_ingest(definitions: dg.Definitions) -> None:
    schedule = definitions.resolve_schedule_def("hourly_refresh")
    assert schedule.cron_schedule == "0 * * * *"
    assert schedule.job_name == "ingest"

    with dg.build_schedule_context() as context:
        tick = schedule.evaluate_tick(context)
    assert tick.skip_message is None
    assert tick.run_requests is not None
    assert len(tick.run_requests) == 1
    # The default config (fetch only what is due) must be valid for the job.
    dg.validate_run_config(definitions.resolve_job_def("ingest"), tick.run_requests[0].run_config)


def test_catalog_sensor_is_registered_for_ingest(definitions: dg.Definitions) -> None:
    sensor = definitions.resolve_sensor_def("catalog_change_sensor")
    assert sensor.job_name == "ingest"
    assert sensor.required_resource_keys == {"catalog"}


def test_every_asset_and_check_is_described(definitions: dg.Definitions) -> None:
    undescribed_assets = [
        spec.key.to_user_string()
        for spec in definitions.resolve_all_asset_specs()
        if not (spec.description or "").strip()
    ]
    graph = definitions.resolve_asset_graph()
    undescribed_checks = [
        key.name
        for key in graph.asset_check_keys
        if not (graph.get_check_spec(key).description or "").strip()
    ]
    assert undescribed_assets == []
    assert undescribed_checks == []


STORAGE_KINDS = {"parquet", "lancedb", "json", "sql"}


def test_every_asset_names_its_owner_code_version_and_storage(
    definitions: dg.Definitions,
) -> None:
    described = {
        spec.key.to_user_string(): (
            bool(spec.owners),
            spec.code_version is not None,
            bool(set(spec.kinds) & STORAGE_KINDS),
        )
        for spec in definitions.resolve_all_asset_specs()
    }
    assert described == dict.fromkeys(_asset_names(definitions), (True, True, True))


def test_loading_definitions_does_not_import_ml_libraries(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from prosora_pipelines.definitions import defs\n"
        "defs()\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert imported == [], f"loading the definitions imported {imported}"


def _run_dg(*arguments: str) -> None:
    """``dg`` from this venv, as if activated, on an instance with the bundled config."""
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    (dagster_home / "dagster.yaml").write_text(
        DAGSTER_INSTANCE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8"
    )
    env = os.environ.copy()
    env["VIRTUAL_ENV"] = sys.prefix
    env["PATH"] = os.pathsep.join([str(SCRIPTS_DIR), env.get("PATH", "")])
    result = subprocess.run(
        [str(SCRIPTS_DIR / "dg"), *arguments],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_dg_check_defs_passes() -> None:
    _run_dg("check", "defs")


@pytest.fixture
def catalog_sensor(definitions: dg.Definitions) -> dg.SensorDefinition:
    return definitions.resolve_sensor_def("catalog_change_sensor")


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(TINY_CATALOG, encoding="utf-8")
    return path


def _evaluate(
    sensor: dg.SensorDefinition, catalog_path: Path, cursor: str | None
) -> dg.SensorResult | dg.SkipReason:
    resource = SourceCatalogResource(path=str(catalog_path))
    with dg.build_sensor_context(cursor=cursor, resources={"catalog": resource}) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult | dg.SkipReason), result
    return result


def _single_request(result: dg.SensorResult | dg.SkipReason) -> dg.RunRequest:
    assert isinstance(result, dg.SensorResult), result
    assert result.run_requests is not None
    assert len(result.run_requests) == 1
    return result.run_requests[0]


def test_catalog_sensor_forces_a_fetch_once_per_catalog_version(
    definitions: dg.Definitions, catalog_sensor: dg.SensorDefinition, catalog_file: Path
) -> None:
    resource = SourceCatalogResource(path=str(catalog_file))
    assert [s.id for s in resource.load().sources] == ["ledger-line"]
    fingerprint = resource.fingerprint()

    first = _evaluate(catalog_sensor, catalog_file, cursor=None)
    request = _single_request(first)
    assert isinstance(first, dg.SensorResult)
    assert first.cursor == fingerprint
    assert request.run_key == f"None->{fingerprint}"
    assert request.run_config["ops"] == {"raw_entries": {"config": {"force": True}}}
    assert request.tags.get("prosora/trigger") == "catalog-changed"
    dg.validate_run_config(definitions.resolve_job_def("ingest"), request.run_config)

    unchanged = _evaluate(catalog_sensor, catalog_file, cursor=fingerprint)
    assert isinstance(unchanged, dg.SkipReason)
    assert unchanged.skip_message == "catalog unchanged"

    catalog_file.write_text(
        TINY_CATALOG.replace("credibility: 0.9", "credibility: 0.8"), encoding="utf-8"
    )
    edited = _evaluate(catalog_sensor, catalog_file, cursor=fingerprint)
    edited_request = _single_request(edited)
    assert isinstance(edited, dg.SensorResult)
    assert edited.cursor not in (None, fingerprint)
    assert edited_request.run_key == f"{fingerprint}->{edited.cursor}"
    assert edited_request.run_config["ops"] == {"raw_entries": {"config": {"force": True}}}

    catalog_file.write_text("# a comment changes nothing\n" + catalog_file.read_text())
    commented = _evaluate(catalog_sensor, catalog_file, cursor=edited.cursor)
    assert isinstance(commented, dg.SkipReason)

    catalog_file.write_text(TINY_CATALOG, encoding="utf-8")
    reverted = _evaluate(catalog_sensor, catalog_file, cursor=edited.cursor)
    assert _single_request(reverted).run_key == f"{edited.cursor}->{fingerprint}"


def test_catalog_sensor_skips_an_invalid_catalog_with_the_reason(
    catalog_sensor: dg.SensorDefinition, catalog_file: Path
) -> None:
    catalog_file.write_text(TINY_CATALOG.replace("credibility: 0.9", "credibility: 9"))
    result = _evaluate(catalog_sensor, catalog_file, cursor="previous-fingerprint")
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message is not None
    assert "field 'credibility'" in result.skip_message


def test_catalog_sensor_skips_an_unreadable_catalog(
    catalog_sensor: dg.SensorDefinition, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.yaml"
    result = _evaluate(catalog_sensor, missing, cursor="previous-fingerprint")
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message is not None
    assert "unreadable" in result.skip_message
    assert str(missing) in result.skip_message


def test_embedding_runs_in_the_gpu_pool_limited_to_one(definitions: dg.Definitions) -> None:
    node = definitions.resolve_assets_def("article_index").node_def
    assert getattr(node, "pool", None) == "gpu"
    config = yaml.safe_load(DAGSTER_INSTANCE_CONFIG.read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1


def test_every_job_of_the_code_location_runs_in_process(definitions: dg.Definitions) -> None:
    jobs = [
        definitions.resolve_implicit_global_asset_job_def(),
        *definitions.resolve_all_job_defs(),
    ]
    assert {job.name: job.executor_def.name for job in jobs} == dict.fromkeys(
        (job.name for job in jobs), dg.in_process_executor.name
    )


def test_an_asset_launched_from_the_command_line_runs_in_process() -> None:
    """``dg launch`` (and the UI) build a run of the implicit asset job, not of ``ingest``."""
    _run_dg("launch", "--assets", "source_catalog")
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        engine_events = [
            record.event_log_entry.dagster_event.message or ""
            for record in instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT
            ).records
            if record.event_log_entry.dagster_event is not None
        ]
    assert run.job_name == "__ASSET_JOB"
    assert any(message.startswith("Executing steps in process") for message in engine_events), (
        engine_events
    )
