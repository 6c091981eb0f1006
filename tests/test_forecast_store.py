"""The pipeline's forecasts of targets (planned runs, runs in progress), their backtests, and
their DuckDB store (in memory)."""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import polars as pl
import pytest

from smi_assets.common.errors import InputError
from smi_assets.smi.forecast.proxy import ProxyForecaster
from smi_assets.smi.forecast.runs import (
    BACKTEST_COLUMNS,
    FORECAST_ROW_COLUMNS,
    SUMMARY_COLUMNS,
    TARGET_COLUMNS,
    backtest_forecast,
    calibration_bins,
    forecast_targets,
    targets_judged_by,
)
from smi_assets.smi.forecast.store import (
    backtest_calibration,
    backtest_results,
    judged_already,
    keep_backtest,
    keep_forecast,
    stored_forecast,
    stored_summary,
    stored_targets,
)
from smi_assets.smi.forecast.targets import ForecastTarget, parse_planned_runs
from smi_assets.smi.forecast.tokens import TokensForecaster
from tests.test_tokens_forecast import CORPUS_TOKENS, LADDER, RATIO, simulated_checkpoints, simulated_counts

INPUT_VERSIONS = {"knowledge_frequency": "f1", "knowledge_triples": "t1", "corpus_documents/shard-0": "s1"}
BIG = 800_000
TARGETS = [
    ForecastTarget("big at the ladder's ratio", BIG),
    ForecastTarget("big on 4x the tokens", BIG, 4 * RATIO * BIG),
    ForecastTarget("run-big (final, in progress)", BIG, RATIO * BIG, run_id="run-big"),
]


