"""Steps on a real Dask cluster (a `dask scheduler` and two `dask worker` processes on
127.0.0.1): a backfill of 8 corpus shards runs its steps on both workers; then, while the
frequency aggregation's step waits for the DuckDB writer lock, its worker is killed, the
step reruns on the other worker and the table equals counts computed in-process. DuckDB
connections never overlap, across all runs, as the event log shows."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dask_definitions import run_job
from services import dask_cluster, free_port

from smi_assets.corpus import world
from smi_assets.defs.frequency.assets import count_config
from smi_assets.frequency import counting
from smi_assets.orchestration.engine import DASK_SCHEDULER_SETTING, connect_to_scheduler
from smi_assets.orchestration.instance import prepare_dagster_home
from smi_assets.orchestration.partitions import corpus_shards, expected_shards, register_missing, world_config
from smi_assets.orchestration.resources import resources_from_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK_MESSAGE = re.compile(r"DuckDB writer lock (acquired|released) at ([0-9.]+)")


def step_events(instance, run_id: str, event_type: dg.DagsterEventType, step_key: str | None = None) -> list[dg.DagsterEvent]:
    records = instance.get_records_for_run(run_id, of_type=event_type).records
    events = [record.event_log_entry.dagster_event for record in records]
    return [event for event in events if step_key is None or event.step_key == step_key]


def step_intervals(instance, run_id: str) -> dict[str, tuple[float, float]]:
    """Step key -> (last start, success) timestamps, from the run's event log."""

    def timestamps(event_type):
        return {
            record.event_log_entry.step_key: record.event_log_entry.timestamp for record in instance.get_records_for_run(run_id, of_type=event_type).records
        }

    starts, ends = timestamps(dg.DagsterEventType.STEP_START), timestamps(dg.DagsterEventType.STEP_SUCCESS)
    return {key: (starts[key], ends[key]) for key in ends}


def run_worker_processes(n: int) -> ProcessPoolExecutor:
    """Processes that execute runs, as the instance's run launcher would: forked, so they share
    this process's imports but not what Dagster caches while executing a run."""
    return ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork"))


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def lock_intervals(instance, run_ids) -> list[tuple[float, float, str]]:
    """(acquired, released, step) of every DuckDB connection the runs took, from their logs."""
    intervals = []
    for run_id in run_ids:
        held: dict[str, float] = {}
        for entry in instance.all_logs(run_id):
            match = LOCK_MESSAGE.search(entry.user_message or "")
            if match and match.group(1) == "acquired":
                held[entry.step_key] = float(match.group(2))
            elif match:
                intervals.append((held.pop(entry.step_key), float(match.group(2)), entry.step_key))
    return sorted(intervals)


def expected_frequency(resources: dict, folder: Path) -> pl.DataFrame:
    """The knowledge-frequency table computed in-process from the same world, without Dagster."""
    built = world.build_world(world_config(resources["inputs"]))
    directories = []
    for shard in built.shard_names:
        counting.write_shard_counts(counting.count_shard(built.documents(shard), built.triples, count_config(resources["counting"])), folder / shard)
        directories.append(folder / shard)
    return counting.knowledge_frequency(directories, built.triples)


def test_dask_scheduler_down_at_start_fails_the_run_naming_the_service_and_the_setting(tmp_path, monkeypatch):
    closed = f"tcp://127.0.0.1:{free_port()}"
    for name, value in {DASK_SCHEDULER_SETTING: closed, "SMI_DATA_DIR": str(tmp_path / "data"), "SMI_WORLD_PEOPLE": "20"}.items():
        monkeypatch.setenv(name, value)
    home = str(prepare_dagster_home(tmp_path / "home", "sqlite"))
    # A run worker process of its own: this process must not cache a job built for a dead scheduler.
    with run_worker_processes(1) as run_worker:
        run_id, ok = run_worker.submit(run_job, "knowledge_job", home).result(timeout=120)
    assert not ok
    with dg.DagsterInstance.from_config(home) as instance:
        [failure] = step_events(instance, run_id, dg.DagsterEventType.RUN_FAILURE)
    message = failure.event_specific_data.error.message
    assert "Dask scheduler" in message and closed in message and DASK_SCHEDULER_SETTING in message


