"""Frequency domain: entity mentions counted per shard, aggregated into the knowledge-frequency table."""

import dagster as dg
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from smi_assets.common.storage import file_fingerprint, publish_snapshot
from smi_assets.defs.corpus.assets import corpus_documents
from smi_assets.defs.knowledge.assets import knowledge_triples
from smi_assets.frequency.counting import CountConfig, count_shard_file, write_shard_counts
from smi_assets.frequency.counting import knowledge_frequency as sum_shard_counts
from smi_assets.orchestration.automation import derived
from smi_assets.orchestration.metadata import offending_rows_check, plot_metadata, table_preview
from smi_assets.orchestration.partitions import corpus_shards, expected_shards
from smi_assets.orchestration.resources import CountingResource, InputsResource, StorageResource


def count_config(counting_resource: CountingResource) -> CountConfig:
    return CountConfig(
        match_mode=counting_resource.match_mode,
        case=counting_resource.case,
        unit=counting_resource.cooccurrence_unit,
        window_tokens=counting_resource.window_tokens,
    )


@dg.asset(
    partitions_def=corpus_shards,
    group_name="frequency",
    code_version="1",
    kinds={"parquet", "polars"},
    deps=[corpus_documents, knowledge_triples],
    automation_condition=derived(),
    description="Entity mentions of one shard, reduced to unit counts per entity and per triple (`<data dir>/counts/<shard>/`).",
)
def shard_knowledge_counts(context: dg.AssetExecutionContext, counting: CountingResource, storage: StorageResource) -> dg.MaterializeResult:
    shard = context.partition_key
    triples = pl.read_parquet(storage.knowledge_path("triples.parquet"))
    config = count_config(counting)
    counts = count_shard_file(storage.shard_documents_path(shard), triples, config)  # streams row groups
    directory = storage.shard_counts_dir(shard)
    write_shard_counts(counts, directory)
    files = sorted(directory.glob("*.parquet"))
    return dg.MaterializeResult(
        metadata={
            "units": counts.n_units,
            "match_mode": config.match_mode,
            "case": config.case,
            "unit": config.unit,
            "directory": dg.MetadataValue.path(str(directory)),
        },
        data_version=dg.DataVersion(file_fingerprint(*files)),
    )


@dg.asset(
    group_name="frequency",
    code_version="1",
    kinds={"duckdb"},
    deps=[shard_knowledge_counts, knowledge_triples],
    automation_condition=derived(),
    description="Per triple: N, N_s, N_o, N_so and the other 2x2 cells over all shards: DuckDB table `knowledge_frequency`.",
)
def knowledge_frequency(context: dg.AssetExecutionContext, inputs: InputsResource, storage: StorageResource) -> dg.MaterializeResult:
    shards = sorted(context.instance.get_dynamic_partitions(corpus_shards.name))
    missing = [shard for shard in shards if not storage.shard_counts_dir(shard).is_dir()]
    if missing:
        raise dg.Failure(f"shards registered but not counted yet (materialize shard_knowledge_counts for them): {missing}")
    # A shard whose file disappeared keeps its last counts until `smi prune` removes it: say so.
    without_source = sorted(set(shards) - set(expected_shards(inputs)))
    if without_source:
        context.log.warning(f"shards whose source is gone are still counted from their last scan: {without_source} (`smi prune` removes them)")
    triples = pl.read_parquet(storage.knowledge_path("triples.parquet"))
    frequency = sum_shard_counts([storage.shard_counts_dir(shard) for shard in shards], triples)
    with storage.connection() as connection:
        snapshot = publish_snapshot(connection, frequency, storage.knowledge_path("knowledge_frequency.parquet"), "knowledge_frequency_table")
    metadata = {
        "rows": len(frequency),
        "shards": len(shards),
        "shards_without_source": ", ".join(without_source) or "none",
        "units": int(frequency["N"].max() or 0),
        "triples_never_cooccurring": int((frequency["N_so"] == 0).sum()),
        "median_N_so": float(frequency["N_so"].median() or 0),
        "preview": table_preview(frequency),
    }
    metadata.update(plot_metadata(_cooccurrence_histogram(frequency), storage.plot_path("knowledge_frequency.png")))
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(file_fingerprint(snapshot)))


def _cooccurrence_histogram(frequency: pl.DataFrame) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(6, 3.5))
    values = frequency["N_so"].to_numpy()
    axis.hist(np.log10(values[values > 0]), bins=40)
    axis.set_xlabel("log10 N_so (units where subject and object co-occur)")
    axis.set_ylabel("triples")
    axis.set_title(f"{(values == 0).sum()} of {len(values)} triples never co-occur")
    return figure


@dg.asset_check(asset=knowledge_frequency, blocking=True, description="N_so <= min(N_s, N_o) and the 2x2 cells add up to N.")
def cooccurrence_within_marginals(storage: StorageResource) -> dg.AssetCheckResult:
    return offending_rows_check(storage, "check_cooccurrence_bounds")
