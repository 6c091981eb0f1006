"""Cross-model domain: the benchmark table (one asset per source) and the three predictors.

Each source asset replaces only its own rows of the shared `crossmodel_*` tables and
reports a content hash as its data version, so a new row in one source marks stale only the
predictor that reads that source.
"""

# No `from __future__ import annotations` here: Dagster resolves Config annotations at runtime.
from pathlib import Path

import dagster as dg
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from pydantic import Field

from smi_assets.common.sql import load_sql, sql_statements, transaction
from smi_assets.common.storage import frame_fingerprint
from smi_assets.crossmodel import benchmark_table as bt
from smi_assets.crossmodel.cpp import cpp_inputs, evaluate_cpp
from smi_assets.crossmodel.design_factors import design_data, evaluate_design_factors
from smi_assets.crossmodel.obs_scaling import (
    LLAMA2_7B_FLOPS,
    PAPER_FAMILIES,
    evaluate_obs_scaling,
    obs_scaling_data,
)
from smi_assets.orchestration.automation import derived
from smi_assets.orchestration.metadata import plot_metadata, table_preview
from smi_assets.orchestration.observe import REFERENCE_TABLES
from smi_assets.orchestration.resources import InputsResource, StorageResource

GROUP = "crossmodel"
OBSSCALING_SOURCE, CPP_SOURCE, NJS_SOURCE = "obsscaling", "cpp", "not_just_scaling"


def write_source(storage: StorageResource, table: bt.BenchmarkTable, source: str) -> dg.MaterializeResult:
    """Replace `source`'s rows of the benchmark table in one transaction; the data version is
    a hash of those rows."""
    with storage.connection() as connection:
        connection.execute(load_sql("crossmodel_tables"))
        for name, frame in zip(("new_models", "new_model_features", "new_scores", "new_benchmark_features"), table.frames()):
            connection.register(name, frame.to_arrow())
        with transaction(connection):
            # DuckDB binds parameters only in the last statement of a script: run them one by one.
            for statement in sql_statements("crossmodel_replace_source"):
                connection.execute(statement, {"source": source} if "$source" in statement else None)
    version = "-".join(frame_fingerprint(frame) for frame in table.frames())
    return dg.MaterializeResult(
        metadata={
            "models": table.models.height,
            "scores": table.scores.height,
            "benchmarks": table.scores["benchmark"].n_unique(),
            "model_features": table.model_features["feature"].n_unique(),
            "preview": table_preview(table.models),
        },
        data_version=dg.DataVersion(version),
    )


def read_source(storage: StorageResource, source: str) -> bt.BenchmarkTable:
    with storage.connection() as connection:
        connection.execute(load_sql("crossmodel_tables"))
        frames = [
            connection.execute(load_sql(query), [source]).pl().cast(schema)
            for query, schema in (
                ("crossmodel_read_models", bt.MODELS_SCHEMA),
                ("crossmodel_read_model_features", bt.MODEL_FEATURES_SCHEMA),
                ("crossmodel_read_scores", bt.SCORES_SCHEMA),
                ("crossmodel_read_benchmark_features", bt.BENCHMARK_FEATURES_SCHEMA),
            )  # fmt: skip
        ]
    return bt.BenchmarkTable(*frames)


def write_results(storage: StorageResource, query: str, frames: dict[str, pl.DataFrame]) -> None:
    """Run `sql/<query>.sql`, which replaces result tables from the frames registered by name."""
    with storage.connection() as connection:
        for name, frame in frames.items():
            connection.register(name, frame.to_arrow())
        connection.execute(load_sql(query))


class SourceFileConfig(dg.Config):
    """A user file (or folder) in the same format replaces the reference one when given."""

    path: str = Field(default="", description="A file (or folder) in the reference format to use instead of the reference tables.")


@dg.asset(
    group_name=GROUP,
    code_version="1",
    kinds={"duckdb"},
    automation_condition=derived(),
    deps=[REFERENCE_TABLES],
    description="ObsScaling-format scores (148 base models x 8 benchmarks by default) in the benchmark table.",
)
def benchmark_table_obsscaling(config: SourceFileConfig, inputs: InputsResource, storage: StorageResource) -> dg.MaterializeResult:
    path = config.path or inputs.reference_file("obsscaling", "base_llm_benchmark_eval.csv")
    return write_source(storage, bt.load_obsscaling(path, OBSSCALING_SOURCE), OBSSCALING_SOURCE)


@dg.asset(
    group_name=GROUP,
    code_version="1",
    kinds={"duckdb"},
    automation_condition=derived(),
    deps=[REFERENCE_TABLES],
    description="CPP-format model x task scores with model and task factors in the benchmark table.",
)
def benchmark_table_cpp(config: SourceFileConfig, inputs: InputsResource, storage: StorageResource) -> dg.MaterializeResult:
    folder = Path(config.path) if config.path else inputs.reference_file("cpp")
    table = bt.load_cpp(folder / "crowdsource_performance.csv", folder / "model_feature.csv", folder / "benchmark_feature.csv", CPP_SOURCE)
    return write_source(storage, table, CPP_SOURCE)


