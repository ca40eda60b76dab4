"""Checks on the articles table; the rules themselves are in ``lib.articles.checks``."""

from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from prosora_pipelines.defs.articles.assets import articles
from prosora_pipelines.defs.articles.resources import ArticleRulesResource
from prosora_pipelines.defs.storage import ProsoraStorage
from prosora_pipelines.lib.articles import checks as article_checks
from prosora_pipelines.lib.articles.checks import CheckOutcome
from prosora_pipelines.lib.table_names import ARTICLES_TABLE

MAXIMUM_DUPLICATE_RATE = 0.5


def _run(
    storage: ProsoraStorage,
    rule: Callable[[pl.DataFrame], CheckOutcome],
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetCheckResult:
    frame = storage.tables.read_table(ARTICLES_TABLE)
    if frame is None:
        return dg.AssetCheckResult(
            passed=False, severity=severity, description="articles table is missing"
        )
    outcome = rule(frame)
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=severity,
        description=outcome.description,
        metadata=outcome.metadata,
    )


@dg.asset_check(asset=articles, blocking=True)
def article_ids_unique(storage: ProsoraStorage) -> dg.AssetCheckResult:
    """No two rows share an id: downstream indexes key on it."""
    return _run(storage, article_checks.ids_unique)


@dg.asset_check(asset=articles, blocking=True)
def article_required_fields(storage: ProsoraStorage) -> dg.AssetCheckResult:
    """Every article has an id, source, URL, title, text and fetch time."""
    return _run(storage, article_checks.required_fields_present)


@dg.asset_check(asset=articles)
def article_dates_sane(
    storage: ProsoraStorage, article_rules: dg.ResourceParam[ArticleRulesResource]
) -> dg.AssetCheckResult:
    """No published date lies in the future beyond the allowed clock skew."""
    skew = article_rules.allowed_skew
    now = datetime.now(UTC)
    return _run(storage, lambda frame: article_checks.dates_sane(frame, now=now, allowed_skew=skew))


@dg.asset_check(asset=articles)
def article_duplicate_rate(storage: ProsoraStorage) -> dg.AssetCheckResult:
    """Reports the duplicate rate; warns past 50%, which usually means a broken feed."""
    return _run(
        storage,
        lambda frame: article_checks.duplicate_rate_within(frame, maximum=MAXIMUM_DUPLICATE_RATE),
        severity=dg.AssetCheckSeverity.WARN,
    )
