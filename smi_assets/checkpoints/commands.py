"""`smi run-default` and `smi report`: the whole default pipeline, and what it produced."""

from __future__ import annotations

import argparse
import json

from smi_assets.defs.resources import settings_from_environment


def run_default_command(args: argparse.Namespace) -> int:
    from smi_assets.pipeline import (  # imports Dagster and torch: keep `smi --help` fast
        open_instance,
        run_default,
    )

    settings = settings_from_environment(data_dir=args.data_dir)
    run_default(settings, open_instance(settings.data_path))
    print(f"done: data in {settings.data_path}; `smi report --data-dir {args.data_dir}` summarises it")
    return 0


def report_command(args: argparse.Namespace) -> int:
    from smi_assets.pipeline import report

    summary = report(settings_from_environment(data_dir=args.data_dir))
    if args.format == "json":
        print(json.dumps(summary, indent=2, default=str))
    else:
        for checkpoint in summary["checkpoints"]:
            print(f"{checkpoint['id']:<16} {checkpoint['params']:>12,} params  accuracy {checkpoint['mean_accuracy']:.3f}")
        for row in summary["accuracy_by_cooccurrence"]:
            print(f"{row['checkpoint_id']:<16} N_so {row['n_so_range']:>9}  {row['triples']:>5} triples  accuracy {row['accuracy']:.3f}")
        for row in summary["forecast"]:
            print(f"forecast {row['planned_params']:>12,} params  accuracy {row['predicted_accuracy']:.3f}")
        print(f"leave-one-size-out MAE {summary['leave_one_size_out_mae']}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run-default", help="materialize the whole default asset graph (all partitions) in-process")
    run.add_argument("--data-dir", default="data", help="where data, the DuckDB file and (unless DAGSTER_HOME is set) the Dagster instance live")
    run.set_defaults(run=run_default_command)
    show = subparsers.add_parser("report", help="summarise checkpoints, SMI fits and the forecast of a data directory")
    show.add_argument("--data-dir", default="data")
    show.add_argument("--format", choices=["json", "text"], default="text")
    show.set_defaults(run=report_command)
