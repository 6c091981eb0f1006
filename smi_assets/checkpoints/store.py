"""DuckDB storage of checkpoints (with their run, step and tokens), CBQA scores, SMI fits, and
the corpus' token counts that say which share of the corpus a checkpoint saw.

Each write replaces the rows of one checkpoint (and decoding) inside a transaction, so a
rerun never duplicates rows and a failure leaves the previous rows in place.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import duckdb
import polars as pl

from smi_assets.common.sql import load_sql, sql_statements, transaction
from training import weights

# Written into a ladder checkpoint's folder when it is trained: its config and corpus content.
TRAINING_INPUTS_FILE = "training_inputs.json"

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
    weight_file_sha256s: dict[str, str] = field(default_factory=dict)  # training.weights.weight_file_sha256s(folder)
    run_id: str | None = None  # see smi_assets.checkpoints.runs.RunPosition; tokens_seen is its tokens
    step: int | None = None
    run_tokens: int | None = None

    @property
    def weights_sha256(self) -> str | None:
        """One sha256 over all weight files: equal weights, equal value (how duplicates are found)."""
        return weights.weights_sha256(self.weight_file_sha256s) if self.weight_file_sha256s else None


def ensure_tables(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(load_sql("checkpoint_tables"))


def record_checkpoint(connection: duckdb.DuckDBPyConnection, record: CheckpointRecord) -> None:
    ensure_tables(connection)
    values = {**asdict(record), "weight_file_sha256s": json.dumps(record.weight_file_sha256s), "weights_sha256": record.weights_sha256}
    connection.execute(load_sql("checkpoint_upsert"), values)


def checkpoint_with_weights(connection: duckdb.DuckDBPyConnection, weights_sha256: str, checkpoint_id: str) -> tuple[str, str] | None:
    """(checkpoint_id, path) of an already registered checkpoint, other than `checkpoint_id`, with these weights."""
    ensure_tables(connection)
    row = connection.execute(load_sql("checkpoint_with_weights"), {"weights_sha256": weights_sha256, "checkpoint_id": checkpoint_id}).fetchone()
    return None if row is None else (row[0], row[1])


def recorded_weight_file_sha256s(connection: duckdb.DuckDBPyConnection, checkpoint_id: str) -> dict[str, str]:
    """File name -> sha256 recorded with the checkpoint; empty when it was recorded before sha256s were kept."""
    ensure_tables(connection)
    recorded = _recorded(connection, "checkpoint_weight_file_sha256s", checkpoint_id)[0]
    return json.loads(recorded) if recorded else {}


def out_of_order_checkpoint(connection: duckdb.DuckDBPyConnection, record: CheckpointRecord) -> tuple[str, int, int] | None:
    """(checkpoint_id, step, tokens) of another checkpoint of the record's run whose tokens
    disagree with its step: an earlier step with more tokens, or a later one with fewer."""
    ensure_tables(connection)
    values = {"checkpoint_id": record.checkpoint_id, "run_id": record.run_id, "step": record.step, "tokens_seen": record.tokens_seen}
    return connection.execute(load_sql("checkpoint_out_of_order"), values).fetchone()


def replace_scores(connection: duckdb.DuckDBPyConnection, checkpoint_id: str, decoding: str, scores: pl.DataFrame) -> None:
    ensure_tables(connection)
    new_scores = scores.select(SCORE_COLUMNS)  # noqa: F841  (read by name in the SQL)
    keys = {"checkpoint_id": checkpoint_id, "decoding": decoding}
    with transaction(connection):
        connection.execute(load_sql("cbqa_scores_delete"), keys)
        connection.execute(load_sql("cbqa_scores_insert"), keys)


def replace_fits(connection: duckdb.DuckDBPyConnection, checkpoint_id: str, decoding: str, params: int, fits: pl.DataFrame) -> None:
    ensure_tables(connection)
    new_fits = fits  # noqa: F841  (read by name in the SQL)
    keys = {"checkpoint_id": checkpoint_id, "decoding": decoding}
    with transaction(connection):
        connection.execute(load_sql("smi_fits_delete"), keys)
        connection.execute(load_sql("smi_fits_insert"), {**keys, "params": params})


def _recorded(connection: duckdb.DuckDBPyConnection, sql_name: str, checkpoint_id: str) -> tuple:
    row = connection.execute(load_sql(sql_name), {"checkpoint_id": checkpoint_id}).fetchone()
    if row is None:
        raise ValueError(f"checkpoint {checkpoint_id!r} is not recorded: materialize its `checkpoints` partition first")
    return row


def checkpoint_params(connection: duckdb.DuckDBPyConnection, checkpoint_id: str) -> int:
    return int(_recorded(connection, "checkpoint_params", checkpoint_id)[0])


def all_fits(connection: duckdb.DuckDBPyConnection, decoding: str) -> pl.DataFrame:
    return connection.execute(load_sql("smi_fits_all"), {"decoding": decoding}).pl()


def frequency_counts(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return connection.execute(load_sql("knowledge_frequency_counts")).pl()


def triple_accuracy(connection: duckdb.DuckDBPyConnection, checkpoint_id: str, decoding: str) -> pl.DataFrame:
    return connection.execute(load_sql("triple_accuracy"), {"checkpoint_id": checkpoint_id, "decoding": decoding}).pl()


def proxy_accuracy(connection: duckdb.DuckDBPyConnection, decoding: str) -> pl.DataFrame:
    """model, params, idx, acc, tokens, run_id, run_tokens, step of every checkpoint the project
    trained (the forecast's proxies), a ladder run's intermediate checkpoints included; tokens
    (Int64) are null where unknown."""
    return connection.execute(load_sql("proxy_accuracy"), {"decoding": decoding}).pl()


def replace_shard_tokens(connection: duckdb.DuckDBPyConnection, shard: str, documents: int, tokens: int) -> None:
    """Record one corpus shard's documents and tokens, replacing its previous row."""
    connection.execute(load_sql("corpus_tables"))
    connection.execute(load_sql("corpus_shard_tokens_replace"), {"shard": shard, "documents": documents, "tokens": tokens})


def corpus_tokens(connection: duckdb.DuckDBPyConnection) -> int | None:
    """Tokens of the whole corpus (the sum over its registered shards); None before any shard was read."""
    present = {name for (name,) in connection.execute(load_sql("existing_tables")).fetchall()}
    if "corpus_shard_tokens" not in present:
        return None
    total = connection.execute(load_sql("corpus_tokens")).fetchone()[0]
    return None if total is None else int(total)


def question_exposure(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """checkpoint_id, idx, N_so, tokens_seen, corpus_tokens, expected_exposure (N_so x tokens_seen /
    corpus_tokens; null where tokens are unknown) of every recorded checkpoint and triple."""
    return connection.execute(load_sql("question_exposure")).pl()


def checkpoint_sizes(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """checkpoint_id, origin, params, data_version of every recorded checkpoint."""
    ensure_tables(connection)
    return connection.execute(load_sql("checkpoint_sizes")).pl()


def replace_forecast(connection: duckdb.DuckDBPyConnection, forecast: pl.DataFrame, backtest: pl.DataFrame) -> None:
    new_forecast, new_backtest = forecast, backtest  # noqa: F841  (read by name in the SQL)
    with transaction(connection):
        connection.execute(load_sql("forecast_tables"))


def forecast_tables(connection: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The latest forecast and its leave-one-size-out backtest."""
    return connection.execute(load_sql("forecast_read")).pl(), connection.execute(load_sql("forecast_leave_one_size_out_read")).pl()


def accuracy_by_cooccurrence(connection: duckdb.DuckDBPyConnection, decoding: str) -> pl.DataFrame:
    """checkpoint_id, n_so_range, triples, accuracy: accuracy per decade of co-occurrence count."""
    return connection.execute(load_sql("accuracy_by_cooccurrence"), {"decoding": decoding}).pl()


def checkpoint_accuracy(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return connection.execute(load_sql("checkpoint_accuracy")).pl()


def finished_checkpoints(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """checkpoint_id, run_id, params, tokens, data_version of every checkpoint that finished its
    run (or whose run is unknown): the checkpoints that can judge a forecast."""
    ensure_tables(connection)
    return connection.execute(load_sql("checkpoint_finished")).pl()


def replace_knowledge_gaps(connection: duckdb.DuckDBPyConnection, gaps: pl.DataFrame, plans: pl.DataFrame) -> None:
    """Replace the knowledge-gap report: the facts below target per planned run, and the plan."""
    new_gaps, new_plans = gaps.to_arrow(), plans.to_arrow()  # noqa: F841  (read by name in the SQL)
    with transaction(connection):
        for statement in sql_statements("knowledge_gaps_replace"):
            connection.execute(statement)


def knowledge_gap_tables(connection: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The latest knowledge-gap report: (gaps, plans); empty frames before the first one."""
    present = {name for (name,) in connection.execute(load_sql("existing_tables")).fetchall()}
    if "knowledge_gaps" not in present:
        return pl.DataFrame(), pl.DataFrame()
    return connection.execute(load_sql("knowledge_gaps_read")).pl(), connection.execute(load_sql("knowledge_plan_read")).pl()


def triple_names(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """idx, subj, obj of every knowledge triple."""
    return connection.execute(load_sql("triple_names")).pl()
