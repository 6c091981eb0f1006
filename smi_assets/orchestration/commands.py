"""The commands that read the pipeline's settings and instance: `smi run-default`, `smi report`,
`smi prune`, and `smi export-templates` (the configured synthetic world's templates)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def run_default_command(args: argparse.Namespace) -> int:
    # Imports Dagster and torch: keep `smi --help` fast.
    from smi_assets.orchestration.pipeline import open_instance, run_default

    # The executor's step processes read their settings from the environment too.
    os.environ["SMI_DATA_DIR"] = str(Path(args.data_dir).resolve())
    run_default(open_instance(Path(args.data_dir)))
    print(f"done: data in {os.environ['SMI_DATA_DIR']}; `smi report --data-dir {args.data_dir}` summarises it")
    return 0


def report_command(args: argparse.Namespace) -> int:
    from smi_assets.orchestration.pipeline import open_instance, report
    from smi_assets.orchestration.resources import resources_from_environment

    resources = resources_from_environment({**os.environ, "SMI_DATA_DIR": args.data_dir})
    summary = report(resources["storage"], resources["modeling"], open_instance(Path(args.data_dir)))
    if args.format == "json":
        print(json.dumps(summary, indent=2, default=str))
    else:
        corpus_tokens = summary["corpus_tokens"]
        print(f"corpus: {'unknown' if corpus_tokens is None else f'{corpus_tokens:,}'} tokens")
        for checkpoint in summary["checkpoints"]:
            print(
                f"{checkpoint['id']:<24} {checkpoint['params']:>12,} params  accuracy {checkpoint['mean_accuracy']:.3f}  "
                f"run {checkpoint['run_id'] or '?'} step {_known(checkpoint['step'], ',')}  "
                f"{_known(checkpoint['tokens'], ',')} tokens ({_known(checkpoint['epochs'], '.3f')} epochs)"
            )
        for row in summary["accuracy_by_cooccurrence"]:
            print(f"{row['checkpoint_id']:<16} N_so {row['n_so_range']:>9}  {row['triples']:>5} triples  accuracy {row['accuracy']:.3f}")
        for row in summary["forecast"]:
            print(f"forecast {row['target']:<24} {row['planned_params']:>12,} params  accuracy {row['predicted_accuracy']:.3f}  (proxies {row['proxies']})")
        for row in summary["forecast_backtests"]:
            print(
                f"backtest {row['checkpoint_id']:<16} {row['checkpoint_params']:>12,.0f} params vs forecast {row['forecast_id'][:8]} "
                f"({row['planned_params']:,.0f}): mean {row['mean_predicted']:.3f} predicted / {row['mean_actual']:.3f} actual, "
                f"R² {row['r2_question']:.3f}, Brier {row['brier']:.4f}, AUC {row['auc']:.3f}"
            )
        print(f"leave-one-size-out MAE of the counts-only model {summary['leave_one_size_out_mae']}")
        for source, count in summary["skipped_records"].items():
            print(f"skipped {count} bad records in {source} (SMI_SKIP_BAD_RECORDS)")
    return 0


def _known(value: float | None, spec: str) -> str:
    return "?" if value is None else format(value, spec)


def prune_command(args: argparse.Namespace) -> int:
    from smi_assets.orchestration.maintenance import prune, stale_partitions
    from smi_assets.orchestration.pipeline import open_instance
    from smi_assets.orchestration.resources import resources_from_environment

    resources = resources_from_environment({**os.environ, "SMI_DATA_DIR": args.data_dir})
    instance = open_instance(Path(args.data_dir))
    stale = stale_partitions(instance, resources["inputs"], resources["storage"], resources["modeling"])
    if not stale:
        print("nothing to prune: every partition's source is there")
        return 0
    print(stale.describe())
    if args.dry_run:
        return 0
    prune(instance, resources["storage"], stale)
    print(f"removed {len(stale.shards)} shard and {len(stale.checkpoints)} checkpoint partitions with their files and rows")
    return 0


def run_export_templates(args: argparse.Namespace) -> int:
    from smi_assets.corpus import world
    from smi_assets.knowledge.loaders import save_templates
    from smi_assets.orchestration.partitions import world_config
    from smi_assets.orchestration.resources import resources_from_environment

    templates = world.build_world(world_config(resources_from_environment()["inputs"])).templates
    path = save_templates(templates, args.path)
    print(f"wrote {sum(map(len, templates.values()))} templates of {len(templates)} relations to {path}; set SMI_TEMPLATES_PATH={path} to ask with them")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run-default", help="materialize the whole asset graph (all partitions), as the UI would, with progress")
    run.add_argument("--data-dir", default="data", help="where data, the DuckDB file and (unless DAGSTER_HOME is set) the Dagster instance live")
    run.set_defaults(run=run_default_command)
    show = subparsers.add_parser("report", help="summarise checkpoints, SMI fits and the forecast of a data directory")
    show.add_argument("--data-dir", default="data")
    show.add_argument("--format", choices=["json", "text"], default="text")
    show.set_defaults(run=report_command)
    cleanup = subparsers.add_parser("prune", help="remove shard and checkpoint partitions whose source file or folder is gone")
    cleanup.add_argument("--data-dir", default="data")
    cleanup.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    cleanup.set_defaults(run=prune_command)
    export = subparsers.add_parser(
        "export-templates",
        help="write the synthetic world's cloze templates to a JSON file",
        description="With SMI_TEMPLATES_PATH pointing at the file, the synthetic world's questions come from it: "
        "edit it and, under `dagster dev`, only cbqa_questions and its dependents rematerialize.",
    )
    export.add_argument("path", help="the JSON file to write (relation -> list of templates with [S])")
    export.set_defaults(run=run_export_templates)
