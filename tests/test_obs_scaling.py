"""Observational scaling laws recover planted structure: a low-rank score matrix with missing
cells, capabilities linear in log-compute per family, and a sigmoid target of them."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from smi_assets.cli import main
from smi_assets.crossmodel.benchmark_table import load_obsscaling
from smi_assets.crossmodel.obs_scaling import (
    ObservationalScalingLaw,
    ObsScalingData,
    PCAImputer,
    SigmoidRegressor,
    evaluate_obs_scaling,
    obs_scaling_data,
    sigmoid,
)

BENCHMARKS = ["B1", "B2", "B3", "B4", "B5", "B6"]


def planted_table(seed: int = 0, n_families: int = 6, per_family: int = 8):
    """Families with their own offset; capability = offset + 0.4 * log10 FLOPs; benchmark
    scores are linear in the capability plus small noise; the target is a sigmoid of it
    with floor 0.25. Returns a frame in ObsScaling's CSV layout and the true target."""
    rng = np.random.default_rng(seed)
    loadings = rng.uniform(0.05, 0.1, len(BENCHMARKS))
    intercepts = rng.uniform(0.45, 0.55, len(BENCHMARKS))
    rows, truth = [], []
    for f in range(n_families):
        offset = rng.uniform(-1.5, 1.5)
        for log_flops in np.linspace(20.5, 24.5, per_family) + rng.normal(0, 0.05, per_family):
            capability = offset + 0.4 * (log_flops - 22.5)
            scores = intercepts + loadings * capability + rng.normal(0, 0.004, len(BENCHMARKS))
            target = 0.25 + 0.75 * sigmoid(np.array(2.0 * capability - 0.5))
            params_b = 10 ** (log_flops - 21.0) / 6 / 20  # tokens = 20 * params (in billions: 1e9 * 1e9 * 6 * 20)
            rows.append({
                "Model": f"f{f}-{len(rows)}", "Model Family": f"F{f}", "Model Size (B)": params_b * (1 + f),
                "Pretraining Data Size (T)": 0.02 * params_b, "FLOPs (1E21)": 10 ** (log_flops - 21),
                **dict(zip(BENCHMARKS, scores)), "TARGET": float(target),
            })  # fmt: skip
            truth.append(float(target))
    return pl.DataFrame(rows), np.array(truth)


def test_pca_imputer_recovers_missing_cells_of_a_low_rank_matrix():
    rng = np.random.default_rng(1)
    complete = np.outer(rng.normal(size=80), rng.uniform(0.5, 1.5, 6)) + np.outer(rng.normal(size=80), rng.normal(size=6)) * 0.5 + 3
    missing = rng.random(complete.shape) < 0.2
    observed = np.where(missing, np.nan, complete)
    filled = PCAImputer(n_components=2).fit(observed).transform(observed)
    imputation_error = np.abs(filled[missing] - complete[missing]).mean()
    mean_error = np.abs(np.nanmean(observed, axis=0)[np.nonzero(missing)[1]] - complete[missing]).mean()
    assert imputation_error < 1e-3
    assert mean_error > 0.3
    assert np.array_equal(filled[~missing], complete[~missing])  # observed cells untouched


def test_imputer_fitted_on_training_rows_is_not_moved_by_test_rows():
    rng = np.random.default_rng(2)
    train = rng.normal(size=(30, 5))
    imputer = PCAImputer(1).fit(train)
    test = rng.normal(size=(4, 5))
    test[0, 2] = np.nan
    before = imputer.transform(test)
    test[1:] += 100.0  # other test rows change wildly
    assert imputer.transform(test)[0] == pytest.approx(before[0])


def test_sigmoid_regressor_recovers_floor_and_slope():
    x = np.linspace(-3, 3, 60)[:, None]
    y = 0.25 + 0.75 * sigmoid(1.5 * x[:, 0] + 0.5)
    regressor = SigmoidRegressor().fit(x, y)
    assert regressor.floor_ == pytest.approx(0.25, abs=1e-3)
    assert regressor.predict(np.array([[4.0]]))[0] == pytest.approx(0.25 + 0.75 * sigmoid(np.array(6.5)), abs=1e-3)


def test_capabilities_predict_a_held_out_sigmoid_target_better_than_compute(tmp_path):
    frame, _ = planted_table()
    path = tmp_path / "table.csv"
    frame.write_csv(path)
    table = load_obsscaling(path)
    data = obs_scaling_data(table.models, table.scores, "TARGET")
    assert "TARGET" not in data.benchmarks
    result = evaluate_obs_scaling(data, cutoff_flops=10**22.8, n_components=2)
    mse = dict(result.predictors.select("predictor", "test_mse").iter_rows())
    counts = result.predictors.row(0, named=True)
    assert counts["n_train"] > 0 and counts["n_test"] > 0
    # One capability explains the benchmarks; it extrapolates, compute alone cannot (family offsets).
    assert result.components["explained_variance_ratio"][0] > 0.95
    assert mse["PC1"] < 2e-4
    assert mse["PC1"] < 0.1 * mse["log_flops"] and mse["PC1"] < 0.1 * mse["log_params"]
    # Within each family the capability is linear in log-compute.
    fits = result.family_fits.filter(pl.col("component") == "PC1")
    assert fits.height == 6 and fits["r2"].min() > 0.98
    slopes = fits["slope"].to_numpy()
    assert slopes.std() / slopes.mean() < 0.05  # the same planted slope in every family


