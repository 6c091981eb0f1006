"""Resources shared by every asset domain.

`ProjectSettings` is the one place a user points the pipeline at their data: the data
directory, where the corpus, triples and templates come from, how entities are matched
and which model sizes to forecast. Its defaults run the built-in synthetic world. Every
field can be overridden from the environment (``SMI_<FIELD>``, e.g. ``SMI_DATA_DIR``,
``SMI_CORPUS_SOURCE``) when the `Definitions` are loaded, or in the launchpad.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import dagster as dg

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference"


class ProjectSettings(dg.ConfigurableResource):
    """Where the project's inputs and outputs live and how they are processed."""

    data_dir: str = "data"
    reference_dir: str = str(DEFAULT_REFERENCE_DIR)

    # Corpus: the synthetic world (default), local JSONL/Parquet files by glob, or a
    # Hugging Face dataset saved with `save_to_disk`.
    corpus_source: Literal["synthetic", "files", "saved_dataset"] = "synthetic"
    corpus_glob: str = ""
    saved_dataset_path: str = ""
    text_field: str = "text"
    id_field: str = ""
    skip_bad_records: bool = False

    # Knowledge: with a non-synthetic corpus, triples (ParaRel JSON or PopQA TSV) and
    # cloze templates come from files.
    triples_path: str = ""
    triples_format: Literal["auto", "pararel", "popqa"] = "auto"
    templates_path: str = ""
    max_templates_per_relation: int = 4

    # The synthetic world.
    world_seed: int = 0
    world_people: int = 500
    world_shards: int = 4

    # Matching and counting.
    match_mode: Literal["paper", "word"] = "word"
    case: Literal["sensitive", "insensitive"] = "sensitive"
    cooccurrence_unit: Literal["document", "sentence", "window"] = "document"
    window_tokens: int = 64

    # Checkpoints: which configs of `training.config.DEFAULT_LADDER` the project trains (empty:
    # all of them), and how CBQA generations are decoded ("greedy", or the paper's "sample").
    ladder: list[str] = []
    decoding_mode: Literal["greedy", "sample"] = "greedy"
    n_samples: int = 1
    temperature: float = 1.0
    max_new_tokens: int = 6
    rescore_cron: str = "0 2 * * *"

    # Forecasts: planned model sizes (parameters) to predict before training.
    planned_params: list[int] = [2_000_000, 10_000_000]

    @property
    def data_path(self) -> Path:
        path = Path(self.data_dir).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def reference_path(self) -> Path:
        return Path(self.reference_dir)

    @property
    def database_path(self) -> Path:
        return self.data_path / "smi.duckdb"

    @property
    def corpus_dir(self) -> Path:
        return self.data_path / "corpus"

    @property
    def counts_dir(self) -> Path:
        return self.data_path / "counts"

    @property
    def knowledge_dir(self) -> Path:
        return self.data_path / "knowledge"

    @property
    def checkpoints_dir(self) -> Path:
        return self.data_path / "checkpoints"

    @property
    def incoming_checkpoints_dir(self) -> Path:
        return self.data_path / "incoming_checkpoints"

    @property
    def plots_dir(self) -> Path:
        path = self.data_path / "plots"
        path.mkdir(parents=True, exist_ok=True)
        return path


def settings_from_environment(**overrides) -> ProjectSettings:
    """Settings with ``SMI_<FIELD>`` environment variables applied, then `overrides`."""
    values: dict = {}
    for name, field in ProjectSettings.model_fields.items():
        raw = os.environ.get(f"SMI_{name.upper()}")
        if raw is None:
            continue
        if field.annotation is bool:
            values[name] = raw.lower() in {"1", "true", "yes"}
        elif field.annotation in (int, float):
            values[name] = field.annotation(raw)
        elif name == "planned_params":
            values[name] = [int(float(part)) for part in raw.split(",") if part.strip()]
        elif name == "ladder":
            values[name] = [part.strip() for part in raw.split(",") if part.strip()]
        else:
            values[name] = raw
    values.update(overrides)
    return ProjectSettings(**values)
