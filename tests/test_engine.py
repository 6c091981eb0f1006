"""Choosing the engine and serializing DuckDB writers, without a cluster (the real Dask
cluster is exercised in tests/integration/test_dask_engine.py)."""

from __future__ import annotations

import threading
import time

import dagster as dg

from smi_assets.engine import DASK_SCHEDULER_SETTING, SerializedDuckDBResource, duckdb_writer_lock, executor_from_environment


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
    database = tmp_path / "smi.duckdb"
    waited = []

    def second_writer():
        with duckdb_writer_lock(database) as seconds:
            waited.append(seconds)

    with duckdb_writer_lock(database):
        thread = threading.Thread(target=second_writer)
        thread.start()
        time.sleep(0.3)
        assert waited == [], "the second writer got the lock while the first held it"
    thread.join(10)
    assert waited and waited[0] >= 0.3


def test_serialized_resource_writes_through_the_lock(tmp_path):
    resource = SerializedDuckDBResource(database=str(tmp_path / "smi.duckdb"))
    with resource.get_connection() as connection:
        connection.execute("CREATE TABLE t AS SELECT 1 AS x")
    with resource.get_connection() as connection:
        assert connection.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert (tmp_path / "smi.duckdb.writer.lock").exists()
