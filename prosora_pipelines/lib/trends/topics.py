"""Trends: what the recent articles are about, what grows, and how the user's megatrends fare.

Every figure is measured from the articles; only the thresholds below are parameters.

- **Article vectors.** An article's vector is the normalized mean of its chunk vectors in the
  article index, so a long article counts once, like a short one.
- **Windows.** The recent window is the ``window_days`` ending at ``end`` (end included), the
  previous window the ``window_days`` before it: ``previous_from < t <= recent_from < t <=
  recent_until``. Undated articles belong to no window and are counted apart, never dated
  "now".
- **Topics.** The recent window's article vectors are clustered by agglomerative clustering
  with complete linkage and a cosine distance threshold: two articles share a topic only if
  every pair in it has cosine similarity of at least ``topic_similarity``. No number of topics
  is chosen up front, and the result is deterministic (articles are ordered by id first).
  Clusters smaller than ``min_topic_size`` are left unclustered. Each topic is labelled with
  its most distinctive terms by class-based TF-IDF (c-TF-IDF, as in BERTopic): every
  cluster's text is one document, a term's weight is its frequency within the cluster times
  ``log(1 + A / f)`` where ``A`` is the average word count per cluster and ``f`` the term's
  frequency across all recent clusters, so words common to every cluster sink (counts are
  square-rooted first, BERTopic's ``reduce_frequent_words``).
- **Growth** of a topic is ``(recent - previous) / max(previous, 1)``, where ``previous``
  counts the previous-window articles the topic would have admitted under the same
  threshold (see :func:`previous_topic_counts`); dividing by at least 1 keeps a new topic
  finite (a topic of 5 with no predecessor grows by 5.0, i.e. +500%).
- **Megatrends.** An article matches a megatrend if one of its keywords occurs as a whole
  word or phrase (case-insensitive; "AI" does not match "said"), or, when the megatrend has
  a seed text, if the article's vector has cosine similarity of at least
  ``seed_similarity`` with the seed text's vector (embedded by the caller with the index's
  model). Each window's share is matches divided by the window's articles; growth of share
  is ``recent_share / previous_share - 1`` (None when the previous share is 0 or the previous
  window is empty), and the change in percentage points is given too, as it is always
  defined.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from prosora_pipelines.lib.sources.catalog import Megatrend

Vector = npt.NDArray[np.float32]

# A word: a letter, then letters or digits (no bare numbers such as years in labels).
_WORD = re.compile(r"\b[^\W\d_][^\W_]+\b")
# What may separate the two words of a phrase: spaces, or one hyphen ("model-risk").
_PHRASE_GAP = re.compile(r"[ \t\u00a0]+|-")


@dataclass(frozen=True)
class TrendParameters:
    """How trends are measured; the defaults suit all-MiniLM-L6-v2 vectors.

    ``topic_similarity`` 0.4: the bundled sample's recent articles, all business and
    technology, average 0.44 cosine similarity to each other, so a rule on the average
    (average linkage) lumps most of them into one topic at any threshold, while requiring
    0.4 between every pair (complete linkage) splits them into story lines such as AI Act
    compliance for lenders or stablecoin reserve rules.
    ``seed_similarity`` 0.5: a one-sentence seed text scores 0.5 to 0.75 against articles on
    its subject and below 0.5 against merely adjacent ones.
    """

    window_days: int = 14
    topic_similarity: float = 0.4
    min_topic_size: int = 2
    label_terms: int = 5
    seed_similarity: float = 0.5
    top_domains: int = 3
    example_titles: int = 3


@dataclass(frozen=True)
class Windows:
    """The recent window ``(recent_from, recent_until]`` and the previous one before it."""

    previous_from: datetime
    recent_from: datetime
    recent_until: datetime

    def label(self, published_at: pl.Expr) -> pl.Expr:
        """``"recent"``, ``"previous"``, or null (undated, older, or after the end)."""
        return (
            pl.when((published_at > self.recent_from) & (published_at <= self.recent_until))
            .then(pl.lit("recent"))
            .when((published_at > self.previous_from) & (published_at <= self.recent_from))
            .then(pl.lit("previous"))
            .otherwise(None)
        )


@dataclass(frozen=True)
class Topic:
    topic_id: int
    label_terms: tuple[str, ...]
    recent_articles: int
    previous_articles: int
    growth: float
    top_domains: tuple[tuple[str, int], ...]
    example_titles: tuple[str, ...]
    article_ids: tuple[str, ...]

    @property
    def label(self) -> str:
        return ", ".join(self.label_terms)


@dataclass(frozen=True)
class MegatrendMeasure:
    name: str
    recent_matches: int
    previous_matches: int
    recent_share: float | None
    previous_share: float | None
    share_change: float | None
    share_growth: float | None
    recent_by_domain: tuple[tuple[str, int], ...]
    previous_by_domain: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class TrendReport:
    windows: Windows
    recent_articles: int
    previous_articles: int
    undated_excluded: int
    unindexed_excluded: int
    unclustered: int
    topics: tuple[Topic, ...]
    megatrends: tuple[MegatrendMeasure, ...]


def _normalized(vector: npt.NDArray[Any]) -> Vector:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm else vector).astype(np.float32)


def article_vectors(table: Any) -> dict[str, Vector]:
    """Article id → normalized mean of its chunk vectors, from a LanceDB chunk table."""
    rows = table.count_rows()
    if rows == 0:
        return {}
    chunks = table.search().select(["article_id", "vector"]).limit(rows).to_arrow()
    ids = np.asarray(chunks.column("article_id").to_pylist())
    vectors = np.asarray(chunks.column("vector").to_pylist(), dtype=np.float32)
    unique, inverse = np.unique(ids, return_inverse=True)
    sums = np.zeros((len(unique), vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, vectors)
    return {
        str(article_id): _normalized(total) for article_id, total in zip(unique, sums, strict=True)
    }


def window_end(articles: pl.DataFrame, fallback: datetime) -> datetime:
    """Where the recent window ends: the newest publication date among canonical articles.

    Not the wall clock: a corpus that stopped growing (the bundled sample ends on
    2026-11-20; a catalog whose feeds went quiet over a holiday) would otherwise show two
    empty windows and no trend at all, whereas its own last two weeks are what a reader
    wants compared. Nor can a bogus date push the end into the future: the articles stage
    keeps no date later than its fetch time plus a small allowed skew. The window bounds go
    into the asset metadata, so a stale end is visible. ``fallback`` (normally now) is used
    when no article is dated.
    """
    newest = articles.filter(pl.col("duplicate_of").is_null())["published_at"].max()
    return newest if isinstance(newest, datetime) else fallback


def trend_windows(end: datetime, window_days: int) -> Windows:
    span = timedelta(days=window_days)
    return Windows(previous_from=end - 2 * span, recent_from=end - span, recent_until=end)


def growth(recent: int, previous: int) -> float:
    """``(recent - previous) / max(previous, 1)``: 1.0 is a doubling, finite for new topics."""
    return (recent - previous) / max(previous, 1)


def cluster_vectors(vectors: Vector, similarity: float) -> npt.NDArray[np.int64]:
    """Cluster label per row: complete linkage, every pair in a cluster ≥ ``similarity``."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    clustering = AgglomerativeClustering(
        n_clusters=None,
        metric="cosine",
        linkage="complete",
        distance_threshold=1.0 - similarity,
    )
    return np.asarray(clustering.fit_predict(vectors), dtype=np.int64)


