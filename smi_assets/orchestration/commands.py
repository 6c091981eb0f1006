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
            seen = f", {row['run_fraction_seen']:.0%} of the run seen" if row["run_fraction_seen"] is not None else ""
            print(
                f"forecast {row['target']:<40} {row['planned_params']:>12,.0f} params x {_known(row['planned_tokens'], ',.0f')} tokens  "
                f"accuracy {row['predicted_accuracy']:.3f} (80% {row['acc_low']:.3f}-{row['acc_high']:.3f}{seen})"
            )
        for row in summary["forecast_backtests"]:
            seen = f" at {row['run_fraction_seen']:.0%} of the run" if row.get("run_fraction_seen") is not None else ""
            inside = {True: "inside", False: "outside", None: "no"}[row.get("inside_interval")]
            print(
                f"backtest {row['checkpoint_id']:<16} vs forecast {row['forecast_id'][:8]} of {row.get('target') or _known(row['planned_params'], ',.0f')}{seen}: "
                f"mean {row['mean_predicted']:.3f} predicted / {row['mean_actual']:.3f} actual ({inside} 80% interval), "
                f"R² {row['r2_question']:.3f}, Brier {row['brier']:.4f}, AUC {row['auc']:.3f}"
            )
        if summary["interval_coverage"] is not None:
            print(
                f"80% interval coverage over {sum(row.get('inside_interval') is not None for row in summary['forecast_backtests'])} backtests: {summary['interval_coverage']:.2f}"
            )
        for row in summary["knowledge_gaps"]:
            print(f"knowledge gaps at {row['planned_run']}: {row['facts_below_target']} facts below the target accuracy (table knowledge_gaps)")
        for row in summary["plan"]:
            if row["params"] is not None:
                print(
                    f"plan: mean accuracy {row['target_accuracy']} needs about {row['params']:.3g} params on {row['tokens']:.3g} tokens ({row['compute']:.3g} FLOPs)"
                )
            if row["note"]:
                print(f"plan: {row['note']}")
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


def _question_ids(path: str) -> list[int]:
    """The question (triple) ids of a file: one per line, or a CSV/Parquet with an ``idx`` column."""
    from smi_assets.common.errors import InputError

    source = Path(path)
    if source.suffix in (".csv", ".parquet"):
        import polars as pl

        frame = pl.read_parquet(source) if source.suffix == ".parquet" else pl.read_csv(source)
        if "idx" not in frame.columns:
            raise InputError(source, f"no idx column; columns: {frame.columns}")
        return frame["idx"].cast(int).to_list()
    ids = []
    for line_number, line in enumerate(source.read_text().splitlines(), start=1):
        if line.strip():
            try:
                ids.append(int(line))
            except ValueError:
                raise InputError(source, f"not a question id: {line.strip()!r}", line=line_number) from None
    return ids


def plan_command(args: argparse.Namespace) -> int:
    from smi_assets.common.storage import write_csv_atomic
    from smi_assets.orchestration.forecasting import fit_forecaster
    from smi_assets.orchestration.partitions import corpus_shards
    from smi_assets.orchestration.pipeline import open_instance
    from smi_assets.orchestration.resources import resources_from_environment

    resources = resources_from_environment({**os.environ, "SMI_DATA_DIR": args.data_dir})
    shards = sorted(open_instance(Path(args.data_dir)).get_dynamic_partitions(corpus_shards.name))
    fitted = fit_forecaster(resources["storage"], resources["modeling"], shards)
    for note in fitted.notes:
        print(note)
    forecaster = fitted.forecaster
    questions = _question_ids(args.questions) if args.questions else None
    try:
        plan = forecaster.plan(args.target_accuracy, relation=args.relation, questions=questions, tokens_per_param=args.tokens_per_param)
    except ValueError as error:
        print(f"smi plan: {error}")
        return 1
    what = f"relation {args.relation}" if args.relation else "all questions"
    if questions is not None:
        what += f", {plan['n_questions']} of the given questions"

    def interval(low: float | None, high: float | None, unit: str) -> str:
        return f"80% range {'?' if low is None else f'{low:.3g}'} to {'beyond the search' if high is None else f'{high:.3g}'} {unit}"

    print(
        f"mean accuracy {args.target_accuracy} over {what} needs about {plan['params']:.3g} params on {plan['tokens']:.3g} tokens "
        f"({plan['tokens_per_param']:.3g} tokens per parameter), {plan['compute']:.3g} FLOPs; "
        f"{interval(plan['params_low'], plan['params_high'], 'params')}, {interval(plan['compute_low'], plan['compute_high'], 'FLOPs')}"
    )
    for run in resources["modeling"].planned_targets():
        gaps = forecaster.knowledge_gaps(run.params, run.tokens, args.target_accuracy)
        if questions is not None:
            gaps = gaps.filter(gaps["idx"].is_in(questions))
        print(f"at {run.name}: {gaps.height} facts forecast below {args.target_accuracy}")
        if args.out and run == resources["modeling"].planned_targets()[0]:
            write_csv_atomic(gaps, args.out)
            print(f"wrote the facts below target at {run.name}, with the co-occurrences each would need, to {args.out}")
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
    plan = subparsers.add_parser(
        "plan",
        help="the run (params, tokens, compute) whose forecast reaches a target accuracy, and the facts that stay below it",
        description="Fits the forecaster on every scored checkpoint of the data directory (run `smi run-default` first) and inverts it.",
    )
    plan.add_argument("--data-dir", default="data")
    plan.add_argument("--target-accuracy", type=float, required=True, help="mean CBQA accuracy to reach, in (0, 1)")
    plan.add_argument("--relation", help="reach it on this relation's questions only")
    plan.add_argument("--questions", help="reach it on these questions: a file of question ids, one per line, or a CSV/Parquet with an idx column")
    plan.add_argument("--tokens-per-param", type=float, help="the plan's tokens per parameter (default: the ladder's recipe, TokensForecaster.ladder_tokens)")
    plan.add_argument("--out", help="CSV of the facts below the target at the first planned run (SMI_PLANNED_RUNS), with the co-occurrences each needs")
    plan.set_defaults(run=plan_command)
    export = subparsers.add_parser(
        "export-templates",
        help="write the synthetic world's cloze templates to a JSON file",
        description="With SMI_TEMPLATES_PATH pointing at the file, the synthetic world's questions come from it: "
        "edit it and, under `dagster dev`, only cbqa_questions and its dependents rematerialize.",
    )
    export.add_argument("path", help="the JSON file to write (relation -> list of templates with [S])")
    export.set_defaults(run=run_export_templates)
