"""DuckDB storage of checkpoints, CBQA scores and SMI fits.

Each write replaces the rows of one checkpoint (and decoding) inside a transaction, so a
rerun never duplicates rows and a failure leaves the previous rows in place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import duckdb
import polars as pl

from smi_assets.sql import load_sql, transaction

SCORE_COLUMNS = ["idx", "rel", "template_id", "sample", "prompt", "continuation", "correct"]


@dataclass(frozen=True)
class CheckpointRecord:
    checkpoint_id: str
    origin: str
    path: str
    params: int
    non_embedding_params: int | None
    tokens_seen: int | None
    final_loss: float | None
    data_version: str


def ensure_tables(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(load_sql("checkpoint_tables"))


def record_checkpoint(connection: duckdb.DuckDBPyConnection, record: CheckpointRecord) -> None:
    ensure_tables(connection)
    connection.execute(load_sql("checkpoint_upsert"), asdict(record))


def replace_scores(connection: duckdb.DuckDBPyConnection, checkpoint_id: str, decoding: str, scores: pl.DataFrame) -> None:
    ensure_tables(connection)
    new_scores = scores.select(SCORE_COLUMNS)  # noqa: F841  (read by name in the SQL)
    keys = {"checkpoint_id": checkpoint_id, "decoding": decoding}
    with transaction(connection):
        connection.execute(load_sql("cbqa_scores_delete"), keys)
        connection.execute(load_sql("cbqa_scores_insert"), keys)


def replace_fits(connection: duckdb.DuckDBPyConnection, checkpoint_id: str, params: int, fits: pl.DataFrame) -> None:
    ensure_tables(connection)
    new_fits = fits  # noqa: F841  (read by name in the SQL)
    with transaction(connection):
        connection.execute(load_sql("smi_fits_delete"), {"checkpoint_id": checkpoint_id})
        connection.execute(load_sql("smi_fits_insert"), {"checkpoint_id": checkpoint_id, "params": params})


def checkpoint_params(connection: duckdb.DuckDBPyConnection, checkpoint_id: str) -> int:
    row = connection.execute(load_sql("checkpoint_params"), {"checkpoint_id": checkpoint_id}).fetchone()
    if row is None:
        raise ValueError(f"checkpoint {checkpoint_id!r} is not recorded: materialize its `checkpoints` partition first")
    return int(row[0])


def all_fits(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return connection.execute(load_sql("smi_fits_all")).pl()


def frequency_counts(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return connection.execute(load_sql("knowledge_frequency_counts")).pl()


def triple_accuracy(connection: duckdb.DuckDBPyConnection, checkpoint_id: str, decoding: str) -> pl.DataFrame:
    return connection.execute(load_sql("triple_accuracy"), {"checkpoint_id": checkpoint_id, "decoding": decoding}).pl()


def triple_accuracy_all(connection: duckdb.DuckDBPyConnection, decoding: str) -> pl.DataFrame:
    """model, params, idx, acc for every scored checkpoint."""
    return connection.execute(load_sql("triple_accuracy_all"), {"decoding": decoding}).pl()


def replace_forecast(connection: duckdb.DuckDBPyConnection, forecast: pl.DataFrame, backtest: pl.DataFrame) -> None:
    new_forecast, new_backtest = forecast, backtest  # noqa: F841  (read by name in the SQL)
    with transaction(connection):
        connection.execute(load_sql("forecast_tables"))


def forecast_tables(connection: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The latest forecast and its leave-one-size-out backtest."""
    return connection.execute(load_sql("forecast_read")).pl(), connection.execute(load_sql("forecast_backtest_read")).pl()


def accuracy_by_cooccurrence(connection: duckdb.DuckDBPyConnection, decoding: str) -> pl.DataFrame:
    """checkpoint_id, n_so_range, triples, accuracy: accuracy per decade of co-occurrence count."""
    return connection.execute(load_sql("accuracy_by_cooccurrence"), {"decoding": decoding}).pl()


def checkpoint_accuracy(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return connection.execute(load_sql("checkpoint_accuracy")).pl()