def test_backfill_on_two_workers_survives_a_killed_worker(tmp_path, monkeypatch):
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(Path(__file__).parent)]),
        "DAGSTER_HOME": str(prepare_dagster_home(tmp_path / "home", "sqlite")),
        "SMI_DATA_DIR": str(tmp_path / "data"),
        "SMI_WORLD_PEOPLE": "40",
        "SMI_WORLD_SHARDS": "8",
        "POLARS_MAX_THREADS": "1",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    resources = resources_from_environment()
    inputs, storage = resources["inputs"], resources["storage"]
    home = environment["DAGSTER_HOME"]
    (tmp_path / "logs").mkdir()
    with dask_cluster(tmp_path / "logs", n_workers=2, environment=environment) as cluster:
        monkeypatch.setenv(DASK_SCHEDULER_SETTING, cluster.address)
        worker_pids = {worker.pid for worker in cluster.workers}
        with dg.DagsterInstance.from_config(home) as instance:
            shards = register_missing(instance, corpus_shards, list(expected_shards(inputs)))
            assert len(shards) == 8
            # Run workers: two at a time, as the instance's max_concurrent_runs allows.
            with run_worker_processes(2) as run_workers:
                knowledge_run, ok = run_workers.submit(run_job, "knowledge_job", home).result(timeout=120)
                assert ok
                backfill = [run_workers.submit(run_job, "shard_counts_job", home, shard) for shard in shards]
                backfill_runs = [future.result(timeout=150) for future in backfill]
                assert all(ok for _, ok in backfill_runs)

                # Steps in one pool (`gpu`, limit 1) wait for each other, on two idle workers too.
                pool_run, ok = run_workers.submit(run_job, "two_trainings_job", home).result(timeout=120)
                assert ok
                (first_start, first_end), (second_start, second_end) = sorted(step_intervals(instance, pool_run).values())
                assert first_end <= second_start, "two steps of the gpu pool overlapped"

                backfill_pids = Counter(event.pid for run_id, _ in backfill_runs for event in step_events(instance, run_id, dg.DagsterEventType.STEP_SUCCESS))
                assert set(backfill_pids) == worker_pids, f"steps ran on {backfill_pids}, workers are {worker_pids}"

                # Hold the writer lock so the aggregation's step waits, mid-step, on its worker.
                with storage.writer_lock():
                    frequency = run_workers.submit(run_job, "frequency_job", home)
                    rerun = run_workers.submit(run_job, "knowledge_job", home)

                    def frequency_step_started():
                        runs = instance.get_runs(dg.RunsFilter(job_name="frequency_job"))
                        starts = runs and step_events(instance, runs[0].run_id, dg.DagsterEventType.STEP_START, "knowledge_frequency")
                        return starts and (runs[0].run_id, starts[0].pid)

                    frequency_run, victim = wait_for(frequency_step_started, 60, "the aggregation step to start")
                    assert victim in worker_pids
                    os.kill(victim, signal.SIGKILL)
                    with connect_to_scheduler(cluster.address) as client:
                        wait_for(lambda: len(client.scheduler_info()["workers"]) == 1, 30, "the scheduler to drop the killed worker")
                assert frequency.result(timeout=120) == (frequency_run, True)
                assert rerun.result(timeout=120)[1]

            [survivor] = worker_pids - {victim}
            starts = step_events(instance, frequency_run, dg.DagsterEventType.STEP_START, "knowledge_frequency")
            successes = step_events(instance, frequency_run, dg.DagsterEventType.STEP_SUCCESS, "knowledge_frequency")
            assert [event.pid for event in starts] == [victim, survivor]
            assert [event.pid for event in successes] == [survivor]

            # Every shard counted once, the aggregation materialized once, nothing duplicated.
            shard_materializations = instance.fetch_materializations(dg.AssetKey("shard_knowledge_counts"), limit=100).records
            assert sorted(record.partition_key for record in shard_materializations) == sorted(shards)
            assert len(instance.fetch_materializations(dg.AssetKey("knowledge_frequency"), limit=100).records) == 1

            # No two DuckDB connections overlapped, across the four runs that took one.
            run_ids = [knowledge_run, frequency_run, rerun.result()[0]]
            intervals = lock_intervals(instance, run_ids)
            assert {step for _, _, step in intervals} >= {"knowledge_triples", "cbqa_questions", "knowledge_frequency"}
            assert all(previous[1] <= current[0] for previous, current in zip(intervals, intervals[1:])), intervals

    with duckdb.connect(str(storage.database_path), read_only=True) as connection:
        table = connection.execute("SELECT * FROM knowledge_frequency ORDER BY idx").pl()
    expected = expected_frequency(resources, tmp_path / "expected").sort("idx")
    assert table["idx"].is_unique().all()
    assert table.select(expected.columns).equals(expected)
    n_documents = sum(len(world.build_world(world_config(inputs)).documents(shard)) for shard in shards)
    assert table["N"].max() == n_documents, "each shard's documents counted exactly once"
