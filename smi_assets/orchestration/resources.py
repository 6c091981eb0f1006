"""The project's resources, one per concern, and how they are read from the environment.

- `StorageResource` owns the data directory: every path an asset reads or writes, and every
  DuckDB connection (one writer at a time, with a visible wait for the lock).
- `InputsResource` says where the corpus, triples, templates and reference tables come from.
- `CountingResource` says how entity mentions are matched and counted.
- `ModelingResource` says which checkpoints are trained, how CBQA answers are decoded and
  which model sizes are forecast.

Each field can be set in the launchpad, or before the code location loads with an
``SMI_<FIELD>`` environment variable (``SMI_DATA_DIR``, ``SMI_MATCH_MODE``, ...); a set
variable becomes a `dg.EnvVar`, so the UI shows where the value came from.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import dagster as dg
import duckdb
from pydantic import Field

from smi_assets.common.errors import InputError
from smi_assets.common.storage import validate_partition_key
from smi_assets.smi.forecast.targets import ForecastTarget, parse_planned_runs
from training.config import DEFAULT_LADDER, PLANNED_CONFIGS, DecodingConfig, TrainConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference"
ENV_PREFIX = "SMI_"


class StorageResource(dg.ConfigurableResource):
    """The data directory: Parquet snapshots, per-shard counts, checkpoints, plots and the DuckDB file."""

    data_dir: str = Field(default="data", description="Folder holding every file the pipeline writes (resolved to an absolute path).")
    lock_timeout_seconds: float = Field(default=600.0, description="How long a DuckDB write waits for another process's lock before failing.")

    @property
    def root(self) -> Path:
        path = Path(self.data_dir).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    def path(self, *parts: str) -> Path:
        """A path inside the data directory; refuses anything that would resolve outside it."""
        root = self.root
        path = root.joinpath(*parts).resolve()
        if not path.is_relative_to(root):
            raise InputError(path, f"resolves outside the data directory {root}")
        return path

    @property
    def database_path(self) -> Path:
        return self.path("smi.duckdb")

    def shard_documents_path(self, shard: str) -> Path:
        return self.path("corpus", f"{validate_partition_key(shard)}.parquet")

    def shard_counts_dir(self, shard: str) -> Path:
        return self.path("counts", validate_partition_key(shard))

    def knowledge_path(self, name: str) -> Path:
        return self.path("knowledge", name)

    def checkpoint_dir(self, checkpoint_id: str) -> Path:
        return self.path("checkpoints", validate_partition_key(checkpoint_id))

    @property
    def incoming_checkpoints_dir(self) -> Path:
        return self.path("incoming_checkpoints")

    @property
    def tokenized_dir(self) -> Path:
        """Tokenizers and token files shared by the trainings of one corpus (see `training.train.train`)."""
        return self.path("tokenized")

    def plot_path(self, name: str) -> Path:
        path = self.path("plots", name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    @contextmanager
    def writer_lock(self) -> Iterator[float]:
        """Be the one writer of the DuckDB file; yields the seconds waited.

        DuckDB refuses a second writing process outright; this `flock` on
        ``<database>.writer.lock`` makes a second writer (another step, run or Dask worker, on
        this machine or a shared filesystem with flock) wait its turn, saying so every 10 s, for
        at most `lock_timeout_seconds`. A process that dies releases it at once. The log lines
        with the times it was held show that writes never overlap."""
        logger = dg.get_dagster_logger()
        path = Path(f"{self.database_path}.writer.lock")
        with open(path, "a") as handle:
            started = last_said = time.monotonic()
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waited = time.monotonic() - started
                    if waited > self.lock_timeout_seconds:
                        raise TimeoutError(
                            f"gave up after {waited:.0f} s waiting for the DuckDB writer lock {path}: another process is writing "
                            "the database; wait for it, or raise SMI_LOCK_TIMEOUT_SECONDS"
                        ) from None
                    if time.monotonic() - last_said >= 10:
                        logger.warning(f"waiting for the DuckDB writer lock {path} ({waited:.0f} s so far)")
                        last_said = time.monotonic()
                    time.sleep(0.1)
            logger.info(f"DuckDB writer lock acquired at {time.time():.6f} after {time.monotonic() - started:.2f} s")
            try:
                yield time.monotonic() - started
            finally:
                logger.info(f"DuckDB writer lock released at {time.time():.6f}")
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection to the project database: for writing, under `writer_lock`; for
        reading, retried while a writer holds the file (DuckDB's own lock), within the timeout."""
        path = self.database_path
        if read_only and not path.exists():
            raise FileNotFoundError(f"{path} does not exist: materialize the pipeline first (`smi run-default`)")
        with contextlib.ExitStack() as stack:
            if not read_only:
                stack.enter_context(self.writer_lock())
            started = time.monotonic()
            while True:
                try:
                    connection = stack.enter_context(contextlib.closing(duckdb.connect(str(path), read_only=read_only)))
                    break
                except duckdb.IOException as error:
                    if "lock" not in str(error).lower() or time.monotonic() - started > self.lock_timeout_seconds:
                        raise
                    time.sleep(0.2)
            yield connection


