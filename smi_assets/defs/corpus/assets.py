"""Corpus domain: the observed corpus files and one Parquet file of documents per shard."""

from collections.abc import Iterable

import dagster as dg
import polars as pl

from smi_assets.checkpoints import store
from smi_assets.common.errors import InputError
from smi_assets.common.storage import file_fingerprint
from smi_assets.corpus import sources, world
from smi_assets.orchestration.automation import derived
from smi_assets.orchestration.metadata import skipped_records_metadata, table_preview
from smi_assets.orchestration.observe import CORPUS_FILE, current_versions, observable_input
from smi_assets.orchestration.partitions import corpus_shards, expected_shards, world_config
from smi_assets.orchestration.resources import InputsResource, StorageResource


@observable_input(
    key=CORPUS_FILE,
    partitions_def=corpus_shards,
    group_name="corpus",
    description="One corpus file per shard (or a synthetic-world shard), observed by `inputs_sensor`: its data version is the file's content hash.",
)
def corpus_file(inputs: InputsResource) -> dg.DataVersionsByPartition:
    return dg.DataVersionsByPartition(current_versions(inputs, CORPUS_FILE))


def shard_document_batches(inputs: InputsResource, shard: str) -> Iterable:
    """The documents of one shard from the configured source, in bounded batches."""
    origin = expected_shards(inputs).get(shard)
    if origin is None:
        raise InputError(
            inputs.corpus_glob or inputs.corpus_source, f"shard {shard!r} is not in the configured corpus (its file is gone? `smi prune` removes it)"
        )
    if inputs.corpus_source == "synthetic":
        return [world.build_world(world_config(inputs)).documents(shard)]
    id_field = inputs.id_field or None
    if inputs.corpus_source == "files":
        return sources.iter_documents(origin, text_field=inputs.text_field, id_field=id_field, on_error=inputs.on_error)
    return sources.iter_saved_dataset(origin, text_field=inputs.text_field, id_field=id_field)


@dg.asset(
    deps=[corpus_file],
    partitions_def=corpus_shards,
    group_name="corpus",
    code_version="2",
    kinds={"parquet", "duckdb"},
    automation_condition=derived(),
    check_specs=[
        dg.AssetCheckSpec("has_documents_with_text", asset="corpus_documents", blocking=True, description="The shard file exists and has documents with text.")
    ],
    description=(
        "The documents (doc_id, text) of one corpus shard, as `<data dir>/corpus/<shard>.parquet`, and its tokens "
        "(what a word-level training sees of it) in DuckDB table `corpus_shard_tokens`."
    ),
)
def corpus_documents(context: dg.AssetExecutionContext, inputs: InputsResource, storage: StorageResource) -> dg.MaterializeResult:
    shard = context.partition_key
    source = expected_shards(inputs).get(shard, shard)
    # Streams batch by batch into a temporary file renamed at the end: a bad record or an
    # empty shard fails the step and leaves the shard's previous documents in place.
    stats = sources.write_shard_documents(shard_document_batches(inputs, shard), storage.shard_documents_path(shard), source=source)
    with storage.connection() as connection:
        store.replace_shard_tokens(connection, shard, stats.documents, stats.tokens)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(stats.path)),
            "documents": stats.documents,
            "tokens": stats.tokens,
            "megabytes": round(stats.bytes / 1e6, 3),
            **skipped_records_metadata(context, stats.skipped, source),
            "preview": table_preview(stats.head.with_columns(pl.col("text").str.slice(0, 120)), 5),
        },
        data_version=dg.DataVersion(file_fingerprint(stats.path)),
        check_results=[_has_documents_with_text(stats.path)],
    )


def _has_documents_with_text(path) -> dg.AssetCheckResult:
    n_with_text = pl.scan_parquet(path).filter(pl.col("text").str.len_chars() > 0).select(pl.len()).collect().item()
    return dg.AssetCheckResult(check_name="has_documents_with_text", passed=n_with_text > 0, metadata={"documents_with_text": n_with_text})
