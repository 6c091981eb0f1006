"""`smi obs-scaling`, `smi cpp` and `smi design-factors`: the cross-model predictors on CSV files.

Each writes its main table to --out and its side tables beside it (same stem, another
suffix), all through a temporary file renamed into place.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from smi_assets.common.errors import InputError
from smi_assets.common.storage import write_csv_atomic


def side_path(out: str | Path, suffix: str) -> Path:
    """`FILE.csv` -> `FILE.<suffix>.csv`, where a command writes its side tables."""
    out = Path(out)
    return out.with_name(f"{out.stem}.{suffix}{out.suffix or '.csv'}")


def run_obs_scaling(args: argparse.Namespace) -> int:
    from smi_assets.crossmodel.benchmark_table import (
        load_obsscaling,
        load_target_column,
    )
    from smi_assets.crossmodel.obs_scaling import (
        PAPER_FAMILIES,
        evaluate_obs_scaling,
        obs_scaling_data,
    )

    table = load_obsscaling(args.table)
    scores = table.scores
    if args.target_table:
        if args.target in set(scores["benchmark"].to_list()):
            raise InputError(args.target_table, f"{args.target!r} is also a benchmark of {args.table}", line=1)
        scores = pl.concat([scores, load_target_column(args.target_table, args.target)])
    elif args.target not in set(scores["benchmark"].to_list()):
        raise InputError(args.table, f"no benchmark column {args.target!r} with scores", line=1)
    data = obs_scaling_data(table.models, scores, args.target, PAPER_FAMILIES if args.paper_families else None)
    try:
        result = evaluate_obs_scaling(data, cutoff_flops=args.cutoff_flops, n_components=args.components, n_folds=args.cv_folds)
    except ValueError as error:  # too few training models for the fit
        raise InputError(args.table, str(error)) from error
    write_csv_atomic(result.predictors, args.out)
    write_csv_atomic(result.components, side_path(args.out, "components"))
    write_csv_atomic(result.family_fits, side_path(args.out, "family_fits"))
    write_csv_atomic(result.predictions, side_path(args.out, "predictions"))
    with pl.Config(tbl_rows=50, tbl_cols=12):
        print(result.predictors)
        print(result.components.select("component", "explained_variance_ratio"))
    print(f"{result.chosen_components} component(s) chosen by {args.cv_folds}-fold cross-validation on the training models")
    print(f"{len(data.models)} models, {len(data.benchmarks)} capability benchmarks; wrote {args.out} and its "
          f"components, family_fits and predictions tables")  # fmt: skip
    return 0


def run_cpp(args: argparse.Namespace) -> int:
    from smi_assets.crossmodel.benchmark_table import load_cpp
    from smi_assets.crossmodel.cpp import cpp_inputs, evaluate_cpp

    table = load_cpp(args.scores, args.model_factors, args.task_factors)
    models, tasks, matrix, model_factors, task_factors = cpp_inputs(*table.frames())
    seeds = tuple(range(args.seed, args.seed + args.repeats))
    result = evaluate_cpp(matrix, model_factors, task_factors, models=models, tasks=tasks, seeds=seeds, test_fraction=args.test_fraction)
    write_csv_atomic(result.variants, args.out)
    write_csv_atomic(result.shapley, side_path(args.out, "shapley"))
    write_csv_atomic(result.per_seed, side_path(args.out, "per_seed"))
    with pl.Config(tbl_rows=50):
        print(result.variants)
        print(result.shapley)
    print(f"{len(models)} models x {len(tasks)} tasks, seeds {list(seeds)}; wrote {args.out} and its shapley and per_seed tables")
    return 0


def run_design_factors(args: argparse.Namespace) -> int:
    from smi_assets.crossmodel.benchmark_table import load_not_just_scaling
    from smi_assets.crossmodel.design_factors import (
        design_data,
        evaluate_design_factors,
    )

    table = load_not_just_scaling(args.reference_dir)
    data = design_data(table.models, table.model_features, table.scores)
    seeds = tuple(range(args.seed, args.seed + args.repeats))
    result = evaluate_design_factors(data, seeds=seeds)
    write_csv_atomic(result.tasks, args.out)
    write_csv_atomic(result.attributions, side_path(args.out, "attributions"))
    with pl.Config(tbl_rows=50, fmt_str_lengths=80, tbl_width_chars=200):
        print(result.tasks)
    print(f"{len(data.models)} models, seeds {list(seeds)}; wrote {args.out} and its attributions table")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    obs = subparsers.add_parser("obs-scaling", help="observational scaling laws on an ObsScaling-format table")
    obs.add_argument("--table", required=True, help="CSV in the format of ObsScaling's base_llm_benchmark_eval.csv")
    obs.add_argument("--target", required=True, help="benchmark column to predict from the others")
    obs.add_argument("--out", required=True, help="CSV: one row per predictor")
    obs.add_argument(
        "--target-table", help="read --target from this CSV (keyed by Model) instead of --table; all of --table's benchmarks are then capabilities"
    )
    obs.add_argument("--cutoff-flops", type=float, default=8.4e22, help="models above this compute are the test set (default: Llama-2-7B's)")
    obs.add_argument("--components", type=int, default=3, help="largest number of principal capabilities tried")
    obs.add_argument("--cv-folds", type=int, default=5, help="folds of the cross-validation, on the training models only, that picks the number of components")
    obs.add_argument("--paper-families", action="store_true", help="keep only the model families of the paper's main analysis")
    obs.set_defaults(run=run_obs_scaling)

    cpp = subparsers.add_parser("cpp", help="collaborative performance prediction on a CPP-format model x task table")
    cpp.add_argument("--scores", required=True, help="CSV like CPP's crowdsource_performance.csv (percent)")
    cpp.add_argument("--model-factors", required=True, help="CSV like CPP's model_feature.csv, rows in the same order")
    cpp.add_argument("--task-factors", required=True, help="CSV like CPP's benchmark_feature.csv (one column per task)")
    cpp.add_argument("--out", required=True, help="CSV: one row per variant")
    cpp.add_argument("--test-fraction", type=float, default=0.2, help="share of observed cells held out per seed")
    cpp.add_argument("--seed", type=int, default=0, help="first split seed")
    cpp.add_argument("--repeats", type=int, default=5, help="number of seeded splits averaged")
    cpp.set_defaults(run=run_cpp)

    design = subparsers.add_parser("design-factors", help="design-factor regression on the not_just_scaling files")
    design.add_argument("--reference-dir", required=True, help="folder with model_annotations.csv, dataset_info.csv, evaluation_results.csv")
    design.add_argument("--out", required=True, help="CSV: one row per task")
    design.add_argument("--seed", type=int, default=0, help="first cross-validation seed")
    design.add_argument("--repeats", type=int, default=5, help="number of seeds the 3-fold CV is repeated over")
    design.set_defaults(run=run_design_factors)
