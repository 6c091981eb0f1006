"""Forecast per-question CBQA accuracy for model sizes that are not trained yet.

The model uses only what is known before training: how often subject, object and the pair
appear in the corpus, as fractions of the corpus size N (so it carries across corpora of
different sizes), the relation, and log2 of the parameter count. It is a logistic model
whose coefficients are linear in log2(params):

    logit acc(q, P) = w0 . phi(q) + z(P) * (w1 . phi(q)),   z(P) = standardised log2 P

where phi(q) holds an intercept, spline bases of log2 p_s, log2 p_o, log2 p_so and the
pointwise MI log2(p_so / (p_s p_o)), a "never co-occur" flag and relation indicators (so
relation effects scale with size too). The weights minimise cross-entropy against the
(fractional) accuracies with an L2 penalty.

On the paper's data the mean accuracy of each trained size, and of each relation, is
forecast better by a straight line in log2 params than by this model (docs/smi_results.md).
So by default the model only supplies each question's position within its relation: its
logits are shifted, one shift per relation, until the relation's mean prediction equals that
relation's line in log2 params over the training models ("anchoring"). The shift keeps every
prediction in (0, 1) and keeps the order of questions within a relation.

Everything is compared against two baselines fitted on the training models: scale only
(mean accuracy linear in log2 params, the same number for every question) and scale +
relation (each relation's mean accuracy linear in log2 params).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import numpy as np
import polars as pl
from scipy.optimize import brentq, minimize
from scipy.special import expit, logit
from sklearn.preprocessing import SplineTransformer

from smi_assets.smi.fit import r_squared
from smi_assets.smi.metrics import check_columns

FREQUENCY_COLUMNS = ("idx", "rel", "N", "N_s", "N_o", "N_so")
ACCURACY_COLUMNS = ("model", "params", "idx", "acc")
FORECAST_COLUMNS = (
    "model", "params", "actual_acc", "predicted_acc", "abs_error", "baseline_acc",
    "baseline_abs_error", "relation_mae", "baseline_relation_mae", "r2_question",
    "scale_relation_relation_mae", "scale_relation_r2_question",
)  # fmt: skip
Anchor = Literal["none", "mean", "relation"]
# Anchor targets are kept this far inside (0, 1) so the logit shift stays finite.
ANCHOR_MARGIN = 1e-6


def count_features(frequency: pl.DataFrame) -> np.ndarray:
    """Per-triple log2 p_s, log2 p_o, log2 p_so, pointwise MI and a no-co-occurrence flag.

    A pair that never co-occurs is placed at chance level (p_so = p_s p_o, MI 0) and flagged,
    so its features stay shares of the corpus rather than depending on N through a pseudo
    count. Entities never seen count as one occurrence.
    """
    n = pl.col("N").cast(pl.Float64)

    def log_share(column: str) -> pl.Expr:
        return (pl.max_horizontal(pl.col(column), pl.lit(1)) / n).log(2)

    no_pair = pl.col("N_so") == 0
    chance = log_share("N_s") + log_share("N_o")
    frame = frequency.select(
        log_share("N_s").alias("s"),
        log_share("N_o").alias("o"),
        pl.when(no_pair).then(chance).otherwise(log_share("N_so")).alias("so"),
        pl.when(no_pair).then(0.0).otherwise(log_share("N_so") - chance).alias("pmi"),
        no_pair.cast(pl.Float64).alias("no_pair"),
    )
    return frame.to_numpy().astype(np.float64)


class LogParamsLines:
    """Mean accuracy as a straight line in log2(params), one line per group (or one overall).

    Fitted on per-model means, so every trained size weighs the same. A group seen at one
    size only gets a flat line. Predictions are clipped to [0, 1].
    """

    def __init__(self, by: str | None = None):
        self.by = by

    def fit(self, accuracy: pl.DataFrame) -> LogParamsLines:
        """`accuracy`: model, params, acc (and the `by` column)."""
        keys = ["model"] if self.by is None else ["model", self.by]
        # Sorted so the fit sees the points in one order: results repeat to the last bit.
        per_model = accuracy.group_by(keys).agg(pl.col("params").first(), pl.col("acc").mean()).sort(keys)
        if self.by is None:
            groups = [(None, per_model)]
        else:
            groups = [(key, part) for (key,), part in per_model.group_by(self.by)]
        self.lines_: dict[object, tuple[float, float]] = {}
        for key, part in groups:
            log_params = np.log2(part["params"].to_numpy().astype(np.float64))
            means = part["acc"].to_numpy().astype(np.float64)
            if np.unique(log_params).size < 2:
                self.lines_[key] = (0.0, float(means.mean()))
            else:
                slope, intercept = np.polyfit(log_params, means, 1)
                self.lines_[key] = (float(slope), float(intercept))
        return self

    def predict(self, params: float, group: object = None) -> float:
        """The line of `group` (the overall line when not grouped) at `params`."""
        slope, intercept = self.lines_[group]
        return float(np.clip(slope * np.log2(params) + intercept, 0.0, 1.0))

    def predict_groups(self, params: float, groups: Iterable[object], fallback: float) -> dict[object, float]:
        """Each group's line at `params`; `fallback` for groups not seen in training."""
        return {group: self.predict(params, group) if group in self.lines_ else fallback for group in groups}


