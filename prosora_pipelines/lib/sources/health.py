"""Source health: for each catalog source, how its recent fetches went.

Built from the fetch log (one record per source per run), so it shows a source that has
been failing for a day as clearly as one that failed once. A 304 counts as a success: the
source answered and had nothing new.

What the last document read from a source had wrong without failing (an encoding problem,
a DTD declaring entities, repeated entry keys, links that are not web pages, the parser's
warning) is shown beside it; a 304 keeps showing the previous document's findings, since
the document is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from prosora_pipelines.lib.sources.catalog import Source

HEALTH_SCHEMA: dict[str, pl.DataType] = {
    "source_id": pl.String(),
    "name": pl.String(),
    "tier": pl.String(),
    "enabled": pl.Boolean(),
    "fetches": pl.Int64(),
    "failures": pl.Int64(),
    "not_modified": pl.Int64(),
    "consecutive_failures": pl.Int64(),
    "last_attempt_at": pl.Datetime("us", "UTC"),
    "last_success_at": pl.Datetime("us", "UTC"),
    "last_status": pl.Int64(),
    "last_error": pl.String(),
    "last_items": pl.Int64(),
    "items_per_fetch": pl.Float64(),
    "last_elapsed_seconds": pl.Float64(),
    "declares_entities": pl.Boolean(),
    "encoding_problem": pl.String(),
    "repeated_entry_keys": pl.Int64(),
    "rejected_links": pl.Int64(),
    "parse_warning": pl.String(),
}


def failing_sources(health: pl.DataFrame) -> tuple[list[str], int]:
    """The enabled sources whose latest fetch failed, and how many enabled sources have been
    fetched at all: what the asset check and the API's gauge both judge the catalog by."""
    attempted = health.filter(pl.col("enabled") & (pl.col("fetches") > 0))
    failing = attempted.filter(pl.col("consecutive_failures") > 0)
    return failing["source_id"].to_list(), attempted.height


def _trailing_failures(failed: Sequence[bool]) -> int:
    count = 0
    for value in reversed(failed):
        if not value:
            break
        count += 1
    return count


def summarize_health(fetch_log: pl.DataFrame | None, sources: Sequence[Source]) -> pl.DataFrame:
    """One row per catalog source; sources never fetched have zero counts and null times."""
    rows = []
    by_source: dict[str, pl.DataFrame] = {}
    if fetch_log is not None and not fetch_log.is_empty():
        ordered = fetch_log.sort("started_at")
        by_source = {
            str(key[0]): group for key, group in ordered.group_by("source_id", maintain_order=True)
        }
    for source in sources:
        log = by_source.get(source.id)
        row: dict[str, object] = {
            "source_id": source.id,
            "name": source.name,
            "tier": source.tier.value,
            "enabled": source.enabled,
            "fetches": 0,
            "failures": 0,
            "not_modified": 0,
            "consecutive_failures": 0,
            "declares_entities": False,
            "repeated_entry_keys": 0,
            "rejected_links": 0,
        }
        if log is not None:
            failed = log["error_class"].is_not_null().to_list()
            successes = log.filter(pl.col("error_class").is_null())
            fetched = successes.filter(~pl.col("not_modified"))
            last = log.row(-1, named=True)
            row.update(
                fetches=log.height,
                failures=sum(failed),
                not_modified=int(log["not_modified"].sum()),
                consecutive_failures=_trailing_failures(failed),
                last_attempt_at=last["started_at"],
                last_success_at=successes["started_at"].max() if successes.height else None,
                last_status=last["status"],
                last_error=(
                    f"{last['error_class']}: {last['error_message']}"
                    if last["error_class"]
                    else None
                ),
                last_items=last["items"],
                items_per_fetch=float(fetched["items"].mean()) if fetched.height else None,  # type: ignore[arg-type]
                last_elapsed_seconds=last["elapsed_seconds"],
            )
            if fetched.height:
                row.update(_document_findings(fetched.row(-1, named=True)))
        rows.append(row)
    return pl.DataFrame(rows, schema=HEALTH_SCHEMA)


def _document_findings(record: dict[str, object]) -> dict[str, object]:
    """The findings of one fetch record; records written before they existed have none."""
    return {
        "declares_entities": bool(record.get("declares_entities")),
        "encoding_problem": record.get("encoding_problem"),
        "repeated_entry_keys": record.get("repeated_entry_keys") or 0,
        "rejected_links": record.get("rejected_links") or 0,
        "parse_warning": record.get("parse_warning"),
    }


def last_attempts(fetch_log: pl.DataFrame | None) -> dict[str, datetime]:
    """Latest attempt time per source, for deciding which sources are due."""
    if fetch_log is None or fetch_log.is_empty():
        return {}
    latest = fetch_log.group_by("source_id").agg(pl.col("started_at").max())
    return dict(zip(latest["source_id"].to_list(), latest["started_at"].to_list(), strict=True))
