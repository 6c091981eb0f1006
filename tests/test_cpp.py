"""Collaborative performance prediction recovers planted structure: a low-rank model x task
matrix with missing cells, and a known effect of a model factor."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from smi_assets.cli import main
from smi_assets.crossmodel.cpp import (
    CollaborativePredictor,
    FactorMatrix,
    encode_factors,
    evaluate_cpp,
    factor_shapley,
    rank_accuracy,
    shapley_values,
    split_cells,
)


def low_rank_scores(seed: int, n_models: int = 40, n_tasks: int = 15, observed_share: float = 0.6):
    rng = np.random.default_rng(seed)
    complete = 0.5 + 0.12 * (rng.normal(size=(n_models, 2)) @ rng.normal(size=(2, n_tasks)))
    observed = rng.random(complete.shape) < observed_share
    return complete, np.where(observed, complete, np.nan)


def test_split_is_seeded_disjoint_and_keeps_every_row_and_column_in_training():
    _, scores = low_rank_scores(0)
    observed = ~np.isnan(scores)
    train, test = split_cells(observed, 0.2, seed=7)
    again, _ = split_cells(observed, 0.2, seed=7)
    other, _ = split_cells(observed, 0.2, seed=8)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    assert len(train) + len(test) == observed.sum()
    assert not {tuple(c) for c in train} & {tuple(c) for c in test}
    assert len(test) == round(0.2 * observed.sum())
    assert set(train[:, 0]) == set(np.nonzero(observed.any(axis=1))[0])
    assert set(train[:, 1]) == set(np.nonzero(observed.any(axis=0))[0])


def test_rank_accuracy_counts_exact_and_near_ranks_per_task():
    cells = np.array([[0, 0], [1, 0], [2, 0], [3, 0], [0, 1]])  # task 1 has a single held-out cell
    actual = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    assert rank_accuracy(cells, actual, actual) == (1.0, 1.0, 4)
    reversed_ = np.array([0.6, 0.7, 0.8, 0.9, 0.1])
    exact, within, total = rank_accuracy(cells, actual, reversed_)
    assert total == 4 and exact == 0.0 and within == 0.5  # ranks 0<->3 are off by 3, 1<->2 by 1


@pytest.mark.parametrize("kind", ["mf", "ncf"])
def test_collaborative_models_recover_a_low_rank_matrix(kind):
    complete, scores = low_rank_scores(1)
    train, test = split_cells(~np.isnan(scores), 0.2, seed=0)
    model = CollaborativePredictor(kind, seed=0).fit(train, scores[train[:, 0], train[:, 1]], *scores.shape)
    predicted = model.predict(test)
    actual = complete[test[:, 0], test[:, 1]]
    task_means = np.nanmean(
        np.where(np.isin(np.arange(scores.size).reshape(scores.shape), train[:, 0] * scores.shape[1] + train[:, 1]), scores, np.nan), axis=0
    )
    baseline = np.mean((task_means[test[:, 1]] - actual) ** 2)
    assert np.mean((predicted - actual) ** 2) < 0.35 * baseline


def test_same_seed_gives_the_same_model():
    _, scores = low_rank_scores(2)
    train, test = split_cells(~np.isnan(scores), 0.2, seed=0)
    fit = lambda: CollaborativePredictor("ncf", seed=3).fit(train, scores[train[:, 0], train[:, 1]], *scores.shape).predict(test)  # noqa: E731
    assert np.array_equal(fit(), fit())


def test_shapley_values_of_an_additive_game_are_its_weights_and_interactions_split_evenly():
    weights = {"a": 1.0, "b": 2.0, "c": -0.5}
    assert shapley_values(lambda s: sum(weights[p] for p in s), list(weights)) == pytest.approx(weights)
    both = shapley_values(lambda s: 1.0 if {"a", "b"} <= s else 0.0, ["a", "b", "c"])
    assert both == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0})


def planted_factor_scores(seed: int = 0, n_models: int = 50, n_tasks: int = 12):
    """Score = 0.5 + 0.2 * size * task_sensitivity: only the model factor `size` and the
    task factor `sensitivity` matter; `noise` is an irrelevant model factor."""
    rng = np.random.default_rng(seed)
    size, noise = rng.normal(size=n_models), rng.normal(size=n_models)
    sensitivity = rng.uniform(0.5, 1.5, n_tasks)
    complete = np.clip(0.5 + 0.2 * np.outer(size, sensitivity), 0.0, 1.0)
    scores = np.where(rng.random(complete.shape) < 0.5, complete, np.nan)
    models = [f"m{i}" for i in range(n_models)]
    tasks = [f"t{j}" for j in range(n_tasks)]
    model_factors = encode_factors(pl.DataFrame({"model": models, "size": size, "noise": noise}), "model", models)
    task_factors = encode_factors(pl.DataFrame({"task": tasks, "sensitivity": sensitivity}), "task", tasks)
    return scores, models, tasks, model_factors, task_factors


def test_factors_carry_a_planted_effect_and_shapley_ranks_it_first():
    scores, models, tasks, model_factors, task_factors = planted_factor_scores()
    result = evaluate_cpp(scores, model_factors, task_factors, models=models, tasks=tasks, seeds=(0,), variants=("mf", "factors_only", "ncf_factors"))
    mse = dict(result.variants.select("variant", "mse").iter_rows())
    assert mse["factors_only"] < 0.5 * mse["mf"]
    top = result.shapley.row(0, named=True)
    assert (top["side"], top["factor"]) == ("model", "size")
    noise = result.shapley.filter(pl.col("factor") == "noise")["shapley_mse_reduction"][0]
    assert abs(noise) < 0.1 * top["shapley_mse_reduction"]


def test_encode_factors_standardises_numbers_and_one_hot_encodes_labels():
    records = pl.DataFrame({"model": ["a", "b", "c"], "size": ["1", "3", None], "kind": ["x", "y", None]})
    factors = encode_factors(records, "model", ["c", "b", "a"])
    assert factors.columns == ["size", "kind=x", "kind=y"] and factors.groups == ["size", "kind", "kind"]
    assert factors.values[:, 0] == pytest.approx([0.0, 1.0, -1.0])  # unknown -> the mean, 0
    assert factors.values[:, 1:].tolist() == [[0, 0], [0, 1], [1, 0]]


def test_factor_shapley_refuses_more_groups_than_it_can_enumerate():
    many = FactorMatrix(np.zeros((2, 13)), [f"f{i}" for i in range(13)], [f"f{i}" for i in range(13)])
    none = FactorMatrix(np.zeros((2, 0)), [], [])
    with pytest.raises(ValueError, match="exact Shapley"):
        factor_shapley(None, np.zeros((1, 2), dtype=int), np.zeros(1), many, none)


def test_cpp_command_writes_one_row_per_variant_and_the_shapley_table(tmp_path):
    scores, models, tasks, _, _ = planted_factor_scores(n_models=20, n_tasks=6)
    percent = pl.DataFrame({"": models, **{t: scores[:, j] * 100 for j, t in enumerate(tasks)}})
    percent.write_csv(tmp_path / "scores.csv")
    pl.DataFrame({
        "Model Name": models, "family": ["A", "B"] * 10, "Pretraining Dataset Size(B)": np.arange(20) * 10 + 10,
        "Parameter Size(M)": np.arange(20) * 100 + 100,
    }).write_csv(tmp_path / "models.csv")  # fmt: skip
    pl.DataFrame({"": ["ability", "few-shot"], **{t: ["reasoning" if j % 2 else "code", str(j)] for j, t in enumerate(tasks)}}).write_csv(
        tmp_path / "tasks.csv"
    )
    out = tmp_path / "cpp.csv"
    code = main(["cpp", "--scores", str(tmp_path / "scores.csv"), "--model-factors", str(tmp_path / "models.csv"),
                 "--task-factors", str(tmp_path / "tasks.csv"), "--out", str(out), "--repeats", "1"])  # fmt: skip
    assert code == 0
    written = pl.read_csv(out)
    assert written.columns == ["variant", "mse", "rank_exact", "rank_within_2", "n_test"]
    assert written["variant"].to_list() == ["mf", "ncf", "ncf_factors", "factors_only"]
    shapley = pl.read_csv(tmp_path / "cpp.shapley.csv")
    assert set(shapley["factor"]) == {"family", "data size", "model size", "ability", "few-shot"}
