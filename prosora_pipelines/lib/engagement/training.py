"""Training the engagement model and deciding whether it beats what predicts today.

The observations are split by time: the oldest ``1 - HOLDOUT_SHARE`` train, the newest
``HOLDOUT_SHARE`` are the hold-out every candidate is judged on, as a model is used: on
posts newer than anything it learned from. Candidates:

- ``user_mean``: the user's mean training rate, shrunk toward the all-users mean by
  ``BASELINE_PSEUDO_COUNT`` posts (the all-users mean for a user without training posts);
- ``prior``: the hand-set prior of ``lib.query.prediction`` (the observation's
  ``prior_rate``);
- ``knn``: the mean rate of the ``K_NEIGHBOURS`` most similar training posts of the same
  user by text embedding (cosine), all users' when the user has too few;
- ``linear``: the fitted model (``model_registry.LinearEngagementModel``): ridge regression
  of the log rate over the user's ``user_mean`` on the pattern keys, the numeric features
  and the text embedding projected on its first principal components. The ridge penalty and
  whether the embedding helps are chosen on the newest part of the *training* data
  (``TUNING_SHARE``), never on the hold-out, which only reports.

Metrics on the hold-out: MAE of the rate, Spearman correlation, and pairwise accuracy: over
pairs of hold-out posts of the same user with different rates, the share a predictor puts
in the right order (a tie counts half; at most ``MAX_PAIRS_PER_USER`` pairs per user,
drawn with a fixed seed).

``beats``: the candidate is better than a competitor when its MAE is lower and its pairwise
accuracy higher, both by more than chance: the one-sided 90 % lower bound of the per-post
(per-pair) improvement is above zero, with pairs counted no more than the hold-out has posts
since pairs sharing a post are not independent. A model fitted to noise is then not
promoted, even when it happens to score a little better.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from prosora_pipelines.lib.engagement.features import NUMERIC_FEATURES, numeric_values
from prosora_pipelines.lib.engagement.model_registry import (
    EMBEDDING_FEATURE,
    EngagementPredictor,
    LinearEngagementModel,
)
from prosora_pipelines.lib.engagement.observations import (
    KEY_COLUMNS,
    KEY_PREFIX,
    embedding_matrix,
    features_of,
    log_rate,
)

HOLDOUT_SHARE = 0.2
TUNING_SHARE = 0.2
MIN_TRAINING = 40
"""Fewer training observations than this and no model is trained."""
MIN_HOLDOUT = 10
BASELINE_PSEUDO_COUNT = 5.0
K_NEIGHBOURS = 10
EMBEDDING_COMPONENTS = 16
RIDGE_ALPHAS = (1.0, 3.0, 10.0, 30.0, 100.0)
MAX_PAIRS_PER_USER = 20_000
ONE_SIDED_Z = NormalDist().inv_cdf(0.90)
BASELINES = ("user_mean", "prior", "knn")
CANDIDATE = "linear"
CURRENT = "current"

FloatArray = npt.NDArray[np.float64]


class NotEnoughObservationsError(ValueError):
    """Too few observations to train and judge a model; the message says how many."""


@dataclass(frozen=True)
class Scores:
    """A predictor's hold-out metrics."""

    mae: float
    spearman: float | None
    pairwise_accuracy: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {
            "mae": self.mae,
            "spearman": self.spearman,
            "pairwise_accuracy": self.pairwise_accuracy,
        }


@dataclass(frozen=True)
class Verdict:
    """Whether the candidate beat a competitor, and the margins (lower bounds) it did by."""

    competitor: str
    beats: bool
    mae_gain_lower_bound: float
    pairwise_gain_lower_bound: float | None


