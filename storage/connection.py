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
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

from storage.errors import DatabaseBusyError, StoppedError, StoreError

__all__ = [
    "allow_waiting",
    "is_lock_error",
    "read_connection",
    "retry_while_locked",
    "stop_waiting",
    "write_connection",
]

T = TypeVar("T")
Clock = Callable[[], float]
Sleeper = Callable[[float], None]


# Set by a shutdown (SIGTERM, Ctrl-C): a wait for the database lock ends at once instead of
# keeping a stopping process alive for up to write_timeout_s.
_STOP = threading.Event()


def stop_waiting() -> None:
    """End every wait for the database, now and later, with :class:`StoppedError` (signal-safe)."""
    _STOP.set()


def allow_waiting() -> None:
    """Let waits for the database happen again after :func:`stop_waiting`."""
    _STOP.clear()


def _check_stop(path: Path) -> None:
    if _STOP.is_set():
        raise StoppedError(f"stopped while waiting for database {path}: nothing was written")


def is_lock_error(error: BaseException) -> bool:
    """True for DuckDB's "another process holds this file" error."""
    text = str(error)
    return "Could not set lock" in text or "Conflicting lock" in text


def _backoff(attempt: int) -> float:
    # Full jitter keeps several readers from retrying in lock-step.
    return float(min(0.5, 0.01 * 2 ** min(attempt, 6)) * (0.5 + random.random() / 2))  # noqa: S311


@contextmanager
def _file_lock(
    lock_path: Path, timeout_s: float, clock: Clock, sleep: Sleeper
) -> Iterator[None]:
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise StoreError(
            f"cannot write beside database {lock_path.with_suffix('')}: "
            f"{error.strerror or error} ({lock_path})"
        ) from None
    try:
        deadline = clock() + timeout_s
        attempt = 0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                _check_stop(lock_path.with_suffix(""))
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


def retry_while_locked(
    action: Callable[[], T],
    path: Path,
    *,
    timeout_s: float,
    clock: Clock = time.monotonic,
    sleep: Sleeper = time.sleep,
) -> T:
    """Run ``action`` (an open or attach of ``path``), retrying while another process locks it.

    Writers hold the file only for one transaction, so waiting them out with jittered
    exponential backoff is enough; after ``timeout_s`` it raises :class:`DatabaseBusyError`.
    Any other DuckDB error is raised as it is, for the caller to word.
    """
    deadline = clock() + timeout_s
    attempt = 0
    while True:
        try:
            return action()
        except duckdb.Error as error:
            if not is_lock_error(error):
                raise
            _check_stop(path)
            if clock() >= deadline:
                raise DatabaseBusyError(
                    f"database {path} is busy: it stayed locked by another process "
                    f"for more than {timeout_s:g}s"
                ) from error
            sleep(_backoff(attempt))
            attempt += 1


def _connect_retrying(
    path: Path, *, read_only: bool, timeout_s: float, clock: Clock, sleep: Sleeper
) -> duckdb.DuckDBPyConnection:
    try:
        return retry_while_locked(
            lambda: duckdb.connect(str(path), read_only=read_only),
            path, timeout_s=timeout_s, clock=clock, sleep=sleep,
        )
    except duckdb.Error as error:
        raise StoreError(f"cannot open database {path}: {error}") from error


@contextmanager
def write_connection(
    path: Path,
    *,
    timeout_s: float = 60.0,
    clock: Clock = time.monotonic,
    sleep: Sleeper = time.sleep,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection held under the cross-process writer lock, closed on exit."""
    with _file_lock(Path(f"{path}.lock"), timeout_s, clock, sleep):
        # Readers may hold the file for a moment; they are short, so retry.
        con = _connect_retrying(
            path, read_only=False, timeout_s=timeout_s, clock=clock, sleep=sleep
        )
        try:
            yield con
        finally:
            con.close()


class _ReaderState(threading.local):
    """Per thread: one in-memory DuckDB instance that attaches database files for reading."""

    def __init__(self) -> None:
        self.con: duckdb.DuckDBPyConnection | None = None
        self.attached: str | None = None
        self.depth = 0


_READER = _ReaderState()


# Every thread's reader instance, by thread id, so that a forked child can keep them all alive.
_INSTANCES: dict[int, duckdb.DuckDBPyConnection] = {}
_INSTANCES_LOCK = threading.Lock()
_INHERITED: list[duckdb.DuckDBPyConnection] = []


def _new_reader_instance() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    with _INSTANCES_LOCK:
        alive = {t.ident for t in threading.enumerate()}
        for ident in [i for i in _INSTANCES if i not in alive]:
            _INSTANCES.pop(ident).close()  # its thread has ended: nobody can be using it
        _INSTANCES[threading.get_ident()] = con
    return con


def _forget_after_fork() -> None:
    # DuckDB's worker threads do not survive fork(): a child must neither use nor destroy the
    # parent's instances (either can crash it; CPython drops other threads' locals in the
    # child), so it parks them all and starts its own on its first read.
    global _INSTANCES_LOCK
    _INSTANCES_LOCK = threading.Lock()  # another thread may have held it at the fork
    _INHERITED.extend(_INSTANCES.values())
    _INSTANCES.clear()
    _READER.con = None
    _READER.attached = None
    _READER.depth = 0


os.register_at_fork(after_in_child=_forget_after_fork)


def _attach_retrying(
    con: duckdb.DuckDBPyConnection, path: Path, *, timeout_s: float, clock: Clock, sleep: Sleeper
) -> None:
    quoted = str(path).replace("'", "''")

    def attach() -> None:
        con.execute(f"ATTACH '{quoted}' AS flext_db (READ_ONLY)")
        con.execute("USE flext_db")

    try:
        retry_while_locked(attach, path, timeout_s=timeout_s, clock=clock, sleep=sleep)
    except duckdb.Error as error:
        raise StoreError(f"cannot open database {path}: {error}") from error


def _detach(state: _ReaderState) -> None:
    con = state.con
    state.attached = None
    if con is None:
        return
    try:
        con.execute("USE memory")
        con.execute("DETACH flext_db")
    except duckdb.Error:
        # Whatever went wrong, closing the instance releases the file for writers.
        state.con = None
        con.close()


@contextmanager
def read_connection(
    path: Path,
    *,
    timeout_s: float = 30.0,
    clock: Clock = time.monotonic,
    sleep: Sleeper = time.sleep,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, retried while a writer holds the file, released on exit.

    Starting a DuckDB instance costs about 13 ms, more than a small query; so each thread
    keeps one in-memory instance and *attaches* the file read-only for the duration of the
    block (about 2 ms), then detaches it, which releases the file lock for writers.
    A nested ``read_connection`` on the same file in the same thread reuses the attachment.
    """
    if not path.exists():
        raise StoreError(
            f"no database at {path}: run `flext-quality collect` or `flext-quality backfill` first"
        )
    key = str(path.resolve())
    state = _READER
    if state.depth and state.attached != key:
        # Another file is attached in this thread: fall back to a separate instance.
        con = _connect_retrying(path, read_only=True, timeout_s=timeout_s, clock=clock, sleep=sleep)
        try:
            yield con
        finally:
            con.close()
        return
    if state.depth == 0:
        if state.con is None:
            state.con = _new_reader_instance()
        _attach_retrying(state.con, path, timeout_s=timeout_s, clock=clock, sleep=sleep)
        state.attached = key
    assert state.con is not None
    state.depth += 1
    try:
        yield state.con
    finally:
        state.depth -= 1
        if state.depth == 0:
            _detach(state)