def scale_only_baseline(accuracy: pl.DataFrame) -> Callable[[float], float]:
    """Mean accuracy as a line in log2(params) over the models in `accuracy`, clipped to [0, 1]."""
    return LogParamsLines().fit(accuracy).predict


def logit_shift_to_mean(logits: np.ndarray, target: float) -> float:
    """The c with mean(expit(logits + c)) = target, for target in (0, 1).

    The mean is increasing in c, and at c = logit(target) - max(logits) every term is at most
    the target while at c = logit(target) - min(logits) every term is at least it, so the
    root lies between them.
    """
    goal = logit(target)
    low, high = goal - logits.max(), goal - logits.min()
    if high - low < 1e-12:
        return float(low)
    return float(brentq(lambda shift: expit(logits + shift).mean() - target, low, high, xtol=1e-10))


def with_relation(accuracy: pl.DataFrame, frequency: pl.DataFrame) -> pl.DataFrame:
    """`accuracy` rows that have counts, with the counts (and relation) joined on.

    If `frequency` has a `model` column (models trained on different corpora) the join is on
    (model, idx), else on idx.
    """
    keys = ["model", "idx"] if "model" in frequency.columns else ["idx"]
    return accuracy.select(ACCURACY_COLUMNS).join(frequency, on=keys, how="inner")


