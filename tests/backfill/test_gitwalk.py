"""History walking and materialising on real repositories made here."""

from __future__ import annotations

import itertools
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from collectors.gitwalk import (
    BlobReader,
    Materialiser,
    list_commits,
    list_tree,
    repo_info,
    thin_commits,
)
from storage.errors import ProjectError

from .gitrepo import GitRepo

T0 = datetime(2024, 1, 1, 9, 0)  # a Monday


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    for day in range(10):
        # two commits a day: morning and evening
        for hour, tag in ((0, "am"), (9, "pm")):
            repo.commit(f"day {day} {tag}", T0 + timedelta(days=day, hours=hour),
                        {"pkg/mod.py": f"X = {day * 10 + hour}\n"})
    return repo


def test_lists_first_parent_history_oldest_first(repo: GitRepo) -> None:
    commits = list_commits(repo.root)
    assert len(commits) == 20
    assert [c.subject for c in commits[:2]] == ["day 0 am", "day 0 pm"]
    assert all(a.committed_at <= b.committed_at for a, b in itertools.pairwise(commits))
    assert commits[-1].sha == repo.git("rev-parse", "HEAD").strip()
    assert commits[0].author == "Dev Eloper <dev@example.com>"  # as collect records it


def test_newest_n_and_since(repo: GitRepo) -> None:
    newest = list_commits(repo.root, max_commits=3)
    assert [c.subject for c in newest] == ["day 8 pm", "day 9 am", "day 9 pm"]
    since = list_commits(repo.root, since=T0 + timedelta(days=8))
    assert [c.subject for c in since] == ["day 8 am", "day 8 pm", "day 9 am", "day 9 pm"]


def test_every_day_keeps_last_commit_of_each_day(repo: GitRepo) -> None:
    daily = list_commits(repo.root, every="day")
    assert len(daily) == 10
    assert all(c.subject.endswith("pm") for c in daily)
    weekly = list_commits(repo.root, every="week")
    # 2024-01-01 is a Monday: days 0-6 are one ISO week, days 7-9 the next
    assert [c.subject for c in weekly] == ["day 6 pm", "day 9 pm"]
    assert [c.subject for c in list_commits(repo.root, every="day", max_commits=2)] == [
        "day 8 pm", "day 9 pm",
    ]
    monthly = thin_commits(list_commits(repo.root), "month")
    assert [c.subject for c in monthly] == ["day 9 pm"]


def test_first_parent_skips_merged_branch_commits(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit("base", T0, {"a.py": "A = 1\n"})
    repo.git("checkout", "-q", "-b", "side")
    repo.commit("side work", T0 + timedelta(hours=1), {"b.py": "B = 1\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("main work", T0 + timedelta(hours=2), {"c.py": "C = 1\n"})
    repo.git("merge", "-q", "--no-ff", "side", "-m", "merge side", when=T0 + timedelta(hours=3))
    subjects = [c.subject for c in list_commits(repo.root)]
    assert subjects == ["base", "main work", "merge side"]
    assert [c.subject for c in list_commits(repo.root, ref="side")] == ["base", "side work"]


def test_materialiser_follows_renames_deletes_and_modes(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    first = repo.commit("one", T0, {"pkg/__init__.py": "", "pkg/a.py": "A = 1\n", "run.sh": "echo\n"})
    (repo.root / "run.sh").chmod(0o755)
    repo.git("add", "run.sh")
    (repo.root / "link.py").symlink_to("pkg/a.py")
    repo.git("add", "link.py")
    repo.git("mv", "pkg/a.py", "pkg/b.py")
    second = repo.commit("two", T0 + timedelta(hours=1), {"old/x.py": "X = 1\n"})
    third = repo.commit("three", T0 + timedelta(hours=2), {"old/x.py": None})
    out = tmp_path / "out"
    out.mkdir()
    with BlobReader(repo.root) as reader:
        mat = Materialiser(reader, out)
        mat.checkout(list_tree(repo.root, first))
        assert (out / "pkg/a.py").read_text() == "A = 1\n"
        assert not (out / "run.sh").stat().st_mode & 0o111
        written = mat.checkout(list_tree(repo.root, second))
        assert sorted(written) == ["link.py", "old/x.py", "pkg/b.py", "run.sh"]
        assert not (out / "pkg/a.py").exists()
        assert (out / "run.sh").stat().st_mode & 0o111
        assert (out / "link.py").is_symlink()
        mat.checkout(list_tree(repo.root, third))
        assert not (out / "old").exists()  # emptied folders are pruned
        mat.checkout(list_tree(repo.root, first))
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
            "pkg/__init__.py", "pkg/a.py", "run.sh",
        ]


def test_tree_blob_shas_match_git_hash_object(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    sha = repo.commit("one", T0, {"m.py": "print('hi')\n"})
    entry = list_tree(repo.root, sha)["m.py"]
    expected = subprocess.run(
        ["git", "hash-object", str(repo.root / "m.py")], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert entry.blob_sha == expected


def test_subfolder_project_and_errors(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit("one", T0, {"svc/app.py": "A = 1\n", "other.py": "B = 1\n"})
    repo.commit("two", T0 + timedelta(hours=1), {"other.py": "B = 2\n"})
    info = repo_info(repo.root / "svc")
    assert info.prefix == "svc" and info.branch == "main"
    touching = list_commits(info.root, prefix=info.prefix)
    assert [c.subject for c in touching] == ["one"]
    assert list(list_tree(info.root, touching[0].sha, info.prefix)) == ["app.py"]
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ProjectError, match="not inside a git repository"):
        repo_info(plain)
    with pytest.raises(ProjectError):
        list_commits(repo.root, ref="no-such-branch")


def test_blob_reader_streams_many_blobs_in_order(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    files = {f"m/f{i:03}.py": f"VALUE = {i}\n" + "# pad\n" * (i % 7) for i in range(600)}
    files["big.py"] = "X = 1\n" * 200_000  # larger than a pipe buffer
    sha = repo.commit("many", T0, dict(files))
    tree = list_tree(repo.root, sha)
    with BlobReader(repo.root) as reader:
        contents = reader.read_many(entry.blob_sha for entry in tree.values())
        assert {p: contents[e.blob_sha].decode() for p, e in tree.items()} == files
        with pytest.raises(ProjectError, match="missing"):
            reader.read("0" * 40)
