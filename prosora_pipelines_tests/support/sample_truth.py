"""The hand-written ground truth of the bundled sample corpus (``sample_truth/*.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

TRUTH_DIR = Path(__file__).resolve().parents[1] / "sample_truth"


@dataclass(frozen=True)
class TruthArticle:
    url: str
    source: str
    title: str
    published: date | None
    topics: tuple[str, ...]
    no_link: bool


@dataclass(frozen=True)
class SampleTruth:
    articles: list[TruthArticle]
    exact_duplicates: list[list[str]]
    near_duplicates: list[list[str]]
    queries: list[dict[str, Any]]


def load_sample_truth() -> SampleTruth:
    articles: list[TruthArticle] = []
    exact: list[list[str]] = []
    near: list[list[str]] = []
    queries: list[dict[str, Any]] = []
    for path in sorted(TRUTH_DIR.glob("part*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        for item in raw["articles"]:
            articles.append(
                TruthArticle(
                    url=item["url"],
                    source=item["source"],
                    title=item["title"],
                    published=item.get("published"),
                    topics=tuple(item.get("topics") or ()),
                    no_link=bool(item.get("no_link")),
                )
            )
        exact.extend(raw.get("exact_duplicates") or [])
        near.extend(raw.get("near_duplicates") or [])
        queries.extend(raw.get("queries") or [])
    return SampleTruth(articles, exact, near, queries)
