"""Real services started for the integration tests: a PostgreSQL server and a Dask cluster,
each bound to 127.0.0.1 on a free port, started as subprocesses and stopped afterwards.

A service whose binaries are missing skips its tests with the reason, except under CI
(``CI=true``), where a missing service is a failure: CI must install it (see `.ci/run`).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def missing_service(reason: str) -> None:
    """Skip the test for a missing service, or fail it under CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: CI must install it)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout_s: float = 10) -> None:
    """SIGTERM, then SIGKILL if it does not exit within `timeout_s`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout_s)


def postgres_bin_dir() -> Path | None:
    """Debian's newest PostgreSQL server binaries, else whatever `initdb` is on PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3]))
    found = candidates[-1] if candidates else shutil.which("initdb")
    return Path(found).resolve().parent if found else None


@dataclass
class PostgresServer:
    """A PostgreSQL server in a temporary folder, on 127.0.0.1:`port`; `stop` and `start` it at will."""

    bin_dir: Path
    root: Path
    port: int
    user: str | None

    def create_database(self, name: str) -> str:
        """Create an empty database `name`; return its URL."""
        import psycopg2

        connection = psycopg2.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=10)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{name}"

    def pg_ctl(self, *arguments: str) -> None:
        command = [self.bin_dir / "pg_ctl", "-D", self.root / "data", "-l", self.root / "server.log", "-w", "-t", "60", *arguments]
        try:
            subprocess.run(command, user=self.user, check=True, capture_output=True, text=True, timeout=120)
        except subprocess.CalledProcessError as error:
            log = self.root / "server.log"
            raise RuntimeError(f"{error.cmd} failed: {error.stderr}\n{log.read_text() if log.exists() else ''}") from error

    def start(self) -> None:
        self.pg_ctl("-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    @property
    def running(self) -> bool:
        return (self.root / "data" / "postmaster.pid").exists()


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server on 127.0.0.1.

    initdb refuses to run as root, so under root the server runs as the `postgres` user."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        missing_service("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install -y postgresql")
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="smi-postgres-"))
    if user:
        shutil.chown(root, user=user)
    server = PostgresServer(bin_dir=bin_dir, root=root, port=free_port(), user=user)
    try:
        initdb = [bin_dir / "initdb", "-D", root / "data", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]
        subprocess.run(initdb, user=user, check=True, capture_output=True, timeout=120)
        server.start()
        yield server
    finally:
        if server.running:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class DaskCluster:
    """A `dask scheduler` and its `dask worker` processes (no nanny: a killed worker stays dead)."""

    address: str
    log_dir: Path
    environment: dict[str, str]
    scheduler: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)

    def start_worker(self, name: str) -> subprocess.Popen:
        command = [
            sys.executable, "-m", "dask", "worker", self.address, "--name", name,
            "--nworkers", "1", "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1", "--no-dashboard",
        ]  # fmt: skip
        with open(self.log_dir / f"{name}.log", "w") as log:
            worker = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.environment)
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process is not None:
                stop_process(process)


@contextmanager
def dask_cluster(log_dir: Path, n_workers: int, environment: dict[str, str], timeout_s: float = 90) -> Iterator[DaskCluster]:
    """A Dask scheduler on 127.0.0.1 and `n_workers` single-threaded workers, all connected."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    # Workers rebuild the code location, so they see the same executor setting as the orchestrator.
    environment = {**environment, "SMI_DASK_SCHEDULER": address}
    cluster = DaskCluster(address=address, log_dir=log_dir, environment=environment)
    try:
        with open(log_dir / "scheduler.log", "w") as log:
            command = [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
            cluster.scheduler = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
        deadline = time.monotonic() + timeout_s
        for index in range(n_workers):
            cluster.start_worker(f"worker-{index + 1}")
        with Client(cluster.address, timeout=timeout_s) as client:
            client.wait_for_workers(n_workers, timeout=max(1.0, deadline - time.monotonic()))
        yield cluster
    finally:
        cluster.stop()
