"""CO-OCCUR, MI and SMI per triple, in the three variants of the SMI paper (arXiv 2502.04066).

All three metrics are binned on a log2 scale and normalised to [0, 1]:

- MI = p_so * log2(p_so / (p_s * p_o)) with p_x = N_x / N (0 when N_so = 0);
- bin b(v) = trunc(5 * log2(v)) / 5 (truncation toward zero, as the paper's code does);
- x = (b - b_min) / (b_max - b_min);
- SMI = x_MI ** (1 + 1 / P), P depending on the variant (see :data:`VARIANTS`).

CO-OCCUR bins N_so instead of MI; the MI baseline is SMI without the exponent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

VariantName = Literal["current", "may2025", "v1"]
METHODS = ("CO-OCCUR", "MI", "SMI")
# Column that compute_metrics writes for each method.
METHOD_COLUMNS = {"CO-OCCUR": "co_occur", "MI": "mi", "SMI": "smi"}
COUNT_COLUMNS = ("N", "N_s", "N_o", "N_so")


@dataclass(frozen=True)
class Variant:
    """How one version of the paper filters triples, normalises bins and scales the exponent.

    min_mi: triples need MI strictly above this (``mi_inclusive`` makes it >=).
    fixed_mi_range: (b_min, b_max) used for MI and SMI instead of the data's range.
    log2_params: exponent P = log2(params) if True, else params in billions.
    """

    name: VariantName
    min_mi: float
    mi_inclusive: bool
    fixed_mi_range: tuple[float, float] | None
    log2_params: bool

    def exponent_scale(self, params: float) -> float:
        """P in SMI = x ** (1 + 1/P), from the parameter count (not billions)."""
        if params <= 0:
            raise ValueError(f"params must be positive, got {params}")
        return math.log2(params) if self.log2_params else params / 1e9


VARIANTS: dict[str, Variant] = {
    # v5+ of the paper; the published tables.
    "current": Variant("current", min_mi=0.0, mi_inclusive=False, fixed_mi_range=None, log2_params=True),
    # v2-v4: a fixed MI range [2**-30, 1] so bins mean the same thing across corpora.
    "may2025": Variant("may2025", min_mi=2.0**-30, mi_inclusive=True, fixed_mi_range=(-30.0, 0.0), log2_params=False),
    "v1": Variant("v1", min_mi=0.0, mi_inclusive=False, fixed_mi_range=None, log2_params=False),
}


def get_variant(name: str) -> Variant:
    """The variant called `name`; ValueError listing the valid names otherwise."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown SMI variant {name!r}; expected one of {sorted(VARIANTS)}") from None


def mutual_information() -> pl.Expr:
    """Pointwise MI term p_so * log2(p_so / (p_s p_o)) from the count columns; 0 when N_so = 0."""
    n = pl.col("N").cast(pl.Float64)
    p_s, p_o, p_so = pl.col("N_s") / n, pl.col("N_o") / n, pl.col("N_so") / n
    return pl.when(pl.col("N_so") > 0).then(p_so * (p_so / (p_s * p_o)).log(2)).otherwise(0.0)


def log2_bin(values: np.ndarray) -> np.ndarray:
    """trunc(5 * log2(v)) / 5 for positive values."""
    return np.trunc(np.log2(values) * 5) / 5


def normalise(bins: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Map bins linearly so `value_range` (default: the bins' own min and max) becomes [0, 1]."""
    low, high = value_range if value_range is not None else (bins.min(), bins.max())
    if high == low:
        raise ValueError("all triples fall in one bin, so the metric cannot be normalised")
    return (bins - low) / (high - low)


def is_prompt_echo(subj: str, obj: str) -> bool:
    """True when the object is inside the subject string, so the prompt already shows the answer."""
    return obj in subj


def prompt_echo() -> pl.Expr:
    """Vectorised :func:`is_prompt_echo` over the `subj` and `obj` columns."""
    return pl.col("subj").str.contains(pl.col("obj"), literal=True)


def check_columns(frame: pl.DataFrame, required: tuple[str, ...] | list[str], what: str) -> None:
    """ValueError naming the missing columns of `frame`."""
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks columns {missing}; it has {frame.columns}")


def compute_metrics(frequency: pl.DataFrame, params: float, variant: str = "current") -> pl.DataFrame:
    """Keep the triples the variant scores and add its metric columns.

    `frequency` has one row per triple with at least N, N_s, N_o, N_so; `params` is the
    model's parameter count. Returns the kept rows (MI above the variant's threshold; the
    other rows have no log-scale bin) with `mutual_information` (raw MI) and the normalised
    metrics `co_occur`, `mi` and `smi` in [0, 1].
    """
    check_columns(frequency, COUNT_COLUMNS, "frequency table")
    spec = get_variant(variant)
    with_mi = frequency.with_columns(mutual_information().alias("mutual_information"))
    mi_col = pl.col("mutual_information")
    kept = with_mi.filter(mi_col >= spec.min_mi if spec.mi_inclusive else mi_col > spec.min_mi)
    if kept.height == 0:
        raise ValueError(f"no triple has MI above the {spec.name} threshold {spec.min_mi}")
    co_occur = normalise(log2_bin(kept["N_so"].to_numpy().astype(np.float64)))
    mi = normalise(log2_bin(kept["mutual_information"].to_numpy()), spec.fixed_mi_range)
    smi = mi ** (1 + 1 / spec.exponent_scale(params))
    return kept.with_columns(pl.Series("co_occur", co_occur), pl.Series("mi", mi), pl.Series("smi", smi))
