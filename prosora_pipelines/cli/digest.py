"""``prosora digest``: the day's most important stories, summarized and cited."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer
from rich.markdown import Markdown

from prosora_pipelines.cli.terminal import console, fail, print_json
from prosora_pipelines.settings import get_settings


def digest(
    day: Annotated[
        datetime | None,
        typer.Option(
            "--date",
            formats=["%Y-%m-%d"],
            help="The UTC day (default: the latest digest made). A day without one is made now.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the digest as JSON.")] = False,
) -> None:
    """The daily digest: the stories that matter most, grouped by topic, with sources."""
    from prosora_pipelines.lib.digest.store import digest_markdown, read_digest, refresh_digest
    from prosora_pipelines.lib.digest.summaries import make_summarizer
    from prosora_pipelines.lib.sources.catalog_snapshot import read_catalog_snapshot
    from prosora_pipelines.lib.table_store import NotMaterializedError, TableStore

    settings = get_settings()
    tables = TableStore(settings.home)
    wanted: date | None = day.date() if day else None
    today = datetime.now(UTC).date()
    if wanted is not None and wanted > today:
        raise fail(f"{wanted} is in the future: a digest covers a day that has happened")
    made = read_digest(tables, wanted)
    if made is None:
        try:
            made = refresh_digest(
                tables,
                read_catalog_snapshot(tables),
                make_summarizer(settings.chat_client_config()),
                day=wanted,
                now=datetime.now(UTC),
            ).digest
        except NotMaterializedError as exc:
            raise fail(f"{exc}: run `prosora materialize` first") from None
    if as_json:
        stories: list[dict[str, Any]] = made.stories.to_dicts()
        print_json(
            {
                "date": made.day,
                "articles_published": made.articles_published,
                "generated_at": made.generated_at,
                "message": None if stories else f"no articles were published on {made.day}",
                "stories": stories,
            }
        )
        return
    console.print(Markdown(digest_markdown(made)))
