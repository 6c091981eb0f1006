"""The cross-model benchmark table: loaders of the three public formats, the project's own
checkpoints, bad-input errors, and the Dagster assets of the domain."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest

from smi_assets.common.errors import InputError
from smi_assets.crossmodel import benchmark_table as bt
from smi_assets.defs.crossmodel import assets as crossmodel
from smi_assets.orchestration.resources import DEFAULT_REFERENCE_DIR, InputsResource, StorageResource

OBS_HEADER = "Model,Model Family,Model Size (B),Pretraining Data Size (T),FLOPs (1E21),MMLU,GSM8K\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_obsscaling_loader_converts_units_and_keeps_missing_scores_missing(tmp_path):
    path = write(tmp_path / "t.csv", OBS_HEADER + "a,F,7.0,2.0,84.0,0.5,\nb,F,1.0,,,0.25,0.1\n")
    table = bt.load_obsscaling(path)
    models = {row["model"]: row for row in table.models.iter_rows(named=True)}
    assert models["a"]["params"] == pytest.approx(7e9)
    assert models["a"]["tokens"] == pytest.approx(2e12)
    assert models["a"]["flops"] == pytest.approx(8.4e22)
    assert models["b"]["flops"] is None
    # a's GSM8K is blank: no row, not a zero
    assert table.scores.filter(pl.col("model") == "a")["benchmark"].to_list() == ["MMLU"]
    _, benchmarks, matrix = bt.score_matrix(table)
    assert benchmarks == ["MMLU", "GSM8K"]
    assert np.isnan(matrix[0, 1]) and matrix[1, 1] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("body", "problem", "row"),
    [
        ("a,F,7.0,2.0,84.0,0.5,x\n", "'x' is not a number", 1),
        ("a,F,7.0,2.0,84.0,0.5,0.1\nb,F,7.0,2.0,84.0,1.5,0.1\n", "outside [0, 1]", 2),
        ("a,F,7.0,2.0,84.0,0.5,0.1\na,F,7.0,2.0,84.0,0.5,0.1\n", "appears twice", 2),
    ],
)
def test_obsscaling_loader_names_file_and_row_of_bad_input(tmp_path, body, problem, row):
    path = write(tmp_path / "bad.csv", OBS_HEADER + body)
    with pytest.raises(InputError) as caught:
        bt.load_obsscaling(path)
    assert caught.value.row == row and problem in str(caught.value) and "bad.csv" in str(caught.value)


def test_obsscaling_loader_rejects_missing_columns(tmp_path):
    path = write(tmp_path / "bad.csv", "Model,MMLU\na,0.5\n")
    with pytest.raises(InputError, match="missing column"):
        bt.load_obsscaling(path)


def write_cpp(tmp_path: Path, n_feature_rows: int = 2) -> tuple[Path, Path, Path]:
    scores = write(tmp_path / "scores.csv", ",T1,T2\nm1,50,\nm2,25.5,80\n")
    rows = ["m1,fam,100,7000,No,4096", "m2,fam,200,13000,Yes,2048"][:n_feature_rows]
    factors = write(
        tmp_path / "models.csv", "Model Name,family,Pretraining Dataset Size(B),Parameter Size(M),Finetuning,Context window\n" + "\n".join(rows) + "\n"
    )
    tasks = write(tmp_path / "tasks.csv", ",T1,T2\nability,reasoning,code\nfew-shot,0,5\n")
    return scores, factors, tasks


def test_cpp_loader_scales_percent_and_reads_factors(tmp_path):
    table = bt.load_cpp(*write_cpp(tmp_path))
    assert table.models["params"].to_list() == [7e9, 13e9]
    assert table.models["tokens"].to_list() == [100e9, 200e9]
    scores = {(m, b): s for _, m, b, s in table.scores.iter_rows()}
    assert scores == {("m1", "T1"): 0.5, ("m2", "T1"): 0.255, ("m2", "T2"): 0.8}
    finetuning = table.model_features.filter(pl.col("feature") == "Finetuning")
    assert finetuning["label"].to_list() == ["No", "Yes"] and finetuning["value"].null_count() == 2
    assert set(table.benchmark_features["feature"]) == {"ability", "few-shot"}


def test_cpp_loader_rejects_misaligned_factor_rows(tmp_path):
    with pytest.raises(InputError, match="1 rows"):
        bt.load_cpp(*write_cpp(tmp_path, n_feature_rows=1))


def test_checkpoint_rows_are_empty_without_the_pipeline_tables_and_join_when_present():
    connection = duckdb.connect()
    assert bt.load_checkpoint_rows(connection).models.is_empty()
    connection.execute("CREATE TABLE checkpoints (checkpoint_id VARCHAR, params BIGINT, non_embedding_params BIGINT, tokens_seen BIGINT)")
    connection.execute("INSERT INTO checkpoints VALUES ('tiny', 1000000, 800000, 20000000)")
    connection.execute("CREATE TABLE cbqa_checkpoint_accuracy (checkpoint_id VARCHAR, decoding VARCHAR, mean_accuracy DOUBLE)")
    connection.execute("INSERT INTO cbqa_checkpoint_accuracy VALUES ('tiny', 'greedy', 0.125)")
    table = bt.load_checkpoint_rows(connection)
    model = table.models.row(0, named=True)
    assert model["family"] == "smi-synthetic" and model["flops"] == pytest.approx(6 * 1e6 * 2e7)
    assert table.scores.rows() == [("smi-synthetic", "tiny", "synthetic_cbqa_greedy", 0.125)]


CROSSMODEL_ASSETS = dg.load_assets_from_modules([crossmodel])


def resources(tmp_path: Path) -> dict:
    return {"inputs": InputsResource(reference_dir=str(DEFAULT_REFERENCE_DIR)), "storage": StorageResource(data_dir=str(tmp_path / "data"))}


def test_asset_module_loads_in_definitions(tmp_path):
    definitions = dg.Definitions(assets=CROSSMODEL_ASSETS, resources=resources(tmp_path))
    graph = definitions.resolve_asset_graph()
    keys = [key for asset in CROSSMODEL_ASSETS for key in asset.keys]
    assert len(keys) == 7
    for key in keys:
        node = graph.get(key)
        assert node.group_name == "crossmodel" and node.code_version is not None


@pytest.mark.skipif(not (DEFAULT_REFERENCE_DIR / "cpp").is_dir(), reason=f"reference data not found at {DEFAULT_REFERENCE_DIR}")
def test_assets_materialize_on_reference_data_and_rerun_without_duplicates(tmp_path):
    run_config = dg.RunConfig(ops={
        "cpp_prediction": crossmodel.CppConfig(repeats=1),
        "design_factor_regression": crossmodel.DesignFactorConfig(repeats=1),
    })  # fmt: skip
    for _ in range(2):  # the second run must replace, not append
        result = dg.materialize(CROSSMODEL_ASSETS, resources=resources(tmp_path), run_config=run_config)
        assert result.success
    connection = duckdb.connect(str(tmp_path / "data" / "smi.duckdb"), read_only=True)
    counts = dict(connection.execute("SELECT source, count(*) FROM crossmodel_models GROUP BY source").fetchall())
    assert counts["obsscaling"] == 148 and counts["cpp"] == 72
    assert connection.execute("SELECT count(*) FROM crossmodel_cpp_variants").fetchone()[0] == 4
    predictors = connection.execute("SELECT predictor FROM crossmodel_obs_scaling_predictors").fetchall()
    assert {"PC1", "log_flops", "log_params"} <= {p for (p,) in predictors}
    assert (tmp_path / "data" / "plots" / "crossmodel_cpp_factor_importance.png").is_file()


def test_a_new_row_changes_only_its_source_data_version_and_replaces_rows(tmp_path):
    first = write(tmp_path / "first.csv", OBS_HEADER + "a,F,7.0,2.0,84.0,0.5,0.1\n")
    second = write(tmp_path / "second.csv", OBS_HEADER + "a,F,7.0,2.0,84.0,0.5,0.1\nb,F,1.0,1.0,6.0,0.3,0.05\n")
    assets = [crossmodel.benchmark_table_obsscaling, crossmodel.benchmark_table_smi_checkpoints]

    def materialize(path: Path) -> dict[str, str]:
        config = dg.RunConfig(ops={"benchmark_table_obsscaling": crossmodel.SourceFileConfig(path=str(path))})
        result = dg.materialize(assets, resources=resources(tmp_path), run_config=config)
        return {
            event.asset_key.to_user_string(): event.tags["dagster/data_version"]
            for event in result.get_asset_materialization_events()
            for event in [event.event_specific_data.materialization]
        }

    before, again, after = materialize(first), materialize(first), materialize(second)
    assert before == again
    assert after["benchmark_table_obsscaling"] != before["benchmark_table_obsscaling"]
    assert after["benchmark_table_smi_checkpoints"] == before["benchmark_table_smi_checkpoints"]
    connection = duckdb.connect(str(tmp_path / "data" / "smi.duckdb"), read_only=True)
    assert connection.execute("SELECT count(*) FROM crossmodel_scores WHERE source = 'obsscaling'").fetchone()[0] == 4
