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


def test_a_training_waits_for_the_gpu_pool_says_who_holds_it_gives_up_and_frees_its_slot():
    from smi_assets.orchestration.device_pool import DEVICE_POOL, device_slot

    @dg.asset
    def trains(context) -> None:
        with device_slot(context, wait_seconds=0.5, poll_seconds=0.1):
            assert context.instance.event_log_storage.get_concurrency_info(DEVICE_POOL).active_slot_count == 1

    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as instance:
        job = dg.define_asset_job("any").resolve(asset_graph=dg.Definitions(assets=[dg.AssetSpec("x")]).resolve_asset_graph())
        holder = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)  # a training in another run
        storage = instance.event_log_storage
        assert dg.materialize([trains], instance=instance).success, "the pool's limit is set from the instance default on first use"
        assert storage.claim_concurrency_slot(DEVICE_POOL, holder.run_id, "checkpoints").is_claimed
        waited = dg.materialize([trains], instance=instance, raise_on_error=False)
        assert not waited.success
        error = waited.get_step_failure_events()[0].event_specific_data.error
        while error.cause is not None:
            error = error.cause
        assert "waiting for a slot of pool 'gpu'" in error.message and holder.run_id in error.message and "SMI_POOL_WAIT_SECONDS" in error.message
        notices = [record.event_log_entry.user_message for record in instance.get_records_for_run(waited.run_id).records]
        assert any('"event": "waiting"' in message and holder.run_id in message for message in notices), "the wait is said in the run log"
        info = storage.get_concurrency_info(DEVICE_POOL)
        assert (info.active_slot_count, info.pending_step_count) == (1, 0), "the pending claim was withdrawn"
        storage.free_concurrency_slots_for_run(holder.run_id)
        assert dg.materialize([trains], instance=instance).success
        assert storage.get_concurrency_info(DEVICE_POOL).active_slot_count == 0, "the slot is freed when the training ends"
