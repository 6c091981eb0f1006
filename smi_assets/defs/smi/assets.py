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
from smi_assets.defs.checkpoints.assets import cbqa_scores, checkpoint_folder, checkpoints
from smi_assets.defs.corpus.assets import corpus_documents
from smi_assets.defs.frequency.assets import knowledge_frequency
from smi_assets.defs.knowledge.assets import knowledge_triples
from smi_assets.orchestration.automation import derived
from smi_assets.orchestration.forecasting import FittedForecaster, fit_forecaster
from smi_assets.orchestration.metadata import offending_rows_check, plot_metadata, table_preview
from smi_assets.orchestration.observe import REFERENCE_TABLES
from smi_assets.orchestration.partitions import checkpoint_partitions, corpus_shards
from smi_assets.orchestration.resources import InputsResource, ModelingResource, StorageResource
from smi_assets.smi.fit import fit_methods, fit_table
from smi_assets.smi.forecast.counts_model import SizeConditionedForecaster, leave_one_size_out
from smi_assets.smi.forecast.proxy import PROXY_COLUMNS
from smi_assets.smi.forecast.runs import backtest_forecast, forecast_targets, scored_checkpoints, targets_judged_by
from smi_assets.smi.forecast.store import (
    backtest_calibration,
    backtest_results,
    judged_already,
    keep_backtest,
    keep_forecast,
    stored_forecast,
    stored_summary,
    stored_targets,
)
from smi_assets.smi.forecast.targets import ForecastTarget
from smi_assets.smi.forecast.tokens import FINISHED
from smi_assets.smi.metrics import compute_metrics
from smi_assets.smi.reference import load_reference, reference_fits
from training.config import PLANNED_CONFIGS
from training.model import build_model, count_parameters

SMI_VARIANT = "current"
# The run whose forecast mean reaches the target accuracy (TokensForecaster.plan), or why none does (note).
PLAN_SCHEMA = {
    "target_accuracy": pl.Float64, "relation": pl.Utf8, "n_questions": pl.Int64, "tokens_per_param": pl.Float64,
    "params": pl.Float64, "tokens": pl.Float64, "compute": pl.Float64, "params_low": pl.Float64, "params_high": pl.Float64,
    "compute_low": pl.Float64, "compute_high": pl.Float64, "note": pl.Utf8,
}  # fmt: skip


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


def forecast_targets_of(storage: StorageResource, modeling: ModelingResource, checkpoints_scored: pl.DataFrame) -> list[ForecastTarget]:
    """What `cbqa_forecast` forecasts: the planned runs of the settings; each planned config
    (`training.config.PLANNED_CONFIGS`, e.g. gpt-large) or ladder run not finished yet, sized with
    the proxies' vocabulary, so its forecast can be judged once it is; and the final checkpoint
    of every run in progress (a run with scored intermediate checkpoints but no scored final
    one), forecast from its own checkpoints too."""
    targets = modeling.planned_targets()
    finished = set(checkpoints_scored.filter(FINISHED)["model"])
    largest = checkpoints_scored.sort("params")["model"][-1]
    vocab_size = json.loads((checkpoint_folder(storage, modeling, largest) / "config.json").read_text())["vocab_size"]
    for name, config in {**PLANNED_CONFIGS, **modeling.ladder_configs()}.items():
        if name in finished:
            continue
        params = count_parameters(build_model(dataclasses.replace(config.model, vocab_size=vocab_size)))
        in_progress = checkpoints_scored.filter(pl.col("run_id") == name).height > 0
        targets.append(ForecastTarget(f"{name} (final, in progress)" if in_progress else name, params, config.run_tokens, run_id=name if in_progress else None))
    return targets


def _fit_forecaster(context: dg.AssetExecutionContext, storage: StorageResource, modeling: ModelingResource) -> FittedForecaster:
    shards = sorted(context.instance.get_dynamic_partitions(corpus_shards.name))
    fitted = fit_forecaster(storage, modeling, shards)
    for note in fitted.notes:
        context.log.warning(note)
    return fitted