class SizeConditionedForecaster:
    """Logistic model of per-question accuracy from normalised counts, relation and log2 params.

    n_knots, degree: spline bases per count feature. l2: penalty on all weights except the
    two intercepts. use_relation: add relation indicators (relations unseen in training
    contribute nothing at prediction time). anchor: "relation" shifts each relation's logits
    so its mean prediction is that relation's line in log2 params over the training models
    (a relation unseen in training gets the overall line); "mean" does the same with one
    shift and the overall line; "none" keeps the logistic model's own level.
    """

    def __init__(self, n_knots: int = 5, degree: int = 3, l2: float = 1e-3, use_relation: bool = True, anchor: Anchor = "relation"):
        self.n_knots = n_knots
        self.degree = degree
        self.l2 = l2
        self.use_relation = use_relation
        self.anchor = anchor

    def _base_features(self, frequency: pl.DataFrame) -> np.ndarray:
        counts = count_features(frequency)
        parts = [np.ones((frequency.height, 1)), self.splines_.transform(counts[:, :4]), counts[:, 4:]]
        if self.use_relation:
            rel = frequency["rel"].to_numpy()
            parts.append((rel[:, None] == np.asarray(self.relations_)[None, :]).astype(np.float64))
        return np.hstack(parts)

    def _size(self, params: np.ndarray | float) -> np.ndarray:
        return (np.log2(params) - self.log_params_center_) / self.log_params_scale_

    def _design(self, frequency: pl.DataFrame, params: np.ndarray | float) -> np.ndarray:
        base = self._base_features(frequency)
        size = np.broadcast_to(self._size(params), (frequency.height,))[:, None]
        return np.hstack([base, base * size])

    def fit(self, frequency: pl.DataFrame, accuracy: pl.DataFrame) -> SizeConditionedForecaster:
        """Fit on `accuracy` (model, params, idx, acc) joined to `frequency` (idx, rel, N, N_s,
        N_o, N_so). If `frequency` has a `model` column (models trained on different corpora)
        the join is on (model, idx), else on idx."""
        if self.anchor not in ("none", "mean", "relation"):
            raise ValueError(f"anchor must be 'none', 'mean' or 'relation', not {self.anchor!r}")
        check_columns(frequency, FREQUENCY_COLUMNS, "frequency table")
        check_columns(accuracy, ACCURACY_COLUMNS, "accuracy table")
        rows = with_relation(accuracy, frequency)
        if rows.height == 0:
            raise ValueError("no accuracy row matches a frequency row")
        self.mean_line_ = LogParamsLines().fit(rows)
        self.relation_lines_ = LogParamsLines(by="rel").fit(rows)
        self.splines_ = SplineTransformer(n_knots=self.n_knots, degree=self.degree, extrapolation="constant")
        self.splines_.fit(count_features(rows)[:, :4])
        self.relations_ = sorted(rows["rel"].unique().to_list())
        log_params = np.log2(rows["params"].to_numpy().astype(np.float64))
        self.log_params_center_ = float(log_params.mean())
        # One training size gives no spread; the size terms then stay at their penalty's zero.
        self.log_params_scale_ = float(log_params.std()) or 1.0
        design = self._design(rows, rows["params"].to_numpy().astype(np.float64))
        target = rows["acc"].to_numpy().astype(np.float64)
        penalty = np.full(design.shape[1], self.l2)
        base_width = design.shape[1] // 2
        penalty[[0, base_width]] = 0.0  # intercept and size slope

        def loss_and_gradient(weights: np.ndarray) -> tuple[float, np.ndarray]:
            logits = design @ weights
            # Soft-label cross-entropy written with logaddexp for stability at large |logit|.
            loss = np.mean(np.logaddexp(0.0, logits) - target * logits) + 0.5 * np.sum(penalty * weights**2)
            gradient = design.T @ (expit(logits) - target) / len(target) + penalty * weights
            return float(loss), gradient

        start = np.zeros(design.shape[1])
        mean_acc = float(np.clip(target.mean(), 1e-6, 1 - 1e-6))
        start[0] = np.log(mean_acc / (1 - mean_acc))
        result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
        self.coef_ = result.x
        self.n_iter_ = int(result.nit)
        return self

    def _anchored(self, logits: np.ndarray, relations: np.ndarray, params: float) -> np.ndarray:
        """Shift `logits` (one shift per anchor group) so each group's mean is its line at `params`."""
        overall = self.mean_line_.predict(params)
        if self.anchor == "mean":
            groups = {None: np.ones(len(logits), dtype=bool)}
            targets = {None: overall}
        else:
            groups = {rel: relations == rel for rel in np.unique(relations)}
            targets = self.relation_lines_.predict_groups(params, groups, fallback=overall)
        shifted = logits.copy()
        for group, members in groups.items():
            target = float(np.clip(targets[group], ANCHOR_MARGIN, 1 - ANCHOR_MARGIN))
            shifted[members] += logit_shift_to_mean(logits[members], target)
        return shifted

    def predict(self, frequency: pl.DataFrame, params: float) -> pl.DataFrame:
        """Predicted accuracy of a model with `params` parameters trained on the corpus whose
        counts are `frequency`: columns idx, rel, predicted_acc (each in (0, 1))."""
        check_columns(frequency, FREQUENCY_COLUMNS, "frequency table")
        logits = self._design(frequency, float(params)) @ self.coef_
        if self.anchor != "none" and frequency.height:
            logits = self._anchored(logits, frequency["rel"].to_numpy(), float(params))
        return frequency.select("idx", "rel").with_columns(pl.Series("predicted_acc", expit(logits)))


