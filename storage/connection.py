"""Opening the DuckDB file the way DuckDB's locking wants it.

DuckDB allows one writing process *or* many reading processes, never both, and a second
process fails at once rather than waiting. So:

* writers take a cross-process advisory lock (``<db>.lock``, ``fcntl.flock``) before they open
  the file read-write, and close it as soon as their transaction is done;
* readers open read-only and retry the "Could not set lock" error with exponential backoff;
* nobody keeps a read-write connection open while idle.
"""

from __future__ import annotations

import fcntl
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from storage.errors import DatabaseBusyError, StoreError

__all__ = ["is_lock_error", "read_connection", "write_connection"]

Clock = Callable[[], float]
Sleeper = Callable[[float], None]


def is_lock_error(error: BaseException) -> bool:
    """True for DuckDB's "another process holds this file" error."""
    text = str(error)
    return "Could not set lock" in text or "Conflicting lock" in text


def _backoff(attempt: int) -> float:
    # Full jitter keeps several readers from retrying in lock-step.
    return float(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random() / 2))  # noqa: S311


@contextmanager
def _file_lock(
    lock_path: Path, timeout_s: float, clock: Clock, sleep: Sleeper
) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = clock() + timeout_s
        attempt = 0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    raise DatabaseBusyError(
                        f"database {lock_path.with_suffix('')} is busy: another writer held it "
                        f"for more than {timeout_s:g}s"
                    ) from None
                sleep(_backoff(attempt))
                attempt += 1
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _connect_retrying(
    path: Path, *, read_only: bool, timeout_s: float, clock: Clock, sleep: Sleeper
) -> duckdb.DuckDBPyConnection:
    deadline = clock() + timeout_s
    attempt = 0
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as error:
            if not is_lock_error(error):
                raise StoreError(f"cannot open database {path}: {error}") from error
            if clock() >= deadline:
                raise DatabaseBusyError(
                    f"database {path} is busy: it stayed locked by another process "
                    f"for more than {timeout_s:g}s"
                ) from error
            sleep(_backoff(attempt))
            attempt += 1


@contextmanager
def write_connection(
    path: Path,
    *,
    timeout_s: float = 60.0,
    clock: Clock = time.monotonic,
    sleep: Sleeper = time.sleep,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection held under the cross-process writer lock, closed on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(Path(f"{path}.lock"), timeout_s, clock, sleep):
        # Readers may hold the file for a moment; they are short, so retry.
        con = _connect_retrying(
            path, read_only=False, timeout_s=timeout_s, clock=clock, sleep=sleep
        )
        try:
            yield con
        finally:
            con.close()


@contextmanager
def read_connection(
    path: Path,
    *,
    timeout_s: float = 30.0,
    clock: Clock = time.monotonic,
    sleep: Sleeper = time.sleep,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, retried while a writer holds the file, closed on exit."""
    if not path.exists():
        raise StoreError(
            f"no database at {path}: run `flext-quality collect` or `flext-quality backfill` first"
        )
    con = _connect_retrying(path, read_only=True, timeout_s=timeout_s, clock=clock, sleep=sleep)
    try:
        yield con
    finally:
        con.close()
