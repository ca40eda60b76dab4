"""Why: a team runs Dagster on PostgreSQL (deploy/dagster.yaml), and a bare
``postgresql://`` under SQLAlchemy 2.1 made every run fail on the first event. The ingest
job must run on that instance exactly as the command line runs it, leave its runs, events
and materializations in PostgreSQL, and another process must read them back."""

from __future__ import annotations

import json
import subprocess
import textwrap

import dagster as dg
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from prosora_pipelines_tests.deploy.conftest import DEPLOY, VENV_BIN, DeployedInstance

pytestmark = pytest.mark.integration

READ_BACK = textwrap.dedent(
    """
    import json
    import dagster as dg

    instance = dg.DagsterInstance.get()
    records = instance.get_run_records()
    materialized = set()
    for record in records:
        for event in instance.all_logs(
            record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ):
            materialized.add(event.dagster_event.asset_key.to_user_string())
    print(json.dumps({
        "storage": type(instance.run_storage).__name__,
        "runs": [(r.dagster_run.job_name, r.dagster_run.status.value) for r in records],
        "materialized": sorted(materialized),
    }))
    """
)


def test_ingest_job_runs_on_the_deploy_instance_and_reads_back(
    deployed_instance: DeployedInstance,
) -> None:
    env = deployed_instance.env
    ran = subprocess.run(
        [str(VENV_BIN / "prosora"), "materialize"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]

    engine = create_engine(deployed_instance.database_url)
    try:
        with engine.connect() as connection:
            runs = connection.execute(text("SELECT status FROM runs")).scalars().all()
            materializations = connection.execute(
                text(
                    "SELECT count(*) FROM event_logs"
                    " WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
                )
            ).scalar_one()
            events = connection.execute(text("SELECT count(*) FROM event_logs")).scalar_one()
    finally:
        engine.dispose()
    assert runs == ["SUCCESS"]
    assert materializations >= 6 and events > materializations

    read = subprocess.run(
        [str(VENV_BIN / "python"), "-c", READ_BACK],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = json.loads(read.stdout.strip().splitlines()[-1])
    assert found["storage"] == "PostgresRunStorage"
    assert found["runs"] == [["ingest", "SUCCESS"]]
    assert {"source_catalog", "raw_entries", "articles", "article_index"} <= set(
        found["materialized"]
    )


def _instance_config(scheme: str | None, deployed: DeployedInstance) -> dict[str, object]:
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text(encoding="utf-8"))
    postgres_db = config["storage"]["postgres"]["postgres_db"]
    if scheme is None:
        del postgres_db["scheme"]
    else:
        postgres_db["scheme"] = scheme
    return {"storage": config["storage"], "telemetry": {"enabled": False}}


def test_the_named_driver_is_what_stores_events(
    deployed_instance: DeployedInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storing an event sends NOTIFY with a bound value: psycopg2 stores it, the default
    driver of SQLAlchemy 2.1 (psycopg 3) is refused by PostgreSQL."""
    for name, value in deployed_instance.env.items():
        if name.startswith("DAGSTER_POSTGRES_"):
            monkeypatch.setenv(name, value)
    event = dg.AssetMaterialization(asset_key="probe")
    default_driver = _instance_config(None, deployed_instance)
    with (
        dg.instance_for_test(overrides=default_driver) as instance,
        pytest.raises(ProgrammingError, match=r'syntax error at or near "\$1"'),
    ):
        instance.report_runless_asset_event(event)
    config = _instance_config("postgresql+psycopg2", deployed_instance)
    with dg.instance_for_test(overrides=config) as instance:
        instance.report_runless_asset_event(event)
        assert instance.get_latest_materialization_event(dg.AssetKey("probe")) is not None