@dataclass(frozen=True)
class TrainingReport:
    """A trained candidate, every predictor's hold-out scores and the verdicts."""

    model: LinearEngagementModel
    scores: Mapping[str, Scores]
    verdicts: tuple[Verdict, ...]
    training_size: int
    holdout_size: int
    users: int
    chosen: Mapping[str, Any]
    current_version: str | None
    learning_curve: tuple[Mapping[str, float | int | None], ...] = field(default=())

    @property
    def beats_all(self) -> bool:
        return all(verdict.beats for verdict in self.verdicts)

    @property
    def reason(self) -> str:
        """Why the candidate is promoted or not, in one line."""
        lost = [verdict.competitor for verdict in self.verdicts if not verdict.beats]
        candidate = self.scores[CANDIDATE]
        figures = f"hold-out MAE {candidate.mae:.5f}, pairwise accuracy " + (
            "n/a" if candidate.pairwise_accuracy is None else f"{candidate.pairwise_accuracy:.3f}"
        )
        if not lost:
            return f"beats {', '.join(v.competitor for v in self.verdicts)} ({figures})"
        return f"does not beat {', '.join(lost)} by more than chance ({figures})"

    def metrics(self) -> dict[str, Any]:
        """What ``metrics.json`` stores."""
        return {
            "scores": {name: scores.as_dict() for name, scores in self.scores.items()},
            "verdicts": [
                {
                    "competitor": verdict.competitor,
                    "beats": verdict.beats,
                    "mae_gain_lower_bound": verdict.mae_gain_lower_bound,
                    "pairwise_gain_lower_bound": verdict.pairwise_gain_lower_bound,
                }
                for verdict in self.verdicts
            ],
            "beats_all": self.beats_all,
            "reason": self.reason,
            "training_size": self.training_size,
            "holdout_size": self.holdout_size,
            "users": self.users,
            "chosen": dict(self.chosen),
            "current_version": self.current_version,
            "learning_curve": [dict(point) for point in self.learning_curve],
        }


def user_baselines(train: pl.DataFrame) -> tuple[dict[str, float], float]:
    """Each user's shrunk mean rate and the all-users mean (see the module docstring)."""
    overall = float(train["rate"].mean())  # type: ignore[arg-type]
    grouped = train.group_by("user_id").agg(pl.col("rate").sum(), pl.len().alias("count"))
    baselines = {
        row["user_id"]: (row["rate"] + BASELINE_PSEUDO_COUNT * overall)
        / (row["count"] + BASELINE_PSEUDO_COUNT)
        for row in grouped.iter_rows(named=True)
    }
    return baselines, overall


@dataclass(frozen=True)
class Prepared:
    """Observations in time order with what every fit needs computed once: the pattern keys
    per feature, the numeric features, the embeddings, users, rates and log rates."""

    table: pl.DataFrame
    keys: Mapping[str, npt.NDArray[np.object_]]
    numeric: FloatArray
    embeddings: FloatArray
    users: list[str]
    rates: FloatArray
    log_rates: FloatArray

    def __len__(self) -> int:
        return len(self.table)

    def part(self, start: int, stop: int) -> Prepared:
        return Prepared(
            table=self.table.slice(start, stop - start),
            keys={name: values[start:stop] for name, values in self.keys.items()},
            numeric=self.numeric[start:stop],
            embeddings=self.embeddings[start:stop] if self.embeddings.size else self.embeddings,
            users=self.users[start:stop],
            rates=self.rates[start:stop],
            log_rates=self.log_rates[start:stop],
        )


def prepare(table: pl.DataFrame) -> Prepared:
    """``table`` sorted by posting time, with its model inputs computed once."""
    ordered = table.sort("posted_at", "feedback_id")
    numeric = [
        [numeric_values(features_of(row))[name] for name in NUMERIC_FEATURES]
        for row in ordered.iter_rows(named=True)
    ]
    return Prepared(
        table=ordered,
        keys={
            column.removeprefix(KEY_PREFIX): ordered[column].to_numpy().astype(object)
            for column in KEY_COLUMNS
        },
        numeric=np.asarray(numeric, dtype=np.float64).reshape(len(ordered), len(NUMERIC_FEATURES)),
        embeddings=embedding_matrix(ordered),
        users=ordered["user_id"].to_list(),
        rates=ordered["rate"].to_numpy().astype(np.float64),
        log_rates=np.array(
            [
                log_rate(interactions, impressions)
                for interactions, impressions in zip(
                    ordered["interactions"].to_list(), ordered["impressions"].to_list(), strict=True
                )
            ]
        ),
    )


