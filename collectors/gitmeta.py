"""Git metadata of a project folder: commit, time, author, branch, message, dirty flag."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from collectors.projectconfig import CONFIG_FILE_NAMES
from collectors.runner import ToolFailed, resolve_executable, run_process

__all__ = ["ANALYZED_NAMES", "ANALYZED_SUFFIXES", "GitInfo", "changes_analyzed_files", "git_info"]

#: What the analyzers read besides sources: their configuration, and what decides which files
#: ruff looks at. A change to anything else (a README, a build artefact, our own database or
#: JUnit file, a coverage report) leaves the analysis of the commit as it is.
ANALYZED_NAMES: frozenset[str] = frozenset({*CONFIG_FILE_NAMES, ".bandit", ".coveragerc", ".gitignore"})
ANALYZED_SUFFIXES: tuple[str, ...] = (".py", ".pyi")


@dataclass(frozen=True, slots=True)
class GitInfo:
    """The checked-out commit of a git working tree (times are naive UTC)."""

    commit_sha: str
    committed_at: datetime
    author: str
    branch: str | None
    message: str
    dirty: bool


def git_info(
    root: Path, *, timeout_s: float = 30.0, walked: Callable[[str], bool] | None = None
) -> GitInfo | None:
    """Metadata of the commit checked out at ``root``; ``None`` when it is not a git work tree
    (or a folder the repository around it ignores).

    ``dirty`` is true when a file the analyzers read (:func:`changes_analyzed_files`) is
    modified, added, deleted or untracked under ``root``, in a folder discovery looks at
    (``walked``: a path relative to ``root``; default every folder); ``branch`` is ``None`` on
    a detached HEAD.
    """
    git = resolve_executable("git", {})

    def git_out(*args: str) -> str | None:
        try:
            result = run_process((*git, *args), cwd=root, timeout_s=timeout_s)
        except ToolFailed:
            return None
        return result.stdout if result.returncode == 0 else None

    top = git_out("rev-parse", "--show-toplevel")
    if top is None:
        return None
    if git_out("check-ignore", "-q", ".") is not None:
        # the repository ignores this folder (an unpacked archive in a scratch folder): no
        # commit holds it, so it is no commit's run
        return None
    log = git_out("log", "-1", "--format=%H%x1f%ct%x1f%an <%ae>%x1f%s")
    if not log or "\x1f" not in log:
        return None  # a repository without commits
    sha, timestamp, author, subject = log.strip("\n").split("\x1f", 3)
    branch = (git_out("rev-parse", "--abbrev-ref", "HEAD") or "").strip()
    status = git_out("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".")
    # porcelain paths are relative to the repository root; discovery's to the project folder
    prefix = (git_out("rev-parse", "--show-prefix") or "").strip()
    return GitInfo(
        commit_sha=sha,
        committed_at=datetime.fromtimestamp(int(timestamp), UTC).replace(tzinfo=None),
        author=author,
        branch=None if branch in ("", "HEAD") else branch,
        message=subject,
        dirty=changes_analyzed_files(status or "", prefix=prefix, walked=walked),
    )


def changes_analyzed_files(
    status: str, *, prefix: str = "", walked: Callable[[str], bool] | None = None
) -> bool:
    """True when ``git status --porcelain=v1 -z`` output names a file the analyzers read.

    Both sides of a rename count. Ignored files never appear in it. ``prefix`` is the project
    folder's path in the repository; ``walked`` says whether discovery looks at a path
    relative to the project (a file in ``build/``, a virtual environment or an excluded
    folder is never analysed, so it does not make the tree dirty).
    """
    fields = status.split("\0")
    index = 0
    while index < len(fields):
        entry = fields[index]
        index += 1
        if len(entry) < 4:
            continue
        paths = [entry[3:]]
        if entry[0] in "RC":  # a rename or copy: the original path follows
            paths.append(fields[index] if index < len(fields) else "")
            index += 1
        for path in paths:
            name = path.rsplit("/", 1)[-1]
            if not (name in ANALYZED_NAMES or name.endswith(ANALYZED_SUFFIXES)):
                continue
            relative = path[len(prefix):] if prefix and path.startswith(prefix) else path
            if walked is None or walked(relative):
                return True
    return False
