"""The paper's grouped least-squares fit of accuracy on a metric, plus question-level checks.

The paper groups questions by identical metric value, averages accuracy per group and fits
an unweighted line over groups; its R^2 is over groups. Because most questions sit in a few
crowded groups while the line is pulled by sparse ones, that R^2 says little about single
questions, so each fit also reports the R^2 of the same line over individual questions
(`r2_question`) and a question-weighted fit (weights = group sizes, i.e. ordinary least
squares over questions), whose R^2 over questions is the best any line in the metric can do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from smi_assets.smi.metrics import (
    METHOD_COLUMNS,
    METHODS,
    check_columns,
    compute_metrics,
    prompt_echo,
)

# Columns of the fit table, in order: the columns first, then the extra diagnostics.
FIT_COLUMNS = (
    "model", "method", "slope", "intercept", "r2", "mse", "upper_bound", "acc", "n_groups",
    "n_questions", "r2_question", "x_intercept", "weighted_slope", "weighted_intercept",
    "weighted_r2_question",
)  # fmt: skip


@dataclass(frozen=True)
class FitResult:
    """One (model, method) fit. Group-level numbers follow the paper; the rest are ours."""

    model: str
    method: str
    slope: float
    intercept: float
    r2: float  # over groups, as published
    mse: float  # mean over groups of the within-group mean squared error around the line
    upper_bound: float  # predicted accuracy at metric 1: slope + intercept
    acc: float  # mean accuracy of the questions fitted
    n_groups: int
    n_questions: int
    r2_question: float  # the same line scored on individual questions
    x_intercept: float  # metric value where the line predicts 0 accuracy
    weighted_slope: float
    weighted_intercept: float
    weighted_r2_question: float


def r_squared(actual: np.ndarray, predicted: np.ndarray) -> float:
    """1 - SS_res / SS_tot; NaN when `actual` is constant."""
    total = float(np.sum((actual - actual.mean()) ** 2))
    if total == 0:
        return float("nan")
    return 1.0 - float(np.sum((actual - predicted) ** 2)) / total


def weighted_line(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares (slope, intercept) of y on x."""
    x_mean = np.average(x, weights=weights)
    y_mean = np.average(y, weights=weights)
    spread = np.sum(weights * (x - x_mean) ** 2)
    if spread == 0:
        raise ValueError("cannot fit a line: every question has the same metric value")
    slope = float(np.sum(weights * (x - x_mean) * (y - y_mean)) / spread)
    return slope, float(y_mean - slope * x_mean)


def grouped_fit(metric: np.ndarray, acc: np.ndarray, *, model: str = "", method: str = "") -> FitResult:
    """Fit accuracy on a metric the paper's way (see module docstring) plus the extra checks."""
    metric = np.asarray(metric, dtype=np.float64)
    acc = np.asarray(acc, dtype=np.float64)
    values, group_of, sizes = np.unique(metric, return_inverse=True, return_counts=True)
    if values.size < 2:
        raise ValueError(f"{model} {method}: need at least two distinct metric values to fit a line")
    group_acc = np.bincount(group_of, weights=acc) / sizes
    slope, intercept = weighted_line(values, group_acc, np.ones_like(values))
    line_at_question = slope * metric + intercept
    within_group_mse = np.bincount(group_of, weights=(acc - line_at_question) ** 2) / sizes
    weighted_slope, weighted_intercept = weighted_line(values, group_acc, sizes.astype(np.float64))
    return FitResult(
        model=model,
        method=method,
        slope=slope,
        intercept=intercept,
        r2=r_squared(group_acc, slope * values + intercept),
        mse=float(within_group_mse.mean()),
        upper_bound=slope + intercept,
        acc=float(acc.mean()),
        n_groups=int(values.size),
        n_questions=int(acc.size),
        r2_question=r_squared(acc, line_at_question),
        x_intercept=-intercept / slope if slope != 0 else float("nan"),
        weighted_slope=weighted_slope,
        weighted_intercept=weighted_intercept,
        weighted_r2_question=r_squared(acc, weighted_slope * metric + weighted_intercept),
    )


def fit_methods(
    frame: pl.DataFrame,
    params: float,
    variant: str = "current",
    *,
    drop_prompt_echo: bool = False,
    model: str = "",
) -> list[FitResult]:
    """Fit CO-OCCUR, MI and SMI for one model.

    `frame` holds one row per question with the count columns (N, N_s, N_o, N_so) and `acc`;
    with `drop_prompt_echo` it also needs `subj` and `obj`, and questions whose object is
    inside the subject are removed before binning and normalisation.
    """
    check_columns(frame, ("acc",), "accuracy frame")
    if drop_prompt_echo:
        check_columns(frame, ("subj", "obj"), "accuracy frame (to drop prompt echoes)")
        frame = frame.filter(~prompt_echo())
    scored = compute_metrics(frame, params, variant)
    acc = scored["acc"].to_numpy()
    return [grouped_fit(scored[METHOD_COLUMNS[method]].to_numpy(), acc, model=model, method=method) for method in METHODS]


def fit_table(results: list[FitResult]) -> pl.DataFrame:
    """Fit results as a DataFrame with :data:`FIT_COLUMNS`."""
    return pl.DataFrame([asdict(result) for result in results]).select(FIT_COLUMNS)