@dg.asset(
    group_name="smi",
    code_version="3",
    kinds={"duckdb"},
    deps=[knowledge_frequency, cbqa_scores, checkpoints],
    automation_condition=derived(),
    description=(
        "CBQA accuracy forecast, per question and as means with 80% intervals, of the planned runs (params and tokens), "
        "the planned configs such as gpt-large and the final checkpoint of every run in progress, from every scored "
        "checkpoint (intermediate ones included) and the corpus counts: DuckDB tables forecast_targets, "
        "forecast_questions and forecast_summary (kept, one forecast per forecast_id) and cbqa_forecast (the latest)."
    ),
)
def cbqa_forecast(context: dg.AssetExecutionContext, storage: StorageResource, modeling: ModelingResource) -> dg.MaterializeResult:
    decoding = modeling.decoding().label()
    fitted = _fit_forecaster(context, storage, modeling)
    forecaster, proxies, frequency, corpus_tokens = fitted.forecaster, fitted.proxies, fitted.frequency, fitted.corpus_tokens
    scored = scored_checkpoints(proxies)
    lineage = forecast_lineage(context.instance, scored["model"].to_list())
    targets = forecast_targets_of(storage, modeling, scored)
    with warnings.catch_warnings(record=True) as fallbacks:
        warnings.simplefilter("always")
        forecast = forecast_targets(
            proxies, frequency, targets,
            proxy_versions=lineage["checkpoints"],
            input_versions={"knowledge_triples": lineage["knowledge_triples"], "knowledge_frequency": lineage["knowledge_frequency"], **lineage["corpus_documents"]},
            corpus_tokens=corpus_tokens,
            forecaster=forecaster,
        )  # fmt: skip
    for fallback in fallbacks:
        context.log.warning(f"forecast: {fallback.message}")
    latest = (
        forecast.summary.join(forecast.targets.select("target", "planned_params", "planned_tokens", "run_id", "run_fraction_seen", "reach"), on="target")
        .with_columns(
            pl.lit(decoding).alias("decoding"),
            pl.lit(",".join(scored["model"].to_list())).alias("trained_on"),
            pl.lit(json.dumps(lineage, sort_keys=True)).alias("lineage"),
        )
        .sort("planned_params", "planned_tokens", "target", "rel")
    )
    # The counts-only model's leave-one-size-out error over the finished checkpoints, a yardstick.
    finished = proxies.filter(FINISHED)
    backtest = (
        leave_one_size_out(SizeConditionedForecaster, frequency, finished.select(PROXY_COLUMNS))
        if finished["model"].n_unique() >= 2
        else pl.DataFrame(schema={"model": pl.Utf8, "params": pl.Int64, "abs_error": pl.Float64, "baseline_abs_error": pl.Float64})
    )
    with storage.connection() as connection:
        new = keep_forecast(connection, forecast)
        store.replace_forecast(connection, latest, backtest)
    metadata = {
        "forecast_id": forecast.forecast_id,
        "new_forecast": new,
        "proxies": ", ".join(scored["model"].to_list()),
        "tokens_per_param_of_the_ladder": forecaster.tokens_per_param_,
        # What a planned run without tokens is trained on (TokensForecaster.ladder_tokens).
        "ladder_recipe": (
            f"tokens = {np.exp(forecaster.ladder_recipe_[0]):.4g} x params^{forecaster.ladder_recipe_[1]:.3f}"
            if forecaster.ladder_recipe_
            else dg.MetadataValue.null()
        ),
        "d_axis_extrapolated_by": forecaster.d_extrapolation,
        "forecast": table_preview(latest.filter(pl.col("rel") == "*").drop("lineage")),
        "lineage": dg.MetadataValue.json(lineage),
    }
    if backtest.height:
        metadata["leave_one_size_out_mae"] = float(backtest["abs_error"].mean())
    return dg.MaterializeResult(
        metadata={name: value for name, value in metadata.items() if value is not None}, data_version=dg.DataVersion(forecast.forecast_id)
    )


