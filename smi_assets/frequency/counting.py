"""Knowledge-frequency counting: per-shard unit counts, summed over shards in DuckDB.

A shard is reduced to three small tables whose size depends on the triples, not the corpus:
the number of co-occurrence units, the number of units mentioning each entity, and the
number of units mentioning both the subject and the object of each triple. Summing them over
shards (``sql/knowledge_frequency.sql``) gives, per triple, the 2x2 table N, N_s, N_o, N_so,
N_s_only, N_o_only, N_neither, so memory stays bounded by the per-shard tables.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from smi_assets.frequency.matching import (
    CasePolicy,
    MatchMode,
    Unit,
    entity_patterns,
    split_units,
    unit_entities,
)
from smi_assets.sql import load_sql
from smi_assets.storage import write_parquet_atomic

# The file each shard's counts are written to, inside the directory the caller gives.
SHARD_COUNTS_FILE = "knowledge_counts.parquet"

FREQUENCY_COLUMNS = ("idx", "N", "N_s", "N_o", "N_so", "N_s_only", "N_o_only", "N_neither")

_COUNTS_SCHEMA = {
    "config": pl.Utf8,
    "kind": pl.Utf8,
    "entity": pl.Utf8,
    "idx": pl.Int64,
    "n_units": pl.Int64,
}


@dataclass(frozen=True)
class CountConfig:
    """How entity mentions are matched and what counts as one co-occurrence unit."""

    match_mode: MatchMode = "word"
    case: CasePolicy = "sensitive"
    unit: Unit = "document"
    window_tokens: int = 64

    def __post_init__(self) -> None:
        if self.match_mode not in ("paper", "word"):
            raise ValueError(f"match_mode must be paper or word, got {self.match_mode!r}")
        if self.case not in ("sensitive", "insensitive"):
            raise ValueError(f"case must be sensitive or insensitive, got {self.case!r}")
        if self.match_mode == "paper" and self.case != "sensitive":
            raise ValueError("match_mode='paper' reproduces the reference rule, which is case-sensitive")
        if self.unit not in ("document", "sentence", "window"):
            raise ValueError(f"unit must be document, sentence or window, got {self.unit!r}")
        if self.window_tokens < 1:
            raise ValueError(f"window_tokens must be at least 1, got {self.window_tokens}")

    @property
    def label(self) -> str:
        """A short text naming the configuration, recorded with every shard's counts."""
        unit = f"window{self.window_tokens}" if self.unit == "window" else self.unit
        return f"{self.match_mode}/{self.case}/{unit}"


@dataclass(frozen=True)
class ShardCounts:
    """The counts of one shard: units, units per entity, units per triple with both entities."""

    config: CountConfig
    n_units: int
    entity_units: pl.DataFrame  # entity: Utf8, n_units: Int64 (entities found at least once)
    pair_units: pl.DataFrame  # idx: Int64, n_units: Int64 (triples co-occurring at least once)

    def to_frame(self) -> pl.DataFrame:
        """All three tables in one long frame (``kind`` = units, entity or pair)."""
        parts = [
            pl.DataFrame({"kind": ["units"], "n_units": [self.n_units]}),
            self.entity_units.with_columns(kind=pl.lit("entity")),
            self.pair_units.with_columns(kind=pl.lit("pair")),
        ]
        frame = pl.concat(parts, how="diagonal_relaxed").with_columns(config=pl.lit(self.config.label))
        return frame.select(pl.col(name).cast(dtype) for name, dtype in _COUNTS_SCHEMA.items())


def _check_triples(triples: pl.DataFrame) -> None:
    missing = {"idx", "subj", "obj"} - set(triples.columns)
    if missing:
        raise ValueError(f"triples lack columns {sorted(missing)}")
    if triples.get_column("idx").is_duplicated().any():
        raise ValueError("triples have duplicate idx values")


def _mention_key(entity_column: str) -> pl.Expr:
    """One 64-bit key per (unit, entity code) pair; both are 32-bit row numbers."""
    return pl.col("unit").cast(pl.UInt64) * (1 << 32) + pl.col(entity_column).cast(pl.UInt64)


