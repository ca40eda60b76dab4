"""The name of every table, log and document kept under ``PROSORA_HOME/tables``, in one
place: the library's stores write them, and the checks, the API and the command line read
them, so a renamed table cannot leave a reader looking for the old name."""

from __future__ import annotations

CATALOG_DOCUMENT = "source_catalog"
RAW_ENTRIES_TABLE = "raw_entries"
FETCH_LOG = "fetch_log"
VALIDATORS_DOCUMENT = "http_validators"
SOURCE_HEALTH_TABLE = "source_health"
ARTICLES_TABLE = "articles"
MANIFEST_DOCUMENT = "article_index_manifest"
TREND_TOPICS_TABLE = "trend_topics"
MEGATRENDS_TABLE = "megatrends"
ENGAGEMENT_OBSERVATIONS_TABLE = "engagement_observations"
