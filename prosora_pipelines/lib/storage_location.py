"""Where the tables and the article index live: a local folder, or an S3-compatible bucket.

``PROSORA_HOME`` always stays local (file locks, model caches, the SQLite app database).
The Parquet tables and the LanceDB index follow the storage URI: under ``PROSORA_HOME``
when it is unset, under an ``s3://bucket/prefix`` when it is set, so run workers on several
hosts and the API replicas read and write one copy. Credentials are never part of this
object: LanceDB and Arrow both read the standard ``AWS_*`` variables (or an instance
role) themselves, so no secret travels through settings, Dagster config or run metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem

OBJECT_STORE_SCHEME = "s3"


class StorageUriError(ValueError):
    """The storage URI names a scheme or a bucket this project cannot use."""


def checked_storage_uri(uri: str) -> str:
    """``uri`` without a trailing slash; ``StorageUriError`` unless it is ``s3://bucket[/prefix]``."""
    parts = urlsplit(uri)
    if parts.scheme != OBJECT_STORE_SCHEME or not parts.netloc:
        raise StorageUriError(
            f"storage URI must look like s3://bucket/prefix, not {uri!r}; "
            "leave it unset to keep the tables under PROSORA_HOME"
        )
    return uri.rstrip("/")


@dataclass(frozen=True)
class StorageLocation:
    """The local home and, when set, the object-store prefix holding tables and the index."""

    home: Path
    uri: str | None = None
    """``s3://bucket/prefix``; ``None`` keeps everything under ``home``."""
    endpoint: str | None = None
    """An S3-compatible server's URL (MinIO, Ceph, moto); ``None`` means AWS itself."""
    region: str | None = None

    def __post_init__(self) -> None:
        if self.uri is not None:
            object.__setattr__(self, "uri", checked_storage_uri(self.uri))

    @property
    def is_object_store(self) -> bool:
        return self.uri is not None

    @property
    def root(self) -> str:
        """Where the tables and the index folders sit, as LanceDB and the logs name it."""
        return self.uri if self.uri is not None else str(self.home)

    @property
    def lancedb_uri(self) -> str:
        return f"{self.root}/lancedb"

    def lancedb_options(self) -> dict[str, str]:
        """LanceDB's ``storage_options`` for this location: endpoint and region only."""
        options: dict[str, str] = {}
        if self.endpoint is not None:
            options["endpoint"] = self.endpoint
            if self.endpoint.startswith("http://"):
                options["allow_http"] = "true"
        if self.region is not None:
            options["region"] = self.region
        return options

    def object_store(self) -> tuple[FileSystem, str]:
        """Arrow's S3 file system and the ``bucket/prefix`` path of the tables folder."""
        if self.uri is None:
            raise StorageUriError("this location keeps its tables on local disk")
        from pyarrow.fs import S3FileSystem

        endpoint = urlsplit(self.endpoint) if self.endpoint is not None else None
        file_system = S3FileSystem(
            region=self.region,
            endpoint_override=endpoint.netloc if endpoint is not None else None,
            scheme=endpoint.scheme if endpoint is not None else "https",
            allow_bucket_creation=False,
            allow_bucket_deletion=False,
        )
        return file_system, f"{self.uri.removeprefix(f'{OBJECT_STORE_SCHEME}://')}/tables"


def as_location(place: Path | StorageLocation) -> StorageLocation:
    """``place`` as a location: a bare folder keeps tables and index under itself."""
    return place if isinstance(place, StorageLocation) else StorageLocation(Path(place))
