"""Per-question forecasts of planned sizes for the pipeline, and their backtest once a larger
checkpoint is scored.

:func:`forecast_per_question` turns the scored ladder checkpoints (the proxies) and the
knowledge-frequency table into one row per (planned size, question), keyed by a
``forecast_id`` derived from the data versions of everything it used, so a forecast is
stored once and never overwritten (:mod:`smi_assets.smi.forecast.store`).
:func:`backtest_forecast` scores such a forecast against a checkpoint trained afterwards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

import numpy as np
import polars as pl

from smi_assets.smi.forecast.evaluation import score_predictions
from smi_assets.smi.forecast.proxy import PROXY_COLUMNS, ProxyForecaster
from smi_assets.smi.metrics import check_columns

FORECAST_ROW_COLUMNS = (
    "forecast_id", "planned_params", "idx", "rel", "predicted_accuracy", "proxies", "largest_proxy_params",
    "N", "N_s", "N_o", "N_so",
)  # fmt: skip
BACKTEST_COLUMNS = (
    "forecast_id", "checkpoint_id", "checkpoint_version", "planned_params", "checkpoint_params", "n_questions",
    "mean_predicted", "mean_actual", "mean_error", "abs_error", "relation_mae", "r2_question", "brier", "auc",
)  # fmt: skip
CALIBRATION_COLUMNS = ("forecast_id", "checkpoint_id", "checkpoint_version", "bin", "bin_low", "bin_high", "n_questions", "mean_predicted", "mean_actual")
N_CALIBRATION_BINS = 10


def forecast_key(proxy_versions: Mapping[str, str], input_versions: Mapping[str, str], forecaster: ProxyForecaster) -> str:
    """A short hash of the proxies' and inputs' data versions and the forecaster's settings."""
    settings = {name: repr(value) for name, value in sorted(vars(forecaster).items()) if not name.endswith("_")}
    payload = {"proxies": dict(sorted(proxy_versions.items())), "inputs": dict(sorted(input_versions.items())), "forecaster": settings}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def forecast_per_question(
    proxy_accuracy: pl.DataFrame,
    frequency: pl.DataFrame,
    planned_params: Iterable[float],
    proxy_versions: Mapping[str, str],
    input_versions: Mapping[str, str],
    forecaster: ProxyForecaster | None = None,
) -> tuple[pl.DataFrame, dict]:
    """(rows, lineage): one row of :data:`FORECAST_ROW_COLUMNS` per planned size and question.

    `proxy_accuracy`: model (checkpoint id), params, idx, acc, optionally corpus_version
    (checked against the forecaster's ``corpus_version``). `frequency`: idx, rel, N, N_s,
    N_o, N_so (optionally obj). `proxy_versions`: checkpoint id -> data version, one per
    proxy. `input_versions`: the other inputs' data versions (triples, frequency table,
    shards). `proxies` in a row lists the checkpoints below that planned size, the ones
    the forecast used. `lineage` is what the forecast_id hashes, to store beside it.
    """
    check_columns(proxy_accuracy, PROXY_COLUMNS, "proxy accuracy table")
    forecaster = forecaster or ProxyForecaster()
    models = proxy_accuracy.group_by("model").agg(pl.col("params").first()).sort("params", "model")
    unversioned = sorted(set(models["model"].to_list()) - set(proxy_versions))
    if unversioned:
        raise ValueError(f"no data version given for proxies {unversioned}")
    forecaster.fit(frequency, proxy_accuracy)
    forecast_id = forecast_key({m: proxy_versions[m] for m in models["model"]}, input_versions, forecaster)
    counts = frequency.select("idx", "N", "N_s", "N_o", "N_so")
    frames = []
    for planned in planned_params:
        used = models.filter(pl.col("params") < planned)
        largest = float(used["params"].max()) if used.height else None
        predicted = forecaster.predict(planned).join(counts, on="idx", how="left")
        frames.append(
            predicted.with_columns(
                pl.lit(forecast_id).alias("forecast_id"),
                pl.lit(float(planned)).alias("planned_params"),
                pl.col("predicted_acc").alias("predicted_accuracy"),
                pl.lit(",".join(used["model"].to_list())).alias("proxies"),
                pl.lit(largest, dtype=pl.Float64).alias("largest_proxy_params"),
            ).select(FORECAST_ROW_COLUMNS)
        )
    lineage = {"forecast_id": forecast_id, "proxies": dict(proxy_versions), "inputs": dict(input_versions)}
    return pl.concat(frames), lineage


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
    actual_per_question_accuracy: pl.DataFrame,
    checkpoint_id: str,
    checkpoint_params: float,
    checkpoint_version: str,
) -> tuple[dict, pl.DataFrame]:
    """(summary, calibration) of one planned size's forecast against a checkpoint scored after it.

    `forecast_rows`: :func:`forecast_per_question` rows of one forecast_id and one planned
    size. `actual_per_question_accuracy`: idx, acc of the checkpoint. The checkpoint must be
    larger than every proxy the forecast used, else it is no test of a forecast. The
    summary has :data:`BACKTEST_COLUMNS`; the calibration frame :data:`CALIBRATION_COLUMNS`.
    """
    check_columns(forecast_rows, FORECAST_ROW_COLUMNS, "forecast rows")
    check_columns(actual_per_question_accuracy, ("idx", "acc"), "checkpoint accuracy")
    keys = forecast_rows.select("forecast_id", "planned_params").unique()
    if keys.height != 1:
        raise ValueError(f"backtest one forecast and planned size at a time; got {keys.rows()}")
    forecast_id, planned = keys.row(0)
    largest = forecast_rows["largest_proxy_params"][0]
    if largest is not None and checkpoint_params <= largest:
        raise ValueError(
            f"checkpoint {checkpoint_id!r} ({checkpoint_params:.3g} params) is not larger than the forecast's "
            f"largest proxy ({largest:.3g}): no test of a forecast"
        )
    rows = forecast_rows.join(actual_per_question_accuracy.select("idx", "acc"), on="idx", how="inner")
    if rows.height == 0:
        raise ValueError(f"checkpoint {checkpoint_id!r} scored none of the forecast's questions")
    actual = rows["acc"].to_numpy().astype(np.float64)
    predicted = rows["predicted_accuracy"].to_numpy().astype(np.float64)
    key = {"forecast_id": forecast_id, "checkpoint_id": checkpoint_id, "checkpoint_version": checkpoint_version}
    summary = {
        **key, "planned_params": float(planned), "checkpoint_params": float(checkpoint_params),
        "n_questions": rows.height, "mean_predicted": float(predicted.mean()), "mean_actual": float(actual.mean()),
        "mean_error": float(predicted.mean() - actual.mean()),
        **score_predictions(actual, predicted, rows["rel"].to_numpy()),
    }  # fmt: skip
    calibration = calibration_bins(actual, predicted).with_columns(**{name: pl.lit(value) for name, value in key.items()})
    return {name: summary[name] for name in BACKTEST_COLUMNS}, calibration.select(CALIBRATION_COLUMNS)
