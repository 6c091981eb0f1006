"""The cross-model benchmark table: model x benchmark scores with model and benchmark metadata.

One :class:`BenchmarkTable` holds rows from any number of sources (the three public formats
in ``shared/reference`` and the project's own checkpoints), in four long frames:

- ``models``: ``source, model, family, params, tokens, flops`` (counts, not billions;
  null where unknown);
- ``model_features``: ``source, model, feature, value, label`` -- architecture, data-mix
  and other design fields; numeric fields fill ``value``, categorical ones ``label``;
- ``scores``: ``source, model, benchmark, score`` with scores in [0, 1]; missing scores
  are absent rows, never zeros;
- ``benchmark_features``: ``source, benchmark, feature, label`` (task design factors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from smi_assets.common.errors import InputError
from smi_assets.common.sql import load_sql

MODELS_SCHEMA = {
    "source": pl.Utf8, "model": pl.Utf8, "family": pl.Utf8,
    "params": pl.Float64, "tokens": pl.Float64, "flops": pl.Float64,
}  # fmt: skip
MODEL_FEATURES_SCHEMA = {"source": pl.Utf8, "model": pl.Utf8, "feature": pl.Utf8, "value": pl.Float64, "label": pl.Utf8}
SCORES_SCHEMA = {"source": pl.Utf8, "model": pl.Utf8, "benchmark": pl.Utf8, "score": pl.Float64}
BENCHMARK_FEATURES_SCHEMA = {"source": pl.Utf8, "benchmark": pl.Utf8, "feature": pl.Utf8, "label": pl.Utf8}

OBSSCALING_META_COLUMNS = ("Model", "Model Family", "Model Size (B)", "Pretraining Data Size (T)", "FLOPs (1E21)")

# Tasks of not_just_scaling (arXiv 2503.03862) as rows of its evaluation_results.csv: a task's
# score is the mean over the listed benchmarks (or benchmark-name prefixes) a model has.
# The metric follows the paper's repo: accuracy where generated, Brier score for the
# multiple-choice suites it scored that way (lower is better there; MAE does not care).
NJS_TASKS: dict[str, dict] = {
    "arc_challenge": {"benchmarks": ("arc_challenge", "arc:challenge"), "setting": "25-shot", "metric": "accuracy"},
    "hellaswag": {"benchmarks": ("hellaswag",), "setting": "10-shot", "metric": "accuracy"},
    "lambada": {"benchmarks": ("lambada_openai",), "setting": "0-shot", "metric": "accuracy"},
    "mmlu_0-shot": {"prefixes": ("mmlu_",), "setting": "0-shot", "metric": "accuracy"},
    "mmlu_5-shot": {"prefixes": ("mmlu_", "hendrycksTest-"), "setting": "5-shot", "metric": "accuracy"},
    "truthfulqa": {"benchmarks": ("truthfulqa_mc2",), "setting": "0-shot", "metric": "accuracy"},
    "winogrande": {"benchmarks": ("winogrande",), "setting": "5-shot", "metric": "accuracy"},
    "anli": {"prefixes": ("anli_r",), "setting": "0-shot", "metric": "brier_score"},
    "logiqa2": {"benchmarks": ("logiqa2",), "setting": "0-shot", "metric": "brier_score"},
    "xnli": {"prefixes": ("xnli_",), "setting": "0-shot", "metric": "brier_score"},
    "mathqa": {"benchmarks": ("mathqa",), "setting": "0-shot", "metric": "brier_score"},
    "gsm8k": {"benchmarks": ("gsm8k",), "setting": "5-shot", "metric": "accuracy"},
    "humaneval": {"benchmarks": ("humaneval",), "setting": "0-shot", "metric": "accuracy"},
}
NJS_NUMERIC_FEATURES = ("dimension", "num_heads", "mlp_ratio", "sequence_length")
NJS_CATEGORICAL_FEATURES = (
    "layer_norm_type", "positional_embeddings", "attention_variant", "biases", "block_type", "activation", "weight_tying",
)  # fmt: skip
NJS_DATA_MIX_FEATURES = (
    "pretraining_summary_percentage_web", "pretraining_summary_percentage_code",
    "pretraining_summary_percentage_books", "pretraining_summary_percentage_reference",
    "pretraining_summary_percentage_academic", "pretraining_summary_percentage_english",
)  # fmt: skip

SMI_SOURCE = "smi-synthetic"
SMI_BENCHMARK_PREFIX = "synthetic_cbqa"


@dataclass(frozen=True)
class BenchmarkTable:
    """Scores and metadata of models from one or more sources (see the module docstring)."""

    models: pl.DataFrame
    model_features: pl.DataFrame
    scores: pl.DataFrame
    benchmark_features: pl.DataFrame

    @classmethod
    def empty(cls) -> BenchmarkTable:
        return cls(
            pl.DataFrame(schema=MODELS_SCHEMA), pl.DataFrame(schema=MODEL_FEATURES_SCHEMA),
            pl.DataFrame(schema=SCORES_SCHEMA), pl.DataFrame(schema=BENCHMARK_FEATURES_SCHEMA),
        )  # fmt: skip

    def source(self, name: str) -> BenchmarkTable:
        """The rows of one source."""
        keep = pl.col("source") == name
        return BenchmarkTable(*(frame.filter(keep) for frame in self.frames()))

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        return self.models, self.model_features, self.scores, self.benchmark_features


def concat_tables(*tables: BenchmarkTable) -> BenchmarkTable:
    """All rows of `tables`, in order."""
    parts = [BenchmarkTable.empty(), *tables]
    return BenchmarkTable(*(pl.concat([table.frames()[i] for table in parts]) for i in range(4)))


def score_matrix(table: BenchmarkTable, benchmarks: list[str] | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """Models (in `table.models` order), benchmarks and their score matrix, NaN where missing."""
    models = table.models["model"].to_list()
    if benchmarks is None:
        benchmarks = list(dict.fromkeys(table.scores["benchmark"].to_list()))
    row = {name: i for i, name in enumerate(models)}
    column = {name: j for j, name in enumerate(benchmarks)}
    matrix = np.full((len(models), len(benchmarks)), np.nan)
    for model, benchmark, score in table.scores.select("model", "benchmark", "score").iter_rows():
        if model in row and benchmark in column:
            matrix[row[model], column[benchmark]] = score
    return models, benchmarks, matrix


def _read_csv(path: Path) -> pl.DataFrame:
    if not Path(path).is_file():
        raise InputError(path, "file not found")
    try:
        # Strings first: the loaders below parse each column and name the row that fails.
        return pl.read_csv(path, infer_schema_length=0, encoding="utf8-lossy")
    except pl.exceptions.PolarsError as error:
        raise InputError(path, f"not a readable CSV ({error})") from error


def _require_columns(frame: pl.DataFrame, columns: tuple[str, ...] | list[str], path: Path) -> None:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise InputError(path, f"missing column(s) {missing}; found {frame.columns}", line=1)


def _number(text: str | None, path: Path, row: int, column: str, *, allow_missing: bool = True) -> float | None:
    """Parse one CSV cell; empty, '-' and 'nan' are missing. Rows count data rows from 1."""
    if text is None or text.strip() in ("", "-", "nan", "NaN"):
        if allow_missing:
            return None
        raise InputError(path, f"column {column!r} is empty", row=row)
    try:
        value = float(text.strip().replace(",", ""))
    except ValueError:
        raise InputError(path, f"column {column!r}: {text!r} is not a number", row=row) from None
    if not math.isfinite(value):
        return None
    return value


def _check_unique(names: list[str], path: Path) -> None:
    seen: set[str] = set()
    for row, name in enumerate(names, start=1):
        if name in seen:
            raise InputError(path, f"model {name!r} appears twice", row=row)
        seen.add(name)


def _scores_from_wide(frame: pl.DataFrame, model_column: str, benchmarks: list[str], path: Path, source: str, scale: float) -> pl.DataFrame:
    """Long scores from a wide CSV; `scale` maps the file's unit to [0, 1]."""
    rows = []
    for row, record in enumerate(frame.iter_rows(named=True), start=1):
        for benchmark in benchmarks:
            value = _number(record[benchmark], path, row, benchmark)
            if value is None:
                continue
            score = value / scale
            if not -1e-9 <= score <= 1 + 1e-9:
                raise InputError(path, f"column {benchmark!r}: {value} is outside [0, {scale:g}]", row=row)
            rows.append((source, record[model_column], benchmark, score))
    return pl.DataFrame(rows, schema=SCORES_SCHEMA, orient="row")


