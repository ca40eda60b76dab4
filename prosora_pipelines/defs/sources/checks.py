"""Checks on the sources domain."""

import dagster as dg

from prosora_pipelines.defs.sources.assets import source_health
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.lib.sources.health import failing_sources
from prosora_pipelines.lib.table_names import SOURCE_HEALTH_TABLE


@dg.asset_check(asset=source_health)
def some_enabled_source_succeeds(storage: ProsoraStorage) -> dg.AssetCheckResult:
    """Fails when every enabled source is failing: the network or the catalog is broken."""
    health = storage.tables.read_table(SOURCE_HEALTH_TABLE)
    if health is None:
        return dg.AssetCheckResult(passed=False, description="source_health table is missing")
    failing, attempted = failing_sources(health)
    return dg.AssetCheckResult(
        passed=attempted == 0 or len(failing) < attempted,
        description=f"{len(failing)} of {attempted} fetched enabled sources are failing",
        metadata={"failing_sources": failing},
    )
