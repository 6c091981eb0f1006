"""DuckDB storage of per-question forecasts and their backtests (sql/forecast_*.sql).

Forecasts and backtests are kept, never overwritten: every write is an insert-or-ignore by
key inside one transaction, so a rerun with the same inputs inserts nothing and a failure
leaves the stored rows as they were.
"""

from __future__ import annotations

import json

import duckdb
import polars as pl

from smi_assets.common.sql import load_sql, sql_statements, transaction
from smi_assets.smi.forecast.runs import BACKTEST_COLUMNS, CALIBRATION_COLUMNS, FORECAST_ROW_COLUMNS, SUMMARY_COLUMNS, TARGET_COLUMNS, Forecast


def ensure_forecast_tables(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(load_sql("forecast_per_question_tables"))
    connection.execute(load_sql("forecast_backtest_tables"))


def keep_forecast(connection: duckdb.DuckDBPyConnection, forecast: Forecast) -> bool:
    """Store one forecast unless its forecast_id is stored already; True when it was new."""
    ensure_forecast_tables(connection)
    ids = {*forecast.rows["forecast_id"].unique(), *forecast.targets["forecast_id"].unique(), *forecast.summary["forecast_id"].unique()}
    if ids != {forecast.forecast_id}:
        raise ValueError(f"rows carry forecast ids {sorted(ids)}, the lineage {forecast.forecast_id!r}")
    known = connection.execute(load_sql("forecast_known"), {"forecast_id": forecast.forecast_id}).fetchone()[0]
    new_targets = forecast.targets.select(TARGET_COLUMNS).to_arrow()  # noqa: F841  (read by name in the SQL)
    new_questions = forecast.rows.select(FORECAST_ROW_COLUMNS).to_arrow()  # noqa: F841
    new_summary = forecast.summary.select(SUMMARY_COLUMNS).to_arrow()  # noqa: F841
    parameters = {"forecast_id": forecast.forecast_id, "lineage": json.dumps(forecast.lineage, sort_keys=True)}
    first, *rest = sql_statements("forecast_per_question_insert")
    with transaction(connection):
        connection.execute(first, parameters)
        for statement in rest:
            connection.execute(statement)
    return not known


def stored_forecast(connection: duckdb.DuckDBPyConnection, forecast_id: str, target: str) -> pl.DataFrame:
    """The per-question rows of one kept target."""
    return connection.execute(load_sql("forecast_per_question_read"), {"forecast_id": forecast_id, "target": target}).pl()


def stored_summary(connection: duckdb.DuckDBPyConnection, forecast_id: str, target: str) -> pl.DataFrame:
    """The mean ("*") and per-relation forecasts of one kept target, with their intervals."""
    return connection.execute(load_sql("forecast_summary_read"), {"forecast_id": forecast_id, "target": target}).pl()


def stored_targets(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every kept target (:data:`~smi_assets.smi.forecast.runs.TARGET_COLUMNS`)."""
    ensure_forecast_tables(connection)
    return connection.execute(load_sql("forecast_targets_read")).pl()


def judged_already(connection: duckdb.DuckDBPyConnection, forecast_id: str, checkpoint_id: str, checkpoint_version: str) -> bool:
    keys = {"forecast_id": forecast_id, "checkpoint_id": checkpoint_id, "checkpoint_version": checkpoint_version}
    return bool(connection.execute(load_sql("forecast_backtest_judged"), keys).fetchone()[0])


def keep_backtest(connection: duckdb.DuckDBPyConnection, result: dict, calibration: pl.DataFrame) -> None:
    """Store a :func:`~smi_assets.smi.forecast.runs.backtest_forecast` result unless stored already."""
    ensure_forecast_tables(connection)
    nullable = {"planned_tokens": pl.Float64, "checkpoint_tokens": pl.Float64, "run_id": pl.Utf8, "run_fraction_seen": pl.Float64}
    new_backtest = pl.DataFrame([result], schema_overrides=nullable).to_arrow()  # noqa: F841  (read by name in the SQL)
    new_calibration = calibration.select(CALIBRATION_COLUMNS).to_arrow()  # noqa: F841
    with transaction(connection):
        for statement in sql_statements("forecast_backtest_insert"):
            connection.execute(statement)


def backtest_results(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every kept backtest; empty before the first (read-only connections welcome)."""
    present = {name for (name,) in connection.execute(load_sql("existing_tables")).fetchall()}
    if "forecast_backtest_results" not in present:
        return pl.DataFrame(schema=dict.fromkeys(BACKTEST_COLUMNS, pl.Utf8))
    return connection.execute(load_sql("forecast_backtest_results_read")).pl()


def backtest_calibration(connection: duckdb.DuckDBPyConnection, forecast_id: str, checkpoint_id: str, checkpoint_version: str) -> pl.DataFrame:
    keys = {"forecast_id": forecast_id, "checkpoint_id": checkpoint_id, "checkpoint_version": checkpoint_version}
    return connection.execute(load_sql("forecast_backtest_calibration_read"), keys).pl()
