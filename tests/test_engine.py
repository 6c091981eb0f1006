"""Choosing the engine and serializing DuckDB writers, without a cluster (the real Dask
cluster is exercised in tests/integration/test_dask_engine.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import dagster as dg

from smi_assets.orchestration.engine import DASK_SCHEDULER_SETTING, executor_from_environment, start_local_step_server
from smi_assets.orchestration.resources import StorageResource


@dg.op
def noop() -> None:
    pass


def executor_name(environ) -> str:
    @dg.job(executor_def=executor_from_environment(environ))
    def probe():
        noop()

    return probe.executor_def.name


def test_one_setting_switches_between_local_processes_and_dask():
    assert executor_name({}) == "multiprocess"
    assert executor_name({DASK_SCHEDULER_SETTING: " "}) == "multiprocess"
    assert executor_name({DASK_SCHEDULER_SETTING: "tcp://scheduler:8786"}) == "dask_steps"


# In a fresh interpreter: the fork server is one per process, and pytest's may already run.
STEP_SERVER_PROBE = """
import multiprocessing, sys
from smi_assets.orchestration.engine import start_local_step_server

def preloaded(queue):
    queue.put("colorsys" in sys.modules)

if __name__ == "__main__":
    assert "colorsys" not in sys.modules
    assert start_local_step_server(["colorsys"], environ={})
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["dagster"])  # what the executor sets later: too late to matter
    queue = context.Queue()
    process = context.Process(target=preloaded, args=(queue,))
    process.start()
    print(queue.get(timeout=60))
    process.join()
"""


def test_the_step_server_started_early_is_the_one_steps_fork_from(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(STEP_SERVER_PROBE)
    done = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_run_default_reaches_the_step_server_before_the_heavy_imports():
    # `smi run-default` starts the fork server as its first step; whatever importing the
    # pipeline module costs comes before that, on the critical path of every run.
    heavy = ("torch", "transformers", "sklearn")
    check = f"import sys, smi_assets.orchestration.pipeline; print([name for name in {heavy!r} if name in sys.modules])"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_no_local_step_server_when_steps_run_on_dask():
    assert start_local_step_server(["colorsys"], environ={DASK_SCHEDULER_SETTING: "tcp://scheduler:8786"}) is False


def test_a_second_writer_waits_for_the_first(tmp_path):
    storage = StorageResource(data_dir=str(tmp_path))
    waited = []

    def second_writer():
        with storage.writer_lock() as seconds:
            waited.append(seconds)

    with storage.writer_lock():
        thread = threading.Thread(target=second_writer)
        thread.start()
        time.sleep(0.3)
        assert waited == [], "the second writer got the lock while the first held it"
    thread.join(10)
    assert waited and waited[0] >= 0.3


def test_a_writer_gives_up_after_the_timeout_naming_the_lock(tmp_path):
    storage = StorageResource(data_dir=str(tmp_path), lock_timeout_seconds=0.5)
    with storage.writer_lock():
        failed = []

        def second_writer():
            try:
                with storage.connection():
                    pass
            except TimeoutError as error:
                failed.append(str(error))

        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(10)
    assert failed and "smi.duckdb.writer.lock" in failed[0] and "SMI_LOCK_TIMEOUT_SECONDS" in failed[0]


def test_storage_connections_write_through_the_lock(tmp_path):
    storage = StorageResource(data_dir=str(tmp_path))
    with storage.connection() as connection:
        connection.execute("CREATE TABLE t AS SELECT 1 AS x")
    with storage.connection(read_only=True) as connection:
        assert connection.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert (tmp_path / "smi.duckdb.writer.lock").exists()