def _word_key(word: str) -> str:
    """A word with a plural "s" dropped, so "agent" and "agents" are one word in a label."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _label(ranked_terms: Iterable[str], count: int) -> tuple[str, ...]:
    """The first ``count`` terms such that no word appears twice in the label.

    A term sharing a word with a chosen term is skipped ("agents" after "ai agents", "agent"
    after "agents"), unless it contains that term and more, which it then replaces ("ai
    act" replaces "ai" and "act"). Plurals count as their singular (:func:`_word_key`); a
    phrase repeating one word ("agent agents") is skipped.
    """
    chosen: list[tuple[str, frozenset[str]]] = []
    for term in ranked_terms:
        if len(chosen) == count:
            break
        words = term.split()
        keys = frozenset(_word_key(word) for word in words)
        said = any(
            keys <= kept_keys or (keys & kept_keys and not kept_keys <= keys)
            for _, kept_keys in chosen
        )
        if len(keys) < len(words) or said:
            continue
        chosen = [(kept, kept_keys) for kept, kept_keys in chosen if not kept_keys <= keys]
        chosen.append((term, keys))
    return tuple(term for term, _ in chosen)


def _terms(text: str, stop_words: frozenset[str]) -> list[str]:
    """Lower-cased words and two-word phrases of ``text``, without English stop words.

    A phrase is two adjacent words, neither a stop word, separated by spaces or a hyphen:
    "AI Act" is one, but "issuers under the AI" yields no "issuers ai", and no phrase
    crosses punctuation or a line break. (scikit-learn's own bigrams are formed after stop
    words are removed.)
    """
    lowered = text.lower()
    terms: list[str] = []
    previous: re.Match[str] | None = None
    for match in _WORD.finditer(lowered):
        word = match.group()
        if word in stop_words:
            previous = None
            continue
        terms.append(word)
        if previous is not None and _PHRASE_GAP.fullmatch(lowered, previous.end(), match.start()):
            terms.append(f"{previous.group()} {word}")
        previous = match
    return terms


def distinctive_terms(documents: Sequence[str], count: int) -> list[tuple[str, ...]]:
    """The ``count`` most distinctive terms of each document (one document per cluster).

    c-TF-IDF over words and two-word phrases (:func:`_terms`, scikit-learn's English stop
    words removed), with BERTopic's ``reduce_frequent_words``: counts are square-rooted
    before normalizing, so a word such as "ai" that fills every cluster of a technology
    corpus does not crowd out the words that tell clusters apart. See :func:`_label` for
    how overlapping terms are merged.
    """
    if not documents:
        return []
    from sklearn.feature_extraction.text import (
        ENGLISH_STOP_WORDS,
        CountVectorizer,
    )

    vectorizer = CountVectorizer(analyzer=partial(_terms, stop_words=ENGLISH_STOP_WORDS))
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # no term at all (empty or stop-word-only texts)
        return [() for _ in documents]
    terms = vectorizer.get_feature_names_out()
    damped = np.sqrt(counts)
    totals = damped.sum(axis=1, keepdims=True)
    frequency = np.divide(damped, totals, out=np.zeros_like(damped), where=totals > 0)
    average_words = counts.sum() / len(documents)
    weights = frequency * np.log1p(average_words / counts.sum(axis=0))
    return [
        _label((str(terms[i]) for i in np.argsort(-row, kind="stable") if row[i] > 0), count)
        for row in weights
    ]


def keyword_pattern(keywords: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive regex matching any keyword as a whole word or phrase.

    Word boundaries are look-arounds (no word character just before or after), which equal
    ``\\b`` for ordinary words and still work for keywords such as "C++"; spaces inside a
    phrase match any run of whitespace.
    """
    parts = [
        r"\s+".join(re.escape(word) for word in keyword.split())
        for keyword in keywords
        if keyword.strip()
    ]
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def _domain_counts(domain_lists: Iterable[Sequence[str]]) -> tuple[tuple[str, int], ...]:
    counts = Counter(domain for domains in domain_lists for domain in domains)
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _share(matches: int, articles: int) -> float | None:
    return matches / articles if articles else None


def _share_change(
    recent: float | None, previous: float | None
) -> tuple[float | None, float | None]:
    """(change in share, relative growth of share); growth is None from a zero share."""
    if recent is None or previous is None:
        return None, None
    return recent - previous, (recent / previous - 1.0 if previous else None)


def _measure_megatrend(
    megatrend: Megatrend,
    windowed: pl.DataFrame,
    vectors: Vector,
    seed_vector: Vector | None,
    seed_similarity: float,
) -> MegatrendMeasure:
    """Matches of one megatrend per window and domain; ``windowed`` holds the articles of
    both windows, row for row with ``vectors``."""
    matched = np.zeros(windowed.height, dtype=bool)
    pattern = keyword_pattern(megatrend.keywords)
    if pattern is not None:
        matched |= np.array([pattern.search(text) is not None for text in windowed["_text"]], bool)
    if seed_vector is not None and windowed.height:
        matched |= vectors @ _normalized(seed_vector) >= seed_similarity
    hits = windowed.filter(pl.Series(matched))
    sizes = Counter(windowed["_window"].to_list())
    found = {window: hits.filter(pl.col("_window") == window) for window in ("recent", "previous")}
    recent_share = _share(found["recent"].height, sizes["recent"])
    previous_share = _share(found["previous"].height, sizes["previous"])
    change, relative = _share_change(recent_share, previous_share)
    return MegatrendMeasure(
        name=megatrend.name,
        recent_matches=found["recent"].height,
        previous_matches=found["previous"].height,
        recent_share=recent_share,
        previous_share=previous_share,
        share_change=change,
        share_growth=relative,
        recent_by_domain=_domain_counts(found["recent"]["domains"].to_list()),
        previous_by_domain=_domain_counts(found["previous"]["domains"].to_list()),
    )


def previous_topic_counts(
    previous: Vector,
    recent: Vector,
    members: Sequence[npt.NDArray[np.int64]],
    centroids: Vector,
    similarity: float,
) -> npt.NDArray[np.int64]:
    """Previous-window articles per topic, by the rule that formed the topics.

    An article counts for a topic it would have been admitted to (cosine similarity of at
    least ``similarity`` with every member, complete linkage's rule); if several admit it,
    the one with the nearest centroid takes it. Similarity to the centroid alone would be
    too lenient: members sit far closer to their centroid than to each other.
    """
    if not len(previous) or not len(members):
        return np.zeros(len(members), dtype=np.int64)
    to_recent = previous @ recent.T
    admitted = np.stack([to_recent[:, group].min(axis=1) >= similarity for group in members], 1)
    nearest = np.where(admitted, previous @ centroids.T, -np.inf).argmax(axis=1)
    return np.bincount(nearest[admitted.any(axis=1)], minlength=len(members)).astype(np.int64)


def _topics(
    recent: pl.DataFrame,
    recent_vectors: Vector,
    previous_vectors: Vector,
    parameters: TrendParameters,
) -> tuple[list[Topic], int]:
    """Topics of the recent window (largest first) and how many recent articles fit none."""
    labels = cluster_vectors(recent_vectors, parameters.topic_similarity)
    clusters = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    terms = distinctive_terms(
        ["\n".join(recent["_text"][int(i)] for i in members) for members in clusters],
        parameters.label_terms,
    )
    kept = [
        (members, label)
        for members, label in zip(clusters, terms, strict=True)
        if len(members) >= parameters.min_topic_size
    ]
    if not kept:
        return [], recent.height
    centroids = np.stack([_normalized(recent_vectors[members].mean(axis=0)) for members, _ in kept])
    previous_counts = previous_topic_counts(
        previous_vectors,
        recent_vectors,
        [members for members, _ in kept],
        centroids,
        parameters.topic_similarity,
    )
    drafts: list[Topic] = []
    for (members, label), centroid, previous in zip(kept, centroids, previous_counts, strict=True):
        representative = members[np.argsort(-(recent_vectors[members] @ centroid), kind="stable")]
        rows = recent[[int(i) for i in representative]]
        drafts.append(
            Topic(
                topic_id=0,
                label_terms=label,
                recent_articles=len(members),
                previous_articles=int(previous),
                growth=growth(len(members), int(previous)),
                top_domains=_domain_counts(rows["domains"].to_list())[: parameters.top_domains],
                example_titles=tuple(rows["title"].head(parameters.example_titles).to_list()),
                article_ids=tuple(rows["id"].to_list()),
            )
        )
    drafts.sort(key=lambda topic: (-topic.recent_articles, -topic.growth, topic.label))
    topics = [replace(topic, topic_id=number) for number, topic in enumerate(drafts, start=1)]
    return topics, recent.height - sum(topic.recent_articles for topic in topics)


def compute_trends(
    articles: pl.DataFrame,
    vectors: Mapping[str, Vector],
    megatrends: Sequence[Megatrend],
    *,
    end: datetime,
    seed_vectors: Mapping[str, Vector] | None = None,
    parameters: TrendParameters | None = None,
) -> TrendReport:
    """Topics and megatrends of the window ending at ``end`` against the window before it.

    ``articles`` is the articles table, of which only canonical rows (``duplicate_of`` null)
    count; ``vectors`` maps article id to vector (:func:`article_vectors`); ``seed_vectors`` maps
    each megatrend with a seed text to that text's vector, made by the same model.
    Canonical articles without a date, or without a vector (not indexed yet), are left out
    and counted.
    """
    parameters = parameters or TrendParameters()
    seed_vectors = seed_vectors or {}
    missing = [m.name for m in megatrends if m.seed_text and m.name not in seed_vectors]
    if missing:
        raise ValueError(f"megatrends with a seed text need its vector: {missing}")
    windows = trend_windows(end, parameters.window_days)
    canonical = articles.filter(pl.col("duplicate_of").is_null())
    undated = canonical.filter(pl.col("published_at").is_null()).height
    dated = canonical.filter(pl.col("published_at").is_not_null())
    indexed = dated.filter(pl.col("id").is_in(list(vectors)))
    windowed = (
        indexed.with_columns(
            windows.label(pl.col("published_at")).alias("_window"),
            pl.concat_str(
                [pl.col("title").fill_null(""), pl.col("text").fill_null("")], separator="\n"
            ).alias("_text"),
        )
        .filter(pl.col("_window").is_not_null())
        .sort("id")
    )
    dimension = next(iter(vectors.values())).shape[0] if vectors else 0
    matrix = np.array(
        [vectors[article_id] for article_id in windowed["id"]], dtype=np.float32
    ).reshape(windowed.height, dimension)
    is_recent = (windowed["_window"] == "recent").to_numpy()
    recent = windowed.filter(pl.Series(is_recent))
    topics, unclustered = _topics(recent, matrix[is_recent], matrix[~is_recent], parameters)
    measures = tuple(
        _measure_megatrend(
            megatrend,
            windowed,
            matrix,
            seed_vectors.get(megatrend.name) if megatrend.seed_text else None,
            parameters.seed_similarity,
        )
        for megatrend in megatrends
    )
    return TrendReport(
        windows=windows,
        recent_articles=recent.height,
        previous_articles=windowed.height - recent.height,
        undated_excluded=undated,
        unindexed_excluded=dated.height - indexed.height,
        unclustered=unclustered,
        topics=tuple(topics),
        megatrends=measures,
    )


_DOMAIN_COUNTS = pl.List(pl.Struct({"domain": pl.String(), "articles": pl.Int64()}))
_WINDOW_COLUMNS: dict[str, pl.DataType] = {
    "previous_from": pl.Datetime("us", "UTC"),
    "recent_from": pl.Datetime("us", "UTC"),
    "recent_until": pl.Datetime("us", "UTC"),
}
TOPICS_SCHEMA: dict[str, pl.DataType] = {
    "topic_id": pl.Int64(),
    "label": pl.String(),
    "label_terms": pl.List(pl.String()),
    "recent_articles": pl.Int64(),
    "previous_articles": pl.Int64(),
    "growth": pl.Float64(),
    "top_domains": _DOMAIN_COUNTS,
    "example_titles": pl.List(pl.String()),
    "article_ids": pl.List(pl.String()),
    **_WINDOW_COLUMNS,
}
MEGATRENDS_SCHEMA: dict[str, pl.DataType] = {
    "name": pl.String(),
    "recent_matches": pl.Int64(),
    "previous_matches": pl.Int64(),
    "recent_share": pl.Float64(),
    "previous_share": pl.Float64(),
    "share_change": pl.Float64(),
    "share_growth": pl.Float64(),
    "recent_by_domain": _DOMAIN_COUNTS,
    "previous_by_domain": _DOMAIN_COUNTS,
    **_WINDOW_COLUMNS,
}


def _counts(pairs: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"domain": domain, "articles": count} for domain, count in pairs]


