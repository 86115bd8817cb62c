"""Ctrl-C and SIGTERM while an analyzer runs: the command stops at once and kills the analyzer.

Analyzers run in process groups of their own (a timeout kills a tool's whole tree), which a
terminal's Ctrl-C does not reach. The analyzer here is a fake bandit, a real process that
announces itself on a FIFO, starts a child in its group and then hangs, as bandit does on a
huge file; the test reads the FIFO to the end, which only comes when the tool and its child
are both dead. Nothing sleeps: every wait is for a FIFO or a process, with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from storage.store import MetricStore

from .gitrepo import GitRepo

FAKE_BANDIT = """\
import json, os, subprocess, sys
if sys.argv[1:] == ["--version"]:
    print("bandit 9.9.9")
    sys.exit(0)
files = [arg for arg in sys.argv[1:] if arg.endswith(".py")]
if any(os.path.basename(f) == "slow.py" for f in files):
    out = os.open({hang!r}, os.O_WRONLY)
    # a child in the tool's process group holds the FIFO too: it must die with the tool
    child = subprocess.Popen([sys.executable, "-c", "import os; os.read(os.pipe()[0], 1)"],
                             pass_fds=(out,))
    os.write(out, f"{{os.getpid()}} {{child.pid}}\\n".encode())
    os.read(os.pipe()[0], 1)  # hangs: nothing is ever written to this pipe
if any(os.path.basename(f).startswith("late_") for f in files):
    # the FIFO closes when this process has exited: then its result is final
    os.write(os.open({done!r}, os.O_WRONLY), b"done\\n")
print(json.dumps({{"results": [], "errors": []}}))
"""

#: Far longer than a stop takes, far shorter than the tool's timeout the old code waited for.
DEADLINE_S = 30.0


def _default_sigint() -> None:
    # A runner started in the background (`cmd &` in a script) ignores SIGINT, and a child
    # inherits that: give the command the Ctrl-C a person's terminal would deliver.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _fifo(path: Path) -> int:
    os.mkfifo(path)
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a writer can open it from now on


def _read(fd: int, proc: subprocess.Popen[str] | None = None) -> bytes:
    """The next bytes on ``fd`` (b"" at its end), failing if ``proc`` ends first."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            return os.read(fd, 4096)
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the command exited {proc.returncode} first: {proc.communicate()[1]}")
    pytest.fail("nothing came within the deadline")


def _read_to_end(fd: int) -> bytes:
    """Everything still written to ``fd`` until every writer has closed it (or died)."""
    data = b""
    while chunk := _read(fd):
        data += chunk
    return data


@contextlib.contextmanager
def _hanging_tool(tmp_path: Path) -> Iterator[tuple[Path, int, int]]:
    """A config file whose bandit is the fake, and the FIFOs the fake writes to."""
    hang = _fifo(tmp_path / "hang")
    done = _fifo(tmp_path / "done")
    script = tmp_path / "fake_bandit.py"
    script.write_text(FAKE_BANDIT.format(hang=str(tmp_path / "hang"), done=str(tmp_path / "done")))
    config = tmp_path / "flext-quality.toml"
    config.write_text(
        "[collect]\nconcurrency = 2\ntimeout_s = 600\n"
        f"executables = {{ bandit = [{str(sys.executable)!r}, {str(script)!r}] }}\n"
    )
    try:
        yield config, hang, done
    finally:
        os.close(hang)
        os.close(done)


def _env(tmp_path: Path) -> dict[str, str]:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return {**env, "FLEXT_QUALITY_ALLOWED_ROOTS": str(tmp_path), "TMPDIR": str(scratch)}


def _start(argv: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flext_quality", *argv], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=_env(tmp_path), cwd=tmp_path,
        preexec_fn=_default_sigint,
    )


