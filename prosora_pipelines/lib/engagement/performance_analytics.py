"""How far predicted engagement was from what the posts earned.

The engagement predictor starts as a hand-set prior, and recorded feedback is what can tell
a user, and the learning pipeline, whether to trust it: how far off it is (mean absolute
error, RMSE), in which direction (bias) and where (calibration). The figures come per
format and per predictor version too, because the prior's base rates differ by format and
a new predictor should be compared with the one it replaces.

Definitions:

- An observation is one of the user's variants with a predicted rate and feedback with a
  known engagement rate (``appdb.models.engagement_rate``; rows with no impressions have
  none and are skipped). Its actual rate is that of its latest feedback row (greatest
  ``recorded_at``, then ``posted_at``, then id): platforms report running totals, so the
  latest figures are the most complete. A variant posted on two platforms counts once,
  with the latest row of either.
- error = predicted - actual, so a positive bias means the predictor promised too much.
  MAE is the mean of ``|error|``, bias the mean of ``error``, RMSE ``sqrt(mean(error²))``.
- Calibration bins are fixed ranges of the predicted rate (``CALIBRATION_EDGES``, each
  ``[lower, upper)`` and the last one closed), not deciles of the data, so reports from
  different users and months compare bin for bin; the edges are fine-grained where
  engagement rates live (a few percent). Only bins with observations are listed.
- The predictor version is ``Query.model_versions["predictor"]``, ``"unknown"`` when the
  query did not record it.

A user without such feedback gets count 0, None for every metric and no bins. The
computations take plain ``Observation`` values; only ``observations`` reads the database.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.models import PerformanceFeedback, Query, User, Variant

CALIBRATION_EDGES = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.25, 1.0)
UNKNOWN_PREDICTOR = "unknown"


@dataclass(frozen=True)
class Observation:
    """One variant's predicted engagement rate next to the rate it earned."""

    format: str
    predictor_version: str
    predicted: float
    actual: float


@dataclass(frozen=True)
class CalibrationBin:
    """The observations whose predicted rate lies in ``[lower, upper)``."""

    lower: float
    upper: float
    count: int
    mean_predicted: float
    mean_actual: float


@dataclass(frozen=True)
class Accuracy:
    """How a group of predictions fared; the metrics are None when ``count`` is 0."""

    count: int
    mean_absolute_error: float | None
    bias: float | None
    rmse: float | None
    calibration: tuple[CalibrationBin, ...]


@dataclass(frozen=True)
class PerformanceReport:
    """Accuracy over all of a user's observations, and per format and predictor version
    (keys sorted)."""

    overall: Accuracy
    by_format: dict[str, Accuracy]
    by_predictor: dict[str, Accuracy]


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def calibration(
    observations: Sequence[Observation], edges: Sequence[float] = CALIBRATION_EDGES
) -> tuple[CalibrationBin, ...]:
    """The non-empty bins of predicted rate, in order (see the module docstring)."""
    bins: dict[int, list[Observation]] = defaultdict(list)
    last = len(edges) - 2
    for observation in observations:
        bins[min(bisect_right(edges, observation.predicted) - 1, last)].append(observation)
    return tuple(
        CalibrationBin(
            lower=edges[index],
            upper=edges[index + 1],
            count=len(members),
            mean_predicted=_mean([member.predicted for member in members]),
            mean_actual=_mean([member.actual for member in members]),
        )
        for index, members in sorted(bins.items())
    )


def accuracy(observations: Sequence[Observation]) -> Accuracy:
    """Count, MAE, bias, RMSE and calibration of ``observations``."""
    if not observations:
        return Accuracy(0, None, None, None, ())
    errors = [observation.predicted - observation.actual for observation in observations]
    return Accuracy(
        count=len(errors),
        mean_absolute_error=_mean([abs(error) for error in errors]),
        bias=_mean(errors),
        rmse=math.sqrt(_mean([error * error for error in errors])),
        calibration=calibration(observations),
    )


def _by(
    observations: Sequence[Observation], key: Callable[[Observation], str]
) -> dict[str, Accuracy]:
    groups: dict[str, list[Observation]] = defaultdict(list)
    for observation in observations:
        groups[key(observation)].append(observation)
    return {name: accuracy(groups[name]) for name in sorted(groups)}


def summarize(observations: Sequence[Observation]) -> PerformanceReport:
    """The report over ``observations``: overall, per format and per predictor version."""
    return PerformanceReport(
        overall=accuracy(observations),
        by_format=_by(observations, lambda observation: observation.format),
        by_predictor=_by(observations, lambda observation: observation.predictor_version),
    )


def observations(session: Session, user: User) -> list[Observation]:
    """The user's observations: each predicted variant with its latest known rate."""
    newest_first = (
        PerformanceFeedback.recorded_at.desc(),
        PerformanceFeedback.posted_at.desc(),
        PerformanceFeedback.id.desc(),
    )
    latest = (
        select(
            PerformanceFeedback.variant_id,
            PerformanceFeedback.engagement_rate,
            func.row_number()
            .over(partition_by=PerformanceFeedback.variant_id, order_by=newest_first)
            .label("newness"),
        )
        .join(Variant, Variant.id == PerformanceFeedback.variant_id)
        .join(Query, Query.id == Variant.query_id)
        .where(Query.user_id == user.id, PerformanceFeedback.engagement_rate.is_not(None))
        .subquery()
    )
    rows = session.execute(
        select(
            Variant.format,
            Query.model_versions,
            Variant.predicted_engagement,
            latest.c.engagement_rate,
        )
        .join(latest, latest.c.variant_id == Variant.id)
        .join(Query, Query.id == Variant.query_id)
        .where(latest.c.newness == 1, Variant.predicted_engagement.is_not(None))
        .order_by(Variant.id)
    )
    return [
        Observation(
            format=format_,
            predictor_version=versions.get("predictor", UNKNOWN_PREDICTOR),
            predicted=predicted,
            actual=actual,
        )
        for format_, versions, predicted, actual in rows
        if predicted is not None and actual is not None
    ]


def performance_report(session: Session, user: User) -> PerformanceReport:
    """How the user's engagement predictions compare with the feedback recorded for them."""
    return summarize(observations(session, user))
