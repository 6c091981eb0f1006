"""SMI domain: fits of CBQA accuracy on corpus-count metrics, the paper's reference fits, and forecasts.

The per-checkpoint fit and the forecast read the knowledge-frequency table and the CBQA
scores from DuckDB; the reference fit reproduces the paper's published numbers from
`../shared/reference/smi` when that folder is present.
"""

import json
from pathlib import Path

import dagster as dg
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.ticker import NullFormatter

from smi_assets.automation import derived
from smi_assets.checkpoints import store
from smi_assets.defs.checkpoints.assets import cbqa_scores, checkpoints
from smi_assets.defs.corpus.assets import corpus_documents
from smi_assets.defs.frequency.assets import knowledge_frequency
from smi_assets.defs.knowledge.assets import knowledge_triples
from smi_assets.metadata import offending_rows_check, plot_metadata, table_preview
from smi_assets.partitions import checkpoint_partitions, corpus_shards
from smi_assets.resources import READS_REFERENCE_TAGS, InputsResource, ModelingResource, StorageResource
from smi_assets.smi.fit import fit_methods, fit_table
from smi_assets.smi.forecast import SizeConditionedForecaster, leave_one_size_out
from smi_assets.smi.metrics import compute_metrics
from smi_assets.smi.reference import load_reference, reference_fits
from smi_assets.sql import load_sql

SMI_VARIANT = "current"


def _smi_plot(triples: pl.DataFrame, fits: pl.DataFrame, title: str, path: Path) -> dict[str, dg.MetadataValue]:
    """Accuracy against SMI: questions, group means and the paper's fitted line."""
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.scatter(triples["smi"], triples["acc"], s=4, alpha=0.25, label="questions")
    groups = triples.group_by("smi").agg(pl.col("acc").mean()).sort("smi")
    axis.plot(groups["smi"], groups["acc"], "o", markersize=4, label="group mean")
    line = fits.filter(pl.col("method") == "SMI").row(0, named=True)
    xs = np.linspace(0, 1, 50)
    axis.plot(xs, line["slope"] * xs + line["intercept"], "k-", label=f"fit, R²={line['r2']:.3f}")
    axis.set_xlabel("SMI")
    axis.set_ylabel("CBQA accuracy")
    axis.set_title(title)
    axis.legend(loc="upper left")
    return plot_metadata(figure, path)


@dg.asset(
    partitions_def=checkpoint_partitions,
    group_name="smi",
    code_version="1",
    kinds={"duckdb"},
    deps=[cbqa_scores, knowledge_frequency],
    automation_condition=derived(),
    check_specs=[
        dg.AssetCheckSpec("three_well_formed_fits", asset="smi_fit", description="One fit per method (CO-OCCUR, MI, SMI), R² at most 1, finite coefficients.")
    ],
    description="CO-OCCUR, MI and SMI fits of one checkpoint's accuracy: DuckDB table `smi_fits`.",
)
def smi_fit(context: dg.AssetExecutionContext, storage: StorageResource, modeling: ModelingResource) -> dg.MaterializeResult:
    checkpoint_id = context.partition_key
    with storage.connection() as connection:
        params = store.checkpoint_params(connection, checkpoint_id)
        triples = store.triple_accuracy(connection, checkpoint_id, modeling.decoding().label())
        if triples.is_empty():
            raise ValueError(f"no CBQA scores for {checkpoint_id}: materialize cbqa_scores first")
        fits = fit_table(fit_methods(triples, params, SMI_VARIANT, model=checkpoint_id))
        store.replace_fits(connection, checkpoint_id, params, fits)
    with_metrics = compute_metrics(triples, params, SMI_VARIANT)
    metadata = {"params": params, "fits": table_preview(fits.drop("model"))}
    metadata.update(_smi_plot(with_metrics, fits, f"{checkpoint_id} ({params:,} params)", storage.plot_path(f"smi_{checkpoint_id}.png")))
    check = offending_rows_check(storage, "check_smi_fits", "three_well_formed_fits", {"checkpoint_id": checkpoint_id})
    return dg.MaterializeResult(metadata=metadata, check_results=[check])


@dg.asset(
    group_name="smi",
    code_version="1",
    kinds={"duckdb"},
    deps=[smi_fit],
    automation_condition=derived(),
    description="SMI fits across all checkpoints: how slope, intercept and R² move with model size.",
)
def smi_fit_across_checkpoints(storage: StorageResource) -> dg.MaterializeResult:
    with storage.connection(read_only=True) as connection:
        fits = store.all_fits(connection)
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for method, rows in fits.group_by("method", maintain_order=True):
        axes[0].plot(rows["params"], rows["r2"], "o-", label=method[0])
        axes[1].plot(rows["params"], rows["acc"], "o-", label=method[0])
    for axis, label in zip(axes, ("R² over groups", "mean accuracy of the fitted triples")):
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(NullFormatter())  # minor tick labels overlap on a short log axis
        axis.set_xlabel("parameters")
        axis.set_ylabel(label)
    axes[0].legend()
    metadata = {"checkpoints": fits["checkpoint_id"].n_unique(), "fits": table_preview(fits, 30)}
    metadata.update(plot_metadata(figure, storage.plot_path("smi_fit_across_checkpoints.png")))
    return dg.MaterializeResult(metadata=metadata)


