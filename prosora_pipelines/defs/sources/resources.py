"""Resources of the sources domain: which catalog to read and how to fetch."""

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import dagster as dg

from prosora_pipelines.lib.sources.catalog import Catalog, catalog_fingerprint, load_catalog
from prosora_pipelines.lib.sources.fetching import Fetcher, FetchPolicy
from prosora_pipelines.lib.sources.raw_entry_store import FetchLimits
from prosora_pipelines.settings import Settings, get_settings


class SourceCatalogResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The catalog file; defaults to the ``PROSORA_CATALOG`` setting (the bundled sample)."""

    path: str

    def load(self) -> Catalog:
        return load_catalog(Path(self.path))

    def fingerprint(self) -> str:
        return catalog_fingerprint(self.load())


@dataclass(frozen=True)
class FeedFetcherResource:
    """How ``raw_entries`` fetches: the policy and the refresh limits, built from the settings
    when the definitions load, so asset bodies never read the settings themselves."""

    policy: FetchPolicy
    limits: FetchLimits

    @classmethod
    def from_settings(cls, settings: Settings) -> "FeedFetcherResource":
        return cls(
            policy=settings.fetch_policy(),
            limits=FetchLimits(
                allowed_skew=timedelta(minutes=settings.future_date_skew_minutes),
                max_pages_per_web_source=settings.fetch_max_pages_per_web_source,
                log_retention=timedelta(days=settings.fetch_log_retention_days),
            ),
        )

    def fetcher(self) -> Fetcher:
        return Fetcher(self.policy)


@dg.definitions
def source_resources() -> dg.Definitions:
    settings = get_settings()
    return dg.Definitions(
        resources={
            "catalog": SourceCatalogResource(path=str(settings.catalog)),
            "fetcher": FeedFetcherResource.from_settings(settings),
        }
    )
