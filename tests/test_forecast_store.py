"""Per-question forecast rows, their backtest, and their DuckDB store (in memory)."""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import polars as pl
import pytest

from smi_assets.smi.forecast.runs import (
    BACKTEST_COLUMNS,
    FORECAST_ROW_COLUMNS,
    backtest_forecast,
    calibration_bins,
    forecast_per_question,
)
from smi_assets.smi.forecast.store import (
    backtest_calibration,
    backtest_results,
    forecasts_to_backtest,
    keep_backtest,
    keep_forecast,
    stored_forecast,
)
from tests.test_proxy_forecast import PROXY_SIZES, planted_accuracy, planted_world

PROXY_VERSIONS = {model: f"v-{model}" for model in PROXY_SIZES}
INPUT_VERSIONS = {"knowledge_frequency": "f1", "knowledge_triples": "t1", "corpus_documents/shard-0": "s1"}
PLANNED = [3e9, 8e9]


@pytest.fixture(scope="module")
def world() -> tuple[pl.DataFrame, np.ndarray, pl.DataFrame]:
    frequency, z = planted_world(n=600, seed=3)
    return frequency, z, planted_accuracy(z, PROXY_SIZES, seed=4)


@pytest.fixture(scope="module")
def forecast(world) -> tuple[pl.DataFrame, dict]:
    frequency, _, proxies = world
    return forecast_per_question(proxies, frequency, PLANNED, PROXY_VERSIONS, INPUT_VERSIONS)


def test_rows_say_what_each_forecast_used(world, forecast) -> None:
    frequency, _, _ = world
    rows, lineage = forecast
    assert rows.columns == list(FORECAST_ROW_COLUMNS)
    assert rows.height == len(PLANNED) * frequency.height
    assert rows["forecast_id"].unique().to_list() == [lineage["forecast_id"]]
    assert set(rows["proxies"]) == {",".join(PROXY_SIZES)}
    assert (rows["largest_proxy_params"] == 1e9).all()
    joined = rows.filter(pl.col("planned_params") == 3e9).join(frequency, on="idx", suffix="_frequency")
    assert (joined["N_so"] == joined["N_so_frequency"]).all()
    assert lineage["proxies"] == PROXY_VERSIONS and lineage["inputs"] == INPUT_VERSIONS


def test_forecast_id_follows_the_data_versions(world, forecast) -> None:
    frequency, _, proxies = world
    rows, _ = forecast
    again, _ = forecast_per_question(proxies, frequency, PLANNED[:1], PROXY_VERSIONS, INPUT_VERSIONS)
    assert again["forecast_id"][0] == rows["forecast_id"][0]  # the planned sizes are rows, not part of the key
    retrained = {**PROXY_VERSIONS, "p-1b": "v-p-1b-retrained"}
    changed, _ = forecast_per_question(proxies, frequency, PLANNED[:1], retrained, INPUT_VERSIONS)
    assert changed["forecast_id"][0] != rows["forecast_id"][0]
    recounted, _ = forecast_per_question(proxies, frequency, PLANNED[:1], PROXY_VERSIONS, {**INPUT_VERSIONS, "knowledge_frequency": "f2"})
    assert recounted["forecast_id"][0] != rows["forecast_id"][0]
    with pytest.raises(ValueError, match=r"no data version given for proxies \['p-1b'\]"):
        forecast_per_question(proxies, frequency, PLANNED, {m: v for m, v in PROXY_VERSIONS.items() if m != "p-1b"}, INPUT_VERSIONS)


