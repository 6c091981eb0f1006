"""Checkpoints domain: trained or registered models and their CBQA scores.

Checkpoints are dynamic partitions: the ladder's configs (`ModelingResource.ladder_configs`),
the intermediate checkpoints their runs leave (`<run>.step<NNNNNN>`, registered without
training) and HF checkpoints dropped into `<data dir>/incoming_checkpoints/` (registered by
`inputs_sensor`). Each is recorded with its run, step and the tokens it was trained on
(`smi_assets.checkpoints.runs`). Training runs in a subprocess through dagster-pipes, holding a slot of the
`gpu` pool so two trainings never share a device; registering a checkpoint holds none, so the intermediate
checkpoints of a run are registered, scored and forecast while it trains. A checkpoint whose training inputs (config and corpus files)
have not changed since it was trained is reused, never retrained.
"""

import json
import warnings
from pathlib import Path

import dagster as dg
import matplotlib.pyplot as plt
import polars as pl
from transformers.utils import logging as transformers_logging

from smi_assets.checkpoints import runs, store, train_process
from smi_assets.checkpoints.store import TRAINING_INPUTS_FILE
from smi_assets.common.errors import InputError
from smi_assets.defs.corpus.assets import corpus_documents
from smi_assets.defs.knowledge.assets import cbqa_questions
from smi_assets.orchestration.automation import rescored, trained_when_new
from smi_assets.orchestration.device_pool import device_slot
from smi_assets.orchestration.metadata import offending_rows_check, plot_metadata, table_preview
from smi_assets.orchestration.observe import CHECKPOINT_SOURCE, HashCache, checkpoint_source_versions, observable_input
from smi_assets.orchestration.partitions import checkpoint_partitions, corpus_shards, incoming_checkpoint_folders, intermediate_checkpoint_folders
from smi_assets.orchestration.progress import progress_logger
from smi_assets.orchestration.resources import ModelingResource, StorageResource
from training import data as training_data
from training.config import TrainConfig
from training.evaluation import evaluate_cbqa, load_checkpoint
from training.model import count_parameters
from training.train import SUMMARY_FILE
from training.weights import verify_weights, weight_file_sha256s, weights_sha256

# Progress goes to the run log as structured lines; transformers' own bars would garble it.
transformers_logging.disable_progress_bar()


def checkpoint_folder(storage: StorageResource, modeling: ModelingResource, checkpoint_id: str) -> Path:
    if checkpoint_id in modeling.ladder_configs():
        return storage.checkpoint_dir(checkpoint_id)
    folder = intermediate_checkpoint_folders(storage, modeling).get(checkpoint_id) or incoming_checkpoint_folders(storage).get(checkpoint_id)
    if folder is None:
        raise InputError(
            storage.incoming_checkpoints_dir / checkpoint_id,
            "no ladder config, intermediate checkpoint of a ladder run, or checkpoint folder with config.json for this checkpoint",
        )
    return folder


@observable_input(
    key=CHECKPOINT_SOURCE,
    partitions_def=checkpoint_partitions,
    group_name="checkpoints",
    description=(
        "What each checkpoint is registered from, observed by `inputs_sensor`: a dropped folder's `smi_checkpoint.json`, an "
        "intermediate checkpoint's training summary, a ladder config's name. A changed one registers the checkpoint again."
    ),
)
def checkpoint_source(storage: StorageResource, modeling: ModelingResource) -> dg.DataVersionsByPartition:
    return dg.DataVersionsByPartition({item.partition: item.version for item in checkpoint_source_versions(storage, modeling, HashCache())})


def _training_inputs(config: TrainConfig, corpus_files: list[Path]) -> dict:
    return {"config": config.to_dict(), "corpus_sha256": training_data.corpus_sha256(corpus_files)}


def _reusable(folder: Path, inputs: dict) -> bool:
    marker = folder / TRAINING_INPUTS_FILE
    return marker.is_file() and json.loads(marker.read_text()) == inputs and any(folder.glob("*.safetensors"))


def _trained_record(checkpoint_id: str, folder: Path, summary: dict, position: runs.RunPosition) -> store.CheckpointRecord:
    """The record of a checkpoint the project trained, from the summary its training wrote."""
    file_sha256s = weight_file_sha256s(folder)
    return store.CheckpointRecord(
        checkpoint_id, "trained", str(folder), summary["params"], summary["non_embedding_params"], position.tokens,
        summary.get("final_loss", summary.get("loss")),  # an intermediate checkpoint's summary has its loss so far
        weights_sha256(file_sha256s)[:16], file_sha256s, position.run_id, position.step, position.run_tokens,
    )  # fmt: skip


