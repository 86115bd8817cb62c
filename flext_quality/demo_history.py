"""A real git history for the demo's sample project, so its trends have something to show.

The sample in ``data/sample`` is committed once; here it is replayed as ten weekly commits by
three authors: the package grows, tests arrive (coverage measured for real by running them
under ``coverage``), a shell helper turns the bandit gate red, a fix turns it green, lint is
cleaned up, and the last commit is exactly ``data/sample``. Every number the demo shows for
it comes from analysing these commits; nothing is invented.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = ["STEPS", "build_sample_history"]

AUTHORS = (
    ("Ana Lima", "ana@example.com"),
    ("Bo Chen", "bo@example.com"),
    ("Dara Singh", "dara@example.com"),
)
# Each step: a commit message and the operations that make its tree from the previous one.
# ("copy", *names) copies files from the sample; ("edit", file, old, new) replaces text once;
# ("coverage",) runs the tests under coverage; ("sync",) makes the tree equal to the sample.
Step = tuple[str, tuple[tuple[str, ...], ...]]
_PKG = "samplepkg"
STEPS: tuple[Step, ...] = (
    ("Start samplepkg with core helpers",
     (("copy", "README.md", f"{_PKG}/__init__.py", f"{_PKG}/core.py"),)),
    ("Add shape classification", (("copy", f"{_PKG}/branches.py"),)),
    ("Add tests", (("copy", "tests/test_core.py"), ("coverage",))),
    ("Add shell helpers", (("copy", f"{_PKG}/shell.py"), ("coverage",))),
    ("Run commands without a shell",
     (("edit", f"{_PKG}/shell.py", "subprocess.run(command, shell=True,",
       "subprocess.run(command.split(), shell=False,"), ("coverage",))),
    ("Tidy parse_level", (("edit", f"{_PKG}/core.py", "if text == None:", "if text is None:"),)),
    ("Drop a leftover variable", (("edit", f"{_PKG}/core.py", "    unused = 42\n", ""),)),
    ("Document the package", (("edit", "README.md", "# sample", "# sample (samplepkg)"),)),
    ("Restore the reviewed shell call", (("copy", f"{_PKG}/shell.py"),)),
    ("Sync with the reference sample", (("sync",),)),
)


def _copy(source: Path, target: Path, *names: str) -> None:
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target / name)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _coverage(work: Path) -> None:
    # The tests really run, so each commit's coverage report is measured, not made up.
    env = {**os.environ, "PYTHONPATH": str(work)}
    for args in (
        ("run", "--branch", "--source=samplepkg", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"),
        ("json", "-q", "-o", "coverage.json"),
    ):
        subprocess.run([sys.executable, "-m", "coverage", *args], cwd=work, env=env,
                       capture_output=True, check=False)
    (work / ".coverage").unlink(missing_ok=True)


def _apply(operation: tuple[str, ...], sample: Path, work: Path) -> None:
    kind, *args = operation
    if kind == "copy":
        _copy(sample, work, *args)
    elif kind == "edit":
        _edit(work / args[0], args[1], args[2])
    elif kind == "coverage":
        _coverage(work)
    elif kind == "sync":
        for child in (_PKG, "tests"):
            shutil.rmtree(work / child, ignore_errors=True)
        shutil.copytree(sample, work, dirs_exist_ok=True)
    else:  # pragma: no cover - a typo in STEPS
        raise ValueError(f"unknown step operation {kind!r}")


def _git(work: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)


def build_sample_history(sample: Path, target: Path, *, end: datetime | None = None) -> bool:
    """Create the history at ``target`` unless it exists; return True when it was created.

    Commits are one week apart, the last one a day before ``end`` (default: now, UTC).
    """
    if (target / ".git").exists():
        return False
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    _git(target, "init", "-q", "-b", "main")
    steps = STEPS
    last = (end or datetime.now(UTC)).replace(microsecond=0) - timedelta(days=1)
    for index, (message, operations) in enumerate(steps):
        for operation in operations:
            _apply(operation, sample, target)
        when = last - timedelta(weeks=len(steps) - 1 - index)
        name, email = AUTHORS[index % len(AUTHORS)]
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email,
            "GIT_AUTHOR_DATE": when.isoformat(), "GIT_COMMITTER_DATE": when.isoformat(),
        }
        _git(target, "add", "-A")
        _git(target, "commit", "-q", "--allow-empty", "-m", message, env=env)
    return True
