"""SMI domain: fits of CBQA accuracy on corpus-count metrics, the paper's reference fits, and forecasts.

The per-checkpoint fit and the forecast read the knowledge-frequency table and the CBQA
scores from DuckDB; the reference fit reproduces the paper's published numbers from
`../shared/reference/smi` when that folder is present.
"""

import dataclasses
import json
import warnings
from pathlib import Path

import dagster as dg
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.ticker import NullFormatter

from smi_assets.checkpoints import store
from smi_assets.common.sql import load_sql
from smi_assets.defs.checkpoints.assets import TRAINING_INPUTS_FILE, cbqa_scores, checkpoints
from smi_assets.defs.corpus.assets import corpus_documents
from smi_assets.defs.frequency.assets import knowledge_frequency
from smi_assets.defs.knowledge.assets import knowledge_triples
from smi_assets.orchestration.automation import derived
from smi_assets.orchestration.metadata import offending_rows_check, plot_metadata, table_preview
from smi_assets.orchestration.observe import REFERENCE_TABLES
from smi_assets.orchestration.partitions import checkpoint_partitions, corpus_shards
from smi_assets.orchestration.resources import InputsResource, ModelingResource, StorageResource
from smi_assets.smi.fit import fit_methods, fit_table
from smi_assets.smi.forecast.counts_model import SizeConditionedForecaster, leave_one_size_out
from smi_assets.smi.forecast.proxy import PROXY_COLUMNS, ProxyForecaster, aggregate_forecast
from smi_assets.smi.forecast.runs import backtest_forecast, forecast_per_question
from smi_assets.smi.forecast.store import (
    backtest_calibration,
    backtest_results,
    ensure_forecast_tables,
    forecasts_to_backtest,
    keep_backtest,
    keep_forecast,
    stored_forecast,
)
from smi_assets.smi.metrics import compute_metrics
from smi_assets.smi.reference import load_reference, reference_fits
from training.config import PLANNED_CONFIGS
from training.data import corpus_sha256
from training.model import build_model, count_parameters

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
    code_version="2",
    kinds={"duckdb"},
    deps=[cbqa_scores, knowledge_frequency],
    automation_condition=derived(),
    check_specs=[
        dg.AssetCheckSpec("three_well_formed_fits", asset="smi_fit", description="One fit per method (CO-OCCUR, MI, SMI), R² at most 1, finite coefficients.")
    ],
    description="CO-OCCUR, MI and SMI fits of one checkpoint's accuracy: DuckDB table `smi_fits`.",
)
def smi_fit(context: dg.AssetExecutionContext, storage: StorageResource, modeling: ModelingResource) -> dg.MaterializeResult:
    checkpoint_id, decoding = context.partition_key, modeling.decoding().label()
    with storage.connection() as connection:
        params = store.checkpoint_params(connection, checkpoint_id)
        triples = store.triple_accuracy(connection, checkpoint_id, decoding)
        if triples.is_empty():
            raise ValueError(f"no CBQA scores for {checkpoint_id} ({decoding}): materialize cbqa_scores first")
        fits = fit_table(fit_methods(triples, params, SMI_VARIANT, model=checkpoint_id))
        store.replace_fits(connection, checkpoint_id, decoding, params, fits)
    with_metrics = compute_metrics(triples, params, SMI_VARIANT)
    metadata = {"params": params, "decoding": decoding, "fits": table_preview(fits.drop("model"))}
    metadata.update(_smi_plot(with_metrics, fits, f"{checkpoint_id} ({params:,} params)", storage.plot_path(f"smi_{checkpoint_id}.png")))
    check = offending_rows_check(storage, "check_smi_fits", "three_well_formed_fits", {"checkpoint_id": checkpoint_id, "decoding": decoding})
    return dg.MaterializeResult(metadata=metadata, check_results=[check])


@dg.asset(
    group_name="smi",
    code_version="1",
    kinds={"duckdb"},
    deps=[smi_fit],
    automation_condition=derived(),
    description="SMI fits across all checkpoints: how slope, intercept and R² move with model size.",
)
def smi_fit_across_checkpoints(storage: StorageResource, modeling: ModelingResource) -> dg.MaterializeResult:
    with storage.connection(read_only=True) as connection:
        fits = store.all_fits(connection, modeling.decoding().label())
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