def load_obsscaling(path: str | Path, source: str = "obsscaling") -> BenchmarkTable:
    """A table in the format of ObsScaling's ``base_llm_benchmark_eval.csv`` (scores in [0, 1]).

    Any column after the five metadata columns is a benchmark.
    """
    path = Path(path)
    frame = _read_csv(path)
    _require_columns(frame, OBSSCALING_META_COLUMNS, path)
    _check_unique(frame["Model"].to_list(), path)
    models = []
    for row, record in enumerate(frame.iter_rows(named=True), start=1):
        size = _number(record["Model Size (B)"], path, row, "Model Size (B)")
        data = _number(record["Pretraining Data Size (T)"], path, row, "Pretraining Data Size (T)")
        flops = _number(record["FLOPs (1E21)"], path, row, "FLOPs (1E21)")
        models.append((
            source, record["Model"], record["Model Family"],
            None if size is None else size * 1e9, None if data is None else data * 1e12,
            None if flops is None else flops * 1e21,
        ))  # fmt: skip
    benchmarks = [name for name in frame.columns if name not in OBSSCALING_META_COLUMNS]
    return BenchmarkTable(
        pl.DataFrame(models, schema=MODELS_SCHEMA, orient="row"),
        pl.DataFrame(schema=MODEL_FEATURES_SCHEMA),
        _scores_from_wide(frame, "Model", benchmarks, path, source, scale=1.0),
        pl.DataFrame(schema=BENCHMARK_FEATURES_SCHEMA),
    )


