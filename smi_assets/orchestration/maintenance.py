"""Keeping the instance honest: partitions whose source is gone, and runs whose process died.

- A corpus shard whose file disappeared, or a dropped checkpoint whose folder was deleted,
  keeps its partition (and its last results) until someone decides: `stale_partitions` finds
  them, runs of the other partitions skip them, and `prune` (``smi prune``) removes them with
  their files and rows.
- A run whose process was killed stays STARTED and keeps its pool slots (the `gpu` pool has
  one), so every later training would wait forever. `fail_orphaned_runs` finds runs started by
  `smi run-default` whose process is gone, marks them failed and frees their slots; under the
  daemon, Dagster's run monitoring (instance template) does the same for launched runs.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass

import dagster as dg
from dagster._core.storage.dagster_run import RunsFilter

from smi_assets.common.sql import load_sql, sql_statements, transaction
from smi_assets.orchestration.partitions import checkpoint_partitions, corpus_shards, expected_checkpoints, expected_shards
from smi_assets.orchestration.resources import InputsResource, ModelingResource, StorageResource

# Tags `smi run-default` puts on its runs, so a later invocation can tell whether they are alive.
RUN_PID_TAG, RUN_HOST_TAG = "smi/pid", "smi/host"
LIVE_STATUSES = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]


@dataclass(frozen=True)
class StalePartitions:
    shards: list[str]
    checkpoints: list[str]

    def __bool__(self) -> bool:
        return bool(self.shards or self.checkpoints)

    def describe(self) -> str:
        parts = [f"corpus shards {self.shards}" if self.shards else "", f"checkpoints {self.checkpoints}" if self.checkpoints else ""]
        return " and ".join(part for part in parts if part) + " lost their source (`smi prune` removes them)"


def stale_partitions(instance: dg.DagsterInstance, inputs: InputsResource, storage: StorageResource, modeling: ModelingResource) -> StalePartitions:
    """Registered partitions that the configured inputs no longer provide."""
    shards = set(expected_shards(inputs))
    checkpoints = set(expected_checkpoints(storage, modeling))
    return StalePartitions(
        shards=sorted(key for key in instance.get_dynamic_partitions(corpus_shards.name) if key not in shards),
        checkpoints=sorted(key for key in instance.get_dynamic_partitions(checkpoint_partitions.name) if key not in checkpoints),
    )


def prune(instance: dg.DagsterInstance, storage: StorageResource, stale: StalePartitions) -> None:
    """Remove stale partitions, their files in the data directory and their rows."""
    for shard in stale.shards:
        storage.shard_documents_path(shard).unlink(missing_ok=True)
        shutil.rmtree(storage.shard_counts_dir(shard), ignore_errors=True)
        instance.delete_dynamic_partition(corpus_shards.name, shard)
    if stale and storage.database_path.exists():
        with storage.connection() as connection, transaction(connection):
            connection.execute(load_sql("corpus_tables"))
            for shard in stale.shards:
                connection.execute(load_sql("corpus_shard_tokens_delete"), {"shard": shard})
            for checkpoint_id in stale.checkpoints:
                for statement in sql_statements("checkpoint_delete"):
                    connection.execute(statement, {"checkpoint_id": checkpoint_id})
    for checkpoint_id in stale.checkpoints:
        shutil.rmtree(storage.checkpoint_dir(checkpoint_id), ignore_errors=True)  # ladder outputs only; dropped folders are the user's
        instance.delete_dynamic_partition(checkpoint_partitions.name, checkpoint_id)


def run_owner_tags() -> dict[str, str]:
    """Tags naming the host and process that execute a run in-process (`smi run-default`)."""
    return {RUN_PID_TAG: str(os.getpid()), RUN_HOST_TAG: socket.gethostname()}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the live-looking runs executed in-process on this host (tagged with
    `run_owner_tags`) whose process is gone, free the pool slots they held; return their ids.
    Such a run (killed with its process, or whose PostgreSQL went away before it could record
    its end) would otherwise stay "started" forever."""
    orphaned = []
    for run in instance.get_runs(filters=RunsFilter(statuses=LIVE_STATUSES, tags={RUN_HOST_TAG: socket.gethostname()})):
        pid = int(run.tags.get(RUN_PID_TAG, "0"))
        if pid <= 0 or _process_alive(pid):
            continue
        instance.report_run_failed(run, message=f"the process that ran it (pid {pid} on {socket.gethostname()}) is gone")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        orphaned.append(run.run_id)
    return orphaned