def test_a_forecast_is_kept_once_and_never_overwritten(forecast) -> None:
    rows, lineage = forecast
    connection = duckdb.connect(":memory:")
    assert keep_forecast(connection, rows, lineage) == rows.height
    created = connection.execute("SELECT created_at FROM forecast_runs").fetchall()
    altered = rows.with_columns(pl.col("predicted_accuracy") * 0 + 0.5)
    assert keep_forecast(connection, altered, lineage) == rows.height  # same key: nothing inserted
    stored = stored_forecast(connection, lineage["forecast_id"])
    assert np.allclose(stored["predicted_accuracy"], rows.sort("planned_params", "idx")["predicted_accuracy"])
    assert connection.execute("SELECT created_at FROM forecast_runs").fetchall() == created
    # "Which facts will the 8B model know?" is one query.
    known = connection.execute("SELECT count(*) FROM forecast_per_question WHERE planned_params = 8e9 AND predicted_accuracy >= 0.5").fetchone()[0]
    assert known == rows.filter(pl.col("planned_params") == 8e9, pl.col("predicted_accuracy") >= 0.5).height
    with pytest.raises(ValueError, match="forecast ids"):
        keep_forecast(connection, rows, {**lineage, "forecast_id": "other"})


def test_backtest_scores_a_later_checkpoint_and_is_kept_once(world, forecast) -> None:
    _, z, _ = world
    rows, lineage = forecast
    connection = duckdb.connect(":memory:")
    keep_forecast(connection, rows, lineage)
    actual = planted_accuracy(z, {"big": 8e9}, seed=5).select("idx", "acc")
    to_judge = forecasts_to_backtest(connection, "big", 7.5e9, "cv1")
    assert to_judge.rows() == [(lineage["forecast_id"], 8e9)]  # the planned size nearest to 7.5e9
    planned_rows = rows.filter(pl.col("planned_params") == 8e9)
    summary, calibration = backtest_forecast(planned_rows, actual, "big", 7.5e9, "cv1")
    assert list(summary) == list(BACKTEST_COLUMNS)
    assert summary["n_questions"] == planned_rows.height
    assert summary["r2_question"] > 0.5 and summary["brier"] < 0.05
    assert summary["mean_error"] == pytest.approx(summary["mean_predicted"] - summary["mean_actual"])
    assert calibration["n_questions"].sum() == planned_rows.height
    keep_backtest(connection, summary, calibration)
    keep_backtest(connection, {**summary, "r2_question": -1.0}, calibration)  # same key: kept as it was
    stored = backtest_results(connection)
    assert stored.height == 1 and stored["r2_question"][0] == pytest.approx(summary["r2_question"])
    assert backtest_calibration(connection, lineage["forecast_id"], "big", "cv1").height == calibration.height
    assert forecasts_to_backtest(connection, "big", 7.5e9, "cv1").height == 0  # judged already
    assert forecasts_to_backtest(connection, "big", 7.5e9, "cv2").height == 1  # a retrained checkpoint judges again
    assert forecasts_to_backtest(connection, "small", 5e8, "cv1").height == 0  # not larger than the proxies
    with pytest.raises(ValueError, match="not larger than the forecast's largest proxy"):
        backtest_forecast(planned_rows, actual, "small", 5e8, "cv1")
    with pytest.raises(ValueError, match="one forecast and planned size"):
        backtest_forecast(rows, actual, "big", 7.5e9, "cv1")


def test_calibration_bins_group_by_predicted_probability() -> None:
    predicted = np.array([0.05, 0.07, 0.55, 1.0])
    actual = np.array([0.0, 0.2, 1.0, 1.0])
    bins = calibration_bins(actual, predicted)
    assert bins["bin"].to_list() == [0, 5, 9]
    assert bins["n_questions"].to_list() == [2, 1, 1]
    assert bins["mean_actual"].to_list() == pytest.approx([0.1, 1.0, 1.0])
    assert bins["mean_predicted"][0] == pytest.approx(0.06)


def test_planned_size_inside_the_ladder_is_flagged_not_hidden(world) -> None:
    frequency, _, proxies = world
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows, _ = forecast_per_question(proxies, frequency, [5e8], PROXY_VERSIONS, INPUT_VERSIONS)
    assert any("not a forecast" in str(warning.message) for warning in caught)
    assert set(rows["proxies"]) == {"p-10m,p-30m,p-100m,p-300m"}
    assert (rows["largest_proxy_params"] == 3e8).all()
