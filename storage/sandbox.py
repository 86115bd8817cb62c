"""The read-only SQL sandbox behind the dashboard's SQL page and ``flext-quality sql``.

An in-memory DuckDB instance attaches the database file read-only, then disables external
access (no files, no network, no extensions) and locks its configuration, so no statement can
change a setting back. Each query runs under a time limit (``interrupt`` from a timer), a row
cap and a memory limit. The instance is per query: nothing a user creates outlives it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from storage.connection import is_lock_error
from storage.errors import DatabaseBusyError, SandboxError

__all__ = ["PUBLIC_VIEW_NAMES", "SandboxResult", "run_sandboxed"]

PUBLIC_VIEW_NAMES: tuple[str, ...] = (
    "runs", "tool_runs", "measures", "findings", "metrics",
    "measures_daily", "measures_weekly", "measures_monthly",
)


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """Rows of a sandboxed query; ``truncated`` when the row cap cut it short."""

    frame: pl.DataFrame
    truncated: bool
    row_limit: int


def _open(db_path: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET threads = 2")
        con.execute(f"ATTACH '{str(db_path).replace(chr(39), chr(39) * 2)}' AS db (READ_ONLY)")
        con.execute("USE db")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except duckdb.Error:
        con.close()
        raise
    return con


def _friendly(error: duckdb.Error) -> str:
    text = str(error).splitlines()[0]
    lowered = text.lower()
    if "interrupt" in lowered:
        return "query stopped: it ran longer than the time limit"
    if "read-only" in lowered or "read only" in lowered:
        return f"refused: the database is read-only here ({text})"
    if "external access" in lowered or "lock_configuration" in lowered or "configuration" in lowered:
        return f"refused: the SQL sandbox allows no file, network, extension or settings access ({text})"
    if "out of memory" in lowered or "memory" in lowered:
        return f"query stopped: it needed more memory than the sandbox allows ({text})"
    return text


def run_sandboxed(
    db_path: Path,
    sql: str,
    *,
    timeout_s: float = 10.0,
    row_limit: int = 10_000,
    memory_limit: str = "1GB",
) -> SandboxResult:
    """Run one user query in the sandbox; raise :class:`SandboxError` with a readable reason."""
    if not sql.strip():
        raise SandboxError("empty query")
    if not db_path.exists():
        raise SandboxError(f"no database at {db_path}: collect or backfill first")
    try:
        con = _open(db_path, memory_limit)
    except duckdb.Error as error:
        if is_lock_error(error):
            raise DatabaseBusyError(f"database {db_path} is busy (a writer holds it): try again") from error
        raise SandboxError(f"cannot open {db_path} read-only: {error}") from error
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.start()
    try:
        relation = con.sql(sql)
        if relation is None:
            return SandboxResult(pl.DataFrame(), truncated=False, row_limit=row_limit)
        frame = relation.limit(row_limit + 1).pl()
    except duckdb.Error as error:
        raise SandboxError(_friendly(error)) from None
    finally:
        timer.cancel()
        con.close()
    truncated = frame.height > row_limit
    return SandboxResult(frame.head(row_limit), truncated=truncated, row_limit=row_limit)
