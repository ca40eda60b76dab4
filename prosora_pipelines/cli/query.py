"""The ``prosora query`` and ``prosora profile`` commands: thin wrappers over the query
engine and the app database, with the printing a person wants to read."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from prosora_pipelines.cli.terminal import console, fail
from prosora_pipelines.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from prosora_pipelines.lib.appdb.models import User
    from prosora_pipelines.lib.query.responses import QueryResult

FORMATS = ("linkedin_post", "x_thread", "blog_outline")
profile_app = typer.Typer(help="Your voice profile: how drafts sound.", no_args_is_help=True)
UserOption = Annotated[
    str | None, typer.Option("--user", help="Email of the user (default: PROSORA_USER_EMAIL).")
]


@contextmanager
def user_session(email: str | None) -> Iterator[tuple[Session, User]]:
    """A transaction on the app database (migrated first) and the user, created if new."""
    from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory
    from prosora_pipelines.lib.appdb.migrations import migrate
    from prosora_pipelines.lib.appdb.repository import AppDbError, get_or_create_user

    settings = get_settings()
    url = settings.app_database_url()
    migrate(url)
    engine = make_engine(url, timeouts=settings.database_timeouts())
    email = email or settings.user_email
    try:
        with make_session_factory(engine).begin() as session:
            user = get_or_create_user(session, email, email.split("@", 1)[0] or email)
            yield session, user
    except AppDbError as error:
        raise fail(str(error)) from None
    finally:
        engine.dispose()


def print_result(result: QueryResult) -> None:
    """The answer as a person reads it: analysis, what is missing, the direct answer to a
    question, evidence, then each draft."""
    analysis = result.analysis
    domains = ", ".join(f"{name} {weight:.0%}" for name, weight in analysis.domains.items())
    console.print(
        f"[bold]{result.text}[/bold]\nintent {analysis.intent} · domains {domains or 'none'} · "
        f"complexity {analysis.complexity} · evidence {analysis.evidence_level} · "
        f"{result.processing_time_ms:.0f} ms"
    )
    if result.degraded_reason:
        console.print(f"[yellow]{result.status}: {result.degraded_reason}[/yellow]")
    for suggestion in result.suggestions:
        console.print(f"[yellow]try {suggestion}[/yellow]")
    if result.answer is not None:
        answer = result.answer
        citations = "\n".join(f"[{c.ref}] {c.title} — {c.url}" for c in answer.citations)
        body = answer.text or answer.message or ""
        if answer.text and answer.message:
            body += f"\n\n[yellow]{answer.message}[/yellow]"
        console.print(
            Panel(f"{body}\n\n[dim]{citations}[/dim]" if citations else body, title="Answer")
        )
    evidence = Table(title="Evidence")
    for column in ("#", "source", "tier", "published", "title"):
        evidence.add_column(column)
    for item in result.evidence:
        published = (item["published_at"] or "undated")[:10]
        evidence.add_row(
            str(item["ref"]), item["source_id"], item["tier"], published, item["title"]
        )
    console.print(evidence)
    for variant in result.variants:
        prediction = variant.prediction
        citations = "\n".join(f"[{c.ref}] {c.title} — {c.url}" for c in variant.citations)
        source = "learned model" if prediction.kind == "learned" else prediction.kind
        footer = (
            f"predicted engagement {prediction.rate:.2%} ({source} "
            f"{prediction.model_version}): {'; '.join(prediction.reasons)}"
        )
        if variant.suggested_posting_time is not None:
            footer += f"\npost at {variant.suggested_posting_time:%a %d %b %Y %H:%M %Z}"
        if variant.patterns_applied:
            footer += "\nfollows what you learned: " + ", ".join(
                f"{p.pattern_type}={p.value} ({p.lift - 1:+.0%})" for p in variant.patterns_applied
            )
        console.print(
            Panel(
                f"{variant.text}\n\n[dim]{citations}[/dim]\n[cyan]{footer}[/cyan]",
                title=f"{variant.format} · {variant.hook_type}",
            )
        )
    console.print(f"stored as query {result.query_id}")


def run_query(
    text: str,
    formats: list[str] | None,
    variants: int,
    email: str | None,
    show: Callable[[QueryResult], None] = print_result,
) -> None:
    """Answer ``text`` for the user and ``show`` the result; errors end with exit status 2."""
    from prosora_pipelines.lib.appdb.repository import AppDbError
    from prosora_pipelines.lib.index.vector_store import IndexUnavailableError
    from prosora_pipelines.lib.query.engine import QueryFailedError
    from prosora_pipelines.query_engine_from_settings import engine_from_settings

    with user_session(email) as (_, user):
        user_id = user.id
    try:
        engine = engine_from_settings(get_settings())
    except IndexUnavailableError as error:
        raise fail(f"{error} (run `prosora materialize`)") from None
    except ValueError as error:
        raise fail(str(error)) from None
    options: dict[str, Any] = {"variants_per_format": variants}
    if formats:
        options["formats"] = formats
    try:
        show(engine.process_query(user_id, text, options))
    except (AppDbError, QueryFailedError) as error:
        raise fail(str(error)) from None


def query(
    text: Annotated[str, typer.Argument(help="What to write about.")],
    format: Annotated[
        list[str] | None,
        typer.Option("--format", "-f", help=f"Format to draft (repeatable): {', '.join(FORMATS)}."),
    ] = None,
    variants: Annotated[int, typer.Option(min=3, max=4, help="Variants per format.")] = 4,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole result as JSON.")
    ] = False,
    user: UserOption = None,
) -> None:
    """Answer a query from the materialized articles: analysis, evidence, drafts, predictions."""
    unknown = sorted(set(format or ()) - set(FORMATS))
    if unknown:
        raise fail(f"unknown format {', '.join(unknown)}; choose from {', '.join(FORMATS)}")

    def show_json(result: QueryResult) -> None:
        typer.echo(result.model_dump_json(indent=2))

    run_query(text, format, variants, user, show_json if as_json else print_result)


@profile_app.command("show")
def profile_show(
    user: UserOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the profile as JSON.")] = False,
) -> None:
    """The voice profile drafts are written in (the built-in default until you set one)."""
    from prosora_pipelines.lib.appdb.repository import get_voice_profile

    with user_session(user) as (session, found):
        profile = get_voice_profile(session, found)
        email = found.email
    if as_json:
        typer.echo(profile.model_dump_json(indent=2))
        return
    table = Table(title=f"Voice profile of {email}" + (" (default)" if profile.is_default else ""))
    table.add_column("field")
    table.add_column("value")
    for field, value in profile.model_dump(exclude={"is_default", "updated_at"}).items():
        table.add_row(field, ", ".join(value) if isinstance(value, list) else str(value))
    console.print(table)


@profile_app.command("set")
def profile_set(
    voice: Annotated[str | None, typer.Option(help="How you write, in a sentence or two.")] = None,
    framework: Annotated[
        list[str] | None, typer.Option(help="A thinking framework you use (repeatable).")
    ] = None,
    use: Annotated[
        list[str] | None, typer.Option(help="A lead-in phrase to use (repeatable).")
    ] = None,
    avoid: Annotated[
        list[str] | None, typer.Option(help="A phrase never to use (repeatable).")
    ] = None,
    audience: Annotated[str | None, typer.Option(help="Whom you write for.")] = None,
    format: Annotated[
        list[str] | None, typer.Option("--format", help="A default format (repeatable).")
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(help="Your IANA timezone (Europe/Berlin), for posting times."),
    ] = None,
    from_file: Annotated[
        Path | None, typer.Option(help="A JSON file with the whole profile.", exists=True)
    ] = None,
    user: UserOption = None,
) -> None:
    """Change your voice profile; options not given keep their current values."""
    from prosora_pipelines.lib.appdb.repository import get_voice_profile, upsert_voice_profile

    changes: dict[str, Any] = {}
    if from_file is not None:
        try:
            changes = json.loads(from_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise fail(f"cannot read {from_file}: {error}") from None
    given = {
        "voice_description": voice,
        "frameworks": framework,
        "phrases_to_use": use,
        "phrases_to_avoid": avoid,
        "audience": audience,
        "default_formats": format,
        "timezone": timezone,
    }
    changes.update({name: value for name, value in given.items() if value is not None})
    if not changes:
        raise fail("nothing to change: give at least one option (see --help)")
    with user_session(user) as (session, found):
        current = get_voice_profile(session, found).model_dump(exclude={"is_default", "updated_at"})
        stored = upsert_voice_profile(session, found, {**current, **changes})
    console.print(f"voice profile updated: {', '.join(sorted(changes))}")
    console.print_json(stored.model_dump_json(exclude={"is_default"}))