def _registered_record(context: dg.AssetExecutionContext, checkpoint_id: str, folder: Path, metadata: dict) -> store.CheckpointRecord:
    """The record of a dropped HF folder: its sizes from the weights, its run and tokens from its
    sidecar; without tokens, a warning in the run log and the metadata, and tokens unknown."""
    model, _ = load_checkpoint(folder)  # InputError for missing, pickle-only or corrupt weights
    position = runs.read_sidecar(folder) or runs.RunPosition(run_id=folder.name)  # InputError naming the sidecar and the bad value
    if position.tokens is None:
        warning = (
            f"{folder / runs.SIDECAR_FILE}: no training tokens stated, so they are unknown and this checkpoint is left out of the "
            f"forecast's tokens axis; state them with `smi describe-checkpoint {folder} --training-tokens N` (or --step S --tokens-per-step T)"
        )
        context.log.warning(warning)
        metadata["warning"] = warning
    file_sha256s = weight_file_sha256s(folder)
    return store.CheckpointRecord(
        checkpoint_id, "registered", str(folder), count_parameters(model), count_parameters(model, non_embedding=True),
        position.tokens, None, weights_sha256(file_sha256s)[:16], file_sha256s, position.run_id, position.step, position.run_tokens,
    )  # fmt: skip


def _position_metadata(record: store.CheckpointRecord, corpus_tokens: int | None) -> dict:
    """The checkpoint's run, step and tokens for the UI, and the epochs of the corpus they make."""

    def known(value: object) -> object:
        return dg.MetadataValue.null() if value is None else value

    epochs = round(record.tokens_seen / corpus_tokens, 4) if record.tokens_seen is not None and corpus_tokens else None
    return {
        "run_id": known(record.run_id), "step": known(record.step), "tokens": known(record.tokens_seen),
        "run_tokens": known(record.run_tokens), "corpus_tokens": known(corpus_tokens), "epochs": known(epochs),
    }  # fmt: skip


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
    code_version="3",
    kinds={"pytorch"},
    deps=[checkpoint_source, dg.AssetDep(corpus_documents, partition_mapping=dg.AllPartitionMapping())],
    automation_condition=trained_when_new(checkpoint_source.key),
    description=(
        "A causal-LM checkpoint in HF format: trained on the corpus (the ladder), an intermediate checkpoint a ladder run left "
        "(`<run>.step<NNNNNN>`), or registered from the watched folder (tokens from its `smi_checkpoint.json`). DuckDB table "
        "`checkpoints`, with its run, step and tokens. A new partition trains on its own; a changed corpus only marks existing checkpoints stale."
    ),
)
def checkpoints(
    context: dg.AssetExecutionContext,
    storage: StorageResource,
    modeling: ModelingResource,
    pipes_subprocess_client: dg.PipesSubprocessClient,
) -> dg.MaterializeResult:
    checkpoint_id = context.partition_key
    folder = checkpoint_folder(storage, modeling, checkpoint_id)
    metadata: dict = {"path": dg.MetadataValue.path(str(folder))}
    ladder = modeling.ladder_configs()
    if checkpoint_id in ladder:
        config = ladder[checkpoint_id]
        shards = sorted(context.instance.get_dynamic_partitions(corpus_shards.name))
        corpus_files = [storage.shard_documents_path(shard) for shard in shards]
        inputs = _training_inputs(config, corpus_files)
        if _reusable(folder, inputs):
            context.log.info(f"{checkpoint_id}: config and corpus unchanged since it was trained; reusing {folder}")
            metadata["retrained"] = False
        else:
            with device_slot(context, modeling.pool_wait_seconds), warnings.catch_warnings():
                # Dagster's pipes client calls one of its own preview APIs; the warning is not about our code.
                warnings.simplefilter("ignore", dg.PreviewWarning)
                invocation = pipes_subprocess_client.run(
                    context=context,
                    command=train_process.command(config.n_processes),
                    env=train_process.environment(),
                    extras={
                        "config": config.to_dict(), "corpus_files": [str(path) for path in corpus_files], "out_dir": str(folder),
                        "lock_timeout_s": modeling.training_lock_timeout_seconds, "tokenized_dir": str(storage.tokenized_dir),
                    },
                )  # fmt: skip
            metadata.update(invocation.get_materialize_result().metadata or {})
            (folder / TRAINING_INPUTS_FILE).write_text(json.dumps(inputs, indent=2))
            metadata["retrained"] = True
        summary = json.loads((folder / SUMMARY_FILE).read_text())
        metadata.update(_loss_plot(summary, storage.plot_path(f"loss_{checkpoint_id}.png")))
        record = _trained_record(checkpoint_id, folder, summary, runs.from_training_summary(summary, run_id=checkpoint_id))
    elif checkpoint_id in intermediate_checkpoint_folders(storage, modeling):
        # <data dir>/checkpoints/<run>/intermediate/step<NNNNNN>/: a loadable checkpoint its run left; nothing to train.
        summary = json.loads((folder / SUMMARY_FILE).read_text())
        record = _trained_record(checkpoint_id, folder, summary, runs.from_training_summary(summary, run_id=folder.parent.parent.name))
    else:
        record = _registered_record(context, checkpoint_id, folder, metadata)
    with storage.connection() as connection:
        duplicate = store.checkpoint_with_weights(connection, record.weights_sha256, checkpoint_id)
        if duplicate:
            raise InputError(
                folder,
                f"same weights (sha256 {record.weights_sha256[:12]}) as registered checkpoint {duplicate[0]!r} at {duplicate[1]}: refused, it is not a new size; remove one of the two",
            )
        # A ladder run's tokens come from its trainer; a dropped run's from sidecars a person wrote.
        conflict = store.out_of_order_checkpoint(connection, record) if record.origin == "registered" else None
        if conflict:
            other, other_step, other_tokens = conflict
            relation = "below" if other_step < record.step else "above"
            raise InputError(
                folder / runs.SIDECAR_FILE,
                f"training tokens {record.tokens_seen} at step {record.step} are {relation} the {other_tokens} of checkpoint {other!r} at step "
                f"{other_step} of the same run {record.run_id!r}: a later step of a run has seen more tokens",
            )
        store.record_checkpoint(connection, record)
        corpus_tokens = store.corpus_tokens(connection)
    metadata.update(_position_metadata(record, corpus_tokens))
    metadata.update({"params": record.params, "non_embedding_params": record.non_embedding_params, "origin": record.origin})
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(record.data_version))


