"""`smi run-default`: materialize the whole asset graph, the way the UI would, with progress.

The order comes from Dagster's own asset graph, not from a list kept here: `plan_runs` walks
it and cuts it into runs, because one Dagster run covers one partition key of one
partitions definition. Each run executes the code location's `__ASSET_JOB` through its
configured executor (the multiprocess executor, as in the UI), on the persistent instance at
``$DAGSTER_HOME`` (default ``<data dir>/dagster_home``), so `dagster dev` on the same home
shows the runs, their metadata and lineage. While a run executes, its event log is read back
and shown: a bar per long step (training, CBQA generation, shard scans), warnings, and one
line per finished step. Before anything runs the input files are observed and new shards and
checkpoints registered, exactly as the `inputs_sensor` does under the daemon, and again after
each partition run, so the intermediate checkpoints a ladder run left are walked too.

Rerunning is cheap: unchanged checkpoints are reused, not retrained, and every table is
replaced, not appended to.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.events import DagsterEventType
from dagster._core.storage.dagster_run import RunsFilter

from smi_assets.checkpoints import store
from smi_assets.definitions import FORK_SERVER_PRELOAD, build_definitions
from smi_assets.orchestration.engine import start_local_step_server
from smi_assets.orchestration.instance import instance_kind, prepare_dagster_home
from smi_assets.orchestration.maintenance import fail_orphaned_runs, run_owner_tags, stale_partitions
from smi_assets.orchestration.observe import REFERENCE_TABLES, observe_and_register
from smi_assets.orchestration.partitions import corpus_shards
from smi_assets.orchestration.progress import TerminalProgress, parse_notice, parse_progress
from smi_assets.orchestration.resources import REPO_ROOT, ModelingResource, StorageResource, resources_from_environment

# The terminal shows progress, warnings and step results from the event log; Dagster's own
# console logger would print every engine event on top of that.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class PlannedRun:
    """Assets that one run per partition key (or one run, unpartitioned) materializes together."""

    asset_keys: tuple[dg.AssetKey, ...]
    partitions_def: dg.PartitionsDefinition | None

    def label(self) -> str:
        return ", ".join(key.to_user_string() for key in self.asset_keys)


def plan_runs(asset_graph, selection: set[dg.AssetKey]) -> list[PlannedRun]:
    """Cut `selection` into runs in dependency order. A run holds assets of one partitions
    definition whose upstream assets are all done or in the same run; unpartitioned assets
    go first when several are ready, since partitioned stages usually build on them."""
    order = {key: position for position, key in enumerate(asset_graph.toposorted_asset_keys)}
    remaining = set(selection)
    done: set[dg.AssetKey] = set()
    plans: list[PlannedRun] = []

    def parents(key: dg.AssetKey) -> set[dg.AssetKey]:
        return asset_graph.get(key).parent_keys & selection

    while remaining:
        ready = sorted((key for key in remaining if parents(key) <= done), key=order.__getitem__)
        if not ready:
            raise ValueError(f"no asset of {sorted(k.to_user_string() for k in remaining)} can run: cycle in the graph?")
        ready.sort(key=lambda key: (asset_graph.get(key).partitions_def is not None, order[key]))
        partitions_def = asset_graph.get(ready[0]).partitions_def
        group = {key for key in ready if asset_graph.get(key).partitions_def == partitions_def}
        grown = True
        while grown:  # pull in assets that can run right after, in the same run
            candidates = [key for key in remaining - group if asset_graph.get(key).partitions_def == partitions_def and parents(key) <= done | group]
            grown = bool(candidates)
            group.update(candidates)
        plans.append(PlannedRun(tuple(sorted(group, key=order.__getitem__)), partitions_def))
        done |= group
        remaining -= group
    return plans


def open_instance(data_dir: Path) -> dg.DagsterInstance:
    """The persistent instance at $DAGSTER_HOME, or at `<data_dir>/dagster_home` when unset, on
    the storage `SMI_INSTANCE` chooses (SQLite by default, or PostgreSQL)."""
    home = prepare_dagster_home(Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home").resolve(), instance_kind())
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


class RunWatcher:
    """Reads the event log of the runs tagged with `invocation` and shows it on `progress`."""

    def __init__(self, instance: dg.DagsterInstance, invocation: str, progress: TerminalProgress, poll_seconds: float = 2.0):
        self.instance, self.invocation, self.progress, self.poll_seconds = instance, invocation, progress, poll_seconds
        self._cursors: dict[str, str | None] = {}
        self._finished: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RunWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()  # whatever arrived after the last poll

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.poll()

    def poll(self) -> None:
        # Finished runs were read to their end once; only runs still going are read again, so
        # the watcher stays cheap next to the training it reports on.
        for run in self.instance.get_runs(filters=RunsFilter(tags={"smi/invocation": self.invocation})):
            if run.run_id in self._finished:
                continue
            connection = self.instance.get_records_for_run(run.run_id, cursor=self._cursors.get(run.run_id))
            self._cursors[run.run_id] = connection.cursor
            partition = run.tags.get("dagster/partition")
            for record in connection.records:
                self._show(record.event_log_entry, f"[{partition}]" if partition else "")
            if run.is_finished:
                self._finished.add(run.run_id)

    def _show(self, entry, partition: str) -> None:
        step = f"{entry.step_key or 'run'}{partition}"
        event = entry.dagster_event
        if event is None:
            progress, notice = parse_progress(entry.user_message), parse_notice(entry.user_message)
            if progress is not None:
                self.progress.update(step, progress)
            elif notice is not None:
                self.progress.say(f"  {step}: {notice}")
            elif entry.level >= 30:  # logging.WARNING
                self.progress.say(f"  ! {step}: {entry.user_message}")
            return
        if event.event_type == DagsterEventType.STEP_SUCCESS:
            seconds = event.event_specific_data.duration_ms / 1000
            self.progress.say(f"  done {step} in {seconds:.1f} s")
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            self.progress.say(f"  FAILED {step}: {_root_cause(event.event_specific_data.error) or entry.user_message}")
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION and not event.event_specific_data.passed:
            self.progress.say(f"  check failed: {event.event_specific_data.check_name} on {event.event_specific_data.asset_key.to_user_string()}")
        elif event.event_type == DagsterEventType.LOGS_CAPTURED:
            return
        elif entry.level >= 30:
            self.progress.say(f"  ! {step}: {entry.user_message}")


def _root_cause(error) -> str | None:
    """The innermost error's message: what went wrong, without Dagster's wrapping and traces."""
    if error is None:
        return None
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def run_default(
    instance: dg.DagsterInstance,
    say: Callable[[str], None] = print,
    *,
    selection: dg.AssetSelection | None = None,
    progress: TerminalProgress | None = None,
) -> list[dg.DagsterRun]:
    """Register inputs, then materialize `selection` (default: every asset) partition by
    partition in dependency order, through the code location's own job and executor. The
    settings come from the ``SMI_*`` environment, which the executor's step processes read too."""
    start_local_step_server(FORK_SERVER_PRELOAD)  # its imports overlap the registration below
    resources = resources_from_environment()
    inputs, storage, modeling = resources["inputs"], resources["storage"], resources["modeling"]
    for run_id in fail_orphaned_runs(instance):
        say(f"run {run_id} was left STARTED by a process that is gone: marked it failed and freed its pool slots")
    cursor = observe_and_register(instance, inputs, storage, modeling, None, register=True).cursor
    stale = stale_partitions(instance, inputs, storage, modeling)
    if stale:
        say(f"warning: {stale.describe()}; skipping them")
    definitions = build_definitions(resources)
    asset_graph = definitions.resolve_asset_graph()
    keys = (selection or dg.AssetSelection.all()).resolve(asset_graph) & asset_graph.materializable_asset_keys
    if not Path(inputs.reference_dir).is_dir():
        skipped = dg.AssetSelection.assets(REFERENCE_TABLES).downstream().resolve(asset_graph) & keys
        if skipped:
            say(f"skipping {len(skipped)} assets that need the reference tables: {inputs.reference_dir} is absent (`smi fetch-reference`)")
            keys -= skipped
    job = ReconstructableRepository.for_module("smi_assets.definitions", "defs", working_directory=str(REPO_ROOT)).get_reconstructable_job("__ASSET_JOB")
    invocation = uuid.uuid4().hex
    progress = progress or TerminalProgress()
    runs: list[dg.DagsterRun] = []

    def execute(plan: PlannedRun, partition_key: str | None) -> None:
        label = f"{plan.label()}{f' [{partition_key}]' if partition_key else ''}"
        started = time.perf_counter()
        progress.say(f"materializing {label}")
        tags = {"smi/invocation": invocation, **run_owner_tags(), **({"dagster/partition": partition_key} if partition_key else {})}
        with dg.execute_job(job, instance, run_config=QUIET_RUN_CONFIG, tags=tags, asset_selection=list(plan.asset_keys)) as result:
            runs.append(result.dagster_run)
            if not result.success:
                raise RuntimeError(f"run {result.run_id} ({label}) failed; its log is in the UI")
        say(f"materialized {label} in {time.perf_counter() - started:.1f} s")

    # One run at a time, in dependency order; within a run the executor runs steps side by side.
    # (Two runs at once from threads of one process deadlock in the executors' fork servers.)
    with RunWatcher(instance, invocation, progress):
        for plan in plan_runs(asset_graph, keys):
            if plan.partitions_def is None:
                execute(plan, None)
                continue
            walked = set(stale.shards + stale.checkpoints)
            while pending := [key for key in plan.partitions_def.get_partition_keys(dynamic_partitions_store=instance) if key not in walked]:
                for partition_key in pending:
                    execute(plan, partition_key)
                    walked.add(partition_key)
                # A ladder run leaves intermediate checkpoints while it trains: registered
                # now, they are walked too (the inputs sensor does the same under the daemon).
                cursor = observe_and_register(instance, inputs, storage, modeling, cursor, register=True).cursor
    progress.close()
    return runs