@dg.asset(
    group_name="smi",
    code_version="2",
    kinds={"duckdb"},
    deps=[cbqa_forecast, cbqa_scores],
    automation_condition=derived(),
    description=(
        "Every kept forecast judged once the checkpoint it was about is scored (a run's final checkpoint judges the "
        "forecasts made during that run; a finished checkpoint judges the planned targets of its params and tokens): "
        "mean error, whether the actual mean fell in the 80% interval, per-question R², Brier, AUC, calibration, and "
        "error against the share of the run seen. DuckDB tables forecast_backtest_results and forecast_backtest_calibration."
    ),
)
def forecast_backtest(context: dg.AssetExecutionContext, storage: StorageResource, modeling: ModelingResource) -> dg.MaterializeResult:
    decoding = modeling.decoding().label()
    judged = []
    with storage.connection() as connection:
        kept = stored_targets(connection)
        for checkpoint in store.finished_checkpoints(connection).iter_rows(named=True):
            actual = store.triple_accuracy(connection, checkpoint["checkpoint_id"], decoding)
            if actual.is_empty():
                continue
            for target in targets_judged_by(kept, checkpoint).iter_rows(named=True):
                if judged_already(connection, target["forecast_id"], checkpoint["checkpoint_id"], checkpoint["data_version"]):
                    continue
                rows = stored_forecast(connection, target["forecast_id"], target["target"])
                mean = stored_summary(connection, target["forecast_id"], target["target"]).filter(pl.col("rel") == "*").row(0, named=True)
                result, calibration = backtest_forecast(rows, target, mean, actual, checkpoint)
                keep_backtest(connection, result, calibration)
                judged.append(result)
        results = backtest_results(connection)
        latest = results.tail(1)
        calibration = backtest_calibration(connection, *latest.select("forecast_id", "checkpoint_id", "checkpoint_version").row(0)) if latest.height else None
    with_interval = results.filter(pl.col("inside_interval").is_not_null())
    metadata = {"backtests": results.height, "new_backtests": len(judged), "results": table_preview(results, 20)}
    if with_interval.height:
        metadata["interval_coverage_80"] = float(with_interval["inside_interval"].mean())
    if calibration is not None and calibration.height:
        metadata.update(plot_metadata(_calibration_plot(calibration, latest.row(0, named=True)), storage.plot_path("forecast_calibration.png")))
    during_runs = results.filter(pl.col("run_fraction_seen").is_not_null())
    if during_runs.height:
        metadata.update(plot_metadata(_run_progress_plot(during_runs), storage.plot_path("forecast_error_by_run_progress.png")))
    return dg.MaterializeResult(metadata=metadata)


def _calibration_plot(calibration: pl.DataFrame, result: dict) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(calibration["mean_predicted"], calibration["mean_actual"], "o-", label="questions by predicted bin")
    axis.plot([0, 1], [0, 1], color="grey", linewidth=1, label="perfect calibration")
    axis.set(xlabel="predicted accuracy", ylabel="observed accuracy", xlim=(0, 1), ylim=(0, 1))
    axis.set_title(f"{result['checkpoint_id']} vs forecast {result['forecast_id'][:8]}: R²={result['r2_question']:.3f}, Brier={result['brier']:.4f}")
    axis.legend(loc="upper left", fontsize=8)
    return figure


