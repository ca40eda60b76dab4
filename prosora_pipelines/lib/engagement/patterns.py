"""Learning patterns: what works for each user, as effects with intervals.

Contract of the rows this module writes to ``learning_patterns`` (``appdb.models.LearningPattern``)
and that the engine, the API and the CLI read:

- one row per user × pattern, where a pattern is a feature and one of its values
  (``features.pattern_values``): ``user_id`` the user, ``pattern_type`` the feature name
  (``hook_type``, ``length_band``, ``hashtag_band``, ``has_link``, ``posted_weekday``,
  ``posted_hour_band``, ... — ``features.PATTERN_FEATURES``);
- ``pattern_data``::

      {
        "value": "story",              # the feature's value this row is about
        "lift": 1.18,                  # multiplicative effect on the engagement rate against
                                       # the user's own baseline: 1.18 = +18 %, 0.9 = -10 %
        "interval": [1.05, 1.32],      # 90 % interval of the lift
        "samples": 57,                 # the user's observations with this value
        "user_baseline_rate": 0.031,   # the user's mean engagement rate
        "pooled_lift": 1.12,           # the all-users lift the user's is shrunk toward
        "version": 3,                  # counts up each time the row's figures change
        "history": [                   # the previous figures, oldest first
          {"lift": ..., "interval": [...], "samples": ..., "computed_at": "ISO 8601"}
        ],
        "computed_at": "ISO 8601"
      }

- ``confidence`` in [0, 1]: how sure the data is of the effect's direction (the posterior
  probability that the lift lies on the side of 1.0 it was estimated on, rescaled from
  [0.5, 1] to [0, 1]);
- ``active`` only when the interval excludes 1.0 (no effect) and ``samples`` ≥
  ``MIN_SAMPLES``; inactive rows are kept, with their history, and stop steering drafts.

Rows are upserted: a re-run over the same observations changes nothing (same figures, same
version, no new history entry); new figures move the old ones into ``history``.

Estimation (all on the log of the lift, where effects multiply):

- A user's baseline is the mean rate of their observations; the raw lift of a value is the
  mean rate of their observations with it over that baseline, with variance
  ``cv² / samples`` (``cv`` the user's coefficient of variation of the rate, the all-users
  one for a user with a single observation).
- The all-users effect of a value and the spread of users around it (``tau²``, at least
  ``MIN_BETWEEN_USER_VARIANCE``) come from a random-effects meta-analysis over the users
  (DerSimonian-Laird).
- Each user's lift is shrunk toward the effect of the *other* users (so the user's own data
  is not counted twice), with prior variance ``tau²`` plus that effect's uncertainty; with
  no other user having the value, toward no effect with variance ``LONE_PRIOR_VARIANCE``.
  A user with few observations thus gets about the all-users effect, one with many their
  own.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.models import LearningPattern
from prosora_pipelines.lib.engagement.features import PATTERN_FEATURES
from prosora_pipelines.lib.engagement.observations import KEY_PREFIX

MIN_SAMPLES = 8
"""The fewest observations with a value before its pattern may be active."""
INTERVAL_LEVEL = 0.90
MIN_BETWEEN_USER_VARIANCE = 0.01
"""Users may differ from one another by at least this much (log-lift variance): without a
floor, a few users who happen to agree would pull everyone's lift to theirs."""
LONE_PRIOR_VARIANCE = 0.09
"""Prior variance of a log-lift nobody else informs: lifts between about ×0.6 and ×1.6."""
_Z = NormalDist().inv_cdf(0.5 + INTERVAL_LEVEL / 2)
_ROUNDING = 4


@dataclass(frozen=True)
class PatternEstimate:
    """One user's learned effect of one feature value (see the module docstring)."""

    user_id: str
    feature: str
    value: str
    lift: float
    interval: tuple[float, float]
    samples: int
    user_baseline_rate: float
    pooled_lift: float
    confidence: float

    @property
    def active(self) -> bool:
        low, high = self.interval
        return self.samples >= MIN_SAMPLES and (low > 1.0 or high < 1.0)


@dataclass(frozen=True)
class _Raw:
    user_id: str
    log_lift: float
    variance: float
    samples: int


