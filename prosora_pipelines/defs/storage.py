"""The storage resource every domain writes through: the tables under ``PROSORA_HOME``."""

from pathlib import Path

import dagster as dg

from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import get_settings


class ProsoraStorage(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where materialized tables live; defaults to the ``PROSORA_HOME`` setting."""

    home: str

    @property
    def tables(self) -> TableStore:
        return TableStore(Path(self.home))


@dg.definitions
def storage_resources() -> dg.Definitions:
    return dg.Definitions(resources={"storage": ProsoraStorage(home=str(get_settings().home))})
