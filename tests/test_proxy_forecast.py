"""The proxy + counts forecaster on planted data, its bad-input handling, and `smi forecast-reference`."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.special import expit

from smi_assets.smi.fit import r_squared
from smi_assets.smi.forecast.counts_model import SizeConditionedForecaster
from smi_assets.smi.forecast.evaluation import (
    EVALUATION_COLUMNS,
    evaluate_reference,
    proxy_sets,
    resolve_families,
    score_predictions,
    target_predictions,
)
from smi_assets.smi.forecast.proxy import ProxyForecaster
from smi_assets.smi.metrics import prompt_echo
from smi_assets.smi.reference import load_reference
from tests.conftest import REFERENCE_PARQUET

PROXY_SIZES = {"p-10m": 1e7, "p-30m": 3e7, "p-100m": 1e8, "p-300m": 3e8, "p-1b": 1e9}
RELATIONS = ("born", "capital", "plays")


def planted_world(n: int = 1500, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    """Counts and a latent per-question ease `z` that the counts only partly explain."""
    rng = np.random.default_rng(seed)
    corpus = 1_000_000
    n_s = rng.integers(50, 20_000, n)
    n_o = rng.integers(50, 20_000, n)
    n_so = (np.minimum(n_s, n_o) * rng.uniform(0, 0.5, n)).astype(np.int64)
    frequency = pl.DataFrame({
        "idx": np.arange(n), "rel": rng.choice(RELATIONS, n), "N": np.full(n, corpus),
        "N_s": n_s, "N_o": n_o, "N_so": n_so,
    })  # fmt: skip
    share = np.log2(np.maximum(n_so, 1) / corpus)
    z = 0.3 * (share - share.mean()) / share.std() + rng.normal(0, 1, n)
    return frequency, z


def planted_accuracy(z: np.ndarray, sizes: dict[str, float], seed: int) -> pl.DataFrame:
    """logit p = -4 + 0.6 (log2 P - 23) ... : ease matters more for larger models; 400 samples."""
    rng = np.random.default_rng(seed)
    frames = []
    for model, params in sizes.items():
        growth = np.log2(params) - 23
        probability = expit(-4.0 + 0.35 * growth + (0.8 + 0.15 * growth) * z)
        frames.append(pl.DataFrame({
            "model": model, "params": params, "idx": np.arange(len(z)), "acc": rng.binomial(400, probability) / 400,
        }))  # fmt: skip
    return pl.concat(frames)


@pytest.fixture(scope="module")
def world() -> tuple[pl.DataFrame, np.ndarray, pl.DataFrame]:
    frequency, z = planted_world()
    return frequency, z, planted_accuracy(z, PROXY_SIZES, seed=1)


def quiet_forecast(forecaster: ProxyForecaster, params: float) -> pl.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return forecaster.predict(params)


def test_planted_proxy_signal_is_recovered_and_beats_the_counts_model(world) -> None:
    frequency, z, proxies = world
    target = planted_accuracy(z, {"t-8b": 8e9}, seed=2)["acc"].to_numpy()
    forecaster = ProxyForecaster().fit(frequency, proxies)
    predicted = forecaster.predict(8e9)
    assert predicted["idx"].to_list() == list(range(frequency.height))
    assert predicted["predicted_acc"].is_between(0, 1, closed="none").all()
    assert (predicted["n_inputs"] == len(PROXY_SIZES)).all()
    forecast_r2 = r_squared(target, predicted["predicted_acc"].to_numpy())
    counts_r2 = r_squared(target, forecaster.counts_model_.predict(frequency, 8e9)["predicted_acc"].to_numpy())
    last_r2 = r_squared(target, proxies.filter(pl.col("model") == "p-1b")["acc"].to_numpy())
    # The ease z is mostly not in the counts, so only the proxies can rank the questions.
    assert forecast_r2 > 0.6
    assert forecast_r2 > counts_r2 + 0.3
    assert forecast_r2 > last_r2


def test_a_larger_planned_size_knows_more(world) -> None:
    frequency, _, proxies = world
    forecaster = ProxyForecaster().fit(frequency, proxies)
    means = [forecaster.predict(size)["predicted_acc"].mean() for size in (3e9, 8e9)]
    assert means[1] > means[0]


def test_planned_size_at_or_below_the_largest_proxy_warns(world) -> None:
    frequency, _, proxies = world
    forecaster = ProxyForecaster().fit(frequency, proxies)
    with pytest.warns(UserWarning, match="not a forecast"):
        inside = forecaster.predict(5e8)
    assert (inside["n_inputs"] == 4).all()  # only the proxies below 500M are inputs
    with pytest.warns(UserWarning, match="counts model"):
        below_all = forecaster.predict(5e6)
    assert (below_all["n_inputs"] == 0).all()


def test_proxies_from_another_corpus_are_refused_unless_forced(world) -> None:
    frequency, _, proxies = world
    tagged = proxies.with_columns(pl.when(pl.col("model") == "p-1b").then(pl.lit("other")).otherwise(pl.lit("mine")).alias("corpus_version"))
    with pytest.raises(ValueError, match=r"another corpus.*'mine'.*force=True"):
        ProxyForecaster(corpus_version="mine").fit(frequency, tagged)
    with pytest.warns(UserWarning, match="forced"):
        ProxyForecaster(corpus_version="mine", force=True).fit(frequency, tagged)


def test_questions_without_counts_and_mismatched_proxies_are_errors(world) -> None:
    frequency, _, proxies = world
    with pytest.raises(ValueError, match=r"3 proxy questions have no counts.*\[0, 1, 2\]"):
        ProxyForecaster().fit(frequency.filter(pl.col("idx") >= 3), proxies)
    uneven = proxies.filter((pl.col("model") != "p-30m") | (pl.col("idx") > 0))
    with pytest.raises(ValueError, match="'p-30m' scored 1499 questions"):
        ProxyForecaster().fit(frequency, uneven)


def test_few_proxies_fall_back_as_stated(world) -> None:
    frequency, _, proxies = world
    two = proxies.filter(pl.col("model").is_in(["p-300m", "p-1b"]))
    with pytest.warns(UserWarning, match="slope term needs 3"):
        forecaster = ProxyForecaster().fit(frequency, two)
    assert not forecaster.use_slope_
    one = proxies.filter(pl.col("model") == "p-1b")
    with pytest.warns(UserWarning, match="no proxy pair"):
        single = ProxyForecaster().fit(frequency, one).predict(8e9)
    # One proxy: its accuracies shifted to its own per-relation means, so the order holds.
    own = one.join(single, on="idx")
    for _, part in own.group_by("rel"):
        assert np.corrcoef(part["acc"], part["predicted_acc"])[0, 1] > 0.999
    empty = proxies.head(0)
    with pytest.raises(ValueError, match="no proxies and no counts model"):
        ProxyForecaster().fit(frequency, empty)
    counts_model = SizeConditionedForecaster().fit(frequency, proxies)
    with pytest.warns(UserWarning, match="counts model"):
        fallback = ProxyForecaster().fit(frequency, empty, counts_model=counts_model).predict(8e9)
    assert np.allclose(fallback["predicted_acc"], counts_model.predict(frequency, 8e9)["predicted_acc"])


def test_score_predictions_on_known_values() -> None:
    actual = np.array([0.0, 0.2, 0.6, 1.0])
    predicted = np.array([0.1, 0.1, 0.7, 0.9])
    scores = score_predictions(actual, predicted, np.array(["a", "a", "b", "b"]))
    assert scores["abs_error"] == pytest.approx(0.0)
    assert scores["relation_mae"] == pytest.approx(0.0)
    assert scores["brier"] == pytest.approx(0.01)
    assert scores["auc"] == pytest.approx(1.0)
    assert scores["r2_question"] == pytest.approx(1 - 0.04 / np.sum((actual - actual.mean()) ** 2))
    assert np.isnan(score_predictions(np.zeros(3), np.ones(3) / 2, np.array(["a"] * 3))["auc"])


# ---------------------------------------------------------------- reference data


@pytest.fixture(scope="module")
def reference() -> pl.DataFrame:
    """The paper's reference frame, loaded once for the module (304k rows)."""
    if not REFERENCE_PARQUET.is_file():
        pytest.skip(f"SMI reference data not found at {REFERENCE_PARQUET}")
    return load_reference(REFERENCE_PARQUET)


