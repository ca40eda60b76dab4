"""Retrieval quality measures over labelled queries (binary relevance)."""

from __future__ import annotations

import math
from collections.abc import Sequence, Set


def recall_at_k(ranked: Sequence[str], relevant: Set[str], k: int) -> float:
    """Share of the relevant items found in the top ``k``."""
    if not relevant:
        raise ValueError("a labelled query needs at least one relevant item")
    return len(set(ranked[:k]) & relevant) / len(relevant)


def ndcg_at_k(ranked: Sequence[str], relevant: Set[str], k: int) -> float:
    """Normalized discounted cumulative gain: 1 when every relevant item leads the ranking."""
    if not relevant:
        raise ValueError("a labelled query needs at least one relevant item")
    gain = sum(1 / math.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return gain / ideal
