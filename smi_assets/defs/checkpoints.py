"""Checkpoints domain: trained or registered models and their CBQA scores.

Checkpoints are dynamic partitions: the project's own ladder (`training.config.DEFAULT_LADDER`)
and HF checkpoints dropped into `data/incoming_checkpoints/` (registered by a sensor).
Training runs in a subprocess through dagster-pipes, in the `gpu` pool so two trainings
never share a device. A checkpoint whose training inputs (config and corpus files) have
not changed since it was trained is reused, never retrained.
"""

import json
import sys
from pathlib import Path

import dagster as dg
import matplotlib.pyplot as plt
import polars as pl
from dagster_duckdb import DuckDBResource

from smi_assets.checkpoints import store
from smi_assets.defs.corpus import corpus_documents
from smi_assets.defs.knowledge import cbqa_questions
from smi_assets.defs.metadata import plot_metadata, table_preview
from smi_assets.defs.partitions import checkpoint_partitions, corpus_shards
from smi_assets.defs.resources import ProjectSettings
from smi_assets.errors import InputError
from smi_assets.storage import file_fingerprint
from training.config import DEFAULT_LADDER, TrainConfig
from training.evaluation import DecodingConfig, evaluate_cbqa, load_checkpoint
from training.model import count_parameters

TRAINING_INPUTS_FILE = "training_inputs.json"


def ladder(settings: ProjectSettings) -> dict[str, TrainConfig]:
    names = settings.ladder or list(DEFAULT_LADDER)
    unknown = sorted(set(names) - set(DEFAULT_LADDER))
    if unknown:
        raise ValueError(f"settings.ladder names unknown configs {unknown}; known: {sorted(DEFAULT_LADDER)}")
    return {name: DEFAULT_LADDER[name] for name in names}


def incoming_checkpoint_folders(settings: ProjectSettings) -> dict[str, Path]:
    """Partition key -> folder, for every HF checkpoint folder (one with config.json) dropped in."""
    root = settings.incoming_checkpoints_dir
    if not root.is_dir():
        return {}
    return {folder.name: folder for folder in sorted(root.iterdir()) if (folder / "config.json").is_file()}


def expected_checkpoints(settings: ProjectSettings) -> list[str]:
    return [*ladder(settings), *incoming_checkpoint_folders(settings)]


def checkpoint_folder(settings: ProjectSettings, checkpoint_id: str) -> Path:
    if checkpoint_id in ladder(settings):
        return settings.checkpoints_dir / checkpoint_id
    folder = incoming_checkpoint_folders(settings).get(checkpoint_id)
    if folder is None:
        raise InputError(settings.incoming_checkpoints_dir / checkpoint_id, "no ladder config and no checkpoint folder with config.json for this checkpoint")
    return folder


def decoding_config(settings: ProjectSettings) -> DecodingConfig:
    return DecodingConfig(
        mode=settings.decoding_mode,
        n_samples=settings.n_samples,
        temperature=settings.temperature,
        max_new_tokens=settings.max_new_tokens,
    )


def weights_fingerprint(folder: Path) -> str:
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not weights:
        raise InputError(folder, "no weights (*.safetensors or *.bin) in the checkpoint folder")
    return file_fingerprint(*weights)


def _training_inputs(config: TrainConfig, corpus_files: list[Path]) -> dict:
    return {"config": config.to_dict(), "corpus": file_fingerprint(*corpus_files)}


def _reusable(folder: Path, inputs: dict) -> bool:
    marker = folder / TRAINING_INPUTS_FILE
    return marker.is_file() and json.loads(marker.read_text()) == inputs and any(folder.glob("*.safetensors"))


def _loss_plot(summary: dict, path: Path) -> dict[str, dg.MetadataValue]:
    steps, losses = zip(*summary["loss_curve"]) if summary.get("loss_curve") else ((), ())
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(steps, losses)
    axis.set_xlabel("step")
    axis.set_ylabel("training loss")
    axis.set_title(path.stem)
    return plot_metadata(figure, path)


