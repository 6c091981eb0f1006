"""The size-conditioned (counts) forecaster on generated corpora and models."""

from __future__ import annotations

from functools import partial

import numpy as np
import polars as pl
import pytest
from scipy.special import expit

from smi_assets.smi.forecast.counts_model import (
    FORECAST_COLUMNS,
    LogParamsLines,
    SizeConditionedForecaster,
    evaluate_held_out,
    leave_one_size_out,
    logit_shift_to_mean,
    scale_only_baseline,
    with_relation,
)

SIZES = {"m-100m": 1e8, "m-300m": 3e8, "m-1b": 1e9, "m-3b": 3e9, "m-10b": 1e10}
RELATION_EFFECT = {"born": 0.5, "capital": 1.0, "plays": -1.0, "work": 0.0}


def make_frequency(n_triples: int, corpus_size: int, seed: int) -> pl.DataFrame:
    """Counts whose corpus shares spread over 2.5 decades (the same range for any corpus
    size); at the default sizes all counts are multiples of 10."""
    rng = np.random.default_rng(seed)

    def counts(share: np.ndarray) -> np.ndarray:
        return 10 * np.round(corpus_size / 10 * share)

    n_s = counts(10 ** rng.uniform(-4, -1.5, n_triples))
    n_o = counts(10 ** rng.uniform(-4, -1.5, n_triples))
    lift = 10 ** rng.uniform(0, 3, n_triples)
    n_so = 10 * np.floor(np.minimum(np.minimum(n_s, n_o), n_s * n_o / corpus_size * lift) / 10)
    return pl.DataFrame({
        "idx": np.arange(n_triples),
        "rel": rng.choice(list(RELATION_EFFECT), n_triples),
        "N": np.full(n_triples, corpus_size), "N_s": n_s.astype(np.int64),
        "N_o": n_o.astype(np.int64), "N_so": n_so.astype(np.int64),
    })  # fmt: skip


def simulate_accuracy(frequency: pl.DataFrame, sizes: dict[str, float], seed: int) -> pl.DataFrame:
    """Accuracy that grows with the pair's corpus share, more steeply for larger models,
    with a relation offset and the sampling noise of 400 generations per question."""
    rng = np.random.default_rng(seed)
    share = np.log2(np.maximum(frequency["N_so"].to_numpy(), 1) / frequency["N"].to_numpy())
    relation = frequency["rel"].replace_strict(RELATION_EFFECT, return_dtype=pl.Float64).to_numpy()
    frames = []
    for model, params in sizes.items():
        size = np.log2(params) - 30
        probability = expit(-2.0 + relation + (0.25 + 0.05 * size) * (share + 14))
        frames.append(pl.DataFrame({
            "model": model, "params": params, "idx": frequency["idx"],
            "acc": rng.binomial(400, probability) / 400,
        }))  # fmt: skip
    return pl.concat(frames)


@pytest.fixture(scope="module")
def frequency() -> pl.DataFrame:
    return make_frequency(1500, 1_000_000, seed=0)


@pytest.fixture(scope="module")
def accuracy(frequency: pl.DataFrame) -> pl.DataFrame:
    return simulate_accuracy(frequency, SIZES, seed=1)


def test_predict_returns_one_probability_per_triple(frequency: pl.DataFrame, accuracy: pl.DataFrame) -> None:
    forecaster = SizeConditionedForecaster().fit(frequency, accuracy)
    predicted = forecaster.predict(frequency, 2e9)
    assert predicted.columns == ["idx", "rel", "predicted_acc"]
    assert predicted["idx"].to_list() == frequency["idx"].to_list()
    assert predicted["predicted_acc"].is_between(0.0, 1.0, closed="none").all()
    # Larger models know more of the frequent facts in this simulation.
    assert forecaster.predict(frequency, 1e10)["predicted_acc"].mean() > predicted["predicted_acc"].mean()