def load_target_column(path: str | Path, column: str, source: str = "obsscaling") -> pl.DataFrame:
    """Scores (in [0, 1]) of one benchmark `column` from another ObsScaling-format file keyed
    by ``Model`` (e.g. ``base_llm_emergent_capability_eval.csv``), as score rows."""
    path = Path(path)
    frame = _read_csv(path)
    _require_columns(frame, ("Model", column), path)
    _check_unique(frame["Model"].to_list(), path)
    return _scores_from_wide(frame, "Model", [column], path, source, scale=1.0)


def _features_from_record(source: str, model: str, record: dict, columns: list[str]) -> list[tuple]:
    """Feature rows of one model: numeric cells fill `value`, others `label`; blanks are skipped."""
    rows = []
    for column in columns:
        text = record[column]
        if text is None or text.strip() in ("", "-"):
            continue
        try:
            rows.append((source, model, column, float(text.replace(",", "")), None))
        except ValueError:
            rows.append((source, model, column, None, text.strip()))
    return rows


def load_cpp(scores_path: str | Path, model_features_path: str | Path, task_features_path: str | Path, source: str = "cpp") -> BenchmarkTable:
    """Tables in the formats of CPP's ``crowdsource_performance.csv`` (percent, first header
    cell empty), ``model_feature.csv`` (rows align with the scores by order) and the transposed
    ``benchmark_feature.csv``."""
    scores_path, model_features_path, task_features_path = map(Path, (scores_path, model_features_path, task_features_path))
    scores = _read_csv(scores_path)
    name_column = scores.columns[0]
    model_names = [name.strip() for name in scores[name_column].to_list()]
    scores = scores.with_columns(pl.Series(name_column, model_names))
    _check_unique(model_names, scores_path)
    benchmarks = scores.columns[1:]

    factors = _read_csv(model_features_path)
    _require_columns(factors, ("Model Name", "family", "Pretraining Dataset Size(B)", "Parameter Size(M)"), model_features_path)
    if factors.height != scores.height:
        raise InputError(model_features_path, f"{factors.height} rows, but {scores_path} has {scores.height} models")
    models, features = [], []
    factor_columns = [name for name in factors.columns if name != "Model Name"]
    for row, (model, record) in enumerate(zip(model_names, factors.iter_rows(named=True)), start=1):
        tokens = _number(record["Pretraining Dataset Size(B)"], model_features_path, row, "Pretraining Dataset Size(B)")
        params = _number(record["Parameter Size(M)"], model_features_path, row, "Parameter Size(M)")
        flops = _number(record.get("FLOPs"), model_features_path, row, "FLOPs") if "FLOPs" in record else None
        models.append((
            source, model, record["family"],
            None if params is None else params * 1e6, None if tokens is None else tokens * 1e9, flops,
        ))  # fmt: skip
        features += _features_from_record(source, model, record, factor_columns)

    tasks = _read_csv(task_features_path)
    task_names = tasks.columns[1:]
    unknown = [name for name in task_names if name not in benchmarks]
    if unknown:
        raise InputError(task_features_path, f"benchmarks {unknown} are not columns of {scores_path}", line=1)
    task_rows = [
        (source, benchmark, record[tasks.columns[0]].strip(), record[benchmark].strip())
        for record in tasks.iter_rows(named=True)
        for benchmark in task_names
        if record[benchmark] is not None and record[benchmark].strip()
    ]
    return BenchmarkTable(
        pl.DataFrame(models, schema=MODELS_SCHEMA, orient="row"),
        pl.DataFrame(features, schema=MODEL_FEATURES_SCHEMA, orient="row"),
        _scores_from_wide(scores, name_column, benchmarks, scores_path, source, scale=100.0),
        pl.DataFrame(task_rows, schema=BENCHMARK_FEATURES_SCHEMA, orient="row"),
    )