@dg.asset(
    partitions_def=checkpoint_partitions,
    group_name="checkpoints",
    code_version="1",
    kinds={"duckdb", "pytorch"},
    deps=[checkpoints, cbqa_questions],
    automation_condition=rescored(),
    check_specs=[
        dg.AssetCheckSpec("one_row_per_question", asset="cbqa_scores", description="One row per question, template and sample of this checkpoint and decoding.")
    ],
    description="Closed-book QA generations of one checkpoint, scored on the continuation: DuckDB table `cbqa_scores`. Re-evaluated on the rescore cron (nightly by default).",
)
def cbqa_scores(context: dg.AssetExecutionContext, storage: StorageResource, modeling: ModelingResource) -> dg.MaterializeResult:
    checkpoint_id = context.partition_key
    questions = pl.read_parquet(storage.knowledge_path("questions.parquet"))
    decoding = modeling.decoding()
    folder = checkpoint_folder(storage, modeling, checkpoint_id)
    with storage.connection() as connection:
        recorded = store.recorded_weight_file_sha256s(connection, checkpoint_id)
    if not recorded:
        raise InputError(folder, "no sha256 recorded for this checkpoint: materialize its `checkpoints` partition again")
    verify_weights(folder, recorded)  # InputError naming the weight file that changed since registration
    scores = evaluate_cbqa(folder, questions, decoding, on_progress=progress_logger(context.log))
    with storage.connection() as connection:
        store.replace_scores(connection, checkpoint_id, decoding.label(), scores)
    by_relation = scores.group_by("rel").agg(pl.col("correct").mean().alias("accuracy")).sort("rel")
    return dg.MaterializeResult(
        metadata={
            "decoding": decoding.label(),
            "generations": len(scores),
            "mean_accuracy": float(scores["correct"].mean()),
            "accuracy_by_relation": table_preview(by_relation, 50),
            "examples": table_preview(scores.select("prompt", "continuation", "correct"), 8),
        },
        check_results=[
            offending_rows_check(
                storage,
                "check_cbqa_scores_complete",
                "one_row_per_question",
                {"checkpoint_id": checkpoint_id, "decoding": decoding.label(), "samples": decoding.n_samples if decoding.mode == "sample" else 1},
            )
        ],
    )
