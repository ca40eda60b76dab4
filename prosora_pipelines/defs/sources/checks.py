"""Checks on the sources domain."""

import dagster as dg
import polars as pl

from prosora_pipelines.defs.sources.assets import source_health
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.lib.table_names import SOURCE_HEALTH_TABLE


@dg.asset_check(asset=source_health)
def some_enabled_source_succeeds(storage: ProsoraStorage) -> dg.AssetCheckResult:
    """Fails when every enabled source is failing: the network or the catalog is broken."""
    health = storage.tables.read_table(SOURCE_HEALTH_TABLE)
    if health is None:
        return dg.AssetCheckResult(passed=False, description="source_health table is missing")
    attempted = health.filter(pl.col("enabled") & (pl.col("fetches") > 0))
    failing = attempted.filter(pl.col("consecutive_failures") > 0)
    return dg.AssetCheckResult(
        passed=attempted.is_empty() or failing.height < attempted.height,
        description=f"{failing.height} of {attempted.height} fetched enabled sources are failing",
        metadata={"failing_sources": failing["source_id"].to_list()},
    )
