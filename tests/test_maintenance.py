"""Stale partitions and orphaned runs: found, reported, removed or freed, never blocking the rest."""

from __future__ import annotations

import json
import socket
import subprocess

import dagster as dg

from smi_assets.orchestration.maintenance import RUN_HOST_TAG, RUN_PID_TAG, fail_orphaned_runs, prune, stale_partitions
from smi_assets.orchestration.partitions import checkpoint_partitions, corpus_shards
from smi_assets.orchestration.resources import InputsResource, ModelingResource, StorageResource


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_run_left_started_by_a_dead_process_is_failed_and_frees_its_pool_slot():
    with dg.instance_for_test() as instance:
        job = dg.define_asset_job("any").resolve(asset_graph=dg.Definitions(assets=[dg.AssetSpec("x")]).resolve_asset_graph())
        dead = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED, tags={RUN_PID_TAG: str(_dead_pid()), RUN_HOST_TAG: socket.gethostname()})
        alive = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED, tags={RUN_PID_TAG: "1", RUN_HOST_TAG: socket.gethostname()})
        storage = instance.event_log_storage
        storage.set_concurrency_slots("gpu", 1)
        assert storage.claim_concurrency_slot("gpu", dead.run_id, "checkpoints").is_claimed
        assert not storage.claim_concurrency_slot("gpu", alive.run_id, "checkpoints").is_claimed, "the dead run holds the only slot"

        assert fail_orphaned_runs(instance) == [dead.run_id]
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
        assert storage.get_concurrency_info("gpu").active_slot_count == 0


def test_a_vanished_shard_and_checkpoint_are_reported_then_pruned_with_their_files(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("kept", "gone"):
        (corpus / f"{name}.jsonl").write_text('{"text": "x"}\n')
    storage = StorageResource(data_dir=str(tmp_path / "data"))
    inputs = InputsResource(corpus_source="files", corpus_glob=str(corpus / "*.jsonl"))
    ladder = tmp_path / "ladder.json"
    ladder.write_text(json.dumps({}))
    modeling = ModelingResource(ladder_file=str(ladder))
    dropped = storage.incoming_checkpoints_dir / "dropped"
    dropped.mkdir(parents=True)
    (dropped / "config.json").write_text("{}")
    for shard in ("kept", "gone"):
        storage.shard_counts_dir(shard).mkdir(parents=True)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(corpus_shards.name, ["kept", "gone"])
        instance.add_dynamic_partitions(checkpoint_partitions.name, ["dropped"])
        assert not stale_partitions(instance, inputs, storage, modeling)

        (corpus / "gone.jsonl").unlink()
        (dropped / "config.json").unlink()
        stale = stale_partitions(instance, inputs, storage, modeling)
        assert (stale.shards, stale.checkpoints) == (["gone"], ["dropped"])
        assert "smi prune" in stale.describe()

        prune(instance, storage, stale)
        assert instance.get_dynamic_partitions(corpus_shards.name) == ["kept"]
        assert instance.get_dynamic_partitions(checkpoint_partitions.name) == []
        assert storage.shard_counts_dir("kept").is_dir() and not storage.shard_counts_dir("gone").exists()


def test_a_step_blocked_by_a_pool_is_announced_then_given_up_on_naming_the_holder():
    import io
    import time

    import pytest

    from smi_assets.orchestration.pipeline import RunWatcher
    from smi_assets.orchestration.progress import TerminalProgress

    with dg.instance_for_test() as instance:
        job = dg.define_asset_job("any").resolve(asset_graph=dg.Definitions(assets=[dg.AssetSpec("x")]).resolve_asset_graph())
        holder = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
        waiting = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED, tags={"smi/invocation": "inv"})
        instance.event_log_storage.set_concurrency_slots("gpu", 1)
        instance.event_log_storage.claim_concurrency_slot("gpu", holder.run_id, "checkpoints")
        instance.report_engine_event("Step blocked by limit for pool gpu", waiting, step_key="checkpoints")
        output = io.StringIO()
        watcher = RunWatcher(instance, "inv", TerminalProgress(output), poll_seconds=0.1, pool_wait_seconds=0.5)
        with pytest.raises(KeyboardInterrupt), watcher:
            for _ in range(300):  # a main thread busy in Python, as one inside execute_job is
                time.sleep(0.1)
        assert "waiting for a slot of pool 'gpu'" in output.getvalue() and holder.run_id in output.getvalue()
        assert watcher.pool_timeout and holder.run_id in watcher.pool_timeout and "SMI_POOL_WAIT_SECONDS" in watcher.pool_timeout
