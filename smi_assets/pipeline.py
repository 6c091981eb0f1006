"""Materialize the whole default asset graph in-process, and summarise what it produced.

`run_default` is what `smi run-default` and the README's first command run: it registers
the corpus shards and checkpoints as dynamic partitions, then materializes every asset
stage by stage (a Dagster run covers one partition of one partitions definition). Runs go
to a persistent Dagster instance (``$DAGSTER_HOME``, default ``<data dir>/dagster_home``),
so `dagster dev` opened on the same home shows their history, lineage and metadata.
Rerunning it is cheap: unchanged checkpoints are reused, not retrained.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb
from transformers.utils import logging as transformers_logging

from smi_assets.checkpoints import store
from smi_assets.definitions import build_definitions
from smi_assets.defs import checkpoints as checkpoint_defs
from smi_assets.defs import corpus, crossmodel, frequency, knowledge, smi
from smi_assets.defs.partitions import (
    checkpoint_partitions,
    corpus_shards,
    expected_shards,
    register_missing,
)
from smi_assets.defs.resources import (
    REPO_ROOT,
    ProjectSettings,
)

INSTANCE_TEMPLATE = REPO_ROOT / "dagster_home" / "dagster.yaml"

# Dagster's console logger prints every engine event; the stage summaries below are enough.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

# (assets, partitions definition or None): each stage is one run per partition key.
STAGES: tuple[tuple[list[dg.AssetsDefinition], dg.DynamicPartitionsDefinition | None], ...] = (
    (knowledge.assets, None),
    ([corpus.corpus_documents, frequency.shard_knowledge_counts], corpus_shards),
    ([frequency.knowledge_frequency, smi.reference_smi_fit], None),
    ([checkpoint_defs.checkpoints, checkpoint_defs.cbqa_scores, smi.smi_fit], checkpoint_partitions),
    ([smi.smi_fit_across_checkpoints, smi.cbqa_forecast], None),
)
# The cross-model predictors read the public leaderboard tables under the reference folder.
CROSS_MODEL_STAGE = (crossmodel.assets, None)


def open_instance(data_dir: Path) -> dg.DagsterInstance:
    """The persistent instance at $DAGSTER_HOME, or at `<data_dir>/dagster_home` when unset."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(INSTANCE_TEMPLATE, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def run_default(
    settings: ProjectSettings,
    instance: dg.DagsterInstance,
    log: Callable[[str], None] = print,
    *,
    cross_model: bool = True,
) -> None:
    transformers_logging.disable_progress_bar()  # one summary line per stage is the output
    definitions = build_definitions(settings)
    all_assets = [*definitions.assets, *definitions.asset_checks]
    resources = definitions.resources
    register_missing(instance, corpus_shards, list(expected_shards(settings)))
    register_missing(instance, checkpoint_partitions, checkpoint_defs.expected_checkpoints(settings))
    stages = list(STAGES)
    if cross_model and settings.reference_path.is_dir():
        stages.append(CROSS_MODEL_STAGE)
    elif cross_model:
        log(f"skipping the cross-model predictors: reference tables folder {settings.reference_path} is absent")
    for stage_assets, partitions in stages:
        keys = [None] if partitions is None else sorted(instance.get_dynamic_partitions(partitions.name))
        names = ", ".join(asset.key.to_user_string() for asset in stage_assets)
        for key in keys:
            started = time.perf_counter()
            dg.materialize(
                all_assets,
                selection=dg.AssetSelection.assets(*stage_assets),
                partition_key=key,
                run_config=QUIET_RUN_CONFIG,
                instance=instance,
                resources=resources,
            )
            log(f"materialized {names}{f' [{key}]' if key else ''} in {time.perf_counter() - started:.1f} s")


def report(settings: ProjectSettings) -> dict:
    """Checkpoints, fits and forecast of a materialized data directory, as plain data."""
    if not settings.database_path.exists():
        raise FileNotFoundError(f"{settings.database_path} does not exist: run `smi run-default` first")
    decoding = checkpoint_defs.decoding_config(settings).label()
    with duckdb.connect(str(settings.database_path), read_only=True) as connection:
        accuracy = store.checkpoint_accuracy(connection).filter(decoding=decoding)
        fits = store.all_fits(connection)
        forecast, backtest = store.forecast_tables(connection)
        by_cooccurrence = store.accuracy_by_cooccurrence(connection, decoding)
    return {
        "decoding": decoding,
        "checkpoints": [
            {"id": row["checkpoint_id"], "params": row["params"], "path": row["path"], "mean_accuracy": row["mean_accuracy"]}
            for row in accuracy.iter_rows(named=True)
        ],
        "accuracy_by_cooccurrence": by_cooccurrence.drop("n_so_min").to_dicts(),
        "fits": [
            {"checkpoint": row["checkpoint_id"], "method": row["method"], "r2": row["r2"], "slope": row["slope"], "intercept": row["intercept"]}
            for row in fits.iter_rows(named=True)
        ],
        "forecast": [
            {"planned_params": row["planned_params"], "predicted_accuracy": row["predicted_accuracy"]}
            for row in forecast.filter(rel="*").iter_rows(named=True)
        ],
        "leave_one_size_out": backtest.to_dicts(),
        "leave_one_size_out_mae": float(backtest["abs_error"].mean()) if backtest.height else None,
    }