class InputsResource(dg.ConfigurableResource):
    """Where the corpus, the triples, the templates and the public reference tables come from."""

    corpus_source: Literal["synthetic", "files", "saved_dataset"] = Field(
        default="synthetic", description="synthetic: the built-in world; files: JSONL/Parquet by glob; saved_dataset: a HF dataset saved with save_to_disk."
    )
    corpus_glob: str = Field(default="", description="Glob of corpus files (corpus_source=files); one shard per file.")
    saved_dataset_path: str = Field(default="", description="Folder of a dataset saved with datasets' save_to_disk (corpus_source=saved_dataset).")
    text_field: str = Field(default="text", description="Field or column holding a document's text.")
    id_field: str = Field(default="", description="Field holding a document id; empty numbers documents in file order.")
    skip_bad_records: bool = Field(default=False, description="Skip malformed records and report how many, instead of failing on the first.")
    triples_path: str = Field(default="", description="Triples file (ParaRel JSON or PopQA TSV); required unless corpus_source=synthetic.")
    triples_format: Literal["auto", "pararel", "popqa"] = Field(default="auto", description="Format of triples_path; auto looks at the suffix.")
    templates_path: str = Field(
        default="", description="Cloze templates JSON (relation -> templates with [S]); required unless synthetic, where it replaces the world's."
    )
    max_templates_per_relation: int = Field(default=4, description="At most this many templates per relation become questions.")
    world_seed: int = Field(default=0, description="Seed of the synthetic world.")
    world_people: int = Field(default=500, description="People in the synthetic world (3 facts each).")
    world_shards: int = Field(default=4, description="Corpus shards of the synthetic world.")
    reference_dir: str = Field(
        default=str(DEFAULT_REFERENCE_DIR), description="Folder of the public reference tables (smi/, obsscaling/, cpp/, not_just_scaling/)."
    )

    @property
    def on_error(self) -> Literal["raise", "skip"]:
        return "skip" if self.skip_bad_records else "raise"

    def reference_file(self, *parts: str) -> Path:
        """A file or folder of the reference tables; a missing one fails the run with what to do."""
        path = Path(self.reference_dir).joinpath(*parts)
        if not path.exists():
            raise dg.Failure(
                f"reference data {path} is absent: run `smi fetch-reference`, or point SMI_REFERENCE_DIR at a folder that has it",
                allow_retries=False,
            )
        return path

    def required_path(self, field: str) -> Path:
        value = getattr(self, field)
        if not value:
            raise InputError(f"SMI_{field.upper()}", f"{field} must be set when corpus_source is {self.corpus_source!r}")
        return Path(value)


class CountingResource(dg.ConfigurableResource):
    """How entity mentions are matched and which unit counts as a co-occurrence."""

    match_mode: Literal["paper", "word"] = Field(
        default="word", description="word: whole words of the entity or an alias; paper: the SMI reference rule (substring of ' ' + entity)."
    )
    case: Literal["sensitive", "insensitive"] = Field(default="sensitive", description="Case policy of word matching.")
    cooccurrence_unit: Literal["document", "sentence", "window"] = Field(default="document", description="Unit in which subject and object must both appear.")
    window_tokens: int = Field(default=64, description="Tokens per window when cooccurrence_unit=window.")


