"""`smi fit-reference` and `smi forecast-reference`: the paper's published data through our code."""

from __future__ import annotations

import argparse
from functools import partial

from smi_assets.common.storage import write_csv_atomic
from smi_assets.smi.fit import fit_table
from smi_assets.smi.metrics import VARIANTS
from smi_assets.smi.reference import load_reference, reference_fits


def run_fit_reference(args: argparse.Namespace) -> int:
    reference = load_reference(args.parquet)
    table = fit_table(reference_fits(reference, args.variant, drop_prompt_echo=args.drop_prompt_echo))
    write_csv_atomic(table, args.out)
    print(f"wrote {table.height} fits ({table['model'].n_unique()} models) to {args.out}")
    return 0


def family_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def run_forecast_reference(args: argparse.Namespace) -> int:
    # Imported here: scipy and scikit-learn would slow down `smi --help`.
    from smi_assets.smi.forecast.evaluation import evaluate_reference, side_by_side
    from smi_assets.smi.forecast.proxy import ProxyForecaster

    if args.proxy_ratio and args.train_family and family_list(args.train_family) != family_list(args.test_family):
        raise SystemExit("--train-family does not apply with --proxy-ratio: the proxies come from each target's own family")
    reference = load_reference(args.parquet)
    table = evaluate_reference(
        reference,
        train_families=family_list(args.train_family or args.test_family),
        test_families=family_list(args.test_family),
        proxy_ratio=args.proxy_ratio,
        keep_prompt_echo=args.keep_prompt_echo,
        forecaster_factory=partial(ProxyForecaster, anchor=args.anchor),
    )
    write_csv_atomic(table, args.out)
    echo = "kept" if args.keep_prompt_echo else "excluded (--keep-prompt-echo keeps them)"
    proxies = (
        f"same-family models of at most size / {args.proxy_ratio:g}" if args.proxy_ratio
        else "the training-family models other than the target"
    )  # fmt: skip
    print(f"prompt-echo triples: {echo}; proxies: {proxies}")
    print(side_by_side(table))
    print(f"wrote {table.height} targets to {args.out}")
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
        help="forecast per-question accuracy of each test model from smaller proxies and corpus counts",
        description="Forecast each test-family model from its proxies (ProxyForecaster) and score it per question "
        "against five baselines fitted on the same proxies. Prompt-echo triples are left out unless "
        "--keep-prompt-echo.",
    )
    forecast.add_argument("parquet", help="merge_outputs.parquet; models.csv must sit beside it")
    forecast.add_argument("--test-family", required=True, help="family or comma-separated families (any case), e.g. pythia")
    forecast.add_argument(
        "--train-family", help="without --proxy-ratio: the families the proxies come from (default: the test family; "
        "equal families mean leave-one-size-out)",
    )  # fmt: skip
    forecast.add_argument(
        "--proxy-ratio", type=float, metavar="R",
        help="forecast each test model from the models of its family of at most its size / R",
    )  # fmt: skip
    forecast.add_argument("--keep-prompt-echo", action="store_true", help="keep triples whose object is inside the subject string")
    forecast.add_argument(
        "--anchor", choices=["relation", "mean"], default="relation",
        help="level the forecast to the proxies' scaling lines per relation, or overall",
    )  # fmt: skip
    forecast.add_argument("--out", required=True, help="CSV file to write")
    forecast.set_defaults(run=run_forecast_reference)
