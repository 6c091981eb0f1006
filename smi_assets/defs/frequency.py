"""Frequency domain: entity mentions counted per shard, aggregated into the knowledge-frequency table."""

import dagster as dg
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from dagster_duckdb import DuckDBResource

from smi_assets.defs.corpus import corpus_documents
from smi_assets.defs.knowledge import knowledge_triples
from smi_assets.defs.metadata import offending_rows_check, plot_metadata, table_preview
from smi_assets.defs.partitions import corpus_shards
from smi_assets.defs.resources import ProjectSettings
from smi_assets.frequency import counting
from smi_assets.storage import file_fingerprint, publish_snapshot


def count_config(settings: ProjectSettings) -> counting.CountConfig:
    return counting.CountConfig(
        match_mode=settings.match_mode,
        case=settings.case,
        unit=settings.cooccurrence_unit,
        window_tokens=settings.window_tokens,
    )


@dg.asset(
    partitions_def=corpus_shards,
    group_name="frequency",
    code_version="1",
    kinds={"parquet", "polars"},
    deps=[corpus_documents, knowledge_triples],
    description="Entity mentions of one shard, reduced to unit counts per entity and per triple (data/counts/<shard>/).",
)
def shard_knowledge_counts(context: dg.AssetExecutionContext, settings: ProjectSettings) -> dg.MaterializeResult:
    shard = context.partition_key
    documents = pl.read_parquet(settings.corpus_dir / f"{shard}.parquet")
    triples = pl.read_parquet(settings.knowledge_dir / "triples.parquet")
    config = count_config(settings)
    counts = counting.count_shard(documents, triples, config)
    directory = settings.counts_dir / shard
    counting.write_shard_counts(counts, directory)
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
    description="Per triple: N, N_s, N_o, N_so and the other 2x2 cells over all shards: DuckDB table `knowledge_frequency`.",
)
def knowledge_frequency(context: dg.AssetExecutionContext, settings: ProjectSettings, duckdb: DuckDBResource) -> dg.MaterializeResult:
    shards = sorted(context.instance.get_dynamic_partitions(corpus_shards.name))
    missing = [shard for shard in shards if not (settings.counts_dir / shard).is_dir()]
    if missing:
        raise ValueError(f"shards registered but not counted yet (materialize shard_knowledge_counts for them): {missing}")
    triples = pl.read_parquet(settings.knowledge_dir / "triples.parquet")
    with duckdb.get_connection() as connection:
        frequency = counting.knowledge_frequency(connection, [settings.counts_dir / shard for shard in shards], triples)
        snapshot = publish_snapshot(connection, frequency, settings.knowledge_dir / "knowledge_frequency.parquet", "knowledge_frequency_table")
    metadata = {
        "rows": len(frequency),
        "shards": len(shards),
        "units": int(frequency["N"].max() or 0),
        "triples_never_cooccurring": int((frequency["N_so"] == 0).sum()),
        "median_N_so": float(frequency["N_so"].median() or 0),
        "preview": table_preview(frequency),
    }
    metadata.update(plot_metadata(_cooccurrence_histogram(frequency), settings.plots_dir / "knowledge_frequency.png"))
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
def cooccurrence_within_marginals(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    return offending_rows_check(duckdb, "check_cooccurrence_bounds")


assets = [shard_knowledge_counts, knowledge_frequency]
asset_checks = [cooccurrence_within_marginals]
