"""Loading the SMI reference files and `smi fit-reference`, on generated files and on the real one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from smi_assets.common.errors import InputError
from smi_assets.smi.reference import load_reference


def test_load_reference_renames_counts_and_attaches_sizes(toy_reference: Path) -> None:
    frame = load_reference(toy_reference)
    assert {"N", "N_s", "N_o", "N_so", "N_s_only", "N_o_only", "N_neither", "family", "params"} <= set(frame.columns)
    sizes = dict(frame.group_by("model").agg(pl.col("params").first()).iter_rows())
    assert sizes == {"toy-small": pytest.approx(1e8), "toy-large": pytest.approx(2e9)}
    assert (frame["N_so"] + frame["N_s_only"] + frame["N_o_only"] + frame["N_neither"] == frame["N"]).all()


def test_load_reference_names_file_and_row_of_inconsistent_counts(toy_reference: Path) -> None:
    path = toy_reference
    frame = pl.read_parquet(path)
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 7).then(pl.col("time_subj") + 10**7).otherwise(pl.col("time_subj")).alias("time_subj"))
    frame.write_parquet(path)
    with pytest.raises(InputError, match=r"merge_outputs\.parquet, row 7") as error:
        load_reference(path)
    assert error.value.row == 7


def test_load_reference_reports_missing_columns_and_unknown_models(toy_reference: Path, tmp_path: Path) -> None:
    path = toy_reference
    complete = pl.read_parquet(path)
    complete.drop("time_s1j1").write_parquet(path)
    with pytest.raises(InputError, match="time_s1j1"):
        load_reference(path)
    complete.write_parquet(path)
    (tmp_path / "models.csv").write_text("models,model_series,model_size\norg/toy-small,Toy,0.1\n")
    with pytest.raises(InputError, match=r"models\.csv.*toy-large"):
        load_reference(path)
    (tmp_path / "models.csv").write_text("models,model_series,model_size\norg/toy-small,Toy,0.1\norg/toy-large,Toy,big\n")
    with pytest.raises(InputError, match=r"models\.csv, line 3"):
        load_reference(path)


def test_fit_reference_command_writes_one_row_per_model_and_method(toy_reference: Path, tmp_path: Path, run_smi: Callable[..., int]) -> None:
    path = toy_reference
    out = tmp_path / "out" / "fits.csv"
    assert run_smi("fit-reference", str(path), "--variant", "current", "--out", str(out)) == 0
    table = pl.read_csv(out)
    assert table.height == 6
    assert set(zip(table["model"], table["method"])) == {(model, method) for model in ("toy-small", "toy-large") for method in ("CO-OCCUR", "MI", "SMI")}
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind
    assert run_smi("fit-reference", str(path), "--out", str(out), "--drop-prompt-echo") == 0
    dropped = pl.read_csv(out)
    # The five echo triples all co-occur (n_so may be 0 elsewhere), so they were fitted before.
    assert (table["n_questions"] - dropped["n_questions"] == 5).all()


def test_fit_reference_reproduces_published_smi_r2(reference_parquet: Path, tmp_path: Path, run_smi: Callable[..., int]) -> None:
    out = tmp_path / "fits.csv"
    assert run_smi("fit-reference", str(reference_parquet), "--variant", "current", "--out", str(out)) == 0
    table = pl.read_csv(out)
    assert table.height == 24 * 3
    smi_r2 = dict(table.filter(pl.col("method") == "SMI").select("model", "r2").iter_rows())
    assert smi_r2["pythia-12b"] == pytest.approx(0.856241, abs=1e-6)
    assert smi_r2["gpt-j-6b"] == pytest.approx(0.864670, abs=1e-6)
    assert smi_r2["bloom-560m"] == pytest.approx(0.591447, abs=1e-6)


def test_dropping_prompt_echo_removes_the_echo_triples_from_real_models(reference_parquet: Path, tmp_path: Path, run_smi: Callable[..., int]) -> None:
    out = tmp_path / "fits.csv"
    assert run_smi("fit-reference", str(reference_parquet), "--drop-prompt-echo", "--out", str(out)) == 0
    dropped = pl.read_csv(out).filter(pl.col("model") == "pythia-12b")
    # The published `mi` column (not our MI) decides which questions the paper fits.
    raw = pl.read_parquet(reference_parquet).filter(pl.col("model") == "pythia-12b")
    echo = raw.filter(pl.col("subj").str.contains(pl.col("obj"), literal=True))
    assert echo.height == 604 and (echo["acc"] == 1.0).all()
    fitted = raw.filter(pl.col("mi") > 0)
    fitted_echo = echo.filter(pl.col("mi") > 0)
    assert (dropped["n_questions"] == fitted.height - fitted_echo.height).all()
    assert dropped["acc"][0] == pytest.approx(fitted.join(fitted_echo, on="idx", how="anti")["acc"].mean())
