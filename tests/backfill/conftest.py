"""Shared pieces of the backfill tests: a planted history with the awkward cases."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from storage.models import RunResult
from storage.store import MetricStore

from .gitrepo import GitRepo

T0 = datetime(2024, 3, 4, 10, 0)

PYPROJECT_V1 = """[project]
name = "planted"
version = "0.1"

[tool.ruff.lint]
select = ["F", "E", "INP", "I", "S"]
"""
# the configuration changes between commits: B and UP come in, S goes away
PYPROJECT_V2 = PYPROJECT_V1.replace('["F", "E", "INP", "I", "S"]', '["F", "E", "INP", "I", "B", "UP"]')

A_PY = """import os
import sys
import json


def run(cmd):
    return os.system(cmd)
"""
B_PY = """import subprocess


def shell(cmd):
    assert cmd
    if cmd:
        if len(cmd) > 3:
            return subprocess.call(cmd, shell=True)
    return None
"""
TOOL_PY = """import planted


def main():
    return planted
"""
BROKEN_PY = "def broken(:\n    pass\n"


def plant_history(root: Path) -> tuple[GitRepo, list[str]]:
    """Six commits: rename, delete, a syntax error, a config change, a layout change."""
    repo = GitRepo(root)
    shas = [
        repo.commit("start", T0, {
            "pyproject.toml": PYPROJECT_V1, "planted/__init__.py": "", "planted/a.py": A_PY,
            "planted/b.py": B_PY, "scripts/tool.py": TOOL_PY,
        }),
        repo.commit("rename a", T0 + timedelta(days=1), {
            "planted/a.py": None, "planted/renamed.py": A_PY,
        }),
        repo.commit("syntax error", T0 + timedelta(days=2), {"planted/broken.py": BROKEN_PY}),
        repo.commit("delete b, new config", T0 + timedelta(days=3), {
            "planted/b.py": None, "pyproject.toml": PYPROJECT_V2,
        }),
        repo.commit("scripts becomes a package", T0 + timedelta(days=4), {"scripts/__init__.py": ""}),
        repo.commit("fix syntax, more code", T0 + timedelta(days=5), {
            "planted/broken.py": "def fixed():\n    return 1\n",
            "planted/c.py": B_PY.replace("shell", "shell2"),
        }),
    ]
    # the user's own uncommitted work must survive a backfill untouched
    repo.write("planted/renamed.py", A_PY + "\nDIRTY = 1\n")
    repo.write("untracked.py", "import os\n")
    return repo, shas


@pytest.fixture
def planted(tmp_path: Path) -> tuple[GitRepo, list[str]]:
    return plant_history(tmp_path / "planted")


def checkout_copy(repo: GitRepo, sha: str, target: Path) -> Path:
    """A fresh clone of ``repo`` at ``sha``: what a user would `collect`."""
    subprocess.run(["git", "clone", "-q", str(repo.root), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "-q", "--detach", sha], check=True)
    return target


Snapshot = tuple[dict[str, float], list[tuple[object, ...]]]


def stored_snapshot(store: MetricStore, sha: str) -> Snapshot:
    """Measures and findings (sorted) stored for commit ``sha``."""
    measures = dict(store.fetch("SELECT metric, value FROM measures WHERE commit_sha = ?", [sha]))
    findings = store.fetch(
        "SELECT f.tool, f.rule, f.severity, f.confidence, f.path, f.line, f.col, f.message, f.fingerprint "
        "FROM findings f JOIN runs r USING (run_id) WHERE r.commit_sha = ? ORDER BY ALL",
        [sha],
    )
    return measures, findings


def fresh_snapshot(result: RunResult) -> Snapshot:
    """The same shape as :func:`stored_snapshot`, from a collect's result."""
    findings = sorted(
        (f.tool, f.rule, f.severity, f.confidence, f.path, f.line, f.col, f.message, f.fingerprint)
        for f in result.findings
    )
    return {k: float(v) for k, v in result.measures.items()}, findings
