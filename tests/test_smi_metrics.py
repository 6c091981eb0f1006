"""SMI metrics and the grouped fit on small generated data."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from smi_assets.smi.fit import fit_methods, fit_table, grouped_fit, r_squared
from smi_assets.smi.metrics import (
    compute_metrics,
    get_variant,
    is_prompt_echo,
    log2_bin,
    normalise,
)


def frequency_frame(rows: list[tuple[int, int, int, int]]) -> pl.DataFrame:
    """Frequency rows from (N, N_s, N_o, N_so) tuples."""
    return pl.DataFrame(rows, schema=["N", "N_s", "N_o", "N_so"], orient="row").with_row_index("idx")


def test_mutual_information_matches_the_formula_and_is_zero_without_co_occurrence() -> None:
    frame = frequency_frame([(100, 10, 20, 5), (1000, 10, 10, 8), (100, 10, 20, 0)])
    scored = compute_metrics(frame, params=1e9, variant="current")
    # p_so = 0.05, p_s * p_o = 0.02; p_so = 0.008, p_s * p_o = 1e-4.
    expected = [0.05 * math.log2(0.05 / 0.02), 0.008 * math.log2(0.008 / 1e-4)]
    assert scored["mutual_information"].to_list() == pytest.approx(expected)
    assert scored["idx"].to_list() == [0, 1]  # the N_so = 0 row has MI 0 and is not scored


def test_negative_mi_is_dropped_in_current_and_kept_above_threshold_in_may2025() -> None:
    # Second row: the pair co-occurs less than chance, so MI < 0.
    frame = frequency_frame([(100, 10, 20, 5), (100, 50, 50, 10), (1000, 10, 10, 8)])
    assert compute_metrics(frame, 1e9, "current")["idx"].to_list() == [0, 2]
    assert compute_metrics(frame, 1e9, "may2025")["idx"].to_list() == [0, 2]
    tiny = frequency_frame([(2**40, 1, 1, 1), (100, 10, 20, 5), (1000, 10, 10, 8)])  # MI ~ 2**-40 * 40
    assert 0 not in compute_metrics(tiny, 1e9, "may2025")["idx"].to_list()
    assert 0 in compute_metrics(tiny, 1e9, "current")["idx"].to_list()


def test_log2_bin_truncates_toward_zero() -> None:
    values = np.array([2.0**1.3, 2.0**-1.3, 2.0**-0.1, 8.0])
    assert log2_bin(values).tolist() == pytest.approx([1.2, -1.2, 0.0, 3.0])


def test_normalise_uses_data_range_or_fixed_range() -> None:
    bins = np.array([-10.0, -5.0, -2.0])
    assert normalise(bins).tolist() == pytest.approx([0.0, 5 / 8, 1.0])
    assert normalise(bins, (-30.0, 0.0)).tolist() == pytest.approx([20 / 30, 25 / 30, 28 / 30])
    with pytest.raises(ValueError, match="one bin"):
        normalise(np.array([-3.0, -3.0]))


@pytest.mark.parametrize("variant, exponent", [("current", 1 + 1 / math.log2(2e9)), ("v1", 1 + 1 / 2.0), ("may2025", 1 + 1 / 2.0)])
def test_smi_raises_normalised_mi_to_the_variant_exponent(variant: str, exponent: float) -> None:
    rng = np.random.default_rng(0)
    n_s = rng.integers(100, 10_000, 50)
    n_o = rng.integers(100, 10_000, 50)
    n_so = (np.minimum(n_s, n_o) * rng.uniform(0.05, 0.9, 50)).astype(int) + 1
    frame = frequency_frame([(10**6, int(s), int(o), int(so)) for s, o, so in zip(n_s, n_o, n_so)])
    scored = compute_metrics(frame, params=2e9, variant=variant)
    mi = scored["mi"].to_numpy()
    assert np.allclose(scored["smi"].to_numpy(), mi**exponent)
    if variant == "may2025":
        bins = log2_bin(scored["mutual_information"].to_numpy())
        assert np.allclose(mi, (bins + 30) / 30)
    else:
        assert mi.min() == 0.0 and mi.max() == 1.0
    co_occur = scored["co_occur"].to_numpy()
    assert co_occur.min() == 0.0 and co_occur.max() == 1.0


def test_unknown_variant_is_rejected() -> None:
    with pytest.raises(ValueError, match="current"):
        get_variant("v9")


def test_is_prompt_echo() -> None:
    assert is_prompt_echo("hunting dog", "hunting")
    assert is_prompt_echo("LGBT social movements", "LGBT")
    assert not is_prompt_echo("Barack Obama", "Hawaii")
    assert not is_prompt_echo("art school", "Art")  # case-sensitive, as the reference counts


def test_grouped_fit_recovers_a_line_through_group_means() -> None:
    # Three groups whose means lie on acc = 0.5 x + 0.1, with spread inside each group.
    metric = np.array([0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0])
    acc = np.array([0.0, 0.2, 0.25, 0.45, 0.35, 0.35, 0.5, 0.7])
    fit = grouped_fit(metric, acc, model="m", method="SMI")
    assert fit.slope == pytest.approx(0.5)
    assert fit.intercept == pytest.approx(0.1)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.upper_bound == pytest.approx(0.6)
    assert fit.x_intercept == pytest.approx(-0.2)
    assert fit.n_groups == 3 and fit.n_questions == 8
    assert fit.acc == pytest.approx(acc.mean())
    # Within-group mean squared errors around the line: 0.01, 0.005, 0.01.
    assert fit.mse == pytest.approx((0.01 + 0.005 + 0.01) / 3)
    assert fit.r2_question < 1.0
    # The question-weighted line is ordinary least squares over questions.
    slope, intercept = np.polyfit(metric, acc, 1)
    assert (fit.weighted_slope, fit.weighted_intercept) == pytest.approx((slope, intercept))
    assert fit.weighted_r2_question == pytest.approx(r_squared(acc, slope * metric + intercept))


def test_grouped_r2_ignores_group_sizes_but_question_r2_does_not() -> None:
    # A big noisy group at 0 and two single questions that sit on a line: groups fit perfectly.
    metric = np.array([0.0] * 100 + [0.5, 1.0])
    acc = np.array([0.0, 0.2] * 50 + [0.35, 0.6])
    fit = grouped_fit(metric, acc)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.r2_question < 0.7


def test_grouped_fit_needs_two_metric_values() -> None:
    with pytest.raises(ValueError, match="two distinct"):
        grouped_fit(np.array([0.3, 0.3]), np.array([0.1, 0.2]))


def test_fit_methods_drops_prompt_echo_triples_before_binning() -> None:
    rng = np.random.default_rng(1)
    n = 200
    n_s = rng.integers(50, 5000, n)
    n_so = (n_s * rng.uniform(0.1, 0.9, n)).astype(int) + 1
    frame = pl.DataFrame(
        {
            "N": [10**6] * n,
            "N_s": n_s,
            "N_o": rng.integers(5000, 20_000, n),
            "N_so": n_so,
            "subj": [f"thing {i}" for i in range(n)],
            "obj": ["thing" if i < 20 else f"place {i}" for i in range(n)],
            "acc": np.where(np.arange(n) < 20, 1.0, rng.uniform(0, 0.3, n)),
        }
    )
    kept = fit_methods(frame, 1e9, "current", model="toy")
    dropped = fit_methods(frame, 1e9, "current", drop_prompt_echo=True, model="toy")
    assert [fit.method for fit in kept] == ["CO-OCCUR", "MI", "SMI"]
    assert all(fit.n_questions == n for fit in kept)
    assert all(fit.n_questions == n - 20 for fit in dropped)
    assert dropped[2].acc == pytest.approx(frame["acc"][20:].mean())
    table = fit_table(kept + dropped)
    assert table.columns[:11] == [
        "model", "method", "slope", "intercept", "r2", "mse", "upper_bound", "acc", "n_groups",
        "n_questions", "r2_question",
    ]  # fmt: skip
    assert table.height == 6
    with pytest.raises(ValueError, match="subj"):
        fit_methods(frame.drop("subj"), 1e9, drop_prompt_echo=True)
