"""The storage resource every domain writes through: the tables under ``PROSORA_HOME``, or
under ``PROSORA_STORAGE_URI`` on an S3-compatible store."""

from pathlib import Path

import dagster as dg

from prosora_pipelines.lib.index.vector_store import ArticleIndex
from prosora_pipelines.lib.storage_location import StorageLocation
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import get_settings


class ProsoraStorage(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where materialized tables and the article index live; defaults to the settings.

    No credentials here: the object store's come from the standard ``AWS_*`` variables
    of the process, so they never appear in run config.
    """

    home: str
    storage_uri: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None

    @property
    def location(self) -> StorageLocation:
        return StorageLocation(
            Path(self.home), self.storage_uri, endpoint=self.s3_endpoint, region=self.s3_region
        )

    @property
    def tables(self) -> TableStore:
        return TableStore(self.location)

    def article_index(self) -> ArticleIndex:
        return ArticleIndex.at(self.location)


@dg.definitions
def storage_resources() -> dg.Definitions:
    location = get_settings().storage_location()
    return dg.Definitions(
        resources={
            "storage": ProsoraStorage(
                home=str(location.home),
                storage_uri=location.uri,
                s3_endpoint=location.endpoint,
                s3_region=location.region,
            )
        }
    )
