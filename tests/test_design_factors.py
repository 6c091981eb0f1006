"""Design-factor regression finds a planted data-mix effect beyond scale, and no effect where
there is none; the not_just_scaling loader and command work on small generated files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from smi_assets.cli import main
from smi_assets.crossmodel.benchmark_table import load_not_just_scaling
from smi_assets.crossmodel.design_factors import design_data, evaluate_design_factors

N_MODELS = 90


def write_reference(directory: Path, seed: int = 0) -> None:
    """not_just_scaling-format files: task `code_task` depends on scale and on the code share
    of the data mix; task `scale_task` on scale only. Two instruction-tuned models are added
    and must be left out."""
    rng = np.random.default_rng(seed)
    ids = [f"org/m{i}" for i in range(N_MODELS)] + ["org/chat-1", "org/chat-2"]
    n = len(ids)
    params = 10 ** rng.uniform(8, 10.5, n)
    tokens = 10 ** rng.uniform(11, 12.5, n)
    code = rng.uniform(0, 40, n)
    web = 100 - code - rng.uniform(0, 10, n)
    norm = rng.choice(["rmsnorm", "parametric"], n)
    pl.DataFrame({
        "id": ids, "dimension": rng.choice([1024, 2048, 4096], n), "num_heads": 16, "mlp_ratio": 4.0,
        "layer_norm_type": norm, "positional_embeddings": "rope", "attention_variant": "full", "biases": "none",
        "block_type": "sequential", "activation": "swiglu", "sequence_length": 2048, "weight_tying": "false",
        "is_instruction_tuned": ["false"] * N_MODELS + ["true", "true"], "is_preference_tuned": "false",
        "total_params": params.astype(np.int64),
    }).write_csv(directory / "model_annotations.csv")  # fmt: skip
    pl.DataFrame({
        "id": ids, "pretraining_summary_total_tokens_billions": tokens / 1e9,
        "pretraining_summary_percentage_web": web, "pretraining_summary_percentage_code": code,
        "pretraining_summary_percentage_books": 1.0, "pretraining_summary_percentage_reference": 1.0,
        "pretraining_summary_percentage_academic": 1.0, "pretraining_summary_percentage_english": 90.0,
    }).write_csv(directory / "dataset_info.csv")  # fmt: skip
    scale = 0.08 * np.log10(params) + 0.05 * np.log10(tokens) - 0.9
    code_task = scale + 0.004 * code + rng.normal(0, 0.005, n)
    scale_task = scale + rng.normal(0, 0.005, n)
    rows = [(i, "humaneval", "0-shot", "accuracy", float(v), 0.01) for i, v in zip(ids, code_task)]
    rows += [(i, "hellaswag", "10-shot", "accuracy", float(v), 0.01) for i, v in zip(ids, scale_task)]
    rows += [(ids[0], "hellaswag", "10-shot", "accuracy", float("nan"), 0.01)]  # NaN results are dropped
    pl.DataFrame(rows, schema=["id", "benchmark", "setting", "metric", "metric_value", "metric_stderr"], orient="row").write_csv(
        directory / "evaluation_results.csv"
    )


def test_loader_keeps_base_models_and_averages_task_scores(tmp_path):
    write_reference(tmp_path)
    table = load_not_just_scaling(tmp_path)
    assert table.models.height == N_MODELS and "org/chat-1" not in table.models["model"].to_list()
    assert set(table.scores["benchmark"]) == {"humaneval", "hellaswag"}
    assert table.scores.filter(pl.col("benchmark") == "hellaswag").height == N_MODELS
    assert table.scores["score"].is_nan().sum() == 0
    first = table.models.row(0, named=True)
    assert first["flops"] == pytest.approx(6 * first["params"] * first["tokens"])


def test_planted_code_effect_is_found_and_attributed_and_absent_effect_is_not(tmp_path):
    write_reference(tmp_path)
    table = load_not_just_scaling(tmp_path)
    result = evaluate_design_factors(design_data(table.models, table.model_features, table.scores), seeds=(0, 1), importance_repeats=1)
    rows = {row["task"]: row for row in result.tasks.iter_rows(named=True)}
    code_task, scale_task = rows["humaneval"], rows["hellaswag"]
    assert code_task["mae_with_features"] < 0.7 * code_task["mae_scale_only"]
    assert code_task["p_value"] < 0.01
    assert code_task["selected_features"].split(";")[0] == "pretraining_summary_percentage_code"
    assert scale_task["p_value"] > 0.05
    assert scale_task["relative_improvement"] < 0.1
    importance = result.attributions.filter(pl.col("task") == "humaneval").sort("importance", descending=True)
    assert importance["feature"][0] in ("pretraining_summary_percentage_code", "pretraining_summary_percentage_web", "log_params")


def test_design_factors_command_writes_one_row_per_task(tmp_path):
    write_reference(tmp_path)
    out = tmp_path / "out" / "design.csv"
    assert main(["design-factors", "--reference-dir", str(tmp_path), "--out", str(out), "--repeats", "1"]) == 0
    written = pl.read_csv(out)
    assert written.columns[:6] == ["task", "mae_scale_only", "mae_with_features", "relative_improvement", "p_value", "p_value_raw"]
    assert "selected_features" in written.columns
    assert sorted(written["task"]) == ["hellaswag", "humaneval"]
    assert (tmp_path / "out" / "design.attributions.csv").is_file()


def test_bad_metric_value_names_the_row(tmp_path):
    write_reference(tmp_path)
    results = pl.read_csv(tmp_path / "evaluation_results.csv").with_columns(pl.col("metric_value").cast(pl.Utf8))
    results = results.with_columns(pl.when(pl.int_range(pl.len()) == 4).then(pl.lit("oops")).otherwise(pl.col("metric_value")).alias("metric_value"))
    results.write_csv(tmp_path / "evaluation_results.csv")
    assert main(["design-factors", "--reference-dir", str(tmp_path), "--out", str(tmp_path / "x.csv")]) == 2
    assert not (tmp_path / "x.csv").exists()
