"""The (params, tokens) forecaster on checkpoints simulated from a known logistic N-D law."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
from scipy.special import expit, logit

from smi_assets.smi.forecast.proxy import ProxyForecaster
from smi_assets.smi.forecast.tokens import ExposureModel, TokensForecaster

RELATIONS = ("born", "capital", "plays")
CORPUS_TOKENS = 2_000_000
RATIO = 20  # the simulated ladder's tokens per parameter
LADDER = {"m-100k": 100_000, "m-200k": 200_000, "m-400k": 400_000}
FRACTIONS = (0.25, 0.5, 0.75, 1.0)
GENERATIONS = 400


def simulated_counts(n: int = 450, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n_so = np.floor(np.exp(rng.uniform(0, np.log(300), n))).astype(np.int64)
    n_o = n_so + rng.integers(10, 5_000, n)
    return pl.DataFrame({
        "idx": np.arange(n), "rel": np.array(RELATIONS)[np.arange(n) % 3], "N": np.full(n, 50_000),
        "N_s": n_so + rng.integers(0, 200, n), "N_o": n_o, "N_so": n_so,
    })  # fmt: skip


def true_logit(frequency: pl.DataFrame, params: float, tokens: float, unfinished: float = 0.0) -> np.ndarray:
    """The planted law: accuracy grows with expected exposures, faster for larger models; an
    unfinished run is behind a finished one; relations differ by an offset."""
    exposure = np.log2(1 + frequency["N_so"].to_numpy() * tokens / CORPUS_TOKENS)
    size = np.log2(params) - 17.6
    offset = np.array([{"born": -0.3, "capital": 0.2, "plays": 0.0}[rel] for rel in frequency["rel"].to_list()])
    return -4.0 + offset + (0.55 + 0.1 * size) * exposure + 0.3 * size - 0.6 * unfinished


def simulated_checkpoints(frequency: pl.DataFrame, runs: dict[str, tuple[float, float]], seed: int = 1, offset: float = 0.0) -> pl.DataFrame:
    """One row per checkpoint x question; `runs`: run -> (params, run_tokens); accuracies
    drawn from the law, `offset` added to its logits, with `GENERATIONS` samples each."""
    rng = np.random.default_rng(seed)
    parts = []
    for run, (params, run_tokens) in runs.items():
        for fraction in FRACTIONS:
            tokens = int(fraction * run_tokens)
            probability = expit(true_logit(frequency, params, tokens, 1 - fraction) + offset)
            parts.append(pl.DataFrame({
                "model": run if fraction == 1.0 else f"{run}@{fraction}", "params": int(params), "idx": frequency["idx"],
                "acc": rng.binomial(GENERATIONS, probability) / GENERATIONS, "tokens": tokens, "run_id": run,
                "run_tokens": int(run_tokens), "step": int(fraction * 1000),
            }))  # fmt: skip
    return pl.concat(parts).with_columns(pl.col("params", "tokens", "run_tokens", "step").cast(pl.Int64))


@pytest.fixture(scope="module")
def world() -> tuple[pl.DataFrame, pl.DataFrame]:
    frequency = simulated_counts()
    ladder = simulated_checkpoints(frequency, {name: (size, RATIO * size) for name, size in LADDER.items()})
    return frequency, ladder


@pytest.fixture(scope="module")
def fitted(world) -> TokensForecaster:
    frequency, ladder = world
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return TokensForecaster().fit(frequency, ladder, corpus_tokens=CORPUS_TOKENS)


def test_exposure_model_recovers_the_planted_law(world):
    frequency, ladder = world
    checkpoints = ladder.group_by("model").agg(pl.col("params", "tokens", "run_tokens").first()).sort("model")
    checkpoints = checkpoints.with_columns((1 - pl.col("tokens") / pl.col("run_tokens")).alias("unfinished"))
    accuracy = ladder.pivot(on="model", index="idx", values="acc").sort("idx").select(checkpoints["model"].to_list()).to_numpy()
    model = ExposureModel().fit(frequency, checkpoints, accuracy, CORPUS_TOKENS)
    # Off the ladder in both axes: 2x its largest size, 4x its tokens per parameter.
    params, tokens = 800_000, 4 * RATIO * 800_000
    planted = expit(true_logit(frequency, params, tokens)).mean()
    assert model.exposure_slope(params) == pytest.approx(0.55 + 0.1 * (np.log2(params) - 17.6), abs=0.03)
    assert expit(model.logits(frequency, params, tokens)).mean() == pytest.approx(planted, abs=0.01)


def test_more_tokens_mean_a_higher_forecast(fitted):
    params = 800_000
    shorter, longer = fitted.predict(params, RATIO * params), fitted.predict(params, 4 * RATIO * params)
    assert longer["predicted_acc"].mean() > shorter["predicted_acc"].mean() + 0.02
    assert (longer["predicted_acc"].to_numpy() >= shorter["predicted_acc"].to_numpy() - 1e-9).all()


def test_forecast_off_the_ratio_follows_the_law(world, fitted):
    frequency, _ = world
    params, tokens = 800_000, 4 * RATIO * 800_000
    planted = expit(true_logit(frequency, params, tokens)).mean()
    assert fitted.aggregate(params, tokens)["predicted_acc"][0] == pytest.approx(planted, abs=0.03)
    assert fitted.d_extrapolation == pytest.approx(1.0)


def test_a_runs_own_intermediate_checkpoints_forecast_its_final_one(world):
    frequency, ladder = world
    params, run_tokens = 800_000, 2 * RATIO * 800_000
    # This run is better than the law (a better seed, say): only its own checkpoints show it.
    run = simulated_checkpoints(frequency, {"target": (params, run_tokens)}, seed=5, offset=1.0)
    seen = run.filter(pl.col("tokens") <= 0.5 * run_tokens)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        forecaster = TokensForecaster().fit(frequency, pl.concat([ladder, seen]), corpus_tokens=CORPUS_TOKENS)
    forecast = forecaster.predict(params, run_tokens, run_id="target")
    actual = run.filter(pl.col("model") == "target").sort("idx")["acc"].to_numpy()
    latest = seen.filter(pl.col("model") == "target@0.5").sort("idx")["acc"].to_numpy()
    error = abs(forecast["predicted_acc"].mean() - actual.mean())
    assert error < 0.02
    assert error < abs(latest.mean() - actual.mean()) / 3
    assert error < abs(expit(true_logit(frequency, params, run_tokens)).mean() - actual.mean()) / 3
    with pytest.raises(ValueError, match="400000"):
        forecaster.predict(400_000, run_tokens, run_id="target")


def test_checkpoints_without_tokens_are_warned_about_and_left_out_of_the_d_axis(world):
    frequency, ladder = world
    unknown = ladder.with_columns(pl.when(pl.col("model") == "m-200k@0.5").then(None).otherwise(pl.col("tokens")).alias("tokens"))
    with pytest.warns(UserWarning, match=r"m-200k@0\.5.*no tokens"):
        forecaster = TokensForecaster(calibrate=False).fit(frequency, unknown, corpus_tokens=CORPUS_TOKENS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        without = TokensForecaster(calibrate=False).fit(frequency, ladder.filter(pl.col("model") != "m-200k@0.5"), corpus_tokens=CORPUS_TOKENS)
    np.testing.assert_allclose(forecaster.exposure_model_.weights_, without.exposure_model_.weights_)


def test_on_the_ladders_ratio_or_without_tokens_it_is_proxy_forecaster(world):
    frequency, ladder = world
    finals = ladder.filter(pl.col("tokens") == pl.col("run_tokens"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = ProxyForecaster().fit(frequency, finals.select("model", "params", "idx", "acc")).predict(800_000)["predicted_acc"]
        constant = TokensForecaster(calibrate=False).fit(frequency, finals, corpus_tokens=CORPUS_TOKENS)
        no_tokens = TokensForecaster(calibrate=False).fit(frequency, finals.with_columns(pl.lit(None, pl.Int64).alias("tokens")))
    np.testing.assert_array_equal(constant.predict(800_000)["predicted_acc"], expected)
    np.testing.assert_array_equal(constant.predict(800_000, RATIO * 800_000)["predicted_acc"], expected)
    np.testing.assert_array_equal(no_tokens.predict(800_000)["predicted_acc"], expected)
    with pytest.warns(UserWarning, match="ignores the planned tokens"):
        assert no_tokens.predict(800_000, 1e9)["predicted_acc"].equals(expected)


def test_intervals_hold_the_forecast_and_widen_with_reach(fitted):
    near, far = fitted.aggregate(800_000, RATIO * 800_000), fitted.aggregate(1_600_000, RATIO * 1_600_000)
    for table in (near, far):
        assert (table["acc_low"] <= table["predicted_acc"]).all() and (table["predicted_acc"] <= table["acc_high"]).all()
    # In logit space every question's interval is the same width, growing with the reach.
    widths = [
        np.median(logit(table["acc_high"].to_numpy()) - logit(table["acc_low"].to_numpy())) for table in (fitted.predict(800_000), fitted.predict(1_600_000))
    ]
    assert far["reach"][0] > near["reach"][0] and widths[1] > widths[0] > 0
    assert fitted.backtests_.height >= 9  # 3 runs x 3 intermediate checkpoints, and the largest run from the two smaller


def test_plan_round_trips(fitted):
    target = fitted.aggregate(1_600_000)["predicted_acc"][0]
    plan = fitted.plan(target)
    assert plan["params"] == pytest.approx(1_600_000, rel=1e-3)
    assert plan["tokens"] == pytest.approx(RATIO * plan["params"]) == pytest.approx(fitted.ladder_tokens(plan["params"]))
    assert plan["params_low"] <= plan["params"] <= (plan["params_high"] or np.inf)
    capital = fitted.predict(600_000, 2 * RATIO * 600_000).filter(pl.col("rel") == "capital")["predicted_acc"].mean()
    relation_plan = fitted.plan(capital, relation="capital", tokens_per_param=2 * RATIO)
    assert relation_plan["params"] == pytest.approx(600_000, rel=1e-3)
    forecast = fitted.predict(relation_plan["params"], relation_plan["tokens"]).filter(pl.col("rel") == "capital")
    assert forecast["predicted_acc"].mean() == pytest.approx(capital, abs=1e-5)


def test_a_planned_run_without_tokens_follows_the_ladders_recipe(world):
    """A ladder that trains every size on the same tokens (the built-in one does) plans a
    larger run on those tokens, not on the mean of its tokens-per-parameter ratios."""
    frequency, _ = world
    budget = RATIO * 200_000
    ladder = simulated_checkpoints(frequency, {name: (size, budget) for name, size in LADDER.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fixed = TokensForecaster().fit(frequency, ladder, corpus_tokens=CORPUS_TOKENS)
        summary = fixed.aggregate(1_600_000)
        plan = fixed.plan(float(summary["predicted_acc"][0]))
    assert fixed.ladder_tokens(1_600_000) == pytest.approx(budget)
    assert summary["predicted_acc"][0] == pytest.approx(fixed.aggregate(1_600_000, budget)["predicted_acc"][0])
    assert plan["params"] == pytest.approx(1_600_000, rel=1e-3) and plan["tokens"] == pytest.approx(budget, rel=1e-6)


def test_unreachable_targets_and_bad_runs_are_named(world, fitted):
    frequency, ladder = world
    # A ladder that learns nothing with size or tokens: no run reaches 0.9.
    flat = ladder.with_columns(pl.Series("acc", np.random.default_rng(3).binomial(GENERATIONS, 0.2, ladder.height) / GENERATIONS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        stuck = TokensForecaster(calibrate=False).fit(frequency, flat, corpus_tokens=CORPUS_TOKENS)
    with pytest.raises(ValueError, match=r"target accuracy 0\.9 is not reached within 1000x the largest proxy's compute"):
        stuck.plan(0.9)
    with pytest.raises(ValueError, match="planned tokens must be positive, got 0"):
        fitted.predict(800_000, 0)
    with pytest.raises(ValueError, match="planned tokens must be positive, got -5"):
        fitted.aggregate(800_000, -5)
    with pytest.raises(ValueError, match="target accuracy must be in"):
        fitted.plan(1.5)


def test_knowledge_gaps_list_the_facts_below_target_with_what_they_need(fitted):
    params, tokens = 800_000, RATIO * 800_000
    gaps = fitted.knowledge_gaps(params, tokens, 0.5)
    forecast = fitted.predict(params, tokens)
    assert gaps.height == (forecast["predicted_acc"] < 0.5).sum() > 0
    assert (gaps["predicted_acc"] < 0.5).all()
    assert (gaps["needed_N_so"] > gaps["N_so"]).all()
    assert gaps["extra_cooccurrences"].is_sorted()
    # needed_N_so is the fewest whole co-occurrences with which a fact's forecast reaches the target.
    exposure, logit_target = fitted.exposure_model_, logit(0.5)
    for row in gaps.tail(5).iter_rows(named=True):
        question = fitted.questions_.filter(pl.col("idx") == row["idx"])
        base = exposure.logits(question, params, tokens)[0]
        below, at = (
            logit(row["predicted_acc"]) + exposure.logits(question.with_columns(pl.lit(n_so).alias("N_so")), params, tokens)[0] - base
            for n_so in (row["needed_N_so"] - 1, row["needed_N_so"])
        )
        assert below < logit_target <= at + 1e-9


def flat_run(frequency: pl.DataFrame, run: str, params: int, run_tokens: int, mean_logits: dict[float, float]) -> pl.DataFrame:
    """A run whose checkpoints (fraction of the run -> mean logit) answer every question alike."""
    return pl.concat([
        pl.DataFrame({
            "model": run if fraction == 1.0 else f"{run}@{fraction}", "params": params, "idx": frequency["idx"],
            "acc": np.full(frequency.height, expit(level)), "tokens": int(fraction * run_tokens), "run_id": run,
            "run_tokens": run_tokens, "step": int(fraction * 1000),
        })
        for fraction, level in mean_logits.items()
    ]).with_columns(pl.col("params", "tokens", "run_tokens", "step").cast(pl.Int64))  # fmt: skip


def test_the_in_run_gain_is_a_power_of_size_and_the_runs_checkpoints_are_combined():
    frequency = simulated_counts()
    # Per doubling of tokens within a run the ladder gains 0.6, 0.3, 0.15 logit: halving per
    # doubling of N. A trend linear in log N would reach zero at 400k and go negative beyond.
    ladder = pl.concat([
        flat_run(frequency, name, size, RATIO * size, {f: -1.0 - rate * np.log2(1 / f) for f in FRACTIONS})
        for (name, size), rate in zip(LADDER.items(), (0.6, 0.3, 0.15), strict=True)
    ])  # fmt: skip
    params, run_tokens = 800_000, RATIO * 800_000
    # The target run's 50% checkpoint sits 0.5 logit above where its 25% one points.
    own = flat_run(frequency, "target", params, run_tokens, {0.25: -0.5, 0.5: -0.5 + 0.075 + 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        forecaster = TokensForecaster(calibrate=False).fit(frequency, pl.concat([ladder, own]), corpus_tokens=CORPUS_TOKENS)
    assert forecaster._run_rate(800_000) == pytest.approx(0.075, rel=0.05)
    assert forecaster._run_rate(100_000) == pytest.approx(0.6, rel=0.05)
    forecast = forecaster.aggregate(params, run_tokens, run_id="target")
    # Projections to the end: 25% -> -0.5 + 2 x 0.075, 50% -> 0.075 + 0.075; weights 1/2^2 and 1/1^2.
    expected = (0.25 * (-0.5 + 2 * 0.075) + 1.0 * (0.075 + 0.075)) / 1.25
    for rel in RELATIONS:
        assert logit(forecast.filter(pl.col("rel") == rel)["predicted_acc"][0]) == pytest.approx(expected, abs=0.01)
    assert forecast["reach"][0] == pytest.approx(1.25**-0.5)


def test_backtests_near_accuracy_zero_weigh_little_in_the_interval_spread(fitted):
    from smi_assets.smi.forecast.tokens import _mean_logit_variance, _robust_spread

    assert _robust_spread(np.array([3.0, 1.0, 2.0, 4.0])) == pytest.approx(1.4826 * 2.5)  # unweighted: the median
    # A checkpoint at accuracy 0 has a logit mean resting on the clip: a large sampling variance.
    assert _mean_logit_variance(np.zeros(300)) > 10 * _mean_logit_variance(np.full(300, 0.2))
    errors, weights = np.array([0.1, 0.2, 0.3, 5.0, 6.0]), np.array([1.0, 1.0, 1.0, 0.05, 0.05])
    assert _robust_spread(errors, weights) == pytest.approx(1.4826 * 0.2)
    assert {"start", "weight"} <= set(fitted.backtests_.columns) and (fitted.backtests_["weight"] > 0).all()
