"""What a person sees from the real command: terminal or CI, Ctrl-C, a shallow clone.

The terminal cases run the command on a real pseudo-terminal (``pty``), as CI services do.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from storage.store import MetricStore

from .gitrepo import GitRepo

TOOLS = "ruff,complexity"
BAR = "\u2501"  # the heavy line rich draws its bar with
HIDE_CURSOR = "\x1b[?25l"  # an animated display hides the cursor while it redraws


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR", "COLUMNS")}
    return {**env, "FLEXT_QUALITY_ALLOWED_ROOTS": str(tmp_path), "TMPDIR": str(scratch),
            "TERM": "xterm-256color", **extra}


def _argv(root: Path, db: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "flext_quality", "backfill", str(root), "--db", str(db),
            "--tools", TOOLS, *extra]


def _on_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run with stderr on a 160-column pseudo-terminal; the exit code and what it showed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=follower, env=env)
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the command closed the terminal
                break
            if not data:
                break
            shown += data
    finally:
        os.close(leader)
    return proc.wait(timeout=60), shown.decode("utf-8", "replace")


def test_ci_on_a_terminal_gets_plain_lines(planted: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, shas = planted
    code, shown = _on_terminal(_argv(repo.root, tmp_path / "q.duckdb"), _env(tmp_path, CI="true"))
    assert code == 0, shown
    lines = shown.replace("\r\n", "\n").splitlines()
    assert BAR not in shown and HIDE_CURSOR not in shown and "\r" not in shown.replace("\r\n", "")
    assert lines[:2] == ["backfill: 6 commits to analyse", "[0/6] analysing changed files of commits 1-6"]
    counted = [line.split("]")[0] for line in lines[2:]]
    assert counted == [f"[{n}/6" for n in range(1, len(shas) + 1)]
    assert lines[-1].startswith(f"[6/6] {shas[-1][:10]} succeeded cache ") and lines[-1].endswith("eta 0s")


def test_terminal_without_ci_gets_the_bar(planted: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, _ = planted
    code, shown = _on_terminal(_argv(repo.root, tmp_path / "q.duckdb"), _env(tmp_path, CI="false"))
    assert code == 0, shown
    assert HIDE_CURSOR in shown and BAR in shown and "6/6" in shown
    assert "[1/6]" not in shown  # no plain lines besides the bar


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _paused(root: Path, db: Path, tmp_path: Path, after: int, *extra: str) -> subprocess.Popen[str]:
    """A backfill that stops after ``after`` stored runs and says so on a FIFO."""
    fifo = tmp_path / f"pause{after}-{len(list(tmp_path.glob('pause*')))}"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        _argv(root, db, "--pause-after", str(after), "--pause-fifo", str(fifo), *extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path), cwd=tmp_path,
        # A runner started in the background (`cmd &` in a script) ignores SIGINT, and a child
        # inherits that: give the command the Ctrl-C a person's terminal would deliver.
        preexec_fn=_default_sigint,
    )
    with fifo.open(encoding="utf-8") as pipe:  # blocks until the backfill reaches the pause
        assert pipe.readline().startswith(f"paused {after} ")
    return proc


def test_ctrl_c_says_what_is_stored_and_how_to_resume(
    planted: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, shas = planted
    db = tmp_path / "q.duckdb"
    store = MetricStore(db)
    # chunks of 3: the first three runs are written together, then the pause comes at the 2nd
    proc = _paused(repo.root, db, tmp_path, 2, "--chunk", "3")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.splitlines()[-1] == (
        "interrupted: 3 of 6 commits stored; run the same command again to resume "
        "(stored commits are skipped)"
    )
    assert store.fetch("SELECT count(*) FROM runs")[0][0] == 3

    again = _paused(repo.root, db, tmp_path, 1, "--chunk", "1")
    again.send_signal(signal.SIGINT)
    _out, err = again.communicate(timeout=60)
    assert again.returncode == 130
    assert err.splitlines()[-1].startswith("interrupted: 4 of 6 commits stored (1 in this run); ")

    rest = subprocess.run(_argv(repo.root, db, "--format", "json"), capture_output=True, text=True,
                          env=_env(tmp_path), cwd=tmp_path, check=False, timeout=240)
    assert rest.returncode == 0, rest.stderr
    assert (json.loads(rest.stdout)["skipped"], json.loads(rest.stdout)["stored"]) == (4, 2)
    assert [r[0] for r in store.fetch("SELECT commit_sha FROM runs ORDER BY committed_at")] == shas


def test_ctrl_c_with_force_does_not_promise_a_resume(
    planted: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, _ = planted
    proc = _paused(repo.root, tmp_path / "q.duckdb", tmp_path, 1, "--chunk", "1", "--force")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.splitlines()[-1] == (
        "interrupted: 1 of 6 commits analysed again and stored; the same command starts over "
        "(--force analyses every commit again)"
    )


def test_shallow_clone_warns_once_and_backfills_what_is_there(
    planted: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, shas = planted
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "3", f"file://{repo.root}", str(clone)], check=True)
    result = subprocess.run(_argv(clone, tmp_path / "q.duckdb"), capture_output=True, text=True,
                            env=_env(tmp_path), cwd=tmp_path, check=False, timeout=240)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {clone} is a shallow clone: commits before its shallow boundary are missing "
        f"and are not backfilled; run `git -C {clone} fetch --unshallow`, then this backfill "
        "again, to add them (stored commits are skipped)"
    ]
    assert "3 runs stored" in result.stdout
    stored = MetricStore(tmp_path / "q.duckdb").fetch("SELECT commit_sha FROM runs ORDER BY committed_at")
    assert [r[0] for r in stored] == shas[-3:]

    full = subprocess.run(_argv(repo.root, tmp_path / "full.duckdb"), capture_output=True, text=True,
                          env=_env(tmp_path), cwd=tmp_path, check=False, timeout=240)
    assert full.returncode == 0 and "warning" not in full.stderr
