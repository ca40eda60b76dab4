"""What the deploy tests share: a Dagster home holding deploy/dagster.yaml on a fresh
PostgreSQL database, and a two-source catalog, so a run of the ingest job takes seconds."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from prosora_pipelines.settings import BUNDLED_CATALOGS_DIR
from prosora_pipelines_tests.support.databases import fresh_postgres_database

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent

SMALL_CATALOG = """version: 1
sources:
  - id: frontier-ai-review
    name: Frontier AI Review
    url: feeds/frontier-ai-review.xml
    kind: rss
    tier: premium
    credibility: 0.92
    domains: [tech, ai]
    refresh_interval: 1h
  - id: product-craft-journal
    name: Product Craft Journal
    url: feeds/product-craft-journal.xml
    kind: atom
    tier: premium
    credibility: 0.9
    domains: [product]
    refresh_interval: 1h
"""


@dataclass(frozen=True)
class DeployedInstance:
    """Environment of every process of one deployment under test, and its database."""

    env: dict[str, str]
    database_url: str


@pytest.fixture
def deployed_instance(tmp_path: Path) -> Iterator[DeployedInstance]:
    catalog_dir = tmp_path / "catalog"
    (catalog_dir / "feeds").mkdir(parents=True)
    for name in ("frontier-ai-review.xml", "product-craft-journal.xml"):
        shutil.copy(BUNDLED_CATALOGS_DIR / "sample" / "feeds" / name, catalog_dir / "feeds")
    (catalog_dir / "catalog.yaml").write_text(SMALL_CATALOG, encoding="utf-8")
    dagster_home = tmp_path / "deploy-dagster-home"
    dagster_home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", dagster_home / "dagster.yaml")
    with fresh_postgres_database("prosora_dagster") as url:
        parts = make_url(url)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "DAGSTER_HOME": str(dagster_home),
            "DAGSTER_POSTGRES_HOST": parts.host or "127.0.0.1",
            "DAGSTER_POSTGRES_PORT": str(parts.port or 5432),
            "DAGSTER_POSTGRES_USER": parts.username or "postgres",
            "DAGSTER_POSTGRES_PASSWORD": parts.password or "",
            "DAGSTER_POSTGRES_DB": parts.database or "",
            "PROSORA_HOME": str(tmp_path / "prosora-home"),
            "PROSORA_CATALOG": str(catalog_dir / "catalog.yaml"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        yield DeployedInstance(env, url)
