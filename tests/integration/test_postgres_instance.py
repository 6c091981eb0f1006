"""The PostgreSQL instance, against a real PostgreSQL server started for the test: the daemon
ticks a sensor, launches two runs at once from the queue, fails a run whose process was
killed, and a fresh instance object sees the whole history afterwards. A server that is
down at start fails with the service and the setting named; one that goes down mid-run
fails the run's process, the run is marked failed once the server is back, and a rerun
finishes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from services import free_port, stop_process

from smi_assets.common.errors import ServiceUnavailableError
from smi_assets.orchestration.instance import POSTGRES_URL_SETTING, prepare_dagster_home
from smi_assets.orchestration.maintenance import fail_orphaned_runs, run_owner_tags

DEFINITIONS_FILE = Path(__file__).with_name("daemon_definitions.py")


def wait_for(condition, timeout_s: float, what: str, daemon: subprocess.Popen, daemon_log: Path):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if daemon.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}; daemon log:\n{daemon_log.read_text()[-4000:]}")


def runs_by_name(instance: dg.DagsterInstance) -> dict[str, dg.RunRecord]:
    return {record.dagster_run.tags["name"]: record for record in instance.get_run_records()}


def test_daemon_ticks_runs_two_at_once_fails_orphaned_run_and_history_persists(postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv(POSTGRES_URL_SETTING, postgres_url)
    home = prepare_dagster_home(tmp_path / "home", "postgres")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_file:\n      relative_path: {DEFINITIONS_FILE}\n      working_directory: {DEFINITIONS_FILE.parent}\n")
    environment = {**os.environ, "DAGSTER_HOME": str(home), POSTGRES_URL_SETTING: postgres_url}
    daemon_log = tmp_path / "daemon.log"
    with open(daemon_log, "w") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)],
            stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=tmp_path, start_new_session=True,
        )  # fmt: skip
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert "Postgres" in type(instance.run_storage).__name__

            def finished_pair():
                runs = runs_by_name(instance)
                pair = [runs.get("first"), runs.get("second")]
                return pair if all(run and run.dagster_run.is_finished for run in pair) else None

            first, second = wait_for(finished_pair, 150, "the first two runs to finish", daemon, daemon_log)
            assert first.dagster_run.status == second.dagster_run.status == dg.DagsterRunStatus.SUCCESS
            assert max(first.start_time, second.start_time) < min(first.end_time, second.end_time), "the two runs did not overlap"

            def orphaned_run_pid():
                run = runs_by_name(instance).get("orphaned")
                if run is None or run.dagster_run.status != dg.DagsterRunStatus.STARTED:
                    return None
                starts = instance.get_records_for_run(run.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_START).records
                return starts[0].event_log_entry.dagster_event.pid if starts else None

            pid = wait_for(orphaned_run_pid, 60, "the third run to start", daemon, daemon_log)
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: runs_by_name(instance)["orphaned"].dagster_run.is_finished, 60, "the killed run to be marked finished", daemon, daemon_log)
    finally:
        stop_process(daemon, timeout_s=30)
        try:  # the code server and run workers the daemon started, should any outlive it
            os.killpg(daemon.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    with dg.DagsterInstance.from_config(str(home)) as fresh:
        runs = runs_by_name(fresh)
        assert sorted(runs) == ["first", "orphaned", "second"]
        assert runs["orphaned"].dagster_run.status == dg.DagsterRunStatus.FAILURE
        crash_messages = [record.event_log_entry.message for record in fresh.get_records_for_run(runs["orphaned"].dagster_run.run_id).records]
        assert any("Run execution process" in message for message in crash_messages), crash_messages
        successes = fresh.get_records_for_run(runs["first"].dagster_run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records
        assert [record.event_log_entry.step_key for record in successes] == ["hold"]
        [sensor] = [state for state in fresh.all_instigator_state() if state.name == "request_runs"]
        ticks = fresh.get_ticks(sensor.instigator_origin_id, sensor.selector_id)
        assert len(ticks) >= 2, "the daemon ticked the sensor more than once"
        assert sorted(run_id for tick in ticks for run_id in tick.run_ids) == sorted(run.dagster_run.run_id for run in runs.values())


def test_postgres_down_at_start_names_the_service_and_the_setting(tmp_path):
    closed = f"postgresql+psycopg2://dagster:secret@127.0.0.1:{free_port()}/dagster"
    with pytest.raises(ServiceUnavailableError) as raised:
        prepare_dagster_home(tmp_path / "home", "postgres", environ={POSTGRES_URL_SETTING: closed})
    message = str(raised.value)
    assert "PostgreSQL" in message and POSTGRES_URL_SETTING in message and "127.0.0.1" in message
    assert "secret" not in message, "the password must not be printed"
    assert not (tmp_path / "home" / "dagster.yaml").exists()


def gated_job(gate: Path) -> dg.JobDefinition:
    """Two steps; the second waits until `gate` exists, so the test can stop the server mid-run."""

    @dg.op
    def produce() -> int:
        return 1

    @dg.op
    def wait_for_gate(value: int) -> int:
        while not gate.exists():
            time.sleep(0.05)
        return value

    @dg.job(executor_def=dg.in_process_executor)
    def gated():
        wait_for_gate(produce())

    return gated


def test_postgres_down_mid_run_fails_the_run_and_a_rerun_finishes(postgres, postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv(POSTGRES_URL_SETTING, postgres_url)
    home = str(prepare_dagster_home(tmp_path / "home", "postgres"))
    gate = tmp_path / "gate"
    job = gated_job(gate)

    def run_in_its_own_process():
        with dg.DagsterInstance.from_config(home) as instance:
            job.execute_in_process(instance=instance, tags=run_owner_tags())

    with dg.DagsterInstance.from_config(home) as instance:
        process = multiprocessing.get_context("fork").Process(target=run_in_its_own_process)
        process.start()
        deadline = time.monotonic() + 60
        while not (instance.get_runs() and step_started(instance, instance.get_runs()[0].run_id, "wait_for_gate")):
            assert time.monotonic() < deadline and process.is_alive(), "the run never reached its second step"
            time.sleep(0.1)
        postgres.stop()
        gate.touch()
        process.join(120)
        assert process.exitcode not in (0, None), "the run's process must fail when PostgreSQL is gone"
        postgres.start()

        [interrupted] = instance.get_runs()
        assert interrupted.status == dg.DagsterRunStatus.STARTED, "nothing could record the run's end"
        assert fail_orphaned_runs(instance) == [interrupted.run_id]
        rerun = job.execute_in_process(instance=instance, tags=run_owner_tags())
        assert rerun.success
        assert instance.get_run_by_id(interrupted.run_id).status == dg.DagsterRunStatus.FAILURE
        successes = instance.get_records_for_run(rerun.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records
        assert sorted(record.event_log_entry.step_key for record in successes) == ["produce", "wait_for_gate"]


def step_started(instance: dg.DagsterInstance, run_id: str, step_key: str) -> bool:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START).records
    return any(record.event_log_entry.step_key == step_key for record in records)