@dg.asset(
    group_name=GROUP,
    code_version="1",
    kinds={"duckdb"},
    automation_condition=derived(),
    deps=[REFERENCE_TABLES],
    description="not_just_scaling base models with architecture, data mix and task scores in the benchmark table.",
)
def benchmark_table_not_just_scaling(config: SourceFileConfig, inputs: InputsResource, storage: StorageResource) -> dg.MaterializeResult:
    folder = config.path or inputs.reference_file("not_just_scaling")
    return write_source(storage, bt.load_not_just_scaling(folder, NJS_SOURCE), NJS_SOURCE)


@dg.asset(
    group_name=GROUP, code_version="1", automation_condition=derived(), kinds={"duckdb"},
    # By key, not by import: the checkpoint domain is optional for this one.
    deps=[dg.AssetKey("checkpoints"), dg.AssetKey("cbqa_scores")],
    description="The project's own checkpoints (family smi-synthetic, FLOPs = 6 N D) and their synthetic CBQA accuracy, when the pipeline has produced them.",
)  # fmt: skip
def benchmark_table_smi_checkpoints(storage: StorageResource) -> dg.MaterializeResult:
    with storage.connection() as connection:
        table = bt.load_checkpoint_rows(connection)
    return write_source(storage, table, bt.SMI_SOURCE)


class ObsScalingConfig(dg.Config):
    target: str = Field(default="GSM8K", description="Benchmark predicted from the others.")
    cutoff_flops: float = Field(default=LLAMA2_7B_FLOPS, description="Models above this training compute are the held-out test set.")
    components: int = Field(default=3, description="Largest number of principal capabilities tried.")
    paper_families: bool = Field(default=False, description="Keep only the model families of the paper's main analysis.")
    cv_folds: int = Field(default=5, description="Cross-validation folds, within the training models, that choose the number of components.")


def _scatter(predictions: pl.DataFrame, title: str, color_by: str) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(5, 5))
    for label in predictions[color_by].unique().sort().to_list():
        part = predictions.filter(pl.col(color_by) == label)
        axis.scatter(part["actual"], part["predicted"], s=14, alpha=0.7, label=str(label))
    low = float(min(predictions["actual"].min(), predictions["predicted"].min()))
    high = float(max(predictions["actual"].max(), predictions["predicted"].max()))
    axis.plot([low, high], [low, high], color="grey", linewidth=1)
    axis.set(xlabel="actual", ylabel="predicted", title=title)
    axis.legend(fontsize=7)
    return figure


def _named(prefix: str, metadata: dict[str, dg.MetadataValue]) -> dict[str, dg.MetadataValue]:
    return {f"{prefix}_{key}": value for key, value in metadata.items()}


@dg.asset(
    group_name=GROUP, code_version="1", automation_condition=derived(), kinds={"duckdb", "sklearn"}, deps=[benchmark_table_obsscaling],
    description="Observational scaling law: PCA capabilities -> sigmoid to a target benchmark, held out by compute; tables crossmodel_obs_scaling_*.",
)  # fmt: skip
def obs_scaling_fit(config: ObsScalingConfig, inputs: InputsResource, storage: StorageResource) -> dg.MaterializeResult:
    table = read_source(storage, OBSSCALING_SOURCE)
    data = obs_scaling_data(table.models, table.scores, config.target, PAPER_FAMILIES if config.paper_families else None)
    result = evaluate_obs_scaling(data, cutoff_flops=config.cutoff_flops, n_components=config.components, n_folds=config.cv_folds)
    target = pl.lit(config.target).alias("target")
    write_results(storage, "crossmodel_write_obs_scaling", {
        "obs_predictors": result.predictors.with_columns(target),
        "obs_components": result.components.with_columns(target),
        "obs_family_fits": result.family_fits.with_columns(target),
        "obs_predictions": result.predictions.with_columns(target),
    })  # fmt: skip
    # The number of components was chosen by cross-validation on the training models only.
    best = result.predictors.filter(pl.col("chosen")).row(0, named=True)["predictor"]
    shown = result.predictions.filter(pl.col("predictor").is_in([best, "log_flops"]))
    scatter = _scatter(shown.with_columns((pl.col("predictor") + " / " + pl.col("split")).alias("series")), f"{config.target}: {best} vs log FLOPs", "series")
    loadings, axis = plt.subplots(figsize=(6, 3))
    matrix = result.components.select(data.benchmarks).to_numpy()[: config.components]
    image = axis.imshow(matrix, cmap="coolwarm", vmin=-1, vmax=1)
    axis.set(
        xticks=range(len(data.benchmarks)),
        yticks=range(config.components),
        yticklabels=[f"PC{i + 1}" for i in range(config.components)],
        title="component loadings",
    )
    axis.set_xticklabels(data.benchmarks, rotation=45, ha="right")
    loadings.colorbar(image)
    ratios = result.components["explained_variance_ratio"].to_list()
    return dg.MaterializeResult(metadata={
        "target": config.target, "models": len(data.models),
        "explained_variance_ratio": [round(r, 4) for r in ratios],
        "predictors": table_preview(result.predictors),
        "chosen_component_predictor": best,
        "chosen_components": result.chosen_components,
        **_named("predicted_vs_actual", plot_metadata(scatter, storage.plot_path("crossmodel_obs_scaling_predictions.png"))),
        **_named("loadings", plot_metadata(loadings, storage.plot_path("crossmodel_obs_scaling_loadings.png"))),
    })  # fmt: skip


