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
from smi_assets.smi.forecast.runs import CALIBRATION_COLUMNS, FORECAST_ROW_COLUMNS


def ensure_forecast_tables(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(load_sql("forecast_per_question_tables"))
    connection.execute(load_sql("forecast_backtest_tables"))


def keep_forecast(connection: duckdb.DuckDBPyConnection, rows: pl.DataFrame, lineage: dict) -> int:
    """Store one forecast (rows of one forecast_id) unless it is stored already; returns the
    number of rows now stored for that forecast_id."""
    ensure_forecast_tables(connection)
    ids = rows["forecast_id"].unique().to_list()
    if ids != [lineage["forecast_id"]]:
        raise ValueError(f"rows carry forecast ids {ids}, the lineage {lineage['forecast_id']!r}")
    new_forecast_rows = rows.select(FORECAST_ROW_COLUMNS).to_arrow()  # noqa: F841  (read by name in the SQL)
    parameters = {"forecast_id": lineage["forecast_id"], "lineage": json.dumps(lineage, sort_keys=True)}
    first, second = sql_statements("forecast_per_question_insert")
    with transaction(connection):
        connection.execute(first, parameters)
        connection.execute(second)
    return stored_forecast(connection, lineage["forecast_id"]).height


def stored_forecast(connection: duckdb.DuckDBPyConnection, forecast_id: str) -> pl.DataFrame:
    return connection.execute(load_sql("forecast_per_question_read"), {"forecast_id": forecast_id}).pl()


def forecasts_to_backtest(connection: duckdb.DuckDBPyConnection, checkpoint_id: str, params: float, checkpoint_version: str) -> pl.DataFrame:
    """forecast_id, planned_params of the stored forecasts a new checkpoint can judge: all
    their proxies are smaller, and this checkpoint version has not judged them yet."""
    ensure_forecast_tables(connection)
    parameters = {"checkpoint_id": checkpoint_id, "params": float(params), "checkpoint_version": checkpoint_version}
    return connection.execute(load_sql("forecast_per_question_to_backtest"), parameters).pl()


def keep_backtest(connection: duckdb.DuckDBPyConnection, summary: dict, calibration: pl.DataFrame) -> None:
    """Store a :func:`~smi_assets.smi.forecast.runs.backtest_forecast` result unless stored already."""
    ensure_forecast_tables(connection)
    new_backtest = pl.DataFrame([summary]).to_arrow()  # noqa: F841  (read by name in the SQL)
    new_calibration = calibration.select(CALIBRATION_COLUMNS).to_arrow()  # noqa: F841
    with transaction(connection):
        for statement in sql_statements("forecast_backtest_insert"):
            connection.execute(statement)


def backtest_results(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return connection.execute(load_sql("forecast_backtest_results_read")).pl()


def backtest_calibration(connection: duckdb.DuckDBPyConnection, forecast_id: str, checkpoint_id: str, checkpoint_version: str) -> pl.DataFrame:
    keys = {"forecast_id": forecast_id, "checkpoint_id": checkpoint_id, "checkpoint_version": checkpoint_version}
    return connection.execute(load_sql("forecast_backtest_calibration_read"), keys).pl()
