"""Corpus domain: one Parquet file of documents per shard partition."""

import dagster as dg
import polars as pl

from smi_assets.corpus import sources, world
from smi_assets.defs.metadata import table_preview
from smi_assets.defs.partitions import corpus_shards, expected_shards, world_config
from smi_assets.defs.resources import ProjectSettings
from smi_assets.errors import InputError
from smi_assets.storage import file_fingerprint, write_parquet_atomic


def load_shard_documents(settings: ProjectSettings, shard: str) -> tuple[pl.DataFrame, int]:
    """The documents of one shard from the configured source, and how many records were skipped."""
    origin = expected_shards(settings).get(shard)
    if origin is None:
        raise InputError(settings.corpus_glob or settings.corpus_source, f"shard {shard!r} is not in the configured corpus")
    if settings.corpus_source == "synthetic":
        return world.build_world(world_config(settings)).documents(shard), 0
    id_field = settings.id_field or None
    if settings.corpus_source == "files":
        on_error = "skip" if settings.skip_bad_records else "raise"
        loaded = sources.read_documents(origin, text_field=settings.text_field, id_field=id_field, on_error=on_error)
        return loaded.frame, loaded.n_skipped
    return sources.read_saved_dataset(origin, text_field=settings.text_field, id_field=id_field), 0


@dg.asset(
    partitions_def=corpus_shards,
    group_name="corpus",
    code_version="1",
    kinds={"parquet"},
    description="The documents (doc_id, text) of one corpus shard, as data/corpus/<shard>.parquet.",
)
def corpus_documents(context: dg.AssetExecutionContext, settings: ProjectSettings) -> dg.MaterializeResult:
    shard = context.partition_key
    documents, n_skipped = load_shard_documents(settings, shard)
    if documents.is_empty():
        # Fail before writing so the shard's previous documents stay in place.
        raise InputError(expected_shards(settings)[shard], "the shard has no documents")
    path = write_parquet_atomic(documents, settings.corpus_dir / f"{shard}.parquet")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "documents": len(documents),
            "megabytes": round(documents["text"].str.len_bytes().sum() / 1e6, 3),
            "skipped_records": n_skipped,
            "preview": table_preview(documents.with_columns(pl.col("text").str.slice(0, 120)), 5),
        },
        data_version=dg.DataVersion(file_fingerprint(path)),
    )


@dg.asset_check(asset=corpus_documents, blocking=True, partitions_def=corpus_shards, description="The shard file exists and has documents with text.")
def corpus_shard_not_empty(context: dg.AssetCheckExecutionContext, settings: ProjectSettings) -> dg.AssetCheckResult:
    path = settings.corpus_dir / f"{context.partition_key}.parquet"
    if not path.exists():
        return dg.AssetCheckResult(passed=False, metadata={"problem": f"{path} is missing"})
    n_with_text = pl.scan_parquet(path).filter(pl.col("text").str.len_chars() > 0).select(pl.len()).collect().item()
    return dg.AssetCheckResult(passed=n_with_text > 0, metadata={"documents_with_text": n_with_text})


assets = [corpus_documents]
asset_checks = [corpus_shard_not_empty]