def test_family_names_are_case_insensitive_and_unknown_ones_list_the_families(reference: pl.DataFrame) -> None:
    assert resolve_families(reference, ["pythia", "BLOOM", "gpt-neo"]) == ["Pythia", "BLOOM", "GPT-Neo"]
    with pytest.raises(ValueError, match=r"unknown families \['llama'\].*'GPT-Neo'.*'Pythia'"):
        resolve_families(reference, ["llama"])


def test_proxy_ratio_picks_only_smaller_same_family_models(reference: pl.DataFrame) -> None:
    models = reference.group_by("model").agg(pl.col("family", "params").first()).select("model", "family", "params")
    sets = dict(proxy_sets(models, ["Pythia"], ["Pythia"], proxy_ratio=8))
    assert sets["pythia-12b"] == ["pythia-14m", "pythia-31m", "pythia-70m", "pythia-160m", "pythia-410m", "pythia-1.4b"]
    assert sets["pythia-70m"] == []
    loso = dict(proxy_sets(models, ["Pythia"], ["Pythia"], proxy_ratio=None))
    assert "pythia-12b" not in loso["pythia-12b"] and len(loso["pythia-12b"]) == 8


def test_leakage_guard_random_target_accuracies_leave_its_forecast_unchanged(reference: pl.DataFrame) -> None:
    pythia = reference.filter(pl.col("family") == "Pythia", ~prompt_echo())
    proxies = ["pythia-160m", "pythia-410m", "pythia-1.4b"]
    rng = np.random.default_rng(0)
    scrambled = pythia.with_columns(
        pl.when(pl.col("model") == "pythia-12b").then(pl.Series(rng.uniform(0, 1, pythia.height))).otherwise(pl.col("acc")).alias("acc")
    )
    _, honest = target_predictions(pythia, "pythia-12b", proxies, ProxyForecaster)
    questions, leaked = target_predictions(scrambled, "pythia-12b", proxies, ProxyForecaster)
    assert not np.allclose(questions["acc"], pythia.filter(pl.col("model") == "pythia-12b")["acc"])
    # Up to float summation order (polars aggregates in parallel); a leak moves them by far more.
    for predictor, values in honest.items():
        assert np.max(np.abs(values - leaked[predictor])) < 1e-9, predictor


