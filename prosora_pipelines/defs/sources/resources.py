"""Resources of the sources domain: which catalog to read and how to fetch."""

from pathlib import Path

import dagster as dg

from prosora_pipelines.lib.sources.catalog import Catalog, catalog_fingerprint, load_catalog
from prosora_pipelines.lib.sources.fetching import Fetcher, FetchPolicy
from prosora_pipelines.settings import Settings, get_settings


class SourceCatalogResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The catalog file; defaults to the ``PROSORA_CATALOG`` setting (the bundled sample)."""

    path: str

    def load(self) -> Catalog:
        return load_catalog(Path(self.path))

    def fingerprint(self) -> str:
        return catalog_fingerprint(self.load())


class FeedFetcherResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Fetch limits; every field defaults to its ``PROSORA_FETCH_*`` setting."""

    concurrency: int
    per_host_concurrency: int
    connect_timeout: float
    read_timeout: float
    source_deadline: float
    max_retries: int
    backoff_seconds: float
    max_retry_after: float
    max_bytes: int
    max_redirects: int
    max_pages_per_web_source: int
    user_agent: str
    future_date_skew_minutes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "FeedFetcherResource":
        return cls(
            concurrency=settings.fetch_concurrency,
            per_host_concurrency=settings.fetch_per_host_concurrency,
            connect_timeout=settings.fetch_connect_timeout,
            read_timeout=settings.fetch_read_timeout,
            source_deadline=settings.fetch_source_deadline,
            max_retries=settings.fetch_max_retries,
            backoff_seconds=settings.fetch_backoff_seconds,
            max_retry_after=settings.fetch_max_retry_after,
            max_bytes=settings.fetch_max_bytes,
            max_redirects=settings.fetch_max_redirects,
            max_pages_per_web_source=settings.fetch_max_pages_per_web_source,
            user_agent=settings.user_agent,
            future_date_skew_minutes=settings.future_date_skew_minutes,
        )

    def fetcher(self) -> Fetcher:
        return Fetcher(
            FetchPolicy(
                concurrency=self.concurrency,
                per_host_concurrency=self.per_host_concurrency,
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
                source_deadline=self.source_deadline,
                max_retries=self.max_retries,
                backoff_seconds=self.backoff_seconds,
                max_retry_after=self.max_retry_after,
                max_bytes=self.max_bytes,
                max_redirects=self.max_redirects,
                user_agent=self.user_agent,
            )
        )


@dg.definitions
def source_resources() -> dg.Definitions:
    settings = get_settings()
    return dg.Definitions(
        resources={
            "catalog": SourceCatalogResource(path=str(settings.catalog)),
            "fetcher": FeedFetcherResource.from_settings(settings),
        }
    )
