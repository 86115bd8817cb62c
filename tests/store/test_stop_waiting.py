"""A shutdown ends a wait for the database at once (the scheduler's SIGTERM must not hang)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import duckdb
import pytest

from collectors.runner import allow_processes, kill_all_processes
from storage.connection import write_connection
from storage.errors import StoppedError


def test_a_wait_for_the_writer_lock_ends_when_processes_are_stopped(tmp_path: Path) -> None:
    db = tmp_path / "q.duckdb"
    duckdb.connect(str(db)).close()
    holder = os.open(f"{db}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another writer holds the lock for as long as it likes
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the signal arrives during the first backoff
        waits.append(seconds)
        kill_all_processes()

    try:
        with pytest.raises(StoppedError, match="stopped while waiting for database"), \
                write_connection(db, timeout_s=3600, clock=lambda: 0.0, sleep=sleep):
            pass
        assert len(waits) == 1  # it gave up right after the stop, not after an hour
    finally:
        allow_processes()
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    with write_connection(db, timeout_s=1) as con:  # allowed again: waits and writes work
        con.execute("CREATE TABLE t (x INTEGER)")