def planned_sizes(storage: StorageResource, modeling: ModelingResource, proxies: pl.DataFrame) -> dict[str, int]:
    """Target name -> parameters: the planned sizes of the settings, and each planned config
    (`training.config.PLANNED_CONFIGS`, e.g. gpt-large) not trained yet, sized with the
    proxies' vocabulary so its forecast can be judged against it once it is trained."""
    targets = {f"{int(params):,} params": int(params) for params in modeling.planned_params}
    largest = proxies.sort("params")["model"][-1]
    vocab_size = json.loads((storage.checkpoint_dir(largest) / "config.json").read_text())["vocab_size"]
    for name, config in PLANNED_CONFIGS.items():
        if name not in set(proxies["model"]):
            targets[name] = count_parameters(build_model(dataclasses.replace(config.model, vocab_size=vocab_size)))
    return targets


def _proxies_on_this_corpus(context: dg.AssetExecutionContext, storage: StorageResource, accuracy: pl.DataFrame) -> tuple[pl.DataFrame, str]:
    """The trained checkpoints' accuracies with the corpus each was trained on; those trained on
    an older corpus than the current one are left out (they are stale), and the log says so."""
    shards = sorted(context.instance.get_dynamic_partitions(corpus_shards.name))
    current = corpus_sha256([storage.shard_documents_path(shard) for shard in shards])
    versions = {
        model: json.loads(marker.read_text()).get("corpus_sha256") if (marker := storage.checkpoint_dir(model) / TRAINING_INPUTS_FILE).is_file() else None
        for model in accuracy["model"].unique().to_list()
    }
    stale = sorted(model for model, version in versions.items() if version != current)
    if stale:
        context.log.warning(f"not proxies: {stale} were trained on another corpus than the current one (retrain them to use them)")
    return accuracy.filter(~pl.col("model").is_in(stale)).with_columns(pl.lit(current).alias("corpus_version")), current


@dg.asset(
    group_name="smi",
    code_version="2",
    kinds={"duckdb"},
    deps=[knowledge_frequency, cbqa_scores, checkpoints],
    automation_condition=derived(),
    description=(
        "Per-question CBQA accuracy forecast for the planned sizes (and planned configs such as gpt-large) from the "
        "ladder's checkpoints (proxies) and the corpus counts: DuckDB tables `forecast_per_question` (kept, one set per "
        "forecast_id) and `cbqa_forecast` (mean and per relation of the latest)."
    ),
)
def cbqa_forecast(context: dg.AssetExecutionContext, storage: StorageResource, modeling: ModelingResource) -> dg.MaterializeResult:
    decoding = modeling.decoding().label()
    with storage.connection(read_only=True) as connection:
        frequency = store.frequency_counts(connection)
        scored = store.proxy_accuracy(connection, decoding)
    # This forecaster takes one checkpoint per size: each ladder run's final one (partition <run>),
    # not the intermediate checkpoints (<run>.step<NNNNNN>) its run left on the way.
    finals = scored.filter(pl.col("run_id").is_null() | (pl.col("model") == pl.col("run_id"))).select(PROXY_COLUMNS)
    proxies, corpus_version = _proxies_on_this_corpus(context, storage, finals)
    if proxies.is_empty():
        raise dg.Failure("no scored checkpoint trained on the current corpus to forecast from: materialize checkpoints and cbqa_scores")
    trained = proxies.select("model", "params").unique().sort("params")
    lineage = forecast_lineage(context.instance, trained["model"].to_list())
    targets = planned_sizes(storage, modeling, trained)
    with warnings.catch_warnings(record=True) as fallbacks:
        warnings.simplefilter("always")
        rows, forecast_lineage_record = forecast_per_question(
            proxies, frequency, sorted(set(targets.values())),
            proxy_versions=lineage["checkpoints"],
            input_versions={"knowledge_triples": lineage["knowledge_triples"], "knowledge_frequency": lineage["knowledge_frequency"], **lineage["corpus_documents"]},
            forecaster=ProxyForecaster(corpus_version=corpus_version),
        )  # fmt: skip
    for fallback in fallbacks:  # the forecaster states each fallback it takes: say it in the run log
        context.log.warning(f"forecast: {fallback.message}")
    forecast_id = forecast_lineage_record["forecast_id"]
    names = (
        pl.DataFrame({"target": list(targets), "planned_params": [float(value) for value in targets.values()]})
        .group_by("planned_params")
        .agg(pl.col("target").str.join(" / "))
    )
    summary = (
        aggregate_forecast(rows.rename({"predicted_accuracy": "predicted_acc"}))
        .rename({"predicted_acc": "predicted_accuracy"})
        .join(names, on="planned_params", how="left")
    )
    forecast = summary.with_columns(
        pl.col("planned_params").cast(pl.Int64),
        pl.lit(decoding).alias("decoding"),
        pl.lit(",".join(trained["model"].to_list())).alias("trained_on"),
        pl.lit(forecast_id).alias("forecast_id"),
        pl.lit(json.dumps(lineage, sort_keys=True)).alias("lineage"),
    )
    # The counts-only model's leave-one-size-out error, a yardstick for the proxies' forecast.
    backtest = (
        leave_one_size_out(SizeConditionedForecaster, frequency, proxies.drop("corpus_version"))
        if trained.height >= 2
        else pl.DataFrame(schema={"model": pl.Utf8, "params": pl.Int64, "abs_error": pl.Float64, "baseline_abs_error": pl.Float64})
    )
    with storage.connection() as connection:
        added = keep_forecast(connection, rows, forecast_lineage_record)
        store.replace_forecast(connection, forecast, backtest)
    metadata = {
        "forecast_id": forecast_id,
        "new_forecast": added > 0,
        "proxies": ", ".join(trained["model"].to_list()),
        "forecast": table_preview(forecast.filter(pl.col("rel") == "*").drop("lineage")),
        "lineage": dg.MetadataValue.json(lineage),
    }
    if backtest.height:
        metadata["leave_one_size_out_mae"] = float(backtest["abs_error"].mean())
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(forecast_id))