def test_counts_enter_only_as_shares_of_the_corpus(frequency: pl.DataFrame, accuracy: pl.DataFrame) -> None:
    forecaster = SizeConditionedForecaster().fit(frequency, accuracy)
    smaller_corpus = frequency.with_columns(pl.col("N", "N_s", "N_o", "N_so") // 10)
    assert np.allclose(
        forecaster.predict(frequency, 1e9)["predicted_acc"].to_numpy(),
        forecaster.predict(smaller_corpus, 1e9)["predicted_acc"].to_numpy(),
    )


def test_leave_one_size_out_beats_scale_only_per_question_and_per_relation(frequency: pl.DataFrame, accuracy: pl.DataFrame) -> None:
    table = leave_one_size_out(SizeConditionedForecaster, frequency, accuracy)
    assert table.columns == list(FORECAST_COLUMNS)
    assert table["model"].to_list() == list(SIZES)  # ordered by size
    interior = table.filter(pl.col("model").is_in(["m-300m", "m-1b", "m-3b"]))
    assert (interior["r2_question"] > 0.8).all()
    assert (interior["abs_error"] < 0.02).all()
    assert (table["relation_mae"] < table["baseline_relation_mae"]).all()
    expected_actual = accuracy.group_by("model").agg(pl.col("acc").mean())
    joined = table.join(expected_actual, on="model")
    assert np.allclose(joined["actual_acc"], joined["acc"])


def test_forecast_carries_to_a_corpus_of_another_size() -> None:
    train_frequency = make_frequency(1500, 1_000_000, seed=2)
    test_frequency = make_frequency(1500, 200_000, seed=3)
    frequency = pl.concat([
        train_frequency.join(pl.DataFrame({"model": ["m-100m", "m-1b", "m-10b"]}), how="cross"),
        test_frequency.join(pl.DataFrame({"model": ["other-3b"]}), how="cross"),
    ])  # fmt: skip
    accuracy = pl.concat([
        simulate_accuracy(train_frequency, {m: SIZES[m] for m in ("m-100m", "m-1b", "m-10b")}, seed=4),
        simulate_accuracy(test_frequency, {"other-3b": 3e9}, seed=5),
    ])  # fmt: skip
    table = evaluate_held_out(SizeConditionedForecaster, frequency, accuracy, ["m-100m", "m-1b", "m-10b"], ["other-3b"])
    assert table["model"].to_list() == ["other-3b"]
    assert table["r2_question"][0] > 0.8
    assert table["relation_mae"][0] < table["baseline_relation_mae"][0]


def test_scale_only_baseline_is_linear_in_log_params() -> None:
    accuracy = pl.DataFrame({
        "model": ["a", "a", "b", "b", "c", "c"], "params": [1e8, 1e8, 4e8, 4e8, 1.6e9, 1.6e9],
        "idx": [0, 1] * 3, "acc": [0.0, 0.2, 0.1, 0.3, 0.2, 0.4],
    })  # fmt: skip
    baseline = scale_only_baseline(accuracy)
    assert baseline(6.4e9) == pytest.approx(0.4)  # +0.1 per factor of 4
    assert scale_only_baseline(accuracy.filter(pl.col("model") == "a"))(1e12) == pytest.approx(0.1)


def test_bad_inputs_are_rejected(frequency: pl.DataFrame, accuracy: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="N_so"):
        SizeConditionedForecaster().fit(frequency.drop("N_so"), accuracy)
    with pytest.raises(ValueError, match="no training model"):
        evaluate_held_out(SizeConditionedForecaster, frequency, accuracy, ["m-1b"], ["m-1b"])


def test_mean_anchor_reproduces_the_scale_only_line(frequency: pl.DataFrame, accuracy: pl.DataFrame) -> None:
    forecaster = SizeConditionedForecaster(anchor="mean").fit(frequency, accuracy)
    baseline = scale_only_baseline(accuracy)
    for params in (2e8, 2e9, 3e10):  # between and beyond the trained sizes
        assert forecaster.predict(frequency, params)["predicted_acc"].mean() == pytest.approx(baseline(params), abs=1e-6)


def test_relation_anchor_reproduces_each_relation_line_and_the_overall_line(frequency: pl.DataFrame, accuracy: pl.DataFrame) -> None:
    forecaster = SizeConditionedForecaster().fit(frequency, accuracy)
    rows = with_relation(accuracy, frequency)
    relation_lines = LogParamsLines(by="rel").fit(rows)
    predicted = forecaster.predict(frequency, 2e9)
    per_relation = predicted.group_by("rel").agg(pl.col("predicted_acc").mean())
    for rel, mean in per_relation.iter_rows():
        assert mean == pytest.approx(relation_lines.predict(2e9, rel), abs=1e-6)
    # Every model scores the same questions, so the relation lines add up to the overall line.
    assert predicted["predicted_acc"].mean() == pytest.approx(scale_only_baseline(accuracy)(2e9), abs=1e-6)


def test_anchoring_keeps_the_order_of_questions_within_each_relation(frequency: pl.DataFrame, accuracy: pl.DataFrame) -> None:
    own_level = SizeConditionedForecaster(anchor="none").fit(frequency, accuracy).predict(frequency, 2e9)
    anchored = SizeConditionedForecaster(anchor="relation").fit(frequency, accuracy).predict(frequency, 2e9)
    both = own_level.with_columns(anchored["predicted_acc"].alias("anchored"))
    for _, part in both.group_by("rel"):
        assert np.array_equal(np.argsort(part["predicted_acc"].to_numpy()), np.argsort(part["anchored"].to_numpy()))
    assert not np.allclose(own_level["predicted_acc"], anchored["predicted_acc"])


@pytest.mark.parametrize("anchor", ["relation", "mean", "none"])
def test_predictions_stay_probabilities_far_outside_the_trained_sizes(frequency: pl.DataFrame, accuracy: pl.DataFrame, anchor: str) -> None:
    forecaster = SizeConditionedForecaster(anchor=anchor).fit(frequency, accuracy)
    for params in (1e5, 1e15):  # the lines run below 0 and above 1 here
        predicted = forecaster.predict(frequency, params)["predicted_acc"]
        assert predicted.is_between(0.0, 1.0).all() and predicted.is_finite().all()


def test_logit_shift_hits_the_target_mean() -> None:
    logits = np.random.default_rng(0).normal(0.0, 4.0, 500)
    for target in (1e-6, 0.03, 0.5, 0.97):
        shift = logit_shift_to_mean(logits, target)
        assert expit(logits + shift).mean() == pytest.approx(target, rel=1e-6)
    assert expit(np.zeros(3) + logit_shift_to_mean(np.zeros(3), 0.2)) == pytest.approx(0.2)


def test_scale_relation_baseline_is_scored_per_relation(frequency: pl.DataFrame, accuracy: pl.DataFrame) -> None:
    table = leave_one_size_out(partial(SizeConditionedForecaster, anchor="none"), frequency, accuracy)
    # The planted relation offsets are what a constant misses and a per-relation line catches;
    # the planted count effect is what the relation alone misses.
    assert (table["scale_relation_relation_mae"] < table["baseline_relation_mae"]).all()
    interior = table.filter(pl.col("model").is_in(["m-300m", "m-1b", "m-3b"]))
    assert (interior["r2_question"] > interior["scale_relation_r2_question"] + 0.3).all()


def test_log_params_lines_recover_planted_lines_per_group() -> None:
    params = {"a": 1e8, "b": 1e9, "c": 1e10}
    slopes, intercepts = {"x": 0.02, "y": 0.05}, {"x": -0.3, "y": -1.0}
    accuracy = pl.DataFrame([
        {"model": model, "params": size, "rel": rel, "idx": i, "acc": slopes[rel] * np.log2(size) + intercepts[rel] + noise}
        for model, size in params.items() for rel in ("x", "y") for i, noise in enumerate((-0.01, 0.01))
    ])  # fmt: skip
    lines = LogParamsLines(by="rel").fit(accuracy)
    for rel in ("x", "y"):
        assert lines.predict(3e9, rel) == pytest.approx(slopes[rel] * np.log2(3e9) + intercepts[rel])
    assert lines.predict_groups(3e9, ["x", "z"], fallback=0.5)["z"] == 0.5
    assert lines.predict(1e20, "y") == 1.0  # clipped, the line itself is above 1 there


def test_unknown_anchor_is_rejected(frequency: pl.DataFrame, accuracy: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="anchor"):
        SizeConditionedForecaster(anchor="median").fit(frequency, accuracy)
