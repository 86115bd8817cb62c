"""Which project may be analysed, and which of its files: the allow-list and file discovery.

A project path is resolved (symlinks followed) and must lie inside one of the allowed roots.
Discovery walks it once and returns one sorted list of relative POSIX paths that every
analyzer is given, so all tools see the same files.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess  # nosec B404
from collections.abc import Iterable, Sequence
from pathlib import Path

from collectors.runner import resolve_executable
from storage.errors import ProjectError

__all__ = ["SKIPPED_DIRS", "discover_files", "is_excluded", "resolve_project", "would_walk"]

#: Folder names never descended into (besides hidden folders and virtual environments).
SKIPPED_DIRS: frozenset[str] = frozenset(
    {"build", "dist", "node_modules", "__pycache__", "site-packages", "venv"}
)


def resolve_project(path: Path, allowed_roots: Sequence[Path]) -> Path:
    """The resolved project folder, or :class:`ProjectError` when missing or not allowed."""
    try:
        resolved = path.expanduser().resolve(strict=True)
    except (OSError, RuntimeError):
        raise ProjectError(f"project path {str(path)!r} does not exist") from None
    if not resolved.is_dir():
        raise ProjectError(f"project path {str(path)!r} is not a folder")
    roots = [Path(root).expanduser().resolve() for root in allowed_roots]
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        shown = ", ".join(str(root) for root in roots) or "(none)"
        raise ProjectError(
            f"project path {str(path)!r} resolves to {str(resolved)!r}, outside the allowed "
            f"roots ({shown}); add a root to allowed_roots (FLEXT_QUALITY_ALLOWED_ROOTS)"
        )
    return resolved


def is_excluded(relative: str, patterns: Iterable[str]) -> bool:
    """Whether a relative POSIX path matches a glob pattern.

    A pattern matches the path, one of its parent folders (``pkg/generated``), or any single
    name in it (``generated``, ``*_pb2.py``).
    """
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))] + parts
    return any(fnmatch.fnmatchcase(c, pattern) for pattern in patterns for c in candidates)


def _skip_dir(parent: Path, name: str) -> bool:
    if name.startswith(".") or name in SKIPPED_DIRS or name.endswith(".egg-info"):
        return True
    # a virtual environment under any name carries a pyvenv.cfg; a git submodule or a nested
    # repository (a `.git` file or folder) is another project, and no commit of this one holds
    # its files, so backfill would not see them either
    folder = parent / name
    return (folder / "pyvenv.cfg").is_file() or (folder / ".git").exists()


def would_walk(root: Path, relative: str, excludes: Sequence[str] = ()) -> bool:
    """Whether discovery looks at the path ``relative`` (POSIX, under ``root``): none of its
    folders is skipped or excluded, nor is the path itself. The path need not exist (a file
    just deleted), so the file's own name is not checked against ``.py``."""
    parts = relative.split("/")
    here = root
    for depth, name in enumerate(parts[:-1]):
        if _skip_dir(here, name) or is_excluded("/".join(parts[: depth + 1]), excludes):
            return False
        here = here / name
    return not parts[-1].startswith(".") or parts[-1] in (".bandit", ".coveragerc", ".gitignore",
                                                         ".ruff.toml", ".mypy.ini")


def discover_files(root: Path, excludes: Sequence[str] = ()) -> list[str]:
    """Python files under ``root`` as sorted relative POSIX paths.

    Skips hidden folders and files, virtual environments (a folder with ``pyvenv.cfg``, or
    named ``venv``), git submodules and nested repositories (a sub-folder with its own
    ``.git``), ``build/``, ``dist/``, ``node_modules/``, ``__pycache__``, ``*.egg-info``, paths
    matching ``excludes`` (globs against the relative path, a parent folder, or any name in the
    path) and, in a git working tree, what git ignores. Symlinked folders are not followed; a
    symlinked file is kept only when it points inside ``root`` (a symlink loop is skipped).
    """
    files: list[str] = []
    for current, dirnames, filenames in os.walk(root):
        here = Path(current)
        rel_dir = here.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            d for d in dirnames
            if not _skip_dir(here, d) and not is_excluded(rel_dir + d, excludes)
        )
        for name in filenames:
            if not name.endswith(".py") or name.startswith("."):
                continue
            relative = rel_dir + name
            if is_excluded(relative, excludes):
                continue
            full = here / name
            if full.is_symlink():
                try:
                    target = full.resolve()
                except (OSError, RuntimeError):  # a symlink loop: no file to analyse
                    continue
                if not target.is_relative_to(root) or not target.is_file():
                    continue
            files.append(relative)
    visible = _not_ignored_by_git(root)
    if visible is not None:
        files = [f for f in files if f in visible]
    return sorted(files)


def _not_ignored_by_git(root: Path) -> set[str] | None:
    """The files under ``root`` that git does not ignore (tracked, or untracked and not
    ignored), relative to ``root``; ``None`` outside a git working tree.

    A generated file or scratch folder listed in ``.gitignore`` is not the project's code:
    ruff skips it too, and no commit holds it, so ``backfill`` never sees it either. A project
    folder that is itself ignored by the repository around it (an unpacked archive in an
    ignored ``vendor/`` or scratch folder) is not filtered: git would list nothing in it, while
    ruff, run there by hand, applies only the patterns that match inside it.
    """
    git = resolve_executable("git", {})
    try:
        # run directly, not through run_process: file names come back as bytes, undecoded
        ignored = subprocess.run(  # nosec B603
            [*git, "check-ignore", "-q", "."], cwd=root, capture_output=True, timeout=60, check=False)
        if ignored.returncode != 1:  # 0: the folder is ignored; 128: not in a work tree
            return None
        done = subprocess.run(  # nosec B603
            [*git, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
            cwd=root, capture_output=True, timeout=120, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return {os.fsdecode(name) for name in done.stdout.split(b"\0") if name}
