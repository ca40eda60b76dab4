"""``prosora feedback import``, ``prosora learn`` and ``prosora patterns``: record engagement,
run the learning job in this process, and see what was learned."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from prosora_pipelines.cli.query import UserOption, user_session
from prosora_pipelines.cli.terminal import console, fail, print_json
from prosora_pipelines.settings import get_settings

LEARNING_ASSETS = {"engagement_observations", "learning_patterns", "engagement_model"}
feedback_app = typer.Typer(help="Engagement your posts earned.", no_args_is_help=True)


@feedback_app.command("import")
def feedback_import(
    file: Annotated[Path, typer.Argument(help="CSV export (see docs/learning.md).")],
    user: UserOption = None,
) -> None:
    """Import engagement figures from a CSV file: every row, or none when any is wrong."""
    from prosora_pipelines.lib.engagement.feedback_import import (
        FeedbackImportError,
        import_feedback,
    )

    try:
        data = file.read_bytes()
    except OSError as error:
        raise fail(f"cannot read {file}: {error.strerror or error}") from None
    try:
        with user_session(user) as (session, owner):
            report = import_feedback(session, owner, data)
    except FeedbackImportError as error:
        raise fail(str(error)) from None
    console.print(f"imported {file.name}: {report.created} new, {report.updated} updated")


def _active(database_url: str) -> set[tuple[str, str, str]]:
    from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory
    from prosora_pipelines.lib.appdb.migrations import migrate
    from prosora_pipelines.lib.engagement.patterns import active_keys

    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return active_keys(session)
    finally:
        engine.dispose()


def _emails(database_url: str) -> dict[str, str]:
    from sqlalchemy import select

    from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory
    from prosora_pipelines.lib.appdb.models import User

    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return {str(i): email for i, email in session.execute(select(User.id, User.email))}
    finally:
        engine.dispose()


def _print_changes(
    before: set[tuple[str, str, str]], after: set[tuple[str, str, str]], emails: dict[str, str]
) -> None:
    for title, keys in (("gained", after - before), ("lost", before - after)):
        if not keys:
            console.print(f"patterns {title}: none")
            continue
        console.print(f"patterns {title}:")
        for user_id, feature, value in sorted(keys):
            console.print(f"  {emails.get(user_id, user_id)}: {feature}={value}")


def _print_model(result: Any) -> None:
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    verdict = checks.get("engagement_model_beats_current")
    if verdict is None:
        console.print("model: not judged (the engagement_model step did not finish)")
        return
    newly = getattr(verdict.metadata.get("newly_promoted"), "value", False)
    if verdict.passed and newly:
        console.print(f"model: [green]promoted[/green]: {verdict.description}")
    elif verdict.passed:
        console.print(f"model: unchanged: {verdict.description}")
    else:
        console.print(f"model: [yellow]not promoted[/yellow]: {verdict.description}")


def _print_finetune(result: Any) -> None:
    """The embedding fine-tune's verdict, when it ran (it is off unless enabled)."""
    for event in result.get_asset_materialization_events():
        if event.asset_key is None or event.asset_key.to_user_string() != "embedding_finetune":
            continue
        metadata = event.materialization.metadata
        status = metadata["status"].value
        if status != "off":
            console.print(f"embedding model: {status}: {metadata['reason'].value}")


def learn() -> None:
    """Run the learning job (observations, patterns, model) in this process and say what
    changed: patterns gained or lost, and whether a new model was promoted and why."""
    import dagster as dg

    from prosora_pipelines.cli.dagster_home import ensure_dagster_home
    from prosora_pipelines.cli.run_progress import execute_with_progress
    from prosora_pipelines.definitions import defs

    settings = get_settings()
    database_url = settings.app_database_url()
    before = _active(database_url)
    ensure_dagster_home(settings.home)
    job = defs().resolve_job_def("engagement")
    run_config = dg.RunConfig(loggers={"console": {"config": {"log_level": "WARNING"}}})
    with dg.DagsterInstance.get() as instance:
        result = execute_with_progress(job, instance, run_config, console)
    _print_changes(before, _active(database_url), _emails(database_url))
    _print_model(result)
    _print_finetune(result)
    built = {
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.asset_key is not None
    }
    missing = sorted(LEARNING_ASSETS - built)
    if missing:
        # A model that is not promoted is an answer; an asset that was not built is a fault.
        console.print(f"[red]run {result.run_id} failed[/red]: {', '.join(missing)} not built")
        raise typer.Exit(1)


def _pattern_json(row: Any) -> dict[str, Any]:
    data = row.pattern_data
    return {
        "feature": row.pattern_type,
        "value": data["value"],
        "lift": data["lift"],
        "interval": data["interval"],
        "samples": data["samples"],
        "pooled_lift": data["pooled_lift"],
        "confidence": row.confidence,
        "active": row.active,
        "version": data["version"],
        "usage_count": row.usage_count,
        "updated_at": row.updated_at,
    }


def patterns(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    user: UserOption = None,
) -> None:
    """What was learned about your posts: each pattern's lift with its 90 % interval, the
    samples behind it, and whether it is active (steers drafts)."""
    from prosora_pipelines.lib.engagement.patterns import learned_patterns

    with user_session(user) as (session, owner):
        rows = [_pattern_json(row) for row in learned_patterns(session, owner.id)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no patterns learned yet: record feedback, then run `prosora learn`")
        return
    table = Table(title="Learned patterns (lift against your own average)")
    for column in ("pattern", "lift", "90% interval", "samples", "confidence", "active"):
        table.add_column(column)
    for row in rows:
        low, high = row["interval"]
        table.add_row(
            f"{row['feature']}={row['value']}",
            f"{row['lift'] - 1:+.0%}",
            f"{low - 1:+.0%} to {high - 1:+.0%}",
            str(row["samples"]),
            f"{row['confidence']:.2f}",
            "yes" if row["active"] else "no",
        )
    console.print(table)
