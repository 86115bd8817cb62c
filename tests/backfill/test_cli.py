"""The real `flext-quality backfill` command: resume after a kill, idempotence, clean-up."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from storage.store import MetricStore

from .gitrepo import GitRepo

TOOLS = "ruff,bandit,complexity"


def _env(tmp_path: Path) -> dict[str, str]:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return dict(os.environ, FLEXT_QUALITY_ALLOWED_ROOTS=str(tmp_path), TMPDIR=str(scratch))


def _argv(repo: GitRepo, db: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "flext_quality", "backfill", str(repo.root), "--db", str(db),
            "--tools", TOOLS, *extra]


def _run(repo: GitRepo, db: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_argv(repo, db, *extra), capture_output=True, text=True,
                          env=_env(tmp_path), cwd=tmp_path, check=False, timeout=240)


def _paused(repo: GitRepo, db: Path, tmp_path: Path, after: int) -> tuple[subprocess.Popen[str], str]:
    """Start a backfill that stops after ``after`` stored runs and says so on a FIFO."""
    fifo = tmp_path / f"pause{after}"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        _argv(repo, db, "--chunk", "2", "--pause-after", str(after), "--pause-fifo", str(fifo)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path), cwd=tmp_path,
    )
    # Wait for the backfill to reach the pause, or fail at once (with its error) if it exits
    # first: a plain blocking open would wait for the whole test timeout instead.
    with os.fdopen(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK), encoding="utf-8") as pipe:
        while True:
            ready, _, _ = select.select([pipe], [], [], 1.0)
            line = pipe.readline() if ready else ""
            if line:
                return proc, line
            if proc.poll() is not None:
                _out, err = proc.communicate()
                pytest.fail(f"backfill exited {proc.returncode} before the pause: {err}")


def test_resume_after_kill_then_idempotent(planted: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, shas = planted
    db = tmp_path / "q.duckdb"
    proc, line = _paused(repo, db, tmp_path, after=3)
    assert line.startswith("paused 3 ")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    store = MetricStore(db)
    stored = [r[0] for r in store.fetch("SELECT commit_sha FROM runs ORDER BY committed_at")]
    # oldest first: the runs written before the kill (at least the 3 reported, each in its
    # own transaction) are a prefix of the history, the rest is not there at all
    assert len(stored) >= 3 and stored == shas[:len(stored)] and len(stored) < len(shas)

    resumed = _run(repo, db, tmp_path, "--format", "json")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["skipped"] == len(stored) and summary["stored"] == len(shas) - len(stored)
    assert [r[0] for r in store.fetch("SELECT commit_sha FROM runs ORDER BY committed_at")] == shas
    counts = store.fetch("SELECT count(*), count(DISTINCT commit_sha) FROM runs")[0]
    points = store.fetch("SELECT count(*) FROM measures")[0][0]

    again = _run(repo, db, tmp_path, "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["stored"] == 0
    assert store.fetch("SELECT count(*), count(DISTINCT commit_sha) FROM runs")[0] == counts
    assert store.fetch("SELECT count(*) FROM measures")[0][0] == points

    forced = _run(repo, db, tmp_path, "--format", "json", "--force", "--commits", "2")
    assert json.loads(forced.stdout)["stored"] == 2
    assert store.fetch("SELECT count(*) FROM runs")[0][0] == len(shas)  # replaced, not added


def test_runs_stored_before_a_kill_get_their_gate_results_on_resume(
    planted: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, shas = planted
    (tmp_path / "flext-quality.toml").write_text(
        '[[gates]]\nname = "few-issues"\nmetric = "ruff.issues"\nmax = 100000\n', encoding="utf-8"
    )
    db = tmp_path / "q.duckdb"
    proc, _line = _paused(repo, db, tmp_path, after=2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    store = MetricStore(db)
    before = store.fetch("SELECT count(*) FROM runs")[0][0]
    assert 2 <= before < len(shas)
    assert store.fetch("SELECT count(*) FROM gate_results")[0][0] == 0  # killed before evaluating

    resumed = _run(repo, db, tmp_path, "--format", "json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["stored"] == len(shas) - before
    evaluated = store.fetch(
        "SELECT r.commit_sha, g.state FROM runs r JOIN gate_results g USING (run_id) ORDER BY r.committed_at"
    )
    assert evaluated == [(sha, "pass") for sha in shas]  # the runs from before the kill too


def test_sigterm_removes_temporary_files(planted: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, _ = planted
    db = tmp_path / "q.duckdb"
    proc, _line = _paused(repo, db, tmp_path, after=1)
    assert any((tmp_path / "scratch").iterdir())  # the checkout exists while it runs
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert list((tmp_path / "scratch").iterdir()) == []


def test_working_tree_untouched(planted: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, shas = planted
    status = repo.git("status", "--porcelain")
    head = repo.git("rev-parse", "HEAD")
    before = repo.snapshot()
    assert "planted/renamed.py" in status and "untracked.py" in status  # really dirty
    result = _run(repo, tmp_path / "q.duckdb", tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{len(shas)} runs stored" in result.stdout
    assert repo.git("status", "--porcelain") == status
    assert repo.git("rev-parse", "HEAD") == head
    assert repo.snapshot() == before
    assert repo.git("worktree", "list").count("\n") == 1


def test_every_and_plain_progress_lines(planted: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, shas = planted
    result = _run(repo, tmp_path / "q.duckdb", tmp_path, "--every", "week", "--project", "p")
    assert result.returncode == 0, result.stderr
    # T0 is a Monday and the six commits are on consecutive days: one ISO week
    assert "backfill of p: 1 commit selected, 0 already stored, 1 run stored " in result.stdout
    assert "[1/1]" in result.stderr and "cache" in result.stderr  # non-TTY: one line per commit
    store = MetricStore(tmp_path / "q.duckdb")
    assert store.fetch("SELECT project, commit_sha FROM runs") == [("p", shas[-1])]


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "flext_quality", "backfill", str(plain), "--db", str(tmp_path / "q.duckdb")],
        capture_output=True, text=True, env=_env(tmp_path), cwd=tmp_path, check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error:") and "git" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_since_with_offset_and_bad_since(planted: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, shas = planted
    db = tmp_path / "q.duckdb"
    # 2024-03-08T00:00+02:00 is 2024-03-07T22:00 UTC: the commits of 03-08 and 03-09 (10:00 UTC)
    result = _run(repo, db, tmp_path, "--since", "2024-03-08T00:00:00+02:00", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stored"] == 2
    stored = MetricStore(db).fetch("SELECT commit_sha FROM runs ORDER BY committed_at")
    assert [r[0] for r in stored] == shas[-2:]
    bad = _run(repo, db, tmp_path, "--since", "last tuesday")
    assert bad.returncode == 1 and "--since 'last tuesday' is not a date" in bad.stderr