def count_shard(documents: pl.DataFrame, triples: pl.DataFrame, config: CountConfig) -> ShardCounts:
    """Count one shard of documents (column ``text``) against all triples in one pass."""
    if "text" not in documents.columns:
        raise ValueError(f"documents lack a text column (columns: {documents.columns})")
    _check_triples(triples)
    units = split_units(documents.get_column("text"), config.unit, config.window_tokens)
    patterns = entity_patterns(triples, config.match_mode, config.case)
    # Entities are coded as integers so that the joins below run on integer keys.
    names = patterns.select("entity").unique().sort("entity").with_row_index("code")
    coded_patterns = patterns.join(names, on="entity").select(pl.col("code").alias("entity"), "pattern")
    found = unit_entities(units, coded_patterns, config.match_mode, config.case)
    entity_units = (
        found.group_by("entity")
        .agg(n_units=pl.len().cast(pl.Int64))
        .join(names, left_on="entity", right_on="code")
        .select(pl.col("entity_right").alias("entity"), "n_units")
        .sort("entity")
    )
    # Co-occurrence per distinct (subject, object) pair: for each unit that mentions a
    # subject, keep the pairs whose object the unit mentions too, looked up as one 64-bit
    # (unit, entity) key.
    triple_codes = (
        triples.select("idx", "subj", "obj")
        .join(names.rename({"entity": "subj", "code": "subj_code"}), on="subj")
        .join(names.rename({"entity": "obj", "code": "obj_code"}), on="obj")
    )
    pairs = triple_codes.select("subj_code", "obj_code").unique()
    mention_keys = found.select(_mention_key("entity")).to_series()
    cooccurring = (
        found.join(pairs, left_on="entity", right_on="subj_code")
        .filter(_mention_key("obj_code").is_in(mention_keys.implode()))
        .group_by(pl.col("entity").alias("subj_code"), "obj_code")
        .agg(n_units=pl.len().cast(pl.Int64))
    )
    pair_units = (
        triple_codes.join(cooccurring, on=["subj_code", "obj_code"])
        .select(pl.col("idx").cast(pl.Int64), "n_units")
        .sort("idx")
    )
    return ShardCounts(config=config, n_units=len(units), entity_units=entity_units, pair_units=pair_units)


def write_shard_counts(counts: ShardCounts, directory: Path) -> Path:
    """Write a shard's counts to ``directory/knowledge_counts.parquet``, replacing any previous
    version atomically (so reruns are idempotent and never leave a half-written file)."""
    return write_parquet_atomic(counts.to_frame(), Path(directory) / SHARD_COUNTS_FILE)


def knowledge_frequency(
    connection: duckdb.DuckDBPyConnection, shard_dirs: list[Path], triples: pl.DataFrame
) -> pl.DataFrame:
    """Sum the per-shard counts in ``shard_dirs`` into one row per triple (``FREQUENCY_COLUMNS``).

    Every shard must have been counted with the same :class:`CountConfig`. With no shards,
    every count is zero.
    """
    _check_triples(triples)
    files = [str(Path(directory) / SHARD_COUNTS_FILE) for directory in shard_dirs]
    absent = [path for path in files if not Path(path).is_file()]
    if absent:
        raise FileNotFoundError(f"no shard counts at {absent}")
    if not files:
        return triples.select(pl.col("idx").cast(pl.Int64)).sort("idx").with_columns(
            pl.lit(0, pl.Int64).alias(name) for name in FREQUENCY_COLUMNS[1:]
        )
    configs = [row[0] for row in connection.execute(load_sql("frequency_shard_configs"), {"files": files}).fetchall()]
    if len(configs) > 1:
        raise ValueError(f"shard counts were made with different configurations {configs}; recount them alike")
    connection.register("frequency_triples", triples.select("idx", "subj", "obj").to_arrow())
    try:
        frequency = connection.execute(load_sql("knowledge_frequency"), {"files": files}).pl()
    finally:
        connection.unregister("frequency_triples")
    return frequency.select(pl.col(name).cast(pl.Int64) for name in FREQUENCY_COLUMNS)


def count_corpus(document_frames: Iterable[pl.DataFrame], triples: pl.DataFrame, config: CountConfig) -> pl.DataFrame:
    """Count a whole corpus, one frame (shard) at a time, the way the assets do: each shard's
    counts go to a temporary directory and are summed by :func:`knowledge_frequency`."""
    with tempfile.TemporaryDirectory(prefix="smi-count-") as scratch:
        shard_dirs = []
        for number, documents in enumerate(document_frames):
            directory = Path(scratch) / f"shard-{number:06d}"
            write_shard_counts(count_shard(documents, triples, config), directory)
            shard_dirs.append(directory)
        with duckdb.connect() as connection:
            return knowledge_frequency(connection, shard_dirs, triples)
