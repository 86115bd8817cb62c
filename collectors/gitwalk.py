"""Walking a git history and materialising commits without touching the working tree.

Everything here talks to git through plain subprocess calls:

* :func:`repo_info` finds the repository of a project folder (and whether it is a shallow
  clone), :func:`resolve_start` checks the branch, tag or sha to walk and names its branch;
* :func:`list_commits` walks the first-parent history of a branch (newest N, or since a date,
  optionally thinned to the last commit of each day, week or month, by UTC commit time) and
  returns it oldest first;
* :func:`list_tree` reads a commit's files with ``git ls-tree -r``, which also yields each
  file's blob sha (the key of the per-file cache) for free; :func:`list_config_above` the
  configuration files of the folders above a sub-folder project (a monorepo's);
* :class:`BlobReader` streams blob contents through one long-lived ``git cat-file --batch``;
* :class:`Materialiser` keeps one temporary directory in the state of "a fresh checkout of
  commit X", updating only the files that changed from the previous commit. The user's
  working tree, index and HEAD are never read for content nor written.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from collectors.projectconfig import config_paths_above
from storage.errors import ProjectError

__all__ = [
    "BlobReader",
    "Commit",
    "Every",
    "Materialiser",
    "RepoInfo",
    "StartPoint",
    "TreeEntry",
    "git",
    "list_commits",
    "list_config_above",
    "list_tree",
    "repo_info",
    "resolve_start",
    "thin_commits",
]

Every = Literal["day", "week", "month"]

# A gitlink (submodule) or anything that is not a regular file or symlink is left out, as a
# plain `git clone` without --recurse-submodules leaves it empty.
_FILE_MODES = {"100644": 0o644, "100755": 0o755}
_SYMLINK_MODE = "120000"


def git(repo: Path, *args: str, input_bytes: bytes | None = None) -> bytes:
    """Run ``git -C repo ARGS`` and return stdout; a failure raises :class:`ProjectError`."""
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        input=input_bytes,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ProjectError(
            f"git {' '.join(args[:2])} failed in {repo}: {detail[-1] if detail else proc.returncode}"
        )
    return proc.stdout


@dataclass(frozen=True, slots=True)
class Commit:
    """One commit of the walked history; ``committed_at`` is naive UTC committer time."""

    sha: str
    committed_at: datetime
    author: str
    subject: str


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One file of a commit: git mode and blob sha."""

    mode: str
    blob_sha: str


def _git_answer(repo: Path, *args: str) -> str | None:
    """Stdout of a git query, or None when git says no (a non-zero exit is the answer here)."""
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    return proc.stdout.decode("utf-8", "replace").strip() if proc.returncode == 0 else None


@dataclass(frozen=True, slots=True)
class RepoInfo:
    """Where a project sits in its repository.

    ``branch`` is the current branch (None on a detached HEAD); ``shallow`` says the
    repository is a shallow clone, whose history stops at the shallow boundary.
    """

    root: Path
    prefix: str
    branch: str | None
    shallow: bool = False


