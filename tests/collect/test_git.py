"""Git metadata on a real repository made by the test."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from collect_support import SAMPLE, git

from collectors.base import CollectOptions
from collectors.discovery import would_walk
from collectors.gitmeta import git_info
from collectors.pipeline import collect
from storage.queries import new_and_fixed
from storage.store import MetricStore


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(SAMPLE, repo, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first commit", date="2024-03-01T12:00:00+02:00")
    return repo


def test_git_metadata_and_dirty_flag(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    info = git_info(repo)
    assert info is not None
    assert info.commit_sha == git(repo, "rev-parse", "HEAD").strip()
    assert info.author == "Test Author <author@example.com>"
    assert info.branch == "main" and info.message == "first commit"
    assert info.committed_at == datetime(2024, 3, 1, 10, 0, 0)  # +02:00 commit, naive UTC
    assert not info.dirty
    (repo / "samplepkg" / "new.py").write_text("x = 1\n")
    dirty = git_info(repo)
    assert dirty is not None and dirty.dirty
    git(repo, "checkout", "-q", "--detach")
    assert git_info(repo).branch is None  # type: ignore[union-attr]
    assert git_info(tmp_path) is None  # not a repository


def test_only_changes_the_analyzers_read_make_a_tree_dirty(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    # our own database, its lock, a JUnit report, a README edit and a coverage report: the
    # analysis of the commit is the same, so the run is still the commit's
    (repo / "data").mkdir()
    for name in ("data/quality.duckdb", "data/quality.duckdb.lock", "gates.xml", "coverage.json"):
        (repo / name).write_text("x")
    (repo / "NOTES.md").write_text("notes\n")
    # Python files in folders discovery never walks: build output, a virtual environment, a
    # hidden folder, an excluded folder
    for name in ("build/x.py", "myenv/x.py", ".cache-dir/x.py", "gen/x.py"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("x = 1\n")
    (repo / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")
    walked = lambda rel: would_walk(repo, rel, ["gen"])  # noqa: E731 - as collect passes it
    assert git_info(repo, walked=walked).dirty is False  # type: ignore[union-attr]
    assert git_info(repo).dirty is True  # type: ignore[union-attr]  # every folder counts by default
    git(repo, "stash", "-q", "--include-untracked")
    assert git_info(repo).dirty is False  # type: ignore[union-attr]
    cases: list[Callable[[], None]] = [
        lambda: (repo / "new dir").mkdir() or (repo / "new dir" / "m.py").write_text("x = 1\n"),
        lambda: (repo / "ruff.toml").write_text("line-length = 60\n"),
        lambda: (repo / "samplepkg" / "core.py").unlink(),
        lambda: git(repo, "mv", "samplepkg/core.py", "samplepkg/moved.txt") and None,
    ]
    for change in cases:
        git(repo, "stash", "-q", "--include-untracked")  # back to the commit (our files too)
        change()
        assert git_info(repo).dirty is True, change  # type: ignore[union-attr]


def test_runs_carry_commit_and_findings_diff_between_commits(
    tmp_path: Path, options_for: Callable[..., CollectOptions]
) -> None:
    repo = make_repo(tmp_path)
    store = MetricStore(tmp_path / "q.duckdb")
    first = collect(repo, project="r", tools=["ruff", "complexity"], options=options_for())
    assert first.run.commit_sha == git(repo, "rev-parse", "HEAD").strip()
    assert first.run.committed_at == datetime(2024, 3, 1, 10, 0, 0)  # commit time in naive UTC
    assert first.run.point_time == first.run.committed_at and not first.run.dirty
    store.append_run(first)
    core = repo / "samplepkg" / "core.py"
    core.write_text(
        core.read_text().replace("import os\n", "import json\nimport os\n").replace("    unused = 42\n", "")
    )
    git(repo, "commit", "-q", "-am", "second", date="2024-03-02T12:00:00+00:00")
    second = collect(repo, project="r", tools=["ruff", "complexity"], options=options_for())
    store.append_run(second)
    assert second.run.commit_sha != first.run.commit_sha
    new, fixed = new_and_fixed(store, second.run.run_id)
    assert new["rule"].to_list() == ["F401"] and fixed["rule"].to_list() == ["F841"]
