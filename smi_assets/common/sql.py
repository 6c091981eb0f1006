"""Access to the SQL files in the repository's top-level `sql/` folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by its users; `smi count` needs no DuckDB
    import duckdb

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


@cache
def load_sql(name: str) -> str:
    """Return the text of `sql/<name>.sql`."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    return path.read_text()


def sql_statements(name: str) -> list[str]:
    """The statements of `sql/<name>.sql`, one by one.

    DuckDB binds parameters only in the last statement of a script, so a file whose several
    statements take parameters is run statement by statement. The files use ';' only as a
    terminator.
    """
    statements = []
    for statement in load_sql(name).split(";"):
        code = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--"))
        if code.strip():
            statements.append(code)
    return statements


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Commit what the block executes, or roll all of it back if the block raises."""
    connection.begin()
    try:
        yield connection
    except BaseException:
        connection.rollback()
        raise
    connection.commit()
