"""Real processes: a writer killed mid-append, and two writers with a reader at the same time."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from store_helpers import counts, make_run, rollup_rows

from storage.store import MetricStore

WORKER = Path(__file__).with_name("store_worker.py")


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WORKER), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _lock_is_held(db: Path) -> bool:
    fd = os.open(f"{db}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _kill_inside_transaction(db: Path, run_id: str, n: int) -> None:
    proc = _start("block", str(db), run_id, str(n))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == "inside", proc.stderr.read() if proc.stderr else line
        assert _lock_is_held(db)  # it really is mid-append, holding the writer lock
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def test_a_writer_killed_mid_append_leaves_no_partial_run(store: MetricStore) -> None:
    store.append_run(make_run("keep", "c1", {"m": 1.0}))
    before = counts(store), rollup_rows(store)
    _kill_inside_transaction(store.path, "big-run", 5000)
    after_store = MetricStore(store.path)  # a new process would open the file like this
    assert (counts(after_store), rollup_rows(after_store)) == before
    assert after_store.fetch("SELECT count(*) FROM measures WHERE project = 'big'")[0][0] == 0
    # The file is healthy: the same run can be written in full afterwards.
    after_store.append_run(make_run("big", "c-big", {f"m{i}": float(i) for i in range(100)}))
    assert after_store.fetch("SELECT count(*) FROM measures WHERE project = 'big'")[0][0] == 100
    assert not _lock_is_held(store.path)


def test_a_killed_replacement_keeps_the_old_run_whole(store: MetricStore) -> None:
    store.append_run(make_run("big", "c-big", {"m00001": 42.0, "other": 7.0}, run_id="old"))
    before = counts(store), rollup_rows(store)
    _kill_inside_transaction(store.path, "new", 2000)
    assert (counts(store), rollup_rows(store)) == before
    assert store.fetch("SELECT run_id FROM runs") == [("old",)]


def test_two_writers_and_a_reader_at_once_lose_nothing(store: MetricStore) -> None:
    per_writer = 25
    reader = _start("read", str(store.path))
    writers = [_start("write", str(store.path), name, str(per_writer)) for name in ("w1", "w2")]
    outputs = [w.communicate(timeout=240) for w in writers]
    assert reader.stdin is not None
    reader_out, reader_err = reader.communicate(input="", timeout=120)
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        assert out.strip() == f"wrote={per_writer}"
    assert reader.returncode == 0, reader_err
    seen = [int(line.split("=")[1]) for line in reader_out.splitlines() if line.startswith("runs=")]
    assert seen and seen == sorted(seen)  # every read succeeded and saw whole runs only
    assert counts(store) == {
        "runs": 2 * per_writer, "tool_runs": 4 * per_writer, "measures": 10 * per_writer,
        "findings": 2 * per_writer, "measures_daily": 2 * 5 * 2, "measures_weekly": 2 * 5,
        "measures_monthly": 2 * 5,
    }
    assert store.fetch("SELECT sum(n) FROM measures_daily")[0][0] == 10 * per_writer


def test_a_forked_child_reads_with_its_own_instance(store: MetricStore) -> None:
    store.append_run(make_run("p", "c1", {"m": 1.0}))
    assert store.fetch("SELECT count(*) FROM measures") == [(1,)]  # the parent keeps an instance
    # ... and so does another thread, which stays alive across the fork.
    read, release = threading.Event(), threading.Event()

    def reader_thread() -> None:
        store.fetch("SELECT count(*) FROM runs")
        read.set()
        release.wait()

    other = threading.Thread(target=reader_thread)
    other.start()
    read.wait()
    pid = os.fork()
    if pid == 0:  # the child: any exception or crash shows as a non-zero status
        try:
            os._exit(0 if store.fetch("SELECT count(*) FROM measures") == [(1,)] else 1)
        except BaseException:
            os._exit(2)
    release.set()
    other.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.fetch("SELECT count(*) FROM measures") == [(1,)]