def skipped_records(instance: dg.DagsterInstance) -> dict[str, int]:
    """Bad records `SMI_SKIP_BAD_RECORDS` skipped in the latest materialization of each input
    (per corpus shard, and the triples), from the assets' metadata; only those with some."""
    counts = {}
    for key, partitions in ((dg.AssetKey("corpus_documents"), corpus_shards), (dg.AssetKey("knowledge_triples"), None)):
        for partition in instance.get_dynamic_partitions(partitions.name) if partitions else [None]:
            record = instance.get_latest_data_version_record(key, is_source=False, partition_key=partition)
            entry = record.asset_materialization.metadata.get("skipped_records") if record and record.asset_materialization else None
            if entry is not None and entry.value:
                counts[f"{key.to_user_string()}[{partition}]" if partition else key.to_user_string()] = int(entry.value)
    return counts


def report(storage: StorageResource, modeling: ModelingResource, instance: dg.DagsterInstance | None = None) -> dict:
    """Checkpoints (with their run, step, tokens and the epochs of the corpus those make), fits and
    forecast of a materialized data directory, as plain data."""
    # Imported here: it pulls in scikit-learn (1.5 s), and `smi run-default`, which never
    # reports, imports this module before it can start its fork server.
    from smi_assets.smi.forecast.store import backtest_results

    decoding = modeling.decoding().label()
    with storage.connection(read_only=True) as connection:
        accuracy = store.checkpoint_accuracy(connection).filter(decoding=decoding)
        fits = store.all_fits(connection, decoding)
        forecast, backtest = store.forecast_tables(connection)
        by_cooccurrence = store.accuracy_by_cooccurrence(connection, decoding)
        judged = backtest_results(connection)
        corpus_tokens = store.corpus_tokens(connection)
        gaps, plans = store.knowledge_gap_tables(connection)

    def epochs(tokens: int | None) -> float | None:
        return tokens / corpus_tokens if tokens is not None and corpus_tokens else None

    return {
        "decoding": decoding,
        "corpus_tokens": corpus_tokens,
        "checkpoints": [
            {
                "id": row["checkpoint_id"],
                "params": row["params"],
                "path": row["path"],
                "mean_accuracy": row["mean_accuracy"],
                "run_id": row["run_id"],
                "step": row["step"],
                "tokens": row["tokens_seen"],
                "run_tokens": row["run_tokens"],
                "epochs": epochs(row["tokens_seen"]),
            }
            for row in accuracy.iter_rows(named=True)
        ],
        "accuracy_by_cooccurrence": by_cooccurrence.drop("n_so_min").to_dicts(),
        "fits": [
            {"checkpoint": row["checkpoint_id"], "method": row["method"], "r2": row["r2"], "slope": row["slope"], "intercept": row["intercept"]}
            for row in fits.iter_rows(named=True)
        ],
        "forecast": [
            {
                name: row[name]
                for name in ("target", "planned_params", "planned_tokens", "run_id", "run_fraction_seen", "predicted_accuracy", "acc_low", "acc_high")
            }
            | {"proxies": row["trained_on"]}
            for row in forecast.filter(rel="*").iter_rows(named=True)
        ],
        "forecast_backtests": judged.to_dicts(),
        "interval_coverage": float(judged["inside_interval"].drop_nulls().mean()) if judged["inside_interval"].drop_nulls().len() else None,
        "knowledge_gaps": gaps.group_by("planned_run").agg(pl.len().alias("facts_below_target")).sort("planned_run").to_dicts() if gaps.height else [],
        "plan": plans.to_dicts(),
        "leave_one_size_out": backtest.to_dicts(),
        "leave_one_size_out_mae": float(backtest["abs_error"].mean()) if backtest.height else None,
        "skipped_records": skipped_records(instance) if instance is not None else {},
    }
