"""The forecast targets of issue 8 on the SMI paper's Pythia data, all baselines side by side.

Runs `smi forecast-reference`'s evaluation (prompt-echo triples excluded) twice on the
Pythia family and prints PASS/FAIL per target:

- ``--proxy-ratio 8``, pythia-12b (from the models of at most 1.4B): per-question R^2 at
  least 0.72 (aim 0.75) and above every baseline's; Brier below every baseline's; mean
  absolute error no worse than scale only;
- ``--proxy-ratio 4``: per-question R^2 above every baseline's for every target from 160M up.

    python bench/forecast_targets.py [--parquet ../shared/reference/smi/merge_outputs.parquet]

Exits 1 if any target fails. Pythia only: the other families are the held-out check.
"""

from __future__ import annotations

import argparse
import sys
import time

import polars as pl

from smi_assets.smi.forecast.evaluation import (
    PREDICTORS,
    evaluate_reference,
    side_by_side,
)
from smi_assets.smi.reference import load_reference

BASELINES = PREDICTORS[1:]
R2_FLOOR, R2_AIM = 0.72, 0.75


def best_baseline(row: dict, metric: str, larger_is_better: bool) -> float:
    values = [row[f"{baseline}_{metric}"] for baseline in BASELINES]
    return max(values) if larger_is_better else min(values)


def check(name: str, passed: bool, detail: str) -> bool:
    print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parquet", default="../shared/reference/smi/merge_outputs.parquet")
    args = parser.parse_args()
    reference = load_reference(args.parquet)
    tables = {}
    for ratio in (8, 4):
        started = time.perf_counter()
        tables[ratio] = evaluate_reference(reference, ["pythia"], ["pythia"], proxy_ratio=ratio)
        print(f"\n=== Pythia, prompt-echo triples excluded, --proxy-ratio {ratio} ({time.perf_counter() - started:.0f} s)")
        print(side_by_side(tables[ratio]))

    print()
    results = []
    row = tables[8].filter(pl.col("model") == "pythia-12b").row(0, named=True)
    r2, best_r2 = row["forecast_r2_question"], best_baseline(row, "r2_question", True)
    results.append(check("ratio 8, pythia-12b: R^2 >= 0.72", r2 >= R2_FLOOR, f"{r2:.4f} (aim {R2_AIM}: {'met' if r2 >= R2_AIM else 'not met'})"))
    results.append(check("ratio 8, pythia-12b: R^2 above every baseline", r2 > best_r2, f"{r2:.4f} vs best baseline {best_r2:.4f}"))
    brier, best_brier = row["forecast_brier"], best_baseline(row, "brier", False)
    results.append(check("ratio 8, pythia-12b: Brier below every baseline", brier < best_brier, f"{brier:.5f} vs best baseline {best_brier:.5f}"))
    error, scale_error = row["forecast_abs_error"], row["scale_only_abs_error"]
    results.append(check("ratio 8, pythia-12b: mean abs error <= scale only", error <= scale_error, f"{error:.4f} vs {scale_error:.4f}"))
    for row in tables[4].filter(pl.col("params") >= 1.6e8).iter_rows(named=True):
        r2, best_r2 = row["forecast_r2_question"], best_baseline(row, "r2_question", True)
        results.append(check(f"ratio 4, {row['model']}: R^2 above every baseline", r2 > best_r2, f"{r2:.4f} vs best baseline {best_r2:.4f}"))
    print(f"\n{sum(results)} of {len(results)} targets pass")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
