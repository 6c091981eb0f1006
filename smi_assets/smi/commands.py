"""`smi fit-reference` and `smi forecast-reference`: the paper's published data through our code."""

from __future__ import annotations

import argparse
from functools import partial

from smi_assets.smi.fit import fit_table
from smi_assets.smi.metrics import VARIANTS
from smi_assets.smi.reference import load_reference, reference_fits
from smi_assets.storage import write_csv_atomic


def run_fit_reference(args: argparse.Namespace) -> int:
    reference = load_reference(args.parquet)
    table = fit_table(reference_fits(reference, args.variant, drop_prompt_echo=args.drop_prompt_echo))
    write_csv_atomic(table, args.out)
    print(f"wrote {table.height} fits ({table['model'].n_unique()} models) to {args.out}")
    return 0


def run_forecast_reference(args: argparse.Namespace) -> int:
    # Imported here: scipy and scikit-learn would slow down `smi --help`.
    from smi_assets.smi.forecast import SizeConditionedForecaster, forecast_reference

    table = forecast_reference(
        load_reference(args.parquet),
        train_families=[name.strip() for name in args.train_family.split(",") if name.strip()],
        test_families=[name.strip() for name in args.test_family.split(",") if name.strip()],
        forecaster_factory=partial(SizeConditionedForecaster, anchor=args.anchor),
    )
    write_csv_atomic(table, args.out)
    print(table.select("model", "actual_acc", "predicted_acc", "baseline_acc", "relation_mae",
                       "scale_relation_relation_mae", "r2_question", "scale_relation_r2_question"))  # fmt: skip
    print(f"wrote {table.height} forecasts to {args.out}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register the SMI subcommands on the `smi` parser."""
    fit = subparsers.add_parser(
        "fit-reference",
        help="fit CO-OCCUR, MI and SMI on the paper's published per-question results",
        description="One row per (model, method) with the paper's grouped fit and question-level R^2.",
    )
    fit.add_argument("parquet", help="merge_outputs.parquet; models.csv must sit beside it")
    fit.add_argument("--variant", choices=sorted(VARIANTS), default="current")
    fit.add_argument("--out", required=True, help="CSV file to write")
    fit.add_argument(
        "--drop-prompt-echo", action="store_true",
        help="leave out triples whose object is inside the subject string",
    )  # fmt: skip
    fit.set_defaults(run=run_fit_reference)

    forecast = subparsers.add_parser(
        "forecast-reference",
        help="forecast per-question accuracy of held-out model sizes from counts and size alone",
        description="Fit the size-conditioned forecaster on the training families and score it on the "
        "test families against scale-only and scale + relation baselines. Equal families mean leave-one-size-out.",
    )
    forecast.add_argument("parquet", help="merge_outputs.parquet; models.csv must sit beside it")
    forecast.add_argument("--train-family", required=True, help="family or comma-separated families, e.g. Pythia,GPT-Neo")
    forecast.add_argument("--test-family", required=True, help="family or comma-separated families")
    forecast.add_argument(
        "--anchor", choices=["relation", "mean", "none"], default="relation",
        help="shift the count model's predictions to each relation's (relation) or the overall (mean) "
        "accuracy line in log2 params over the training models, or not at all (none)",
    )  # fmt: skip
    forecast.add_argument("--out", required=True, help="CSV file to write")
    forecast.set_defaults(run=run_forecast_reference)
