"""The pipeline's forecasts of planned runs and of runs in progress, and their backtests.

A *target* (:class:`ForecastTarget`) is a run that does not exist yet: a planned run (params,
tokens; tokens None meaning what the ladder's recipe gives that size), a planned config such as
gpt-large, or the final checkpoint of a run still in progress (``run_id``), forecast from
everything scored so far, its own intermediate checkpoints included.
:func:`forecast_targets` forecasts every target with
:class:`~smi_assets.smi.forecast.tokens.TokensForecaster` into a :class:`Forecast`: one row
per (target, question) with its 80% interval, one per target saying what it was forecast
from, and the mean and per-relation forecasts with their intervals, all keyed by a
``forecast_id`` derived from the data versions of everything it used, so a forecast is stored
once and never overwritten (:mod:`smi_assets.smi.forecast.store`).

Once a finished checkpoint is scored, :func:`targets_judged_by` says which kept targets it
judges (the final checkpoint of a run judges the forecasts of that run; any finished
checkpoint judges the planned targets within :data:`MATCH_LOG2` of its params and tokens), and
:func:`backtest_forecast` scores a target's rows against it, with whether the actual mean fell
inside the forecast's 80% interval.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from smi_assets.smi.forecast.evaluation import score_predictions
from smi_assets.smi.forecast.targets import ForecastTarget
from smi_assets.smi.forecast.tokens import TOKEN_PROXY_COLUMNS, TokensForecaster
from smi_assets.smi.metrics import check_columns

FORECAST_ROW_COLUMNS = (
    "forecast_id", "target", "idx", "rel", "predicted_accuracy", "acc_low", "acc_high", "N", "N_s", "N_o", "N_so",
)  # fmt: skip
TARGET_COLUMNS = (
    "forecast_id", "target", "planned_params", "planned_tokens", "run_id", "run_fraction_seen", "proxies", "largest_proxy_params", "reach",
)  # fmt: skip
SUMMARY_COLUMNS = ("forecast_id", "target", "rel", "predicted_accuracy", "acc_low", "acc_high", "n_questions")
BACKTEST_COLUMNS = (
    "forecast_id", "checkpoint_id", "checkpoint_version", "planned_params", "checkpoint_params", "n_questions",
    "mean_predicted", "mean_actual", "mean_error", "abs_error", "relation_mae", "r2_question", "brier", "auc",
    "target", "planned_tokens", "checkpoint_tokens", "run_id", "run_fraction_seen", "mean_low", "mean_high", "inside_interval",
)  # fmt: skip
CALIBRATION_COLUMNS = ("forecast_id", "checkpoint_id", "checkpoint_version", "bin", "bin_low", "bin_high", "n_questions", "mean_predicted", "mean_actual")
N_CALIBRATION_BINS = 10
# A finished checkpoint judges a planned target whose params (and tokens, where both are
# known) are within this many doublings of its own: a forecast of another size is no test.
MATCH_LOG2 = 0.35


@dataclass(frozen=True)
class Forecast:
    """One forecast of several targets: :data:`FORECAST_ROW_COLUMNS` rows per target and
    question, :data:`TARGET_COLUMNS` per target, :data:`SUMMARY_COLUMNS` per target and
    relation ("*": all questions), and the lineage its forecast_id hashes."""

    rows: pl.DataFrame
    targets: pl.DataFrame
    summary: pl.DataFrame
    lineage: dict

    @property
    def forecast_id(self) -> str:
        return self.lineage["forecast_id"]


def _settings(estimator: object) -> dict:
    """An estimator's constructor settings (scikit-learn style: attributes not ending in "_"),
    nested estimators by their settings too, never by their address in memory."""
    return {name: _settings(value) if hasattr(value, "__dict__") else repr(value) for name, value in sorted(vars(estimator).items()) if not name.endswith("_")}


def forecast_key(proxy_versions: Mapping[str, str], input_versions: Mapping[str, str], forecaster: TokensForecaster) -> str:
    """A short hash of the proxies' and inputs' data versions and the forecaster's settings."""
    payload = {"proxies": dict(sorted(proxy_versions.items())), "inputs": dict(sorted(input_versions.items())), "forecaster": _settings(forecaster)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def scored_checkpoints(proxy_accuracy: pl.DataFrame) -> pl.DataFrame:
    """One row per checkpoint of a proxy accuracy table: model, params, tokens, run_id, run_tokens."""
    return proxy_accuracy.group_by("model").agg(pl.col("params", "tokens", "run_id", "run_tokens").first()).sort("params", "tokens", "model")


def _run_fraction_seen(checkpoints: pl.DataFrame, run_id: str | None) -> float | None:
    """The share of its planned tokens the run's latest scored checkpoint has seen."""
    if run_id is None:
        return None
    own = checkpoints.filter((pl.col("run_id") == run_id) & pl.col("tokens").is_not_null() & pl.col("run_tokens").is_not_null())
    return float((own["tokens"] / own["run_tokens"]).max()) if own.height else None


def forecast_targets(
    proxy_accuracy: pl.DataFrame,
    frequency: pl.DataFrame,
    targets: Iterable[ForecastTarget],
    proxy_versions: Mapping[str, str],
    input_versions: Mapping[str, str],
    corpus_tokens: int | None,
    forecaster: TokensForecaster | None = None,
) -> Forecast:
    """Forecast every target from the scored checkpoints (`proxy_accuracy`:
    :data:`~smi_assets.smi.forecast.tokens.TOKEN_PROXY_COLUMNS`, one row per checkpoint and
    question, optionally corpus_version) and the corpus counts (`frequency`: idx, rel, N,
    N_s, N_o, N_so). `proxy_versions`: checkpoint id -> data version, one per checkpoint;
    `input_versions`: the other inputs' data versions (triples, frequency table, shards)."""
    check_columns(proxy_accuracy, TOKEN_PROXY_COLUMNS, "proxy accuracy table")
    forecaster = forecaster or TokensForecaster()
    checkpoints = scored_checkpoints(proxy_accuracy)
    unversioned = sorted(set(checkpoints["model"].to_list()) - set(proxy_versions))
    if unversioned:
        raise ValueError(f"no data version given for proxies {unversioned}")
    forecaster.fit(frequency, proxy_accuracy, corpus_tokens)
    forecast_id = forecast_key({m: proxy_versions[m] for m in checkpoints["model"]}, input_versions, forecaster)
    counts = frequency.select("idx", "N", "N_s", "N_o", "N_so")
    proxies = ",".join(checkpoints["model"].to_list())
    rows, target_rows, summaries = [], [], []
    for target in targets:
        per_question = forecaster.predict(target.params, target.tokens, run_id=target.run_id)
        summary = forecaster.aggregate(target.params, target.tokens, run_id=target.run_id)
        planned_tokens = target.tokens if target.tokens is not None else forecaster.ladder_tokens(target.params)
        key = {"forecast_id": forecast_id, "target": target.name}
        rows.append(
            per_question.join(counts, on="idx", how="left")
            .with_columns(**{name: pl.lit(value) for name, value in key.items()}, predicted_accuracy=pl.col("predicted_acc"))
            .select(FORECAST_ROW_COLUMNS)
        )
        target_rows.append({
            **key, "planned_params": float(target.params), "planned_tokens": planned_tokens, "run_id": target.run_id,
            "run_fraction_seen": _run_fraction_seen(checkpoints, target.run_id), "proxies": proxies,
            "largest_proxy_params": float(checkpoints["params"].max()), "reach": float(summary["reach"][0]),
        })  # fmt: skip
        summaries.append(
            summary.with_columns(**{name: pl.lit(value) for name, value in key.items()}, predicted_accuracy=pl.col("predicted_acc")).select(SUMMARY_COLUMNS)
        )
    if not rows:
        raise ValueError("no target to forecast")
    lineage = {"forecast_id": forecast_id, "proxies": dict(proxy_versions), "inputs": dict(input_versions)}
    target_frame = pl.DataFrame(target_rows, schema_overrides={"planned_tokens": pl.Float64, "run_id": pl.Utf8, "run_fraction_seen": pl.Float64})
    return Forecast(pl.concat(rows), target_frame.select(TARGET_COLUMNS), pl.concat(summaries), lineage)


def targets_judged_by(targets: pl.DataFrame, checkpoint: Mapping) -> pl.DataFrame:
    """The kept targets (:data:`TARGET_COLUMNS` rows) a finished checkpoint judges, at most one
    per forecast: the forecast of its own run (``run_id``), else the planned target nearest to
    its params and tokens within :data:`MATCH_LOG2` doublings of each. A forecast that used
    the checkpoint itself judges nothing. `checkpoint`: checkpoint_id, run_id, params, tokens."""
    own_run = (pl.col("run_id") == checkpoint["run_id"]).fill_null(False) if checkpoint.get("run_id") else pl.lit(False)
    distance = (pl.col("planned_params").log(2) - np.log2(checkpoint["params"])).abs()
    if checkpoint.get("tokens"):
        token_distance = (pl.col("planned_tokens").log(2) - np.log2(checkpoint["tokens"])).abs().fill_null(0.0)
        distance = pl.max_horizontal(distance, token_distance)
    used_it = pl.col("proxies").str.split(",").list.contains(checkpoint["checkpoint_id"])
    candidates = targets.filter(~used_it).with_columns(
        own=own_run,
        distance=distance,
    )
    chosen = candidates.filter(pl.col("own") | (pl.col("run_id").is_null() & (pl.col("distance") <= MATCH_LOG2)))
    return (
        chosen.sort("forecast_id", "own", "distance", descending=[False, True, False])
        .unique("forecast_id", keep="first", maintain_order=True)
        .select(TARGET_COLUMNS)
    )


def calibration_bins(actual: np.ndarray, predicted: np.ndarray, n_bins: int = N_CALIBRATION_BINS) -> pl.DataFrame:
    """Questions grouped by predicted probability in `n_bins` equal-width bins of [0, 1]:
    bin, bin_low, bin_high, n_questions, mean_predicted, mean_actual (empty bins left out)."""
    bins = np.minimum((np.asarray(predicted) * n_bins).astype(np.int64), n_bins - 1)
    frame = pl.DataFrame({"bin": bins, "predicted": predicted, "actual": actual})
    return (
        frame.group_by("bin")
        .agg(pl.len().alias("n_questions"), pl.col("predicted").mean().alias("mean_predicted"), pl.col("actual").mean().alias("mean_actual"))
        .with_columns((pl.col("bin") / n_bins).alias("bin_low"), ((pl.col("bin") + 1) / n_bins).alias("bin_high"))
        .select("bin", "bin_low", "bin_high", "n_questions", "mean_predicted", "mean_actual")
        .sort("bin")
    )


def backtest_forecast(
    forecast_rows: pl.DataFrame,
    target: Mapping,
    summary: Mapping,
    actual_per_question_accuracy: pl.DataFrame,
    checkpoint: Mapping,
) -> tuple[dict, pl.DataFrame]:
    """(result, calibration) of one target's forecast against a finished checkpoint scored after it.

    `forecast_rows`: the :data:`FORECAST_ROW_COLUMNS` rows of that target; `target`: its
    :data:`TARGET_COLUMNS` row; `summary`: its "*" :data:`SUMMARY_COLUMNS` row (the mean and
    its 80% interval); `actual_per_question_accuracy`: idx, acc of the checkpoint;
    `checkpoint`: checkpoint_id, data_version, params, tokens. The result has
    :data:`BACKTEST_COLUMNS`, ``inside_interval`` saying whether the actual mean fell inside
    the 80% interval; the calibration frame :data:`CALIBRATION_COLUMNS`.
    """
    check_columns(forecast_rows, FORECAST_ROW_COLUMNS, "forecast rows")
    check_columns(actual_per_question_accuracy, ("idx", "acc"), "checkpoint accuracy")
    keys = forecast_rows.select("forecast_id", "target").unique()
    if keys.height != 1:
        raise ValueError(f"backtest one forecast and target at a time; got {keys.rows()}")
    if checkpoint["checkpoint_id"] in str(target["proxies"]).split(","):
        raise ValueError(f"checkpoint {checkpoint['checkpoint_id']!r} is one of the forecast's proxies: no test of a forecast")
    rows = forecast_rows.join(actual_per_question_accuracy.select("idx", "acc"), on="idx", how="inner")
    if rows.height == 0:
        raise ValueError(f"checkpoint {checkpoint['checkpoint_id']!r} scored none of the forecast's questions")
    actual = rows["acc"].to_numpy().astype(np.float64)
    predicted = rows["predicted_accuracy"].to_numpy().astype(np.float64)
    key = {"forecast_id": target["forecast_id"], "checkpoint_id": checkpoint["checkpoint_id"], "checkpoint_version": checkpoint["data_version"]}
    mean_actual = float(actual.mean())
    result = {
        **key, "planned_params": float(target["planned_params"]), "checkpoint_params": float(checkpoint["params"]),
        "n_questions": rows.height, "mean_predicted": float(predicted.mean()), "mean_actual": mean_actual,
        "mean_error": float(predicted.mean() - mean_actual),
        **score_predictions(actual, predicted, rows["rel"].to_numpy()),
        "target": target["target"], "planned_tokens": target["planned_tokens"], "checkpoint_tokens": checkpoint.get("tokens"),
        "run_id": target["run_id"], "run_fraction_seen": target["run_fraction_seen"],
        "mean_low": summary["acc_low"], "mean_high": summary["acc_high"],
        "inside_interval": bool(summary["acc_low"] <= mean_actual <= summary["acc_high"]),
    }  # fmt: skip
    calibration = calibration_bins(actual, predicted).with_columns(**{name: pl.lit(value) for name, value in key.items()})
    return {name: result[name] for name in BACKTEST_COLUMNS}, calibration.select(CALIBRATION_COLUMNS)