def _stop(proc: subprocess.Popen[str], signum: int, hang: int) -> str:
    """Send ``signum`` once the tool hangs; the command's stderr once it exited.

    The tool hangs until killed and its timeout is 600 s, so exiting within the deadline (no
    timing of our own: these machines are noisy) shows the command killed it.
    """
    tool_pid = int(_read(hang, proc).split()[0])
    try:
        proc.send_signal(signum)
        try:
            _out, err = proc.communicate(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail(f"still running {DEADLINE_S:g} s after {signal.Signals(signum).name}")
        # the FIFO ends only when the tool and its child are both gone
        assert _read_to_end(hang) == b""
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(tool_pid, signal.SIGKILL)
    return err


def _history(root: Path) -> GitRepo:
    """Two commits: 45 small files, then a huge one (the tool hangs on it) and 45 more."""
    repo = GitRepo(root)
    small = {f"early_{n:02d}.py": f"VALUE = {n}\n" for n in range(45)}
    repo.commit("small files", datetime(2024, 3, 4, 10, 0), small)
    late = {f"late_{n:02d}.py": f"OTHER = {n}\n" for n in range(45)}
    repo.commit("a huge file", datetime(2024, 3, 5, 10, 0), {**late, "slow.py": "x = 1\n" * 20_000})
    return repo


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_backfill_stops_at_once_and_keeps_what_is_done(tmp_path: Path, signum: int) -> None:
    repo = _history(tmp_path / "repo")
    db = tmp_path / "q.duckdb"
    with _hanging_tool(tmp_path) as (config, hang, done):
        proc = _start(["backfill", str(repo.root), "--db", str(db), "--config", str(config),
                       "--tools", "bandit", "--chunk", "1"], tmp_path)
        # the second chunk's batch: slow.py alone in one call (it hangs), the 45 late files in
        # the other, which is over before the signal comes
        assert _read(done, proc) == b"done\n" and _read_to_end(done) == b""
        err = _stop(proc, signum, hang)
    assert proc.returncode == 130
    assert err.splitlines()[-1] == (
        "interrupted: 1 of 2 commits stored; run the same command again to resume "
        "(stored commits are skipped)"
    )
    store = MetricStore(db)
    assert store.fetch("SELECT count(*) FROM runs")[0][0] == 1
    # the finished batch call of the interrupted chunk is kept: the 45 + 45 small files
    assert store.fetch("SELECT count(*) FROM file_cache WHERE tool = 'bandit'")[0][0] == 90
    assert list((tmp_path / "scratch").iterdir()) == []


@pytest.mark.parametrize("command", ["collect", "check"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_collect_stops_at_once(tmp_path: Path, signum: int, command: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "slow.py").write_text("x = 1\n")
    with _hanging_tool(tmp_path) as (config, hang, _done):
        tools = ["--tools", "bandit"] if command == "collect" else []
        if command == "check":
            config.write_text(config.read_text() + 'tools = ["bandit"]\n')
        proc = _start([command, str(project), "--db", str(tmp_path / "q.duckdb"),
                       "--config", str(config), *tools], tmp_path)
        err = _stop(proc, signum, hang)
    if signum == signal.SIGINT:
        assert proc.returncode == 130 and err.splitlines()[-1] == "interrupted"
    else:  # as before: SIGTERM ends collect by that signal, now without leaving the tool behind
        assert proc.returncode == -signal.SIGTERM


def test_interrupt_of_a_single_commit_says_commit(tmp_path: Path) -> None:
    repo = _history(tmp_path / "repo")
    fifo = _fifo(tmp_path / "pause")
    try:
        proc = _start(["backfill", str(repo.root), "--db", str(tmp_path / "q.duckdb"),
                       "--tools", "suppressions", "--commits", "1", "--pause-after", "1",
                       "--pause-fifo", str(tmp_path / "pause")], tmp_path)
        assert _read(fifo, proc).startswith(b"paused 1 ")
    finally:
        os.close(fifo)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 130
    assert err.splitlines()[-1] == (
        "interrupted: 1 of 1 commit stored; run the same command again to resume "
        "(stored commits are skipped)"
    )


def test_a_stopped_scheduler_kills_the_running_collect_and_stores_nothing(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "slow.py").write_text("x = 1\n")
    db = tmp_path / "q.duckdb"
    with _hanging_tool(tmp_path) as (config, hang, _done):
        config.write_text(
            config.read_text() + 'tools = ["bandit"]\n\n'
            f'[[projects]]\nname = "app"\npath = {str(project)!r}\nevery_minutes = 60\n'
        )
        proc = _start(["scheduler", "--once", "--db", str(db), "--config", str(config)], tmp_path)
        err = _stop(proc, signal.SIGTERM, hang)  # the collect job is the first due
    assert proc.returncode == 128 + signal.SIGTERM, err  # a cron wrapper can tell it was cut short
    store = MetricStore(db)
    assert store.fetch("SELECT count(*) FROM runs") == [(0,)]  # nothing cut short was stored
    # a shutdown is not the project's failure; the jobs due after it (report, maintenance,
    # flush) did not start, so they stay due for the next run
    assert store.fetch("SELECT job, status FROM job_runs") == [("collect:app", "skipped")]
    [(error,)] = store.fetch("SELECT error FROM job_runs WHERE job = 'collect:app'")
    assert "the analyzers were killed, nothing stored" in error
