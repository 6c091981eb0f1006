"""Atomic file writes and content fingerprints.

Every file the project writes goes through `write_atomic`: the data lands in a temporary
file beside the target and is renamed over it, so a rerun replaces the file and a killed
run leaves the previous version intact. Assets use `file_fingerprint` of what they wrote
(or `frame_fingerprint` of a table) as their Dagster data version, so an unchanged result
leaves its dependents fresh.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from smi_assets.common.errors import InputError
from smi_assets.common.sql import load_sql

if TYPE_CHECKING:  # DuckDB costs every importer (`smi count` among them) 0.05-0.15 s
    import duckdb

PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=+-]{0,127}")


def validate_partition_key(key: str) -> str:
    """`key` when it is a plain file name (letters, digits, ``_.=+-``, not starting with a dot)."""
    if not PLAIN_NAME.fullmatch(key) or ".." in key:
        raise InputError(key, "a shard or checkpoint name must be a plain name (letters, digits, '_.=+-'; no '/', no '..', no leading dot)")
    return key


def write_atomic(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call `write(temporary_path)`, then rename the temporary file to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def write_parquet_atomic(frame: pl.DataFrame, path: str | Path) -> Path:
    return write_atomic(path, frame.write_parquet)


def write_csv_atomic(frame: pl.DataFrame, path: str | Path) -> Path:
    return write_atomic(path, frame.write_csv)


def write_text_atomic(text: str, path: str | Path) -> Path:
    return write_atomic(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8", newline=""))


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_fingerprint(*paths: Path) -> str:
    """A short content hash of the files, used as a Dagster data version."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def frame_fingerprint(frame: pl.DataFrame) -> str:
    """A short content hash of a table (schema, values and row order)."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="uncompressed")
    return hashlib.sha256(buffer.getvalue()).hexdigest()[:16]


def publish_snapshot(connection: duckdb.DuckDBPyConnection, frame: pl.DataFrame, path: Path, sql_name: str) -> Path:
    """Write `frame` as the Parquet snapshot at `path`, then rebuild its DuckDB table with
    `sql/<sql_name>.sql` (which reads ``$path``). The snapshot is what per-shard worker
    processes read, so they never open the single-writer DuckDB file; the table is the
    query surface for everything else."""
    write_parquet_atomic(frame, path)
    connection.execute(load_sql(sql_name), {"path": str(path)})
    return path