def design_matrix(model: LinearEngagementModel, prepared: Prepared) -> FloatArray:
    """The model's input rows for prepared observations, all at once; the same values as
    ``model.design_row`` gives row by row at prediction time (a test holds them equal)."""
    rows = np.zeros((len(prepared), len(model.columns)))
    index = {name: position for position, name in enumerate(model.columns)}
    for feature, values in prepared.keys.items():
        for value in {value for value in values if value is not None}:
            column = index.get(f"{feature}={value}")
            if column is not None:
                rows[values == value, column] = 1.0
    scaled = (prepared.numeric - model.numeric_centres) / model.numeric_scales
    for position, name in enumerate(NUMERIC_FEATURES):
        column = index.get(f"num:{name}")
        if column is not None:
            rows[:, column] = scaled[:, position]
    if model.projection.size:
        first = index["emb:0"]
        if prepared.embeddings.size:
            projected = (prepared.embeddings - model.embedding_centre) @ model.projection.T
            rows[:, first : first + model.projection.shape[0]] = projected
    return rows


def _unfitted_model(train: Prepared, components: int) -> LinearEngagementModel:
    scales = train.numeric.std(axis=0)
    embeddings = train.embeddings
    centre = embeddings.mean(axis=0) if embeddings.size else np.zeros(0)
    if components and embeddings.size:
        # Principal axes from the small dimension × dimension covariance, largest first.
        centred = embeddings - centre
        _, vectors = np.linalg.eigh(centred.T @ centred)
        projection = vectors[:, ::-1][:, : min(components, len(train))].T.copy()
    else:
        projection = np.zeros((0, centre.shape[0]))
    pattern_columns = [
        f"{feature}={value}"
        for feature, values in train.keys.items()
        for value in sorted({value for value in values if value is not None})
    ]
    columns = (
        pattern_columns
        + [f"num:{name}" for name in NUMERIC_FEATURES]
        + [f"emb:{index}" for index in range(projection.shape[0])]
    )
    features = (
        [column.split("=", 1)[0] for column in pattern_columns]
        + list(NUMERIC_FEATURES)
        + [EMBEDDING_FEATURE] * projection.shape[0]
    )
    baselines, overall = user_baselines(train.table)
    return LinearEngagementModel(
        columns=tuple(columns),
        column_features=tuple(features),
        coefficients=np.zeros(len(columns)),
        intercept=0.0,
        column_means=np.zeros(len(columns)),
        numeric_centres=train.numeric.mean(axis=0),
        numeric_scales=np.where(scales > 0, scales, 1.0),
        embedding_centre=centre,
        projection=projection,
        user_baselines=baselines,
        global_baseline=overall,
        smearing=1.0,
    )


def fit_linear(train: Prepared, *, alpha: float, components: int) -> LinearEngagementModel:
    """The linear candidate fitted on ``train`` (module docstring)."""
    return _fit(_unfitted_model(train, components), train, alpha)


def _fit(model: LinearEngagementModel, train: Prepared, alpha: float) -> LinearEngagementModel:
    from sklearn.linear_model import Ridge

    rows = design_matrix(model, train)
    offsets = np.log([model.baseline(user) for user in train.users])
    regression = Ridge(alpha=alpha).fit(rows, train.log_rates - offsets)
    fitted = replace(
        model,
        coefficients=np.asarray(regression.coef_, dtype=np.float64),
        intercept=float(regression.intercept_),
        column_means=rows.mean(axis=0),
    )
    # The smearing factor turns the mean log into the mean rate, measured on the training
    # rates themselves so that the smoothing of ``log_rate`` is undone too.
    predicted = fitted.predict_rows(rows, train.users)
    ratio = float(train.rates.sum() / predicted.sum()) if predicted.sum() > 0 else 1.0
    return replace(fitted, smearing=ratio)


def predict(model: LinearEngagementModel, prepared: Prepared) -> FloatArray:
    return model.predict_rows(design_matrix(model, prepared), prepared.users)


