"""Helpers shared by the collect tests (importable: conftest puts this folder on sys.path)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ALL_TOOLS = ["ruff", "mypy", "bandit", "coverage", "complexity", "suppressions"]


def rerun(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a ``tool_runs.command`` (a JSON argv) by hand in the project root."""
    argv = json.loads(command)
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def git(cwd: Path, *args: str, date: str | None = None) -> str:
    """Run git in ``cwd`` with a fixed identity (and author/committer ``date``); return stdout."""
    env_args = [
        "-c",
        "user.name=Test Author",
        "-c",
        "user.email=author@example.com",
        "-c",
        "init.defaultBranch=main",
        "-c",
        "commit.gpgsign=false",
    ]
    env = dict(os.environ)
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    done = subprocess.run(
        ["git", *env_args, *args], cwd=cwd, capture_output=True, text=True, check=True, env=env
    )
    return done.stdout