def _latest_data_version(instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition_key: str | None = None) -> str | None:
    record = instance.get_latest_data_version_record(asset_key, partition_key=partition_key)
    if record is None or record.asset_materialization is None:
        return None
    return record.asset_materialization.tags.get("dagster/data_version")


def forecast_lineage(instance: dg.DagsterInstance, checkpoint_ids: list[str]) -> dict:
    """Data versions of everything a forecast was computed from, recorded on each forecast row."""
    shards = sorted(instance.get_dynamic_partitions(corpus_shards.name))
    return {
        "corpus_documents": {shard: _latest_data_version(instance, corpus_documents.key, shard) for shard in shards},
        "knowledge_triples": _latest_data_version(instance, knowledge_triples.key),
        "knowledge_frequency": _latest_data_version(instance, knowledge_frequency.key),
        "checkpoints": {key: _latest_data_version(instance, checkpoints.key, key) for key in checkpoint_ids},
    }


@dg.asset(
    group_name="smi",
    code_version="1",
    kinds={"duckdb"},
    deps=[knowledge_frequency, cbqa_scores, checkpoints],
    automation_condition=derived(),
    description="Mean and per-relation CBQA accuracy predicted for planned model sizes from corpus counts and the trained checkpoints.",
)
def cbqa_forecast(context: dg.AssetExecutionContext, storage: StorageResource, modeling: ModelingResource) -> dg.MaterializeResult:
    decoding = modeling.decoding().label()
    with storage.connection(read_only=True) as connection:
        frequency = store.frequency_counts(connection)
        accuracy = store.triple_accuracy_all(connection, decoding)
    trained = accuracy.select("model", "params").unique().sort("params")
    if trained.height < 2:
        raise ValueError(f"a size-conditioned forecast needs at least two scored checkpoints; have {trained['model'].to_list()}")
    forecaster = SizeConditionedForecaster().fit(frequency, accuracy)
    lineage = json.dumps(forecast_lineage(context.instance, trained["model"].to_list()), sort_keys=True)
    rows = []
    for planned in modeling.planned_params:
        predicted = forecaster.predict(frequency, float(planned))
        rows.append({"planned_params": planned, "rel": "*", "predicted_accuracy": float(predicted["predicted_acc"].mean())})
        for (rel,), part in predicted.group_by("rel", maintain_order=True):
            rows.append({"planned_params": planned, "rel": rel, "predicted_accuracy": float(part["predicted_acc"].mean())})
    forecast = pl.DataFrame(rows).with_columns(
        pl.lit(decoding).alias("decoding"),
        pl.lit(",".join(trained["model"].to_list())).alias("trained_on"),
        pl.lit(lineage).alias("lineage"),
    )
    backtest = leave_one_size_out(SizeConditionedForecaster, frequency, accuracy)
    with storage.connection() as connection:
        store.replace_forecast(connection, forecast, backtest)
    return dg.MaterializeResult(
        metadata={
            "forecast": table_preview(forecast.filter(pl.col("rel") == "*").drop("lineage")),
            "leave_one_size_out": table_preview(backtest),
            "leave_one_size_out_mae": float(backtest["abs_error"].mean()),
            "baseline_leave_one_size_out_mae": float(backtest["baseline_abs_error"].mean()),
            "lineage": dg.MetadataValue.json(json.loads(lineage)),
        }
    )


@dg.asset_check(asset=cbqa_forecast, description="One forecast per planned size and relation (plus the '*' mean), every predicted accuracy in [0, 1].")
def cbqa_forecast_in_range(storage: StorageResource) -> dg.AssetCheckResult:
    return offending_rows_check(storage, "check_cbqa_forecast")


@dg.asset(
    group_name="smi",
    code_version="1",
    kinds={"duckdb"},
    tags=READS_REFERENCE_TAGS,
    automation_condition=derived(),
    description="The SMI paper's fits recomputed from the reference tables (`SMI_REFERENCE_DIR`/smi), with and without prompt-echo triples: DuckDB table `reference_smi_fits`.",
)
def reference_smi_fit(inputs: InputsResource, storage: StorageResource) -> dg.MaterializeResult:
    reference = load_reference(inputs.reference_file("smi", "merge_outputs.parquet"))
    fits = pl.concat(
        fit_table(reference_fits(reference, SMI_VARIANT, drop_prompt_echo=drop)).with_columns(pl.lit(drop).alias("prompt_echo_dropped"))
        for drop in (False, True)
    )
    new_fits = fits  # noqa: F841  (read by name in the SQL)
    with storage.connection() as connection:
        connection.execute(load_sql("reference_smi_fits_table"))
    smi_rows = fits.filter(pl.col("method") == "SMI").pivot(on="prompt_echo_dropped", index="model", values="r2")
    return dg.MaterializeResult(
        metadata={
            "rows": len(fits),
            "models": fits["model"].n_unique(),
            "smi_r2_with_and_without_prompt_echo": table_preview(smi_rows, 30),
        }
    )
