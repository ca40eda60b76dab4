"""``prosora search``: hybrid article search over the materialized index."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from prosora_pipelines.cli.terminal import console, fail, print_json
from prosora_pipelines.settings import get_settings


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option(min=1, max=100, help="Articles to return.")] = 10,
    source: Annotated[
        list[str] | None, typer.Option(help="Only this source id (repeatable).")
    ] = None,
    tier: Annotated[list[str] | None, typer.Option(help="Only this tier (repeatable).")] = None,
    domain: Annotated[list[str] | None, typer.Option(help="Only this domain (repeatable).")] = None,
    since: Annotated[datetime | None, typer.Option(help="Published on or after (UTC).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON.")] = False,
) -> None:
    """Hybrid search over the article index (meaning and words, credibility, recency)."""
    from prosora_pipelines.lib.index.embedding import load_embedder
    from prosora_pipelines.lib.index.embedding_models import query_model
    from prosora_pipelines.lib.index.search import SearchFilters, search_articles
    from prosora_pipelines.lib.index.vector_store import IndexUnavailableError, open_current_table
    from prosora_pipelines.lib.table_store import TableStore

    settings = get_settings()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-index") as pool:
        # Side by side, as in engine_from_settings: LanceDB's import is Python, the
        # encoder's load mostly native code.
        opened = pool.submit(open_current_table, settings.storage_location())
        embedder = load_embedder(
            query_model(TableStore(settings.storage_location()), settings.embedding_model),
            settings.embedding_device,
            settings.embedding_precision,
            settings.home,
        )
    try:
        index = opened.result()
    except IndexUnavailableError as exc:
        raise fail(str(exc)) from None
    filters = SearchFilters(
        sources=tuple(source or ()),
        tiers=tuple(tier or ()),
        domains=tuple(domain or ()),
        since=since.replace(tzinfo=since.tzinfo or UTC) if since else None,
    )
    hits = search_articles(index, query, embedder.encode_query(query), k=k, filters=filters)
    if as_json:
        print_json({"query": query, "hits": [hit.model_dump(mode="json") for hit in hits]})
        return
    table = Table(title=f"Search: {query}")
    for column in ("score", "source", "tier", "published", "title"):
        table.add_column(column)
    for hit in hits:
        published = hit.published_at.date().isoformat() if hit.published_at else "undated"
        table.add_row(f"{hit.score:.2f}", hit.source_id, hit.tier, published, hit.title)
    console.print(table)