def test_forecast_beats_the_baselines_for_pythia_12b_from_models_up_to_1_4b(reference: pl.DataFrame) -> None:
    pythia = reference.filter(pl.col("family") == "Pythia", ~prompt_echo())
    proxies = ["pythia-14m", "pythia-31m", "pythia-70m", "pythia-160m", "pythia-410m", "pythia-1.4b"]
    questions, values = target_predictions(pythia, "pythia-12b", proxies, ProxyForecaster)
    actual, relations = questions["acc"].to_numpy(), questions["rel"].to_numpy()
    scores = {name: score_predictions(actual, value, relations) for name, value in values.items()}
    for baseline in ("scale_only", "scale_relation", "counts", "last_proxy", "shifted_proxy"):
        assert scores["forecast"]["r2_question"] > scores[baseline]["r2_question"], baseline
        assert scores["forecast"]["brier"] < scores[baseline]["brier"], baseline
    assert scores["forecast"]["r2_question"] > 0.7


# ------------------------------------------------------------------ the command


def test_command_excludes_prompt_echo_by_default_and_says_so(
    toy_reference: Path, tmp_path: Path, run_smi: Callable[..., int], capsys: pytest.CaptureFixture
) -> None:
    tables = {}
    for flags in ((), ("--keep-prompt-echo",)):
        out = tmp_path / f"forecast{len(flags)}.csv"
        assert run_smi("forecast-reference", str(toy_reference), "--test-family", "toy", "--proxy-ratio", "8", *flags, "--out", str(out)) == 0
        tables[flags] = pl.read_csv(out)
        assert tables[flags].columns == list(EVALUATION_COLUMNS)
    printed = capsys.readouterr().out
    assert "prompt-echo triples: excluded" in printed and "prompt-echo triples: kept" in printed
    excluded, kept = tables[()], tables[("--keep-prompt-echo",)]
    assert excluded["model"].to_list() == kept["model"].to_list() == ["toy-large"]  # toy-small has no proxy
    assert excluded["prompt_echo"][0] == "excluded" and kept["prompt_echo"][0] == "kept"
    assert kept["n_questions"][0] - excluded["n_questions"][0] == 5  # the toy's five echo triples
    # Excluding them is the same as removing them from the data beforehand.
    frame = load_reference(toy_reference)
    removed = evaluate_reference(frame.filter(~prompt_echo()), ["Toy"], ["Toy"], proxy_ratio=8, keep_prompt_echo=True)
    assert np.allclose(removed.drop("prompt_echo").select(pl.exclude(pl.String)).to_numpy(),
                       excluded.drop("prompt_echo").select(pl.exclude(pl.String)).to_numpy(), equal_nan=True)  # fmt: skip
    with pytest.raises(ValueError, match="unknown families"):
        evaluate_reference(frame, ["Toy"], ["Nope"])
    with pytest.raises(SystemExit, match="does not apply with --proxy-ratio"):
        run_smi("forecast-reference", str(toy_reference), "--train-family", "other", "--test-family", "toy",
                "--proxy-ratio", "8", "--out", str(tmp_path / "x.csv"))  # fmt: skip