def test_law_handles_missing_benchmark_scores_without_zeros():
    frame, _ = planted_table(seed=3)
    scores = frame.select(BENCHMARKS).to_numpy()
    target = frame["TARGET"].to_numpy()
    rng = np.random.default_rng(3)
    holes = np.where(rng.random(scores.shape) < 0.25, np.nan, scores)
    full = ObservationalScalingLaw(n_components=1).fit(scores, target)
    sparse = ObservationalScalingLaw(n_components=1).fit(holes, target)
    assert np.mean((sparse.predict(holes) - target) ** 2) < 5e-4
    assert sparse.predict(holes) == pytest.approx(full.predict(scores), abs=0.03)


def test_obs_scaling_command_writes_one_row_per_predictor_and_side_tables(tmp_path, capsys):
    frame, _ = planted_table(seed=4)
    table, out = tmp_path / "table.csv", tmp_path / "out.csv"
    frame.write_csv(table)
    code = main(["obs-scaling", "--table", str(table), "--target", "TARGET", "--out", str(out), "--cutoff-flops", str(10**22.8), "--components", "2"])
    assert code == 0
    written = pl.read_csv(out)
    assert written.columns == ["predictor", "chosen", "cv_mse", "train_mse", "test_mse", "n_train", "n_test"]
    assert written["predictor"].to_list() == ["PC1", "PC1-2", "log_params", "log_flops"]
    assert written["chosen"].sum() == 1 and written["cv_mse"].null_count() == 2  # baselines have no CV error
    assert "chosen by 5-fold cross-validation" in capsys.readouterr().out
    components = pl.read_csv(tmp_path / "out.components.csv")
    assert components["explained_variance_ratio"].sum() == pytest.approx(1.0)
    assert main(["obs-scaling", "--table", str(table), "--target", "NOPE", "--out", str(out)]) == 2
    assert "NOPE" in capsys.readouterr().err


def arrays(frame: pl.DataFrame, scores: np.ndarray, target: np.ndarray) -> ObsScalingData:
    flops = frame["FLOPs (1E21)"].to_numpy() * 1e21
    return ObsScalingData(
        models=frame["Model"].to_list(), families=frame["Model Family"].to_list(), benchmarks=BENCHMARKS, scores=scores,
        log_params=np.log10(frame["Model Size (B)"].to_numpy() * 1e9), log_flops=np.log10(flops), target=target, flops=flops,
    )  # fmt: skip


def test_number_of_components_is_chosen_without_the_test_models():
    frame, _ = planted_table(seed=5)
    scores, target = frame.select(BENCHMARKS).to_numpy(), frame["TARGET"].to_numpy()
    cutoff = 10**22.8
    test = frame["FLOPs (1E21)"].to_numpy() * 1e21 > cutoff
    reference = evaluate_obs_scaling(arrays(frame, scores, target), cutoff_flops=cutoff, n_components=3)
    rng = np.random.default_rng(0)
    test_optimal = set()
    for _ in range(6):
        # The test models' scores and targets replaced by noise: the choice and its CV errors stay.
        noisy_scores, noisy_target = scores.copy(), target.copy()
        noisy_scores[test] = rng.uniform(0, 1, (test.sum(), len(BENCHMARKS)))
        noisy_target[test] = rng.uniform(0, 1, test.sum())
        result = evaluate_obs_scaling(arrays(frame, noisy_scores, noisy_target), cutoff_flops=cutoff, n_components=3)
        assert result.chosen_components == reference.chosen_components
        pcs = result.predictors.filter(pl.col("cv_mse").is_not_null())
        assert pcs["cv_mse"].to_list() == reference.predictors.filter(pl.col("cv_mse").is_not_null())["cv_mse"].to_list()
        assert pcs.filter(pl.col("chosen"))["predictor"].to_list() == ["PC1" if reference.chosen_components == 1 else f"PC1-{reference.chosen_components}"]
        test_optimal.add(pcs.sort("test_mse")["predictor"][0])
    # Picking by test error would have moved with the noise.
    assert len(test_optimal) > 1


def test_cross_validation_picks_two_components_when_the_target_needs_two():
    rng = np.random.default_rng(6)
    n = 60
    first, second = rng.normal(size=n), rng.normal(size=n)
    # Three benchmarks measure each capability; the target needs both.
    scores = 0.5 + 0.08 * np.column_stack([first, first, first, second, second, second]) + rng.normal(0, 0.003, (n, 6))
    target = 0.25 + 0.75 * sigmoid(1.5 * first + 1.5 * second)
    flops = 10 ** rng.uniform(20, 24, n)
    data = ObsScalingData(
        models=[f"m{i}" for i in range(n)], families=["F"] * n, benchmarks=BENCHMARKS, scores=scores,
        log_params=np.log10(flops / 120), log_flops=np.log10(flops), target=target, flops=flops,
    )  # fmt: skip
    result = evaluate_obs_scaling(data, cutoff_flops=1e23, n_components=3)
    cv = dict(result.predictors.select("predictor", "cv_mse").iter_rows())
    assert result.chosen_components >= 2
    assert cv["PC1-2"] < 0.2 * cv["PC1"]