def _random_effects(raws: Sequence[_Raw]) -> tuple[float, float, float]:
    """The pooled log-lift, its variance and the between-user variance ``tau²``."""
    weights = np.array([1 / raw.variance for raw in raws])
    values = np.array([raw.log_lift for raw in raws])
    fixed = float(weights @ values / weights.sum())
    q = float(weights @ (values - fixed) ** 2)
    scale = float(weights.sum() - (weights**2).sum() / weights.sum())
    tau2 = max((q - (len(raws) - 1)) / scale if scale > 0 else 0.0, MIN_BETWEEN_USER_VARIANCE)
    random_weights = 1 / (1 / weights + tau2)
    pooled = float(random_weights @ values / random_weights.sum())
    return pooled, float(1 / random_weights.sum()), tau2


def estimate_patterns(observations: pl.DataFrame) -> list[PatternEstimate]:
    """Every user × feature value with at least one observation, sorted by user, feature
    (in ``PATTERN_FEATURES`` order) and value."""
    if not len(observations):
        return []
    users = observations.group_by("user_id").agg(
        pl.col("rate").mean().alias("baseline"),
        pl.col("rate").var(ddof=1).alias("variance"),
        pl.len().alias("count"),
    )
    cv2_column = (users["variance"] / users["baseline"] ** 2).drop_nulls().drop_nans()
    pooled_cv2 = float(cv2_column.mean()) if len(cv2_column) else 1.0  # type: ignore[arg-type]
    cv2: dict[str, float] = {}
    baseline: dict[str, float] = {}
    for row in users.iter_rows(named=True):
        baseline[row["user_id"]] = row["baseline"]
        usable = row["count"] > 1 and row["baseline"] > 0 and row["variance"] is not None
        cv2[row["user_id"]] = (
            max(row["variance"] / row["baseline"] ** 2, 1e-6) if usable else pooled_cv2
        )
    estimates: list[PatternEstimate] = []
    for feature in PATTERN_FEATURES:
        column = f"{KEY_PREFIX}{feature}"
        groups = (
            observations.filter(pl.col(column).is_not_null())
            .group_by("user_id", column)
            .agg(pl.col("rate").mean().alias("mean"), pl.len().alias("samples"))
        )
        by_value: dict[str, list[_Raw]] = defaultdict(list)
        for row in groups.iter_rows(named=True):
            user = row["user_id"]
            lift = row["mean"] / baseline[user] if baseline[user] > 0 else 1.0
            by_value[row[column]].append(
                _Raw(user, math.log(max(lift, 1e-3)), cv2[user] / row["samples"], row["samples"])
            )
        for value, raws in by_value.items():
            pooled, _, tau2 = _random_effects(raws)
            for raw in raws:
                others = [other for other in raws if other.user_id != raw.user_id]
                if others:
                    prior_mean, prior_variance, _ = _random_effects(others)
                    prior_variance += tau2
                else:
                    prior_mean, prior_variance = 0.0, LONE_PRIOR_VARIANCE
                precision = 1 / prior_variance + 1 / raw.variance
                mean = (prior_mean / prior_variance + raw.log_lift / raw.variance) / precision
                spread = 1 / math.sqrt(precision)
                estimates.append(
                    PatternEstimate(
                        user_id=raw.user_id,
                        feature=feature,
                        value=value,
                        # Rounded as stored, so ``active`` holds for the stored figures.
                        lift=round(math.exp(mean), _ROUNDING),
                        interval=(
                            round(math.exp(mean - _Z * spread), _ROUNDING),
                            round(math.exp(mean + _Z * spread), _ROUNDING),
                        ),
                        samples=raw.samples,
                        user_baseline_rate=baseline[raw.user_id],
                        pooled_lift=math.exp(pooled),
                        confidence=2 * NormalDist().cdf(abs(mean) / spread) - 1,
                    )
                )
    order = {name: index for index, name in enumerate(PATTERN_FEATURES)}
    return sorted(estimates, key=lambda e: (e.user_id, order[e.feature], e.value))


@dataclass(frozen=True)
class PatternChanges:
    """What an upsert did: patterns that became active or stopped being, per user as
    ``(user_id, feature, value)``, and rows written."""

    gained: tuple[tuple[str, str, str], ...]
    lost: tuple[tuple[str, str, str], ...]
    created: int
    updated: int
    unchanged: int


