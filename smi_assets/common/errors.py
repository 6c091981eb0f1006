"""Errors raised for bad user input, and the result type of loaders that can skip.

Every loader raises :class:`InputError` naming the file and, where it applies, the line or
row, so a user can fix the input without reading a traceback. Loaders that may skip bad
records instead (``on_error="skip"``) return a :class:`LoadResult` whose ``n_skipped`` the
Dagster layer reports as metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, NamedTuple

import polars as pl

OnError = Literal["raise", "skip"]


class InputError(ValueError):
    """Bad input: names the source (file), the location (line or row) and what is wrong."""

    def __init__(self, source: str | Path, problem: str, *, line: int | None = None, row: int | None = None):
        self.source = str(source)
        self.problem = problem
        self.line = line
        self.row = row
        where = self.source
        if line is not None:
            where += f", line {line}"
        if row is not None:
            where += f", row {row}"
        super().__init__(f"{where}: {problem}")


class LoadResult(NamedTuple):
    """A loaded table and how many bad records were skipped to get it."""

    frame: pl.DataFrame
    n_skipped: int = 0


class ServiceUnavailableError(RuntimeError):
    """A service the configuration points at (PostgreSQL, the Dask scheduler) cannot be reached:
    names the service, where it was looked for and the setting that chose it."""

    def __init__(self, service: str, where: str, setting: str, reason: str):
        self.service = service
        self.setting = setting
        super().__init__(f"{service} at {where} is not reachable ({reason}); start it, or fix the setting {setting}")