def score_forecast(
    model: str,
    params: float,
    predicted: pl.DataFrame,
    actual: pl.DataFrame,
    baseline_acc: float,
    relation_baseline: dict[str, float],
) -> dict[str, float | str]:
    """One row of :data:`FORECAST_COLUMNS` for a held-out model.

    `relation_baseline` maps every relation in `predicted` to the scale + relation baseline.
    """
    rows = actual.select("idx", "acc").join(predicted, on="idx", how="inner")
    rows = rows.with_columns(pl.col("rel").replace_strict(relation_baseline, return_dtype=pl.Float64).alias("relation_baseline"))
    per_relation = rows.group_by("rel").agg(pl.col("acc", "predicted_acc", "relation_baseline").mean())
    actual_acc = float(rows["acc"].mean())
    predicted_acc = float(rows["predicted_acc"].mean())

    def relation_mae(predicted: pl.Series | float) -> float:
        return float((per_relation["acc"] - predicted).abs().mean())

    return {
        "model": model,
        "params": float(params),
        "actual_acc": actual_acc,
        "predicted_acc": predicted_acc,
        "abs_error": abs(predicted_acc - actual_acc),
        "baseline_acc": baseline_acc,
        "baseline_abs_error": abs(baseline_acc - actual_acc),
        "relation_mae": relation_mae(per_relation["predicted_acc"]),
        "baseline_relation_mae": relation_mae(baseline_acc),
        "r2_question": r_squared(rows["acc"].to_numpy(), rows["predicted_acc"].to_numpy()),
        "scale_relation_relation_mae": relation_mae(per_relation["relation_baseline"]),
        "scale_relation_r2_question": r_squared(rows["acc"].to_numpy(), rows["relation_baseline"].to_numpy()),
    }


def evaluate_held_out(
    forecaster_factory: Callable[[], SizeConditionedForecaster],
    frequency: pl.DataFrame,
    accuracy: pl.DataFrame,
    train_models: Iterable[str],
    test_models: Iterable[str],
) -> pl.DataFrame:
    """Forecast each test model from the training models other than itself.

    Returns one row per test model with :data:`FORECAST_COLUMNS`. `frequency` may carry a
    `model` column when models were trained on different corpora; each test model is then
    predicted from its own corpus's counts.
    """
    check_columns(accuracy, ACCURACY_COLUMNS, "accuracy table")
    train_models = set(train_models)
    per_model_frequency = "model" in frequency.columns
    fitted: dict[frozenset[str], tuple[SizeConditionedForecaster, LogParamsLines, LogParamsLines]] = {}
    rows = []
    for model in sorted(set(test_models), key=lambda name: (accuracy.filter(pl.col("model") == name)["params"][0], name)):
        training = frozenset(train_models - {model})
        if not training:
            raise ValueError(f"no training model left to forecast {model}")
        if training not in fitted:
            train_accuracy = accuracy.filter(pl.col("model").is_in(list(training)))
            train_rows = with_relation(train_accuracy, frequency)
            fitted[training] = (
                forecaster_factory().fit(frequency, train_accuracy),
                LogParamsLines().fit(train_rows),
                LogParamsLines(by="rel").fit(train_rows),
            )
        forecaster, scale_only, scale_relation = fitted[training]
        actual = accuracy.filter(pl.col("model") == model)
        params = float(actual["params"][0])
        counts = frequency.filter(pl.col("model") == model) if per_model_frequency else frequency
        baseline_acc = scale_only.predict(params)
        relation_baseline = scale_relation.predict_groups(params, counts["rel"].unique(), fallback=baseline_acc)
        predicted = forecaster.predict(counts, params)
        rows.append(score_forecast(model, params, predicted, actual, baseline_acc, relation_baseline))
    return pl.DataFrame(rows).select(FORECAST_COLUMNS)


def leave_one_size_out(forecaster_factory: Callable[[], SizeConditionedForecaster], frequency: pl.DataFrame, accuracy: pl.DataFrame) -> pl.DataFrame:
    """Forecast every model in `accuracy` from all the others (the asset's error report)."""
    models = accuracy["model"].unique().to_list()
    return evaluate_held_out(forecaster_factory, frequency, accuracy, models, models)