@pytest.fixture(scope="module")
def world() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(counts, every checkpoint of the ladder and the first half of run-big, run-big's final)."""
    frequency = simulated_counts()
    ladder = simulated_checkpoints(frequency, {name: (size, RATIO * size) for name, size in LADDER.items()})
    big = simulated_checkpoints(frequency, {"run-big": (BIG, RATIO * BIG)}, seed=7)
    started = big.filter(pl.col("tokens") <= RATIO * BIG // 2)
    return frequency, pl.concat([ladder, started]), big.filter(pl.col("model") == "run-big")


def versions(proxies: pl.DataFrame) -> dict[str, str]:
    return {model: f"v-{model}" for model in proxies["model"].unique()}


@pytest.fixture(scope="module")
def forecast(world):
    frequency, proxies, _ = world
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return forecast_targets(proxies, frequency, TARGETS, versions(proxies), INPUT_VERSIONS, CORPUS_TOKENS)


def test_each_target_gets_rows_a_summary_with_intervals_and_says_what_it_used(world, forecast) -> None:
    frequency, proxies, _ = world
    assert forecast.rows.columns == list(FORECAST_ROW_COLUMNS) and forecast.targets.columns == list(TARGET_COLUMNS)
    assert forecast.summary.columns == list(SUMMARY_COLUMNS)
    assert forecast.rows.height == len(TARGETS) * frequency.height
    targets = {row["target"]: row for row in forecast.targets.iter_rows(named=True)}
    assert targets["big at the ladder's ratio"]["planned_tokens"] == pytest.approx(RATIO * BIG, rel=0.01)  # the ladder's ratio, resolved
    assert targets["big on 4x the tokens"]["planned_tokens"] == 4 * RATIO * BIG
    assert targets["run-big (final, in progress)"]["run_fraction_seen"] == pytest.approx(0.5)
    assert targets["big at the ladder's ratio"]["run_fraction_seen"] is None
    assert set(targets["big at the ladder's ratio"]["proxies"].split(",")) == set(proxies["model"].unique())
    means = forecast.summary.filter(pl.col("rel") == "*")
    assert means.height == len(TARGETS)
    assert ((means["acc_low"] < means["predicted_accuracy"]) & (means["predicted_accuracy"] < means["acc_high"])).all()
    more_tokens = means.filter(pl.col("target") == "big on 4x the tokens")["predicted_accuracy"][0]
    assert more_tokens > means.filter(pl.col("target") == "big at the ladder's ratio")["predicted_accuracy"][0]
    joined = forecast.rows.filter(pl.col("target") == TARGETS[0].name).join(frequency, on="idx", suffix="_frequency")
    assert (joined["N_so"] == joined["N_so_frequency"]).all()
    assert forecast.lineage["proxies"] == versions(proxies) and forecast.lineage["inputs"] == INPUT_VERSIONS


def test_forecast_id_follows_the_data_versions(world, forecast) -> None:
    frequency, proxies, _ = world
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        again = forecast_targets(proxies, frequency, TARGETS[:1], versions(proxies), INPUT_VERSIONS, CORPUS_TOKENS)
        retrained = forecast_targets(proxies, frequency, TARGETS[:1], {**versions(proxies), "m-400k": "retrained"}, INPUT_VERSIONS, CORPUS_TOKENS)
    assert again.forecast_id == forecast.forecast_id  # the targets are rows, not part of the key
    nested = [
        forecast_targets(
            proxies,
            frequency,
            TARGETS[:1],
            versions(proxies),
            INPUT_VERSIONS,
            CORPUS_TOKENS,
            TokensForecaster(proxy_forecaster=ProxyForecaster(corpus_version="c1")),
        )
        for _ in range(2)
    ]
    assert nested[0].forecast_id == nested[1].forecast_id != forecast.forecast_id  # settings, not objects, make the key
    assert retrained.forecast_id != forecast.forecast_id
    with pytest.raises(ValueError, match=r"no data version given for proxies \['m-400k'\]"):
        forecast_targets(proxies, frequency, TARGETS, {m: v for m, v in versions(proxies).items() if m != "m-400k"}, INPUT_VERSIONS, CORPUS_TOKENS)


def test_planned_runs_are_params_with_optional_tokens_and_bad_ones_are_named() -> None:
    runs = parse_planned_runs(["2e6", "2e6:2e8"])
    assert [(run.params, run.tokens) for run in runs] == [(2e6, None), (2e6, 2e8)]
    assert runs[0].name != runs[1].name
    for entry, value in (("2e6:0", "'0'"), ("2e6:-5", "'-5'"), ("x", "'x'"), ("1e6:many", "'many'")):
        with pytest.raises(InputError, match=f"planned run '{entry}'.*{value}"):
            parse_planned_runs([entry])


def test_a_forecast_is_kept_once_and_never_overwritten(forecast) -> None:
    connection = duckdb.connect(":memory:")
    assert keep_forecast(connection, forecast) is True
    created = connection.execute("SELECT created_at FROM forecast_runs").fetchall()
    altered = type(forecast)(forecast.rows.with_columns(pl.col("predicted_accuracy") * 0 + 0.5), forecast.targets, forecast.summary, forecast.lineage)
    assert keep_forecast(connection, altered) is False  # same key: nothing inserted
    stored = stored_forecast(connection, forecast.forecast_id, TARGETS[1].name)
    assert np.allclose(stored["predicted_accuracy"], forecast.rows.filter(pl.col("target") == TARGETS[1].name).sort("idx")["predicted_accuracy"])
    assert connection.execute("SELECT created_at FROM forecast_runs").fetchall() == created
    assert stored_targets(connection).height == len(TARGETS)
    assert stored_summary(connection, forecast.forecast_id, TARGETS[1].name)["rel"].to_list() == sorted({"*", *forecast.rows["rel"]})
    # "Which facts will the run on 4x the tokens know?" is one query.
    known = connection.execute("SELECT count(*) FROM forecast_questions WHERE target = $t AND predicted_accuracy >= 0.5", {"t": TARGETS[1].name}).fetchone()[0]
    assert known == forecast.rows.filter(pl.col("target") == TARGETS[1].name, pl.col("predicted_accuracy") >= 0.5).height
    with pytest.raises(ValueError, match="forecast ids"):
        keep_forecast(connection, type(forecast)(forecast.rows, forecast.targets, forecast.summary, {**forecast.lineage, "forecast_id": "other"}))


def test_a_run_final_judges_the_forecasts_of_its_run_and_a_finished_size_its_planned_target(forecast) -> None:
    targets = forecast.targets
    final = {"checkpoint_id": "run-big", "run_id": "run-big", "params": BIG, "tokens": RATIO * BIG}
    assert targets_judged_by(targets, final)["target"].to_list() == ["run-big (final, in progress)"]
    other_run = {"checkpoint_id": "other", "run_id": "other", "params": BIG, "tokens": 4 * RATIO * BIG}
    assert targets_judged_by(targets, other_run)["target"].to_list() == ["big on 4x the tokens"]
    far = {"checkpoint_id": "far", "run_id": "far", "params": 3 * BIG, "tokens": RATIO * BIG}
    assert targets_judged_by(targets, far).height == 0  # no target of that size: no test of a forecast
    proxy = {"checkpoint_id": "m-400k", "run_id": "m-400k", "params": LADDER["m-400k"], "tokens": RATIO * LADDER["m-400k"]}
    assert targets_judged_by(targets, proxy).height == 0


def test_backtest_scores_the_final_checkpoint_says_if_the_mean_is_inside_and_is_kept_once(world, forecast) -> None:
    _, _, final = world
    connection = duckdb.connect(":memory:")
    keep_forecast(connection, forecast)
    target = forecast.targets.filter(pl.col("run_id") == "run-big").row(0, named=True)
    rows = stored_forecast(connection, forecast.forecast_id, target["target"])
    mean = stored_summary(connection, forecast.forecast_id, target["target"]).filter(pl.col("rel") == "*").row(0, named=True)
    checkpoint = {"checkpoint_id": "run-big", "data_version": "cv1", "params": BIG, "tokens": RATIO * BIG}
    result, calibration = backtest_forecast(rows, target, mean, final.select("idx", "acc"), checkpoint)
    assert list(result) == list(BACKTEST_COLUMNS)
    assert result["n_questions"] == rows.height and result["run_fraction_seen"] == pytest.approx(0.5)
    assert result["mean_error"] == pytest.approx(result["mean_predicted"] - result["mean_actual"])
    assert result["abs_error"] < 0.05 and result["r2_question"] > 0.5
    assert result["inside_interval"] == (result["mean_low"] <= result["mean_actual"] <= result["mean_high"])
    outside = backtest_forecast(rows, target, {**mean, "acc_low": 0.0, "acc_high": 0.001}, final.select("idx", "acc"), checkpoint)[0]
    assert outside["inside_interval"] is False
    assert calibration["n_questions"].sum() == rows.height
    keep_backtest(connection, result, calibration)
    keep_backtest(connection, {**result, "r2_question": -1.0}, calibration)  # same key: kept as it was
    stored = backtest_results(connection)
    assert stored.height == 1 and stored["r2_question"][0] == pytest.approx(result["r2_question"]) and stored["inside_interval"][0] == result["inside_interval"]
    assert backtest_calibration(connection, forecast.forecast_id, "run-big", "cv1").height == calibration.height
    assert judged_already(connection, forecast.forecast_id, "run-big", "cv1") and not judged_already(connection, forecast.forecast_id, "run-big", "cv2")
    with pytest.raises(ValueError, match="one of the forecast's proxies"):
        backtest_forecast(rows, target, mean, final.select("idx", "acc"), {**checkpoint, "checkpoint_id": "m-400k"})
    with pytest.raises(ValueError, match="one forecast and target"):
        backtest_forecast(forecast.rows, target, mean, final.select("idx", "acc"), checkpoint)


def test_calibration_bins_group_by_predicted_probability() -> None:
    predicted = np.array([0.05, 0.07, 0.55, 1.0])
    actual = np.array([0.0, 0.2, 1.0, 1.0])
    bins = calibration_bins(actual, predicted)
    assert bins["bin"].to_list() == [0, 5, 9]
    assert bins["n_questions"].to_list() == [2, 1, 1]
    assert bins["mean_actual"].to_list() == pytest.approx([0.1, 1.0, 1.0])
    assert bins["mean_predicted"][0] == pytest.approx(0.06)
