"""Why: docs/pipeline.md promises that ``source_health`` and ``articles`` follow
``raw_entries`` when it is materialized on its own (the UI's "Materialize" on one asset).
That needs an automation sensor that is on without anyone switching it on, and conditions
that request exactly the stale assets. This evaluates the sensor's target on a real SQLite
instance configured by the bundled ``dagster.yaml``, runs what it requests, and checks the
result."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from prosora_pipelines.definitions import defs as load_defs
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import DAGSTER_INSTANCE_CONFIG

pytestmark = pytest.mark.integration

DOWNSTREAM_OF_RAW_ENTRIES = {"source_health", "articles", "article_index", "trends", "daily_digest"}


@pytest.fixture
def instance() -> dg.DagsterInstance:
    """The instance ``make dev`` uses: SQLite under DAGSTER_HOME, the bundled config."""
    shutil.copyfile(DAGSTER_INSTANCE_CONFIG, Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml")
    return dg.DagsterInstance.get()


def _latest_storage_id(instance: dg.DagsterInstance, key: str) -> int:
    records = instance.fetch_materializations(dg.AssetKey(key), limit=1).records
    assert records, f"{key} was never materialized"
    return records[0].storage_id


def test_automation_sensor_is_on_from_the_start_and_covers_every_asset() -> None:
    definitions = load_defs()
    sensor = definitions.resolve_sensor_def("automation_sensor")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    graph = definitions.resolve_asset_graph()
    automated = {key for key in graph.get_all_asset_keys() if graph.get(key).automation_condition}
    assert automated == {dg.AssetKey(name) for name in DOWNSTREAM_OF_RAW_ENTRIES}
    assert automated <= sensor.asset_selection.resolve(graph)


def test_materializing_raw_entries_alone_brings_its_downstream_up_to_date(
    instance: dg.DagsterInstance, isolated_home: Path, embedder: Embedder
) -> None:
    definitions = load_defs()
    selection = definitions.resolve_sensor_def("automation_sensor").asset_selection
    everything = definitions.resolve_implicit_global_asset_job_def()

    def tick(cursor: Any = None) -> dg.EvaluateAutomationConditionsResult:
        return dg.evaluate_automation_conditions(
            defs=definitions,
            instance=instance,
            asset_selection=selection,
            cursor=cursor,
        )

    def requested(result: dg.EvaluateAutomationConditionsResult) -> set[str]:
        return {
            key.to_user_string()
            for key in definitions.resolve_asset_graph().get_all_asset_keys()
            if result.get_num_requested(key)
        }

    def materialize(keys: set[str]) -> None:
        run = everything.execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(k) for k in sorted(keys)]
        )
        assert run.success

    # Nothing to follow before the sources were ever fetched.
    before = tick()
    assert requested(before) == set()
    materialize({"source_catalog", "raw_entries"})

    # What the daemon asks for after that materialization: everything downstream, once.
    after_fetch = tick(before.cursor)
    assert requested(after_fetch) == DOWNSTREAM_OF_RAW_ENTRIES
    materialize(requested(after_fetch))
    settled = tick(after_fetch.cursor)
    assert requested(settled) == set()

    # Now raw_entries alone, as the UI's "Materialize" on that one asset does.
    materialize({"raw_entries"})
    fetched_at = _latest_storage_id(instance, "raw_entries")
    following = tick(settled.cursor)
    assert requested(following) == DOWNSTREAM_OF_RAW_ENTRIES
    materialize(requested(following))
    for key in DOWNSTREAM_OF_RAW_ENTRIES:
        assert _latest_storage_id(instance, key) > fetched_at, key
    tables = TableStore(isolated_home)
    assert tables.read_table("articles") is not None
    assert tables.read_table("source_health") is not None
    assert requested(tick(following.cursor)) == set()