@dg.asset(
    group_name="smi",
    code_version="1",
    kinds={"duckdb"},
    deps=[cbqa_forecast, cbqa_scores],
    automation_condition=derived(),
    description=(
        "Every kept forecast judged against each scored checkpoint larger than its proxies (trained by the ladder or "
        "dropped in): mean error, per-question R², Brier, AUC and calibration. DuckDB tables forecast_backtest_results "
        "and forecast_backtest_calibration."
    ),
)
def forecast_backtest(context: dg.AssetExecutionContext, storage: StorageResource, modeling: ModelingResource) -> dg.MaterializeResult:
    decoding = modeling.decoding().label()
    judged = []
    with storage.connection() as connection:
        ensure_forecast_tables(connection)
        for checkpoint in store.checkpoint_sizes(connection).iter_rows(named=True):
            actual = store.triple_accuracy(connection, checkpoint["checkpoint_id"], decoding)
            if actual.is_empty():
                continue
            due = forecasts_to_backtest(connection, checkpoint["checkpoint_id"], checkpoint["params"], checkpoint["data_version"])
            for forecast_id, planned in due.iter_rows():
                rows = stored_forecast(connection, forecast_id).filter(pl.col("planned_params") == planned)
                summary, calibration = backtest_forecast(rows, actual, checkpoint["checkpoint_id"], checkpoint["params"], checkpoint["data_version"])
                keep_backtest(connection, summary, calibration)
                judged.append(summary)
        results = backtest_results(connection)
        latest = results.tail(1)  # the largest checkpoint judged
        calibration = backtest_calibration(connection, *latest.select("forecast_id", "checkpoint_id", "checkpoint_version").row(0)) if latest.height else None
    metadata = {"backtests": results.height, "new_backtests": len(judged), "results": table_preview(results, 20)}
    if calibration is not None and calibration.height:
        metadata.update(plot_metadata(_calibration_plot(calibration, latest.row(0, named=True)), storage.plot_path("forecast_calibration.png")))
    return dg.MaterializeResult(metadata=metadata)


def _calibration_plot(calibration: pl.DataFrame, result: dict) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(calibration["mean_predicted"], calibration["mean_actual"], "o-", label="questions by predicted bin")
    axis.plot([0, 1], [0, 1], color="grey", linewidth=1, label="perfect calibration")
    axis.set(xlabel="predicted accuracy", ylabel="observed accuracy", xlim=(0, 1), ylim=(0, 1))
    axis.set_title(f"{result['checkpoint_id']} vs forecast {result['forecast_id'][:8]}: R²={result['r2_question']:.3f}, Brier={result['brier']:.4f}")
    axis.legend(loc="upper left", fontsize=8)
    return figure


@dg.asset_check(asset=cbqa_forecast, description="One forecast per planned size and relation (plus the '*' mean), every predicted accuracy in [0, 1].")
def cbqa_forecast_in_range(storage: StorageResource) -> dg.AssetCheckResult:
    return offending_rows_check(storage, "check_cbqa_forecast")


@dg.asset(
    group_name="smi",
    code_version="1",
    kinds={"duckdb"},
    deps=[REFERENCE_TABLES],
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