@dg.asset(
    partitions_def=checkpoint_partitions,
    group_name="checkpoints",
    code_version="1",
    pool="gpu",
    kinds={"pytorch"},
    deps=[dg.AssetDep(corpus_documents, partition_mapping=dg.AllPartitionMapping())],
    description="A causal-LM checkpoint in HF format: trained on the corpus (the ladder) or registered from the watched folder.",
)
def checkpoints(
    context: dg.AssetExecutionContext,
    settings: ProjectSettings,
    duckdb: DuckDBResource,
    pipes_subprocess_client: dg.PipesSubprocessClient,
) -> dg.MaterializeResult:
    checkpoint_id = context.partition_key
    folder = checkpoint_folder(settings, checkpoint_id)
    metadata: dict = {"path": dg.MetadataValue.path(str(folder))}
    if checkpoint_id in ladder(settings):
        config = ladder(settings)[checkpoint_id]
        shards = sorted(context.instance.get_dynamic_partitions(corpus_shards.name))
        corpus_files = [settings.corpus_dir / f"{shard}.parquet" for shard in shards]
        inputs = _training_inputs(config, corpus_files)
        if _reusable(folder, inputs):
            context.log.info(f"{checkpoint_id}: config and corpus unchanged since it was trained; reusing {folder}")
            metadata["retrained"] = False
        else:
            invocation = pipes_subprocess_client.run(
                context=context,
                command=[sys.executable, "-m", "smi_assets.checkpoints.train_process"],
                extras={"config": config.to_dict(), "corpus_files": [str(path) for path in corpus_files], "out_dir": str(folder)},
            )
            metadata.update(invocation.get_materialize_result().metadata or {})
            (folder / TRAINING_INPUTS_FILE).write_text(json.dumps(inputs, indent=2))
            metadata["retrained"] = True
        summary = json.loads((folder / "training_summary.json").read_text())
        metadata.update(_loss_plot(summary, settings.plots_dir / f"loss_{checkpoint_id}.png"))
        record = store.CheckpointRecord(
            checkpoint_id, "trained", str(folder), summary["params"], summary["non_embedding_params"],
            summary["tokens_seen"], summary["final_loss"], weights_fingerprint(folder),
        )  # fmt: skip
    else:
        model, _ = load_checkpoint(folder)  # raises InputError for missing or corrupt weights
        record = store.CheckpointRecord(
            checkpoint_id, "registered", str(folder), count_parameters(model),
            count_parameters(model, non_embedding=True), None, None, weights_fingerprint(folder),
        )  # fmt: skip
    with duckdb.get_connection() as connection:
        store.record_checkpoint(connection, record)
    metadata.update({"params": record.params, "non_embedding_params": record.non_embedding_params, "origin": record.origin})
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(record.data_version))


@dg.asset(
    partitions_def=checkpoint_partitions,
    group_name="checkpoints",
    code_version="1",
    kinds={"duckdb", "pytorch"},
    deps=[checkpoints, cbqa_questions],
    description="Closed-book QA generations of one checkpoint, scored on the continuation: DuckDB table `cbqa_scores`.",
)
def cbqa_scores(context: dg.AssetExecutionContext, settings: ProjectSettings, duckdb: DuckDBResource) -> dg.MaterializeResult:
    checkpoint_id = context.partition_key
    questions = pl.read_parquet(settings.knowledge_dir / "questions.parquet")
    decoding = decoding_config(settings)
    scores = evaluate_cbqa(
        checkpoint_folder(settings, checkpoint_id), questions, decoding,
        on_progress=lambda progress: context.log.info(json.dumps(progress)),
    )  # fmt: skip
    with duckdb.get_connection() as connection:
        store.replace_scores(connection, checkpoint_id, decoding.label(), scores)
    by_relation = scores.group_by("rel").agg(pl.col("correct").mean().alias("accuracy")).sort("rel")
    return dg.MaterializeResult(
        metadata={
            "decoding": decoding.label(),
            "generations": len(scores),
            "mean_accuracy": float(scores["correct"].mean()),
            "accuracy_by_relation": table_preview(by_relation, 50),
            "examples": table_preview(scores.select("prompt", "continuation", "correct"), 8),
        }
    )


assets = [checkpoints, cbqa_scores]
