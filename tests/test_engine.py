"""Choosing the engine and serializing DuckDB writers, without a cluster (the real Dask
cluster is exercised in tests/integration/test_dask_engine.py)."""

from __future__ import annotations

import threading
import time

import dagster as dg

from smi_assets.engine import DASK_SCHEDULER_SETTING, executor_from_environment
from smi_assets.resources import StorageResource


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