def _window_values(windows: Windows) -> dict[str, datetime]:
    return {
        "previous_from": windows.previous_from,
        "recent_from": windows.recent_from,
        "recent_until": windows.recent_until,
    }


def topics_frame(report: TrendReport) -> pl.DataFrame:
    """One row per topic, with the window bounds on every row so the table stands alone."""
    bounds = _window_values(report.windows)
    rows = [
        {
            "topic_id": topic.topic_id,
            "label": topic.label,
            "label_terms": list(topic.label_terms),
            "recent_articles": topic.recent_articles,
            "previous_articles": topic.previous_articles,
            "growth": topic.growth,
            "top_domains": _counts(topic.top_domains),
            "example_titles": list(topic.example_titles),
            "article_ids": list(topic.article_ids),
            **bounds,
        }
        for topic in report.topics
    ]
    return pl.DataFrame(rows, schema=TOPICS_SCHEMA)


def megatrends_frame(report: TrendReport) -> pl.DataFrame:
    """One row per megatrend of the catalog, with the window bounds on every row."""
    bounds = _window_values(report.windows)
    rows = [
        {
            "name": measure.name,
            "recent_matches": measure.recent_matches,
            "previous_matches": measure.previous_matches,
            "recent_share": measure.recent_share,
            "previous_share": measure.previous_share,
            "share_change": measure.share_change,
            "share_growth": measure.share_growth,
            "recent_by_domain": _counts(measure.recent_by_domain),
            "previous_by_domain": _counts(measure.previous_by_domain),
            **bounds,
        }
        for measure in report.megatrends
    ]
    return pl.DataFrame(rows, schema=MEGATRENDS_SCHEMA)