def _figures(estimate: PatternEstimate) -> dict[str, Any]:
    return {
        "lift": round(estimate.lift, _ROUNDING),
        "interval": [round(bound, _ROUNDING) for bound in estimate.interval],
        "samples": estimate.samples,
        "user_baseline_rate": round(estimate.user_baseline_rate, 6),
        "pooled_lift": round(estimate.pooled_lift, _ROUNDING),
    }


def is_learned_row(pattern: LearningPattern) -> bool:
    """Whether a row follows this module's contract (other writers' rows are left alone)."""
    return (
        pattern.user_id is not None
        and pattern.pattern_type in PATTERN_FEATURES
        and isinstance(pattern.pattern_data.get("value"), str)
        and isinstance(pattern.pattern_data.get("version"), int)
    )


def upsert_patterns(
    session: Session, estimates: Iterable[PatternEstimate], now: datetime
) -> PatternChanges:
    """Write the estimates as one row per user × pattern (module docstring). A learned row
    whose value no longer has observations is made inactive, never deleted."""
    existing = {
        (str(row.user_id), row.pattern_type, row.pattern_data["value"]): row
        for row in session.scalars(
            select(LearningPattern).where(LearningPattern.user_id.is_not(None))
        )
        if is_learned_row(row)
    }
    gained: list[tuple[str, str, str]] = []
    lost: list[tuple[str, str, str]] = []
    created = updated = unchanged = 0
    seen: set[tuple[str, str, str]] = set()
    stamp = now.isoformat(timespec="seconds")
    for estimate in estimates:
        key = (estimate.user_id, estimate.feature, estimate.value)
        seen.add(key)
        figures = _figures(estimate)
        confidence = round(min(max(estimate.confidence, 0.0), 1.0), _ROUNDING)
        row = existing.get(key)
        if row is None:
            session.add(
                LearningPattern(
                    user_id=uuid.UUID(estimate.user_id),
                    pattern_type=estimate.feature,
                    pattern_data={
                        "value": estimate.value,
                        **figures,
                        "version": 1,
                        "history": [],
                        "computed_at": stamp,
                    },
                    confidence=confidence,
                    active=estimate.active,
                    created_at=now,
                    updated_at=now,
                )
            )
            created += 1
            if estimate.active:
                gained.append(key)
            continue
        data = row.pattern_data
        same = all(data.get(name) == value for name, value in figures.items())
        if same and row.active == estimate.active and row.confidence == confidence:
            unchanged += 1
            continue
        previous = {
            "lift": data.get("lift"),
            "interval": data.get("interval"),
            "samples": data.get("samples"),
            "computed_at": data.get("computed_at"),
        }
        row.pattern_data = {
            **data,
            **figures,
            "version": int(data["version"]) + 1,
            "history": [*data.get("history", []), previous],
            "computed_at": stamp,
        }
        if estimate.active and not row.active:
            gained.append(key)
        if row.active and not estimate.active:
            lost.append(key)
        row.confidence = confidence
        row.active = estimate.active
        row.updated_at = now
        updated += 1
    for key, row in existing.items():
        if key not in seen and row.active:
            row.active = False
            row.updated_at = now
            lost.append(key)
            updated += 1
    session.flush()
    return PatternChanges(tuple(gained), tuple(lost), created, updated, unchanged)


def learned_patterns(session: Session, user_id: uuid.UUID) -> list[LearningPattern]:
    """The user's learned rows (this module's contract), active first, then strongest."""
    rows = [
        row
        for row in session.scalars(
            select(LearningPattern).where(LearningPattern.user_id == user_id)
        )
        if is_learned_row(row)
    ]
    return sorted(
        rows,
        key=lambda row: (
            not row.active,
            -abs(math.log(max(float(row.pattern_data["lift"]), 1e-6))),
            row.pattern_type,
            row.pattern_data["value"],
        ),
    )


def active_keys(session: Session) -> set[tuple[str, str, str]]:
    """Every active learned pattern as ``(user_id, feature, value)``."""
    return {
        (str(row.user_id), row.pattern_type, row.pattern_data["value"])
        for row in session.scalars(select(LearningPattern).where(LearningPattern.active))
        if is_learned_row(row)
    }