class ModelingResource(dg.ConfigurableResource):
    """Which checkpoints the project trains, how CBQA answers are decoded, which sizes are forecast."""

    ladder: list[str] = Field(default=[], description="Configs to train (the ladder's, or planned ones such as gpt-large); empty trains the default ladder.")
    ladder_file: str = Field(default="", description="JSON file {name: TrainConfig dict} replacing the built-in ladder (training/config.py).")
    decoding_mode: Literal["greedy", "sample"] = Field(default="greedy", description="greedy, or the paper's sampling at `temperature`.")
    n_samples: int = Field(default=1, description="Generations per question when decoding_mode=sample.")
    temperature: float = Field(default=1.0, description="Sampling temperature when decoding_mode=sample.")
    max_new_tokens: int = Field(default=6, description="Tokens generated per CBQA answer.")
    planned_runs: list[str] = Field(
        default=["2e6", "2e6:2e8", "1e7"],
        description="Runs to forecast before they are trained, each PARAMS or PARAMS:TOKENS; without tokens, the tokens the ladder's recipe gives that size.",
    )
    target_accuracy: float = Field(
        default=0.5, description="The accuracy a fact should reach: knowledge_gap_report lists the facts below it at the planned runs."
    )
    training_lock_timeout_seconds: float = Field(default=600.0, description="How long a trainer waits for another one holding the same checkpoint folder.")
    pool_wait_seconds: float = Field(
        default=3600.0, description="How long a training waits for a slot of the `gpu` pool (another training holds it) before it fails naming the holder."
    )

    def ladder_configs(self) -> dict[str, TrainConfig]:
        """The training configs of the ladder checkpoints, by partition key."""
        available, default = {**DEFAULT_LADDER, **PLANNED_CONFIGS}, list(DEFAULT_LADDER)
        if self.ladder_file:
            path = Path(self.ladder_file)
            try:
                available = {validate_partition_key(name): TrainConfig.from_dict(values) for name, values in json.loads(path.read_text()).items()}
                default = list(available)
            except (OSError, ValueError, TypeError, KeyError) as error:
                raise InputError(path, f"not a ladder file ({{name: TrainConfig dict}}): {error}") from error
        names = self.ladder or default
        unknown = sorted(set(names) - set(available))
        if unknown:
            raise InputError(self.ladder_file or "SMI_LADDER", f"unknown ladder configs {unknown}; known: {sorted(available)}")
        return {name: available[name] for name in names}

    def planned_targets(self) -> list[ForecastTarget]:
        """The planned runs as forecast targets; InputError naming an entry that is not PARAMS[:TOKENS] with positive numbers."""
        return parse_planned_runs(self.planned_runs)

    def decoding(self) -> DecodingConfig:
        return DecodingConfig(mode=self.decoding_mode, n_samples=self.n_samples, temperature=self.temperature, max_new_tokens=self.max_new_tokens)


RESOURCE_CLASSES: dict[str, type[dg.ConfigurableResource]] = {
    "storage": StorageResource,
    "inputs": InputsResource,
    "counting": CountingResource,
    "modeling": ModelingResource,
}


def _from_environment(cls: type[dg.ConfigurableResource], environ: dict[str, str], as_env_vars: bool) -> dict:
    """The fields of `cls` that an ``SMI_<FIELD>`` variable sets. With `as_env_vars`, strings and
    ints become `dg.EnvVar` (resolved when a run starts, shown as such in the UI); lists are
    parsed from comma-separated text."""
    values: dict = {}
    for name, field in cls.model_fields.items():
        variable = f"{ENV_PREFIX}{name.upper()}"
        raw = environ.get(variable)
        if raw is None:
            continue
        if field.annotation == list[int]:
            values[name] = [int(float(part)) for part in raw.split(",") if part.strip()]
        elif field.annotation == list[str]:
            values[name] = [part.strip() for part in raw.split(",") if part.strip()]
        elif field.annotation is int:
            values[name] = dg.EnvVar.int(variable) if as_env_vars else int(raw)
        elif field.annotation is str or str(field.annotation).startswith("typing.Literal"):
            values[name] = dg.EnvVar(variable) if as_env_vars else raw
        elif field.annotation is bool:
            values[name] = raw.strip().lower() in {"1", "true", "yes"}
        else:  # float: EnvVar has no float form
            values[name] = field.annotation(raw)
    return values


def resources_from_environment(
    environ: dict[str, str] | None = None, *, as_env_vars: bool = False, **overrides: dg.ConfigurableResource
) -> dict[str, dg.ConfigurableResource]:
    """One instance of each resource, configured from ``SMI_*`` variables; `overrides` replace
    whole resources (tests pass their own). The code location uses `as_env_vars`; code that
    reads the resources directly, outside a run, uses plain values."""
    environ = dict(os.environ if environ is None else environ)
    resources = {key: cls(**_from_environment(cls, environ, as_env_vars)) for key, cls in RESOURCE_CLASSES.items()}
    resources.update(overrides)
    return resources