class CppConfig(dg.Config):
    seed: int = Field(default=0, description="First seed of the held-out splits.")
    repeats: int = Field(default=5, description="Number of seeded splits averaged.")
    test_fraction: float = Field(default=0.2, description="Share of observed cells held out per split.")


@dg.asset(
    group_name=GROUP, code_version="1", automation_condition=derived(), kinds={"duckdb", "torch"}, deps=[benchmark_table_cpp],
    description="Collaborative performance prediction: MF, NCF, NCF with factors, factors only; Shapley factor importance. Tables crossmodel_cpp_*.",
)  # fmt: skip
def cpp_prediction(config: CppConfig, inputs: InputsResource, storage: StorageResource) -> dg.MaterializeResult:
    models, tasks, matrix, model_factors, task_factors = cpp_inputs(*read_source(storage, CPP_SOURCE).frames())
    seeds = tuple(range(config.seed, config.seed + config.repeats))
    result = evaluate_cpp(matrix, model_factors, task_factors, models=models, tasks=tasks, seeds=seeds, test_fraction=config.test_fraction)
    write_results(storage, "crossmodel_write_cpp", {"cpp_variants": result.variants, "cpp_per_seed": result.per_seed, "cpp_shapley": result.shapley})
    scatter = _scatter(
        result.predictions.filter(pl.col("seed") == seeds[0]).filter(pl.col("variant").is_in(["mf", "ncf_factors"])),
        f"held-out cells, seed {seeds[0]}",
        "variant",
    )
    importance, axis = plt.subplots(figsize=(6, 4))
    ordered = result.shapley.sort("shapley_mse_reduction")
    axis.barh([f"{s}: {f}" for s, f in ordered.select("side", "factor").iter_rows()], ordered["shapley_mse_reduction"])
    axis.set(xlabel="Shapley value (held-out MSE reduction)", title="factor importance (ncf_factors)")
    return dg.MaterializeResult(metadata={
        "models": len(models), "tasks": len(tasks), "observed_share": float(np.mean(~np.isnan(matrix))), "seeds": list(seeds),
        "variants": table_preview(result.variants), "shapley": table_preview(result.shapley, 20),
        **_named("predicted_vs_actual", plot_metadata(scatter, storage.plot_path("crossmodel_cpp_predictions.png"))),
        **_named("factor_importance", plot_metadata(importance, storage.plot_path("crossmodel_cpp_factor_importance.png"))),
    })  # fmt: skip


class DesignFactorConfig(dg.Config):
    seed: int = Field(default=0, description="First seed of the repeated 3-fold cross-validation.")
    repeats: int = Field(default=5, description="Number of seeds the cross-validation is repeated over.")


@dg.asset(
    group_name=GROUP, code_version="1", automation_condition=derived(), kinds={"duckdb", "sklearn"}, deps=[benchmark_table_not_just_scaling],
    description="Design-factor regression: per task, scale-only vs scale + data mix + architecture trees, paired test with FDR. Tables crossmodel_design_factor_*.",
)  # fmt: skip
def design_factor_regression(config: DesignFactorConfig, inputs: InputsResource, storage: StorageResource) -> dg.MaterializeResult:
    table = read_source(storage, NJS_SOURCE)
    data = design_data(table.models, table.model_features, table.scores)
    result = evaluate_design_factors(data, seeds=tuple(range(config.seed, config.seed + config.repeats)))
    write_results(storage, "crossmodel_write_design_factors", {"design_tasks": result.tasks, "design_attributions": result.attributions})
    figure, axis = plt.subplots(figsize=(6, 4))
    ordered = result.tasks.sort("relative_improvement")
    colors = ["tab:green" if p < 0.05 else "tab:grey" for p in ordered["p_value"]]
    axis.barh(ordered["task"], ordered["relative_improvement"], color=colors)
    axis.set(xlabel="relative MAE improvement from design features (green: FDR p < 0.05)")
    return dg.MaterializeResult(metadata={
        "models": len(data.models), "tasks": result.tasks.height,
        "significant_tasks": int((result.tasks["p_value"] < 0.05).sum()),
        "tasks_preview": table_preview(result.tasks.drop("selected_features"), 20),
        **_named("improvement", plot_metadata(figure, storage.plot_path("crossmodel_design_factors.png"))),
    })  # fmt: skip
