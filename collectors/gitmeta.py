"""Git metadata of a project folder: commit, time, author, branch, message, dirty flag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from collectors.runner import ToolFailed, resolve_executable, run_process

__all__ = ["GitInfo", "git_info"]


@dataclass(frozen=True, slots=True)
class GitInfo:
    """The checked-out commit of a git working tree (times are naive UTC)."""

    commit_sha: str
    committed_at: datetime
    author: str
    branch: str | None
    message: str
    dirty: bool


def git_info(root: Path, *, timeout_s: float = 30.0) -> GitInfo | None:
    """Metadata of the commit checked out at ``root``; ``None`` when it is not a git work tree.

    ``dirty`` is true when tracked files are modified or untracked files exist (both change
    what the analyzers see); ``branch`` is ``None`` on a detached HEAD.
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
    log = git_out("log", "-1", "--format=%H%x1f%ct%x1f%an <%ae>%x1f%s")
    if not log or "\x1f" not in log:
        return None  # a repository without commits
    sha, timestamp, author, subject = log.strip("\n").split("\x1f", 3)
    branch = (git_out("rev-parse", "--abbrev-ref", "HEAD") or "").strip()
    status = git_out("status", "--porcelain", "--", ".")
    return GitInfo(
        commit_sha=sha,
        committed_at=datetime.fromtimestamp(int(timestamp), UTC).replace(tzinfo=None),
        author=author,
        branch=None if branch in ("", "HEAD") else branch,
        message=subject,
        dirty=bool(status and status.strip()),
    )
