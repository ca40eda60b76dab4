"""The ingest job, its hourly schedule and the sensor that notices an edited catalog."""

import dagster as dg

from prosora_pipelines.defs.sources.assets import source_catalog
from prosora_pipelines.defs.sources.resources import SourceCatalogResource
from prosora_pipelines.lib.sources.catalog import CatalogError

INGEST_SELECTION = dg.AssetSelection.assets(source_catalog).downstream() - dg.AssetSelection.groups(
    "training"
)
"""The catalog and everything built from it, but not training (the learning job's, which
learns from what ingest built but need not run every hour)."""

ingest_job = dg.define_asset_job(
    name="ingest",
    selection=INGEST_SELECTION,
    description="Catalog, fetching and everything built from it, in one process.",
    # What the production instance's run queue limits (deploy/dagster.yaml): one run at a
    # time writes the shared tables, and one at a time encodes on the accelerator.
    tags={"prosora/writes": "store", "prosora/gpu": "true"},
)

hourly_refresh = dg.ScheduleDefinition(
    name="hourly_refresh",
    job=ingest_job,
    cron_schedule="0 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Fetch the sources whose refresh interval has passed, every hour.",
)


@dg.sensor(
    job=ingest_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING
)
def catalog_change_sensor(
    context: dg.SensorEvaluationContext, catalog: SourceCatalogResource
) -> dg.SensorResult | dg.SkipReason:
    """Runs the ingest job, fetching every source, when the validated catalog changes.

    Edits to comments or layout change nothing; an edit that breaks the catalog is reported
    as the skip reason instead of starting a run that would fail.
    """
    try:
        fingerprint = catalog.fingerprint()
    except CatalogError as exc:
        return dg.SkipReason(f"catalog is unreadable or invalid, nothing started: {exc}")
    if fingerprint == context.cursor:
        return dg.SkipReason("catalog unchanged")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                # The previous version is part of the key, so reverting an edit runs again.
                run_key=f"{context.cursor}->{fingerprint}",
                run_config=dg.RunConfig(ops={"raw_entries": {"config": {"force": True}}}),
                tags={"prosora/trigger": "catalog-changed"},
            )
        ],
        cursor=fingerprint,
    )
