"""Which history a backfill walks: refs that name no commit, empty and shallow repositories,
and which runs carry a branch name (a real branch only, never a sha or a tag)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from collectors.backfill import BackfillRequest, backfill
from collectors.base import CollectOptions
from collectors.gitwalk import list_commits, repo_info, resolve_start
from collectors.pipeline import collect
from storage.errors import ProjectError
from storage.store import MetricStore

from .gitrepo import GitRepo

T0 = datetime(2024, 6, 3, 9, 0)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[GitRepo, list[str]]:
    """Four commits on main; a light tag, an annotated tag and a release branch behind it."""
    repo = GitRepo(tmp_path / "repo")
    shas = [repo.commit(f"c{n}", T0 + timedelta(hours=n), {"m.py": f"X = {n}\n"}) for n in range(4)]
    repo.git("tag", "v1", shas[1])
    repo.git("tag", "-a", "v2", "-m", "annotated", shas[2], when=T0)
    repo.git("branch", "release/2.x", shas[2])
    return repo, shas


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    env = dict(os.environ, FLEXT_QUALITY_ALLOWED_ROOTS=str(tmp_path), TMPDIR=str(scratch))
    return subprocess.run(
        [sys.executable, "-m", "flext_quality", "backfill", *args, "--db", str(tmp_path / "q.duckdb"),
         "--tools", "complexity"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False, timeout=240,
    )


@pytest.mark.parametrize(("ref", "index", "branch"), [
    (None, 3, "main"),
    ("HEAD", 3, "main"),
    ("main", 3, "main"),
    ("refs/heads/main", 3, "main"),
    ("release/2.x", 2, "release/2.x"),
    ("v1", 1, None),
    ("v2", 2, None),  # an annotated tag is peeled to its commit
    ("main~1", 2, None),
    ("<short sha of c1>", 1, None),
    ("<full sha of c0>", 0, None),
])
def test_start_point_names_only_real_branches(
    repo: tuple[GitRepo, list[str]], ref: str | None, index: int, branch: str | None
) -> None:
    git_repo, shas = repo
    spelled = {"<short sha of c1>": shas[1][:7], "<full sha of c0>": shas[0]}.get(ref or "", ref)
    start = resolve_start(git_repo.root, spelled)
    assert (start.sha, start.branch) == (shas[index], branch)


def test_remote_branches_keep_their_remote_and_detached_head_has_none(
    repo: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    origin, shas = repo
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin.root), str(clone)], check=True)
    assert resolve_start(clone, "origin/release/2.x").branch == "origin/release/2.x"
    assert resolve_start(clone, "origin/HEAD").branch == "origin/main"
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", "--detach", shas[1]], check=True)
    assert resolve_start(clone) == resolve_start(clone, shas[1])
    assert resolve_start(clone).branch is None


@pytest.mark.parametrize("ref", ["nope", "v9", "HEAD:m.py", "-n", "--output=leak.txt"])
def test_a_ref_that_names_no_commit_is_one_clear_error(
    repo: tuple[GitRepo, list[str]], ref: str
) -> None:
    git_repo, _ = repo
    with pytest.raises(ProjectError) as caught:
        resolve_start(git_repo.root, ref)
    assert str(caught.value) == f"unknown branch or commit {ref!r} in {git_repo.root}"
    assert not (git_repo.root / "leak.txt").exists()  # never read as a git option


def test_list_commits_never_reads_a_ref_as_an_option(repo: tuple[GitRepo, list[str]]) -> None:
    git_repo, _ = repo
    with pytest.raises(ProjectError):
        list_commits(git_repo.root, ref="--output=leak.txt")
    assert not (git_repo.root / "leak.txt").exists()


def test_repository_without_commits(tmp_path: Path) -> None:
    empty = GitRepo(tmp_path / "empty")
    info = repo_info(empty.root)
    assert info.branch == "main" and not info.shallow
    for ref in (None, "main", "nope"):
        with pytest.raises(ProjectError) as caught:
            resolve_start(empty.root, ref)
        assert str(caught.value) == f"{empty.root} has no commits yet: nothing to backfill"


def test_new_orphan_branch_without_commits(repo: tuple[GitRepo, list[str]]) -> None:
    git_repo, shas = repo
    git_repo.git("checkout", "-q", "--orphan", "fresh")
    with pytest.raises(ProjectError, match=r"^the current branch 'fresh' of .* has no commits yet"):
        resolve_start(git_repo.root)
    assert resolve_start(git_repo.root, "main").sha == shas[3]  # other branches still work


def test_cli_errors_are_one_line(repo: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    git_repo, _ = repo
    unknown = _cli(tmp_path, str(git_repo.root), "--branch", "nope")
    assert unknown.returncode == 1
    assert unknown.stderr.splitlines() == [f"error: unknown branch or commit 'nope' in {git_repo.root}"]
    empty = GitRepo(tmp_path / "empty")
    nothing = _cli(tmp_path, str(empty.root))
    assert nothing.returncode == 1
    assert nothing.stderr.splitlines() == [f"error: {empty.root} has no commits yet: nothing to backfill"]


@pytest.mark.parametrize(("ref", "branch"), [
    ("<sha of c2>", None),
    ("v2", None),
    ("release/2.x", "release/2.x"),
    (None, "main"),
])
def test_stored_runs_carry_a_branch_only_for_a_branch(
    repo: tuple[GitRepo, list[str]], tmp_path: Path, ref: str | None, branch: str | None
) -> None:
    git_repo, shas = repo
    store = MetricStore(tmp_path / "q.duckdb")
    spelled = shas[2][:9] if ref == "<sha of c2>" else ref
    request = BackfillRequest(
        project="p", tools=("complexity",), options=CollectOptions(allowed_roots=(tmp_path,)),
        ref=spelled, max_commits=2,
    )
    summary = backfill(git_repo.root, request, store=store, collect=collect)
    assert summary.stored == 2
    rows = store.fetch("SELECT commit_sha, branch FROM runs ORDER BY committed_at")
    newest = 3 if ref is None else 2
    assert rows == [(shas[newest - 1], branch), (shas[newest], branch)]


def test_shallow_clone_is_detected(repo: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    origin, shas = repo
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{origin.root}", str(clone)], check=True)
    assert repo_info(clone).shallow and not repo_info(origin.root).shallow
    assert [c.sha for c in list_commits(clone)] == shas[2:]