def _run_progress_plot(results: pl.DataFrame) -> plt.Figure:
    """Error of the forecast of each run's final checkpoint against the share of the run seen
    when it was made, with the 80% interval around it."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for (run_id,), rows in results.sort("run_fraction_seen").group_by("run_id", maintain_order=True):
        fraction = rows["run_fraction_seen"].to_numpy()
        axis.plot(fraction, rows["mean_error"].to_numpy(), "o-", label=f"{run_id}: predicted - actual")
        axis.fill_between(fraction, (rows["mean_low"] - rows["mean_actual"]).to_numpy(), (rows["mean_high"] - rows["mean_actual"]).to_numpy(), alpha=0.2)
    axis.axhline(0, color="grey", linewidth=1)
    axis.set(xlabel="share of the run's tokens seen when forecast", ylabel="mean accuracy error (80% interval shaded)", xlim=(0, 1))
    axis.set_title("Forecast of a run's final checkpoint, made during the run")
    axis.legend(fontsize=8)
    return figure


@dg.asset(
    group_name="smi",
    code_version="1",
    kinds={"duckdb"},
    deps=[knowledge_frequency, cbqa_scores, checkpoints],
    automation_condition=derived(),
    description=(
        "The facts forecast below the target accuracy (SMI_TARGET_ACCURACY) at each planned run, with the co-occurrences "
        "each would need to reach it (a table a data team can act on: upsample or add documents for them), and the run "
        "that would reach the target on average: DuckDB tables knowledge_gaps and knowledge_plan."
    ),
)
def knowledge_gap_report(context: dg.AssetExecutionContext, storage: StorageResource, modeling: ModelingResource) -> dg.MaterializeResult:
    forecaster = _fit_forecaster(context, storage, modeling).forecaster
    target = modeling.target_accuracy
    gaps = pl.concat([
        forecaster.knowledge_gaps(run.params, run.tokens, target).with_columns(pl.lit(run.name).alias("planned_run"))
        for run in modeling.planned_targets()
    ])  # fmt: skip
    with storage.connection(read_only=True) as connection:
        gaps = store.triple_names(connection).join(gaps, on="idx", how="right")
    try:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always")
            plan = {**forecaster.plan(target), "note": "; ".join(str(note.message) for note in notes) or None}
    except ValueError as unreachable:
        context.log.warning(f"plan: {unreachable}")
        plan = {"target_accuracy": target, "note": str(unreachable)}
    plans = pl.DataFrame([plan], schema=PLAN_SCHEMA)
    with storage.connection() as connection:
        store.replace_knowledge_gaps(connection, gaps, plans)
    first_run = modeling.planned_targets()[0].name
    metadata = {
        "target_accuracy": target,
        "facts_below_target": table_preview(
            gaps.group_by("planned_run").agg(pl.len().alias("facts"), pl.col("extra_cooccurrences").median().alias("median_extra_cooccurrences")), 10
        ),
        "fewest_extra_cooccurrences": table_preview(gaps.filter(pl.col("planned_run") == first_run).head(20), 20),
    }
    metadata["plan"] = dg.MetadataValue.json(plans.row(0, named=True))
    metadata.update(plot_metadata(_gap_plot(gaps.filter(pl.col("planned_run") == first_run), first_run, target), storage.plot_path("knowledge_gaps.png")))
    return dg.MaterializeResult(metadata=metadata)


def _gap_plot(gaps: pl.DataFrame, run: str, target: float) -> plt.Figure:
    """Each fact below the target at the run: its co-occurrences now and the count it would need."""
    figure, axis = plt.subplots(figsize=(6, 4))
    reachable = gaps.filter(pl.col("needed_N_so").is_not_null())
    axis.scatter(reachable["N_so"].to_numpy() + 1, reachable["needed_N_so"].to_numpy() + 1, s=6, alpha=0.5)
    top = max(float(reachable["needed_N_so"].max() or 1), 1.0) + 1
    axis.plot([1, top], [1, top], color="grey", linewidth=1, label="no change")
    axis.set(xscale="log", yscale="log", xlabel="co-occurrences now (N_so + 1)", ylabel=f"co-occurrences needed for {target:.0%} (+1)")
    axis.set_title(f"{gaps.height} facts below {target:.0%} at {run} ({gaps.height - reachable.height} not reachable by more documents)")
    axis.legend(fontsize=8)
    return figure


@dg.asset_check(
    asset=cbqa_forecast, description="One forecast per target and relation (plus the '*' mean), every predicted accuracy in [0, 1] and inside its interval."
)
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