def knn_predictions(train: Prepared, rows: Prepared, k: int = K_NEIGHBOURS) -> FloatArray:
    """The mean rate of the ``k`` most similar training posts, the user's own when they
    have ``k``; the all-users mean without embeddings."""
    if not train.embeddings.size or not rows.embeddings.size:
        return np.full(len(rows), train.rates.mean())

    def unit(matrix: FloatArray) -> FloatArray:
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms > 0, norms, 1.0)

    train_unit, row_unit = unit(train.embeddings), unit(rows.embeddings)
    train_users, row_users = np.array(train.users), np.array(rows.users)
    predictions = np.empty(len(rows))
    for user in set(rows.users):
        members = np.flatnonzero(row_users == user)
        own = np.flatnonzero(train_users == user)
        pool = own if len(own) >= k else np.arange(len(train))
        similarity = row_unit[members] @ train_unit[pool].T
        nearest = np.argsort(-similarity, axis=1)[:, : min(k, len(pool))]
        predictions[members] = train.rates[pool][nearest].mean(axis=1)
    return predictions


def _pairs(users: Sequence[str], actual: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Index pairs of the same user with different actual rates (module docstring)."""
    rng = np.random.default_rng(0)
    by_user: dict[str, list[int]] = {}
    for index, user in enumerate(users):
        by_user.setdefault(user, []).append(index)
    firsts, seconds = [], []
    for user in sorted(by_user):
        members = np.array(by_user[user])
        count = len(members)
        if count < 2:
            continue
        if count * (count - 1) // 2 <= MAX_PAIRS_PER_USER:
            left, right = np.triu_indices(count, 1)
        else:
            left = rng.integers(0, count, MAX_PAIRS_PER_USER)
            right = rng.integers(0, count, MAX_PAIRS_PER_USER)
            keep = left != right
            left, right = left[keep], right[keep]
        firsts.append(members[left])
        seconds.append(members[right])
    if not firsts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    first, second = np.concatenate(firsts), np.concatenate(seconds)
    differ = actual[first] != actual[second]
    return first[differ], second[differ]


def _pair_scores(
    predicted: FloatArray, actual: FloatArray, pairs: tuple[FloatArray, FloatArray]
) -> FloatArray:
    first, second = pairs
    order = np.sign(predicted[first] - predicted[second]) * np.sign(actual[first] - actual[second])
    return np.where(order == 0, 0.5, (order > 0).astype(np.float64))


def spearman_correlation(first: FloatArray, second: FloatArray) -> float:
    """Pearson correlation of the ranks (ties get their average rank)."""
    ranks = [pl.Series(values).rank("average").to_numpy() for values in (first, second)]
    return float(np.corrcoef(ranks[0], ranks[1])[0, 1])


def scores(
    predicted: FloatArray, actual: FloatArray, pairs: tuple[FloatArray, FloatArray]
) -> Scores:
    constant = np.all(predicted == predicted[0]) or np.all(actual == actual[0])
    spearman = None if constant else spearman_correlation(predicted, actual)
    pair_scores = _pair_scores(predicted, actual, pairs)
    return Scores(
        mae=float(np.abs(predicted - actual).mean()),
        spearman=spearman,
        pairwise_accuracy=float(pair_scores.mean()) if pair_scores.size else None,
    )


def _lower_bound(gains: FloatArray, effective_count: int) -> float:
    if gains.size == 0:
        return -math.inf
    spread = float(gains.std(ddof=1)) if gains.size > 1 else math.inf
    return float(gains.mean()) - ONE_SIDED_Z * spread / math.sqrt(max(effective_count, 1))


def verdict(
    name: str,
    candidate: FloatArray,
    competitor: FloatArray,
    actual: FloatArray,
    pairs: tuple[FloatArray, FloatArray],
) -> Verdict:
    """Whether ``candidate`` beats ``competitor`` by more than chance (module docstring)."""
    mae_gain = _lower_bound(np.abs(competitor - actual) - np.abs(candidate - actual), len(actual))
    pair_gains = _pair_scores(candidate, actual, pairs) - _pair_scores(competitor, actual, pairs)
    pairwise_gain = (
        _lower_bound(pair_gains, min(len(pair_gains), len(actual))) if pair_gains.size else None
    )
    beats = mae_gain > 0 and pairwise_gain is not None and pairwise_gain > 0
    return Verdict(name, beats, mae_gain, pairwise_gain)


def _mae(model: LinearEngagementModel, rows: Prepared) -> float:
    return float(np.abs(predict(model, rows) - rows.rates).mean())


def tune(train: Prepared) -> dict[str, Any]:
    """The ridge penalty and embedding components with the lowest MAE on the newest part of
    the training data, fitted on the rest."""
    cut = len(train) - max(round(len(train) * TUNING_SHARE), 1)
    fit_part, check_part = train.part(0, cut), train.part(cut, len(train))
    best: tuple[float, dict[str, Any]] | None = None
    for components in (0, EMBEDDING_COMPONENTS) if train.embeddings.size else (0,):
        unfitted = _unfitted_model(fit_part, components)
        for alpha in RIDGE_ALPHAS:
            error = _mae(_fit(unfitted, fit_part, alpha), check_part)
            if best is None or error < best[0]:
                best = (error, {"alpha": alpha, "components": components, "tuning_mae": error})
    if best is None:
        raise NotEnoughObservationsError("nothing to tune on")
    return best[1]


def train(
    table: pl.DataFrame,
    current: EngagementPredictor | None,
    *,
    curve_sizes: Sequence[int] = (),
) -> TrainingReport:
    """Train the candidate on the older observations and score every predictor on the
    newest (module docstring). ``curve_sizes``: training sizes (newest observations of the
    training part) to refit at and score on the same hold-out, for the learning curve.

    BLAS runs on one thread here: the matrices are small (features × features), and extra
    BLAS threads on a machine whose cores are busy spin-wait instead of helping."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _train(table, current, curve_sizes)


def _train(
    table: pl.DataFrame, current: EngagementPredictor | None, curve_sizes: Sequence[int]
) -> TrainingReport:
    prepared = prepare(table)
    cut = len(prepared) - max(round(len(prepared) * HOLDOUT_SHARE), 1)
    if cut < MIN_TRAINING or len(prepared) - cut < MIN_HOLDOUT:
        raise NotEnoughObservationsError(
            f"{len(table)} observations: at least {MIN_TRAINING} to train on and "
            f"{MIN_HOLDOUT} newer ones to judge the model on are needed"
        )
    training, holdout = prepared.part(0, cut), prepared.part(cut, len(prepared))
    chosen = tune(training)
    model = fit_linear(training, alpha=chosen["alpha"], components=chosen["components"])
    actual = holdout.rates
    pairs = _pairs(holdout.users, actual)
    predictions: dict[str, FloatArray] = {
        CANDIDATE: predict(model, holdout),
        "user_mean": np.array([model.baseline(user) for user in holdout.users]),
        "prior": holdout.table["prior_rate"].to_numpy().astype(np.float64),
        "knn": knn_predictions(training, holdout),
    }
    if current is not None:
        predictions[CURRENT] = predict(current.model, holdout)
    verdicts = tuple(
        verdict(name, predictions[CANDIDATE], predictions[name], actual, pairs)
        for name in predictions
        if name != CANDIDATE
    )
    curve = []
    for size in curve_sizes:
        if size > len(training) or size < MIN_TRAINING:
            continue
        fitted = fit_linear(
            training.part(len(training) - size, len(training)),
            alpha=chosen["alpha"],
            components=chosen["components"],
        )
        baseline = np.array([fitted.baseline(user) for user in holdout.users])
        curve.append(
            {
                "observations": size,
                "model_mae": _mae(fitted, holdout),
                "user_mean_mae": float(np.abs(baseline - actual).mean()),
            }
        )
    return TrainingReport(
        model=model,
        scores={name: scores(values, actual, pairs) for name, values in predictions.items()},
        verdicts=verdicts,
        training_size=len(training),
        holdout_size=len(holdout),
        users=len(set(prepared.users)),
        chosen=chosen,
        current_version=None if current is None else current.version,
        learning_curve=tuple(curve),
    )