def load_not_just_scaling(directory: str | Path, source: str = "not_just_scaling") -> BenchmarkTable:
    """Base models of the not_just_scaling files (``model_annotations.csv``,
    ``dataset_info.csv``, ``evaluation_results.csv``) with their task scores (:data:`NJS_TASKS`).

    Instruction- or preference-tuned models are left out, as in the paper's base-model protocol.
    """
    directory = Path(directory)
    annotations_path, data_path, results_path = (
        directory / "model_annotations.csv", directory / "dataset_info.csv", directory / "evaluation_results.csv",
    )  # fmt: skip
    annotations = _read_csv(annotations_path)
    _require_columns(annotations, ("id", "total_params", "is_instruction_tuned", *NJS_NUMERIC_FEATURES, *NJS_CATEGORICAL_FEATURES), annotations_path)
    data = _read_csv(data_path)
    _require_columns(data, ("id", "pretraining_summary_total_tokens_billions", *NJS_DATA_MIX_FEATURES), data_path)
    _check_unique(annotations["id"].to_list(), annotations_path)
    tokens_by_model = {}
    data_records = {}
    for row, record in enumerate(data.iter_rows(named=True), start=1):
        tokens = _number(record["pretraining_summary_total_tokens_billions"], data_path, row, "pretraining_summary_total_tokens_billions")
        tokens_by_model[record["id"]] = None if tokens is None else tokens * 1e9
        data_records[record["id"]] = record

    models, features = [], []
    for row, record in enumerate(annotations.iter_rows(named=True), start=1):
        if (record["is_instruction_tuned"] or "").lower() == "true" or (record.get("is_preference_tuned") or "").lower() == "true":
            continue
        model = record["id"]
        params = _number(record["total_params"], annotations_path, row, "total_params")
        tokens = tokens_by_model.get(model)
        flops = None if params is None or tokens is None else 6.0 * params * tokens
        # The files name no family; the Hugging Face organisation is the closest stand-in.
        models.append((source, model, model.split("/")[0], params, tokens, flops))
        features += _features_from_record(source, model, record, [*NJS_NUMERIC_FEATURES, *NJS_CATEGORICAL_FEATURES])
        if model in data_records:
            features += _features_from_record(source, model, data_records[model], list(NJS_DATA_MIX_FEATURES))
    models_frame = pl.DataFrame(models, schema=MODELS_SCHEMA, orient="row")

    results = _read_csv(results_path)
    _require_columns(results, ("id", "benchmark", "setting", "metric", "metric_value"), results_path)
    results = results.with_row_index("row", offset=1).filter(pl.col("id").is_in(models_frame["model"].implode()))
    values = results["metric_value"].cast(pl.Float64, strict=False)
    bad = results.filter(values.is_null() & results["metric_value"].is_not_null() & ~results["metric_value"].str.to_lowercase().is_in(["nan", ""]))
    if bad.height:
        raise InputError(results_path, f"metric_value {bad['metric_value'][0]!r} is not a number", row=int(bad["row"][0]))
    results = results.with_columns(values.alias("metric_value")).filter(pl.col("metric_value").is_finite())
    task_scores = []
    for task, spec in NJS_TASKS.items():
        matches = pl.col("benchmark").is_in(list(spec.get("benchmarks", ())))
        for prefix in spec.get("prefixes", ()):
            matches = matches | pl.col("benchmark").str.starts_with(prefix)
        selected = results.filter(matches & (pl.col("setting") == spec["setting"]) & (pl.col("metric") == spec["metric"]))
        task_scores.append(
            selected.group_by("id", maintain_order=True)
            .agg(pl.col("metric_value").mean().alias("score"))
            .select(pl.lit(source).alias("source"), pl.col("id").alias("model"), pl.lit(task).alias("benchmark"), "score")
        )
    task_rows = [(source, task, "metric", spec["metric"]) for task, spec in NJS_TASKS.items()]
    return BenchmarkTable(
        models_frame,
        pl.DataFrame(features, schema=MODEL_FEATURES_SCHEMA, orient="row"),
        pl.concat(task_scores) if task_scores else pl.DataFrame(schema=SCORES_SCHEMA),
        pl.DataFrame(task_rows, schema=BENCHMARK_FEATURES_SCHEMA, orient="row"),
    )


def load_checkpoint_rows(connection: duckdb.DuckDBPyConnection) -> BenchmarkTable:
    """The project's own checkpoints and their synthetic CBQA accuracy, when the pipeline has
    written ``checkpoints`` and ``cbqa_checkpoint_accuracy``; an empty table otherwise.

    FLOPs are approximated as 6 * params * tokens seen; one benchmark per decoding.
    """
    present = {name for (name,) in connection.execute(load_sql("existing_tables")).fetchall()}
    if "checkpoints" not in present:
        return BenchmarkTable.empty()
    models = connection.execute(load_sql("crossmodel_checkpoint_models"), [SMI_SOURCE]).pl().cast(MODELS_SCHEMA)
    scores = pl.DataFrame(schema=SCORES_SCHEMA)
    if "cbqa_checkpoint_accuracy" in present:
        scores = connection.execute(load_sql("crossmodel_checkpoint_scores"), [SMI_SOURCE, SMI_BENCHMARK_PREFIX]).pl().cast(SCORES_SCHEMA)
    return BenchmarkTable(models, pl.DataFrame(schema=MODEL_FEATURES_SCHEMA), scores, pl.DataFrame(schema=BENCHMARK_FEATURES_SCHEMA))
