"""Knowledge-frequency counting: per-shard unit counts, summed over shards.

A shard is reduced to three small tables whose size depends on the triples, not the corpus:
the number of co-occurrence units, the number of units mentioning each entity, and the
number of units mentioning both the subject and the object of each triple. Summing them over
shards (:func:`frequency_table`) gives, per triple, the 2x2 table N, N_s, N_o, N_so,
N_s_only, N_o_only, N_neither, so memory stays bounded by the per-shard tables.

A shard is counted batch by batch (:class:`TripleCounter`; :func:`count_shard_file` and
:func:`count_documents_file` stream a file), so memory does not grow with the shard either:
units never span documents, so the per-batch counts add up to the whole shard's exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from smi_assets.common.errors import OnError
from smi_assets.common.storage import write_parquet_atomic
from smi_assets.corpus.sources import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_ROWS, JSON_LINES_SUFFIXES, TextSpans, iter_documents, iter_text_spans
from smi_assets.frequency.compiled_kernels import compiled_kernels
from smi_assets.frequency.matching import (
    CasePolicy,
    EntityMatcher,
    MatchMode,
    Unit,
    entity_patterns,
    split_units,
)
from smi_assets.frequency.word_trie import load_kernels as load_matching_kernels

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


@dataclass(frozen=True, eq=False)
class SubjectObjectPairs:
    """The distinct (subject, object) entity-code pairs of the triples, arranged to count, for a
    batch of (unit, entity) mentions, the units that mention both entities of each pair."""

    # The pairs sorted by subject code: those of subject s are positions
    # subject_start[s]:subject_start[s + 1]; a pair's id is its position.
    subject_start: np.ndarray
    pair_object: np.ndarray  # each pair's object (entity code)
    n_entities: int

    @classmethod
    def build(cls, subj_code: np.ndarray, obj_code: np.ndarray, n_entities: int) -> SubjectObjectPairs:
        """`subj_code`, `obj_code`: the distinct pairs, sorted by subject then object."""
        subject_start = np.searchsorted(subj_code, np.arange(n_entities + 1)).astype(np.int64)
        return cls(subject_start, np.asarray(obj_code, dtype=np.int64), n_entities)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_object)

    def cooccurrences(self, unit: np.ndarray, entity: np.ndarray) -> np.ndarray:
        """Units mentioning both entities, per pair. `unit`, `entity`: the distinct mentions
        (unit number, entity code), grouped by unit."""
        return compiled_kernels().count_cooccurrences(
            np.ascontiguousarray(unit, dtype=np.int64), np.ascontiguousarray(entity, dtype=np.int64), self.subject_start, self.pair_object, self.n_entities
        )


@dataclass(frozen=True, eq=False)
class TripleCounter:
    """Everything about the triples that counting needs, prepared once (entity codes, the
    matcher's word trie, the distinct subject/object pairs), then applied to a shard given
    as any number of batches of documents. Units never span documents, so per-batch counts
    add up to exactly the counts of the whole shard."""

    config: CountConfig
    names: pl.Series  # entity names, sorted; an entity's code is its position
    matcher: EntityMatcher  # patterns whose entity is the code
    pairs: SubjectObjectPairs  # the distinct (subject, object) pairs of the triples
    triple_pairs: pl.DataFrame  # idx, pair: the pair of each triple whose names both have patterns

    @classmethod
    def build(cls, triples: pl.DataFrame, config: CountConfig) -> TripleCounter:
        _check_triples(triples)
        patterns = entity_patterns(triples, config.match_mode, config.case)
        # Entities are coded as integers so that the joins below run on integer keys.
        names = patterns.select("entity").unique().sort("entity").with_row_index("code")
        coded_patterns = patterns.join(names, on="entity").select(pl.col("code").alias("entity"), "pattern")
        triple_codes = (
            triples.select("idx", "subj", "obj")
            .join(names.rename({"entity": "subj", "code": "subj_code"}), on="subj")
            .join(names.rename({"entity": "obj", "code": "obj_code"}), on="obj")
        )
        pairs = triple_codes.select("subj_code", "obj_code").unique().sort("subj_code", "obj_code").with_row_index("pair")
        return cls(
            config=config,
            names=names.get_column("entity"),
            matcher=EntityMatcher.build(coded_patterns, config.match_mode, config.case),
            pairs=SubjectObjectPairs.build(pairs.get_column("subj_code").to_numpy(), pairs.get_column("obj_code").to_numpy(), len(names)),
            triple_pairs=triple_codes.join(pairs, on=["subj_code", "obj_code"]).select(pl.col("idx").cast(pl.Int64), "pair"),
        )

    @property
    def reads_spans(self) -> bool:
        """Whether :meth:`count` takes documents as :class:`TextSpans`: each document one unit,
        matched as it is written (``unit="document"``, case-sensitive)."""
        return self.config.unit == "document" and self.config.case == "sensitive"

    def count(self, batches: Iterable[pl.DataFrame | pl.Series | TextSpans]) -> ShardCounts:
        """The counts of one shard given as batches of documents (frames with a ``text``
        column, text series, or, where :attr:`reads_spans`, texts as bytes)."""
        n_units = 0
        entity_units = np.zeros(len(self.names), dtype=np.int64)
        pair_units = np.zeros(self.pairs.n_pairs, dtype=np.int64)
        for batch in batches:
            if isinstance(batch, TextSpans):
                if not self.reads_spans:
                    raise ValueError(f"documents as bytes are counted with document units, case-sensitive, not {self.config.label}")
                n_units += len(batch.starts)
                found = self.matcher.find_in_buffers(batch.data, batch.starts, batch.ends)
            else:
                texts = batch if isinstance(batch, pl.Series) else _texts_of(batch)
                units = split_units(texts, self.config.unit, self.config.window_tokens)
                n_units += len(units)
                found = self.matcher.find(units)
            if found.is_empty():
                continue
            unit, entity = found.get_column("unit").to_numpy(), found.get_column("entity").to_numpy()
            entity_units += np.bincount(entity, minlength=len(entity_units))
            pair_units += self.pairs.cooccurrences(unit, entity)
        entities = pl.DataFrame({"entity": self.names, "n_units": entity_units})
        pairs = self.triple_pairs.select("idx", n_units=pl.Series(pair_units[self.triple_pairs.get_column("pair").to_numpy()]))
        return ShardCounts(
            config=self.config,
            n_units=n_units,
            entity_units=entities.filter(pl.col("n_units") > 0),
            pair_units=pairs.filter(pl.col("n_units") > 0).sort("idx"),
        )


def _texts_of(documents: pl.DataFrame) -> pl.Series:
    if "text" not in documents.columns:
        raise ValueError(f"documents lack a text column (columns: {documents.columns})")
    return documents.get_column("text")


def count_shard(documents: pl.DataFrame, triples: pl.DataFrame, config: CountConfig) -> ShardCounts:
    """Count one shard of documents (column ``text``) against all triples in one pass."""
    _texts_of(documents)
    return TripleCounter.build(triples, config).count([documents])


def count_shard_file(
    parquet_path: str | Path,
    triples: pl.DataFrame,
    config: CountConfig,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> ShardCounts:
    """Count a shard's documents file (Parquet with a ``text`` column, as written by
    :func:`~smi_assets.corpus.sources.write_shard_documents`), a batch of at most
    `batch_rows` rows and about `batch_bytes` at a time, so memory does not grow with the
    file."""
    counts, _ = count_documents_file(parquet_path, triples, config, batch_rows=batch_rows, batch_bytes=batch_bytes)
    return counts


def count_documents_file(
    path: str | Path,
    triples: pl.DataFrame,
    config: CountConfig,
    *,
    text_field: str = "text",
    id_field: str | None = None,
    on_error: OnError = "raise",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    counter: TripleCounter | None = None,
) -> tuple[ShardCounts, int]:
    """Count one corpus file (JSON lines or Parquet, as :func:`iter_documents` reads it) in
    batches; returns its counts and the number of bad records skipped. `counter` reuses the
    prepared triples across files (it must have been built for `config`). JSON lines without
    an id field, counted by document and case-sensitive (`smi count`'s default), are read as
    :func:`~smi_assets.corpus.sources.iter_text_spans` gives them, in chunks of about 8 MB
    whatever `batch_rows` and `batch_bytes` say."""
    counter = counter or TripleCounter.build(triples, config)
    if counter.config != config:
        raise ValueError(f"the counter was built for {counter.config.label}, not {config.label}")
    n_skipped = 0

    def texts() -> Iterator[pl.Series | TextSpans]:
        nonlocal n_skipped
        if id_field is None and counter.reads_spans and Path(path).name.lower().endswith(JSON_LINES_SUFFIXES):
            # The same documents, without building a string column (iter_text_spans).
            for spans in iter_text_spans(path, text_field=text_field, on_error=on_error):
                n_skipped += spans.n_skipped
                yield spans
            return
        batches = iter_documents(path, text_field=text_field, id_field=id_field, on_error=on_error, batch_rows=batch_rows, batch_bytes=batch_bytes)
        for batch in batches:
            n_skipped += batch.n_skipped
            yield batch.frame.get_column("text")

    return counter.count(texts()), n_skipped


def write_shard_counts(counts: ShardCounts, directory: Path) -> Path:
    """Write a shard's counts to ``directory/knowledge_counts.parquet``, replacing any previous
    version atomically (so reruns are idempotent and never leave a half-written file)."""
    return write_parquet_atomic(counts.to_frame(), Path(directory) / SHARD_COUNTS_FILE)


def frequency_table(counts: pl.LazyFrame, triples: pl.DataFrame) -> pl.DataFrame:
    """Per-shard counts in long form (``kind``, ``entity``, ``idx``, ``n_units`` and ``config``,
    as :meth:`ShardCounts.to_frame` gives them) summed into one row per triple
    (``FREQUENCY_COLUMNS``): the 2x2 table N, N_s, N_o, N_so, N_s_only, N_o_only, N_neither.

    An entity or triple absent from a shard's counts occurs in none of its units. Every shard
    must have been counted with the same :class:`CountConfig`. One group-by reads the counts
    (polars, streaming), so its memory is that of the summed tables, whatever the shards.
    """
    _check_triples(triples)
    summed = counts.group_by("config", "kind", "entity", "idx").agg(pl.col("n_units").sum()).collect(engine="streaming")
    configs = sorted(summed.get_column("config").unique().drop_nulls().to_list())
    if len(configs) > 1:
        raise ValueError(f"shard counts were made with different configurations {configs}; recount them alike")
    n_units = summed.filter(pl.col("kind") == "units").get_column("n_units").sum()
    entities = summed.filter(pl.col("kind") == "entity").select("entity", "n_units")
    pairs = summed.filter(pl.col("kind") == "pair").select("idx", "n_units")
    cells = (
        triples.select(pl.col("idx").cast(pl.Int64), "subj", "obj")
        .join(entities.rename({"entity": "subj", "n_units": "N_s"}), on="subj", how="left")
        .join(entities.rename({"entity": "obj", "n_units": "N_o"}), on="obj", how="left")
        .join(pairs.rename({"n_units": "N_so"}), on="idx", how="left")
        .select("idx", pl.lit(n_units, pl.Int64).alias("N"), *(pl.col(name).fill_null(0).cast(pl.Int64) for name in ("N_s", "N_o", "N_so")))
    )
    return cells.with_columns(
        N_s_only=pl.col("N_s") - pl.col("N_so"),
        N_o_only=pl.col("N_o") - pl.col("N_so"),
        N_neither=pl.col("N") - pl.col("N_s") - pl.col("N_o") + pl.col("N_so"),
    ).sort("idx")


def knowledge_frequency(shard_dirs: list[Path], triples: pl.DataFrame) -> pl.DataFrame:
    """Sum the per-shard counts in ``shard_dirs`` into one row per triple (``FREQUENCY_COLUMNS``)
    with :func:`frequency_table`.

    Every shard must have been counted with the same :class:`CountConfig`. With no shards,
    every count is zero.
    """
    _check_triples(triples)
    files = [Path(directory) / SHARD_COUNTS_FILE for directory in shard_dirs]
    absent = [str(path) for path in files if not path.is_file()]
    if absent:
        raise FileNotFoundError(f"no shard counts at {absent}")
    if not files:
        return triples.select(pl.col("idx").cast(pl.Int64)).sort("idx").with_columns(pl.lit(0, pl.Int64).alias(name) for name in FREQUENCY_COLUMNS[1:])
    return frequency_table(pl.scan_parquet(files, schema=_COUNTS_SCHEMA), triples)


def load_kernels() -> None:
    """Load the compiled counting kernels now, building them if they are not cached, and run
    them once, with numpy alone (see :func:`~smi_assets.frequency.word_trie.load_kernels`). The
    Docker image calls this when it is built, and the step server once before it forks
    (``smi_assets.orchestration.step_preload``), so no shard step pays for building them (or, where they
    cannot be built, for numba's compilation)."""
    load_matching_kernels()
    SubjectObjectPairs.build(np.array([0]), np.array([1]), 2).cooccurrences(np.array([0, 0]), np.array([0, 1]))


def count_corpus(document_frames: Iterable[pl.DataFrame], triples: pl.DataFrame, config: CountConfig) -> pl.DataFrame:
    """Count a whole corpus, one frame (shard) at a time, summed by :func:`sum_shard_counts`."""
    counter = TripleCounter.build(triples, config)
    return sum_shard_counts((counter.count([_texts_of(documents)]) for documents in document_frames), triples)


def sum_shard_counts(shard_counts: Iterable[ShardCounts], triples: pl.DataFrame) -> pl.DataFrame:
    """The frequency table of some shards' counts, summed in memory by :func:`frequency_table`,
    as :func:`knowledge_frequency` sums the assets' shard files. The running sum is folded in
    shard by shard, so memory holds the summed tables and one shard's counts."""
    running = pl.DataFrame(schema=_COUNTS_SCHEMA)
    for counts in shard_counts:
        running = pl.concat([running, counts.to_frame()]).group_by("config", "kind", "entity", "idx").agg(pl.col("n_units").sum())
    if running.is_empty():
        return knowledge_frequency([], triples)
    return frequency_table(running.lazy().select(list(_COUNTS_SCHEMA)), triples)
