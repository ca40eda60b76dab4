"""``prosora materialize`` and ``prosora demo``: run the ingest job in this process and show
what it produced."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from prosora_pipelines.cli.learning import learn
from prosora_pipelines.cli.query import run_query, user_session
from prosora_pipelines.cli.terminal import console
from prosora_pipelines.lib.table_names import ARTICLES_TABLE, MEGATRENDS_TABLE
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import get_settings

SUMMARY_FIELDS = {
    "source_catalog": ["sources", "enabled"],
    "raw_entries": [
        "sources_due",
        "fetched",
        "not_modified",
        "failed",
        "new_entries",
        "stored_entries",
    ],
    "source_health": ["healthy", "failing"],
    "articles": [
        "articles",
        "stories",
        "new_articles",
        "exact_url_duplicates",
        "exact_content_duplicates",
        "near_duplicates",
    ],
    "article_index": ["chunks", "encoded", "deleted", "chunks_per_second", "device"],
    "trends": ["recent_articles", "previous_articles", "topics"],
}
PREDICTOR_LABELS = {
    "linear": "learned model",
    "prior": "prior (hand-set)",
    "user_mean": "your mean rate",
    "knn": "similar past posts",
    "current": "model it replaces",
}
DEMO_QUERIES = [
    ("AI regulation impact on fintech product strategy", ["linkedin_post"]),
    ("Write an X thread on stablecoin reserve rules", None),
]


def _metadata_value(value: Any) -> Any:
    return getattr(value, "value", value)


def run_ingest(*, force: bool, only_sources: list[str]) -> bool:
    """Run the ingest job in this process, recorded in the Dagster instance; True if it passed."""
    import dagster as dg

    from prosora_pipelines.cli.dagster_home import ensure_dagster_home
    from prosora_pipelines.cli.run_progress import execute_with_progress
    from prosora_pipelines.definitions import defs

    ensure_dagster_home(get_settings().home)
    definitions = defs()
    job = definitions.resolve_job_def("ingest")
    run_config = dg.RunConfig(
        ops={"raw_entries": {"config": {"force": force, "only_sources": only_sources}}},
        # The progress bar shows the run; the full log stays in the instance for the UI.
        loggers={"console": {"config": {"log_level": "WARNING"}}},
    )
    with dg.DagsterInstance.get() as instance:
        result = execute_with_progress(job, instance, run_config, console)
    table = Table(title="Materialized", show_lines=False)
    table.add_column("asset")
    table.add_column("figures")
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization is None:
            continue
        key = materialization.asset_key.to_user_string()
        metadata = materialization.metadata
        figures = ", ".join(
            f"{name} {_metadata_value(metadata[name])}"
            for name in SUMMARY_FIELDS.get(key, [])
            if name in metadata
        )
        table.add_row(key, figures)
    console.print(table)
    for evaluation in result.get_asset_check_evaluations():
        mark = "[green]passed[/green]" if evaluation.passed else "[red]FAILED[/red]"
        console.print(f"check {evaluation.check_name}: {mark} {evaluation.description or ''}")
    if not result.success:
        console.print(f"[red]run {result.run_id} failed[/red]: see the logs above")
    return result.success


def materialize(
    force: Annotated[bool, typer.Option(help="Fetch every enabled source now.")] = False,
    source: Annotated[
        list[str] | None, typer.Option(help="Only this source id (repeatable).")
    ] = None,
) -> None:
    """Run the ingest job (catalog, fetching, source health, articles) in this process."""
    if not run_ingest(force=force, only_sources=source or []):
        raise typer.Exit(1)


def demo() -> None:
    """Ingest the configured catalog (the bundled offline sample by default) and show it."""
    settings = get_settings()
    console.rule("Prosora Pipelines demo")
    console.print(f"catalog: {settings.catalog}\ndata:    {settings.storage_location().root}")
    if not run_ingest(force=True, only_sources=[]):
        raise typer.Exit(1)
    articles = TableStore(settings.storage_location()).read_table(ARTICLES_TABLE)
    if articles is None:
        raise typer.Exit(1)
    import polars as pl

    stories = articles.filter(pl.col("duplicate_of").is_null()).sort(
        pl.col("coverage_sources").list.len(), "published_at", descending=True, nulls_last=True
    )
    table = Table(title="Most widely covered stories")
    for column in ("published", "canonical source", "title", "sources"):
        table.add_column(column)
    for row in stories.head(8).iter_rows(named=True):
        published = row["published_at"].date().isoformat() if row["published_at"] else "undated"
        table.add_row(published, row["source_id"], row["title"], str(len(row["coverage_sources"])))
    console.print(table)
    _print_trends(TableStore(settings.storage_location()))
    _learn_from_simulated_history()
    for text, formats in DEMO_QUERIES:
        console.rule(f"Query: {text}")
        run_query(text, formats, variants=3, email=None)
    console.print("Open the Dagster UI with [bold]make dev[/bold] to see runs, lineage and checks.")


def _learn_from_simulated_history() -> None:
    """Import the bundled simulated feedback history for the demo user, run the learning
    job, and show what was learned and how the model did against the prior."""
    from prosora_pipelines.lib.engagement.simulated_history import (
        import_simulated_history,
        read_history,
    )

    console.rule("Learning from a SIMULATED feedback history")
    records = read_history()
    with user_session(None) as (session, user):
        imported = import_simulated_history(session, user, records)
        email = user.email
    console.print(
        f"{len(records)} posts with engagement figures made up by the engagement simulator "
        f"(planted effects, not a real audience) for {email}: "
        + (f"{imported} imported" if imported else "already imported")
    )
    learn()
    _print_learned(email)
    _print_models(get_settings().home)


def _print_learned(email: str) -> None:
    from prosora_pipelines.lib.engagement.patterns import learned_patterns

    with user_session(email) as (session, user):
        active = [row for row in learned_patterns(session, user.id) if row.active]
        rows = [
            (row.pattern_type, row.pattern_data, row.pattern_data["interval"]) for row in active
        ]
    table = Table(title="Active learned patterns (simulated history): lift on engagement")
    for column in ("pattern", "lift", "90% interval", "samples"):
        table.add_column(column)
    for feature, data, (low, high) in rows:
        table.add_row(
            f"{feature}={data['value']}",
            f"{data['lift'] - 1:+.0%}",
            f"{low - 1:+.0%} to {high - 1:+.0%}",
            str(data["samples"]),
        )
    console.print(table)


def _print_models(home: Path) -> None:
    from prosora_pipelines.lib.engagement.model_registry import models_dir
    from prosora_pipelines.lib.engagement.model_report import models_report

    report = models_report(models_dir(home))
    model = report.promoted or report.latest_candidate
    if model is None:
        console.print("engagement model: none trained yet, the prior predicts")
        return
    state = "promoted" if model.promoted else "not promoted"
    table = Table(
        title=f"{model.version} ({state}) on the newest {model.holdout_size} posts, "
        f"trained on {model.training_size}"
    )
    for column in ("predictor", "MAE", "Spearman", "pairwise accuracy"):
        table.add_column(column)
    for name, label in PREDICTOR_LABELS.items():
        scores = model.scores.get(name)
        if scores is None:
            continue
        table.add_row(
            label,
            f"{scores.mae:.4f}",
            "n/a" if scores.spearman is None else f"{scores.spearman:.2f}",
            "n/a" if scores.pairwise_accuracy is None else f"{scores.pairwise_accuracy:.2f}",
        )
    console.print(table)
    if model.learning_curve:
        console.print(
            "learning curve, hold-out MAE by training posts (model / your mean rate): "
            + ", ".join(
                f"{point.observations}: {point.model_mae:.4f} / {point.user_mean_mae:.4f}"
                for point in model.learning_curve
            )
        )


def _print_trends(tables: TableStore) -> None:
    megatrends = tables.read_table(MEGATRENDS_TABLE)
    if megatrends is None or megatrends.is_empty():
        return
    table = Table(title="Megatrends: share of articles, recent window vs the one before")
    for column in ("megatrend", "recent", "previous"):
        table.add_column(column)
    for row in megatrends.iter_rows(named=True):
        table.add_row(
            row["name"],
            f"{row['recent_share']:.0%} ({row['recent_matches']} articles)",
            f"{row['previous_share']:.0%} ({row['previous_matches']} articles)",
        )
    console.print(table)
