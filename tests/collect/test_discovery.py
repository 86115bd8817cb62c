"""The allow-list and file discovery."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from collect_support import git

from collectors.discovery import discover_files, is_excluded, resolve_project
from collectors.pipeline import collect
from flext_quality.cli import main
from storage.errors import ProjectError


def test_outside_path_is_refused(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    other = tmp_path / "other"
    allowed.mkdir()
    other.mkdir()
    assert resolve_project(allowed, [allowed]) == allowed.resolve()
    with pytest.raises(ProjectError, match="outside the allowed roots"):
        resolve_project(other, [allowed])
    with pytest.raises(ProjectError, match="outside the allowed roots"):
        resolve_project(allowed / ".." / "other", [allowed])


def test_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    secret = tmp_path / "secret"
    allowed.mkdir()
    secret.mkdir()
    (secret / "keys.py").write_text("KEY = 'x'\n")
    link = allowed / "project"
    link.symlink_to(secret, target_is_directory=True)
    with pytest.raises(ProjectError, match="outside the allowed roots"):
        resolve_project(link, [allowed])


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="does not exist"):
        resolve_project(tmp_path / "nope", [tmp_path])


def test_collect_refuses_before_running_anything(tmp_path: Path, options_for) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProjectError):
        collect(Path("/"), project=None, tools=["ruff"], options=options_for())
    with pytest.raises(ProjectError, match="unknown tool"):
        collect(tmp_path, project=None, tools=["pylint"], options=options_for())


def test_discovery_skips_hidden_venvs_build_and_excludes(tmp_path: Path) -> None:
    files = {
        "pkg/a.py": True,
        "pkg/sub/b.py": True,
        "top.py": True,
        "pkg/notes.txt": False,
        ".hidden/c.py": False,
        "pkg/.cache/d.py": False,
        "build/e.py": False,
        "dist/f.py": False,
        "node_modules/g.py": False,
        "pkg/__pycache__/h.py": False,
        "venv/i.py": False,
        "myenv/j.py": False,
        "pkg/generated/k.py": False,
        "pkg/skip_me.py": False,
        "x.egg-info/l.py": False,
        ".dot.py": False,
    }
    for name in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    (tmp_path / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.py"
    outside.write_text("y = 2\n")
    (tmp_path / "pkg" / "link_out.py").symlink_to(outside)
    (tmp_path / "pkg" / "link_in.py").symlink_to(tmp_path / "top.py")
    found = discover_files(tmp_path, ["pkg/generated", "skip_*.py"])
    expected = sorted([n for n, keep in files.items() if keep] + ["pkg/link_in.py"])
    assert found == expected


@pytest.mark.parametrize(
    ("path", "patterns", "excluded"),
    [
        ("a/b/c.py", ["a/b"], True),
        ("a/b/c.py", ["c.py"], True),
        ("a/b/c.py", ["*/b/*"], True),
        ("a/b/c.py", ["b"], True),
        ("a/bc/c.py", ["a/b"], False),
        ("a/b/c.py", [], False),
    ],
)
def test_exclude_patterns(path: str, patterns: list[str], excluded: bool) -> None:
    assert is_excluded(path, patterns) is excluded


def test_submodules_and_nested_repositories_are_other_projects(tmp_path: Path) -> None:
    for name in ("app/main.py", "vendor/lib/mod.py", "tools/nested/x.py"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    (tmp_path / ".git").mkdir()  # the project's own repository: it is analysed
    (tmp_path / "vendor" / "lib" / ".git").write_text("gitdir: ../../.git/modules/lib\n")  # a submodule
    (tmp_path / "tools" / "nested" / ".git").mkdir()  # a repository cloned inside
    assert discover_files(tmp_path) == ["app/main.py"]


def test_in_a_git_tree_ignored_files_are_not_the_project(tmp_path: Path, options_for) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "repo"
    for name, text in {
        ".gitignore": "generated_*.py\nscratch/\n",
        "real.py": "import os\n",
        "app/env/__init__.py": "",  # a package named env is code, not a virtual environment
        "app/env/settings.py": "import sys\n",
    }.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "init")
    git(repo, "add", ".")
    git(repo, "commit", "-m", "first", date="2026-01-05T10:00:00+00:00")
    (repo / "generated_1.py").write_text("import json\neval('1')\n")  # ignored, untracked
    (repo / "scratch").mkdir()
    (repo / "scratch" / "s.py").write_text("import re\n")
    (repo / "loop_a.py").symlink_to("loop_b.py")  # a symlink loop: skipped, no crash
    (repo / "loop_b.py").symlink_to("loop_a.py")
    (repo / ".gitignore").write_text("generated_*.py\nscratch/\nloop_*.py\n")
    git(repo, "commit", "-am", "ignore the loop", date="2026-01-06T10:00:00+00:00")
    assert discover_files(repo) == ["app/env/__init__.py", "app/env/settings.py", "real.py"]
    result = collect(repo, project="repo", tools=["ruff", "bandit"], options=options_for())
    # as ruff run by hand in the folder (it honours .gitignore): F401 in real.py and settings.py
    command = next(t.command for t in result.tools if t.tool == "ruff")
    by_hand = subprocess.run([*command[:command.index("--")], "."], cwd=repo, capture_output=True,
                             text=True, check=False)
    assert result.measures["ruff.issues"] == len(json.loads(by_hand.stdout)) == 2
    assert result.measures["bandit.issues"] == 0  # the eval is in an ignored file
    assert result.run.dirty is False and result.run.commit_sha is not None
    # an untracked file that git does not ignore is analysed, and makes the tree dirty
    (repo / "new.py").write_text("import io\n")
    assert "new.py" in discover_files(repo)


@pytest.mark.parametrize("command", ["collect", "check", "backfill"])
def test_a_bad_project_path_is_one_line(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLEXT_QUALITY_ALLOWED_ROOTS", str(tmp_path))
    (tmp_path / "f.py").write_text("x = 1\n")
    db = str(tmp_path / "q.duckdb")
    runner = CliRunner()
    for path, says in (("nope", "project path 'nope' does not exist"),
                       ("f.py", "project path 'f.py' is not a folder")):
        done = runner.invoke(main, [command, path, "--db", db])
        assert done.exit_code == 1, done.output
        assert done.output.strip().splitlines()[-1].startswith("error: ")
        assert says.replace("'", "") in done.output.replace(str(tmp_path) + "/", "").replace("'", "")
    empty = runner.invoke(main, [command, "", "--db", db])  # an unset variable: not "the current folder"
    assert empty.exit_code == 2 and "an empty path" in empty.output
    assert not (tmp_path / "q.duckdb").exists()


def test_a_project_in_a_folder_the_repository_ignores_is_analysed_as_outside_git(
    tmp_path: Path, options_for  # type: ignore[no-untyped-def]
) -> None:
    repo = tmp_path / "repo"
    (repo / "vendor" / "pkg" / "sub").mkdir(parents=True)
    (repo / ".gitignore").write_text("vendor/\n")
    (repo / "main.py").write_text("x = 1\n")
    git(repo, "init")
    git(repo, "add", ".")
    git(repo, "commit", "-m", "first", date="2026-01-05T10:00:00+00:00")
    project = repo / "vendor" / "pkg"  # an unpacked archive, say
    (project / "a.py").write_text("import os\n")
    (project / "sub" / "b.py").write_text("import sys\n")
    assert discover_files(project) == ["a.py", "sub/b.py"]  # as ruff by hand there sees them
    result = collect(project, project="pkg", tools=["ruff"], options=options_for())
    assert result.measures["ruff.issues"] == 2
    assert result.run.commit_sha is None  # no commit of the repository holds it