def repo_info(path: Path) -> RepoInfo:
    """The repository root of ``path``, ``path``'s folder inside it, and the current branch."""
    if not path.is_dir():
        raise ProjectError(f"{path} is not a directory")
    try:
        top = git(path, "rev-parse", "--show-toplevel").decode().strip()
    except ProjectError:
        raise ProjectError(f"{path} is not inside a git repository") from None
    root = Path(top).resolve()
    prefix = path.resolve().relative_to(root).as_posix()
    # symbolic-ref also names the branch of a repository without commits, where
    # `rev-parse --abbrev-ref HEAD` fails
    branch = _git_answer(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    shallow = _git_answer(root, "rev-parse", "--is-shallow-repository") == "true"
    return RepoInfo(root, "" if prefix == "." else prefix, branch or None, shallow)


@dataclass(frozen=True, slots=True)
class StartPoint:
    """The commit a walk starts from, and its branch (None for a sha, a tag or a detached HEAD)."""

    sha: str
    branch: str | None


def resolve_start(root: Path, ref: str | None = None) -> StartPoint:
    """Check that ``ref`` (default: HEAD) names a commit of the repository at ``root``.

    Raises :class:`ProjectError` with one readable line when the repository has no commits
    yet or ``ref`` is no branch, tag or commit. The branch is only named when ``ref`` is a
    local or remote-tracking branch (``main``, ``origin/release/2.x``): a sha or a tag is not
    on one particular branch, so runs made from it carry none.
    """
    # A name starting with "-" can be no branch, tag or sha; refusing it keeps it from ever
    # being read as an option by a later git command.
    sha = None if (ref or "").startswith("-") else _commit_of(root, ref or "HEAD")
    if sha is None:
        if _git_answer(root, "for-each-ref", "--count=1", "--format=%(objectname)") == "":
            raise ProjectError(f"{root} has no commits yet: nothing to backfill")
        if ref is None:
            current = _git_answer(root, "symbolic-ref", "--quiet", "--short", "HEAD")
            raise ProjectError(
                f"the current branch {current!r} of {root} has no commits yet: nothing to backfill"
            )
        raise ProjectError(f"unknown branch or commit {ref!r} in {root}")
    # "--" keeps a file of the same name from making the name ambiguous; git echoes it back
    named = _git_answer(root, "rev-parse", "--symbolic-full-name", ref or "HEAD", "--") or ""
    full = named.splitlines()[0] if named else ""
    for namespace in ("refs/heads/", "refs/remotes/"):
        if full.startswith(namespace):
            return StartPoint(sha, full.removeprefix(namespace))
    return StartPoint(sha, None)


def _commit_of(root: Path, ref: str) -> str | None:
    """The full sha of the commit ``ref`` names, or None (an annotated tag is peeled)."""
    return _git_answer(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") or None


def _period(moment: datetime, every: Every) -> tuple[int, ...]:
    if every == "day":
        return (moment.year, moment.month, moment.day)
    if every == "week":
        iso = moment.isocalendar()
        return (iso.year, iso.week)
    return (moment.year, moment.month)


def thin_commits(commits: Iterable[Commit], every: Every) -> list[Commit]:
    """Keep the last commit (by commit time) of each UTC day, ISO week or month, oldest first."""
    last: dict[tuple[int, ...], Commit] = {}
    for commit in commits:
        key = _period(commit.committed_at, every)
        kept = last.get(key)
        if kept is None or commit.committed_at >= kept.committed_at:
            last[key] = commit
    return sorted(last.values(), key=lambda c: c.committed_at)


def list_commits(
    repo: Path,
    *,
    ref: str = "HEAD",
    max_commits: int | None = None,
    since: datetime | None = None,
    every: Every | None = None,
    prefix: str = "",
) -> list[Commit]:
    """First-parent history of ``ref``, oldest first.

    ``since`` keeps commits at or after that UTC time; ``every`` thins to the last commit per
    period; ``max_commits`` then keeps the newest N of what is left (so ``--commits 50 --every
    week`` gives up to 50 weekly points). ``prefix`` limits to commits touching that folder
    or, once it exists, a configuration file above it up to the repository root
    (:func:`list_config_above`): a monorepo commit that only changes the root
    ``pyproject.toml`` changes the sub-project's results too, so its point belongs to the
    sub-project's history.
    """
    # --end-of-options: a ref is never read as an option, whatever its spelling
    args = ["log", "--first-parent", "--format=%H%x1f%ct%x1f%an <%ae>%x1f%s%x1e", "--end-of-options", ref]
    if since is not None:
        args.insert(2, f"--since={since.strftime('%Y-%m-%dT%H:%M:%S')}+00:00")
    if max_commits is not None and every is None:
        args.insert(2, f"--max-count={max_commits}")
    if prefix:
        args += ["--", prefix, *config_paths_above(prefix)]
    out = git(repo, *args).decode("utf-8", "replace")
    commits: list[Commit] = []
    for record in out.split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        sha, ts, author, subject = record.split("\x1f", 3)
        when = datetime.fromtimestamp(int(ts), UTC).replace(tzinfo=None)
        commits.append(Commit(sha, when, author, subject))
    # git log lists newest first; stable reversal keeps history order for equal times.
    commits.reverse()
    if prefix:
        commits = _from_first_touch(repo, ref, prefix, commits)
    if since is not None:
        commits = [c for c in commits if c.committed_at >= since]
    if every is not None:
        commits = thin_commits(commits, every)
    if max_commits is not None:
        commits = commits[-max_commits:] if max_commits > 0 else []
    return commits


def _from_first_touch(repo: Path, ref: str, prefix: str, commits: list[Commit]) -> list[Commit]:
    """``commits`` from the first one touching the folder ``prefix`` itself on.

    A configuration change above the folder before it existed is no part of its history.
    """
    touching = git(repo, "rev-list", "--first-parent", "--reverse", "--end-of-options", ref,
                   "--", prefix).split()
    if not touching:
        return []
    shas = [c.sha for c in commits]
    first = touching[0].decode()
    # not listed: --since or --max-count left it out, so every listed commit is newer
    return commits[shas.index(first):] if first in shas else commits


def list_tree(repo: Path, sha: str, prefix: str = "") -> dict[str, TreeEntry]:
    """The files of commit ``sha`` (under ``prefix``), keyed by path relative to ``prefix``."""
    args = ["ls-tree", "-r", "-z", "--full-tree", sha]
    if prefix:
        args += ["--", prefix]
    out = git(repo, *args)
    cut = len(prefix) + 1 if prefix else 0
    entries: dict[str, TreeEntry] = {}
    for item in out.split(b"\0"):
        if not item:
            continue
        meta, _, raw_path = item.partition(b"\t")
        mode, kind, blob = meta.decode().split(" ")
        if kind != "blob" or (mode not in _FILE_MODES and mode != _SYMLINK_MODE):
            continue
        path = raw_path.decode("utf-8", "surrogateescape")[cut:]
        entries[path] = TreeEntry(mode, blob)
    return entries


def list_config_above(repo: Path, sha: str, prefix: str) -> dict[str, TreeEntry]:
    """The configuration files of commit ``sha`` above the project folder ``prefix``.

    Keyed by repository-relative path: the files of
    :func:`collectors.projectconfig.config_paths_above` that the commit holds (regular files
    and symlinks). Empty for a project at the repository root.
    """
    wanted = config_paths_above(prefix)
    if not wanted:
        return {}
    out = git(repo, "ls-tree", "-z", "--full-tree", sha, "--", *wanted)
    entries: dict[str, TreeEntry] = {}
    for item in out.split(b"\0"):
        meta, _, raw_path = item.partition(b"\t")
        if not raw_path:
            continue
        mode, kind, blob = meta.decode().split(" ")
        path = raw_path.decode("utf-8", "surrogateescape")
        if kind == "blob" and (mode in _FILE_MODES or mode == _SYMLINK_MODE) and path in wanted:
            entries[path] = TreeEntry(mode, blob)
    return entries


class BlobReader:
    """Blob contents from one ``git cat-file --batch`` process (use as a context manager)."""

    def __init__(self, repo: Path) -> None:
        self._proc = subprocess.Popen(
            ["git", "-C", str(repo), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def read(self, blob_sha: str) -> bytes:
        """The content of one blob."""
        return self.read_many([blob_sha])[blob_sha]

    def read_many(self, blob_shas: Iterable[str]) -> dict[str, bytes]:
        """Contents of several blobs; requests are written in one go, answers read in order."""
        wanted = list(dict.fromkeys(blob_shas))
        stdin, stdout = self._pipes()
        result: dict[str, bytes] = {}
        # Interleave in slices so neither pipe buffer can fill up and deadlock.
        for start in range(0, len(wanted), 256):
            part = wanted[start:start + 256]
            stdin.write("".join(f"{sha}\n" for sha in part).encode())
            stdin.flush()
            for sha in part:
                header = stdout.readline().decode().split()
                if len(header) != 3:
                    raise ProjectError(f"git cat-file: object {sha} is missing")
                size = int(header[2])
                result[sha] = stdout.read(size)
                stdout.read(1)  # the newline after the content
        return result

    def _pipes(self) -> tuple[IO[bytes], IO[bytes]]:
        if self._proc.stdin is None or self._proc.stdout is None:  # pragma: no cover
            raise ProjectError("git cat-file is not running")
        return self._proc.stdin, self._proc.stdout

    def close(self) -> None:
        """Stop the git process."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Materialiser:
    """Keeps ``directory`` equal to a checkout of the last commit given to :meth:`checkout`.

    Only files that differ from the previous commit are written or removed, and emptied folders
    are pruned, so walking a history costs about the size of its diffs. Files the analyzers add
    (their caches) are left alone.
    """

    def __init__(self, reader: BlobReader, directory: Path) -> None:
        self.reader = reader
        self.directory = directory
        self.tree: dict[str, TreeEntry] = {}

    def checkout(self, tree: dict[str, TreeEntry]) -> list[str]:
        """Bring the directory to ``tree``; return the paths written."""
        gone = [p for p in self.tree if p not in tree]
        changed = [p for p, e in tree.items() if self.tree.get(p) != e]
        for path in gone:
            self._remove(path)
        contents = self.reader.read_many(tree[p].blob_sha for p in changed)
        for path in changed:
            self._write(path, tree[path], contents[tree[path].blob_sha])
        self.tree = dict(tree)
        return changed

    def _target(self, path: str) -> Path:
        parts = PurePosixPath(path).parts
        if not parts or any(part in ("..", "") for part in parts) or parts[0] == "/":
            raise ProjectError(f"refusing unsafe path in git tree: {path!r}")
        return self.directory.joinpath(*parts)

    def _remove(self, path: str) -> None:
        target = self._target(path)
        target.unlink(missing_ok=True)
        parent = target.parent
        while parent != self.directory and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent

    def _write(self, path: str, entry: TreeEntry, content: bytes) -> None:
        target = self._target(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        if entry.mode == _SYMLINK_MODE:
            target.symlink_to(content.decode("utf-8", "surrogateescape"))
            return
        target.write_bytes(content)
        target.chmod(_FILE_MODES[entry.mode])
