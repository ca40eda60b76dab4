"""The real feed snapshots of ``../shared/feeds/real`` indexed once per test session: the
longest build of the suite, shared by every test that measures relevance on them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from prosora_pipelines.lib.index.article_embedding import index_articles
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.feed_folder_corpus import feed_folder_articles
from prosora_pipelines.lib.index.vector_store import ArticleIndex, write_manifest
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines_tests.support.shared_data import require_shared


@dataclass(frozen=True)
class RealFeeds:
    """The real feeds' articles and a PROSORA_HOME holding their index."""

    articles: pl.DataFrame
    home: Path


@pytest.fixture(scope="session")
def real_feeds(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> RealFeeds:
    """Built on first use; tests read it and never write to it."""
    articles = feed_folder_articles(require_shared("feeds/real"))
    home = tmp_path_factory.mktemp("real-feeds-home")
    report = index_articles(articles, embedder, ArticleIndex(home / "lancedb"))
    write_manifest(TableStore(home), report.manifest)
    return RealFeeds(articles, home)
