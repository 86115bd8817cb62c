"""The database-backed :class:`collectors.cache.FileCache` used by backfill (and by collect).

:class:`StoredFileCache` puts :class:`storage.blob_cache.BlobCache` (bulk DuckDB reads and
writes of JSON texts) behind the pipeline's ``FileCache`` protocol, with an in-process memo of
decoded results so a long backfill never reads or decodes the same entry twice.

Context-dependent tools. A few ruff rules look beyond the file's bytes: ``INP001`` asks
whether the file's folder has an ``__init__.py``, isort's first-party detection (``I001``)
depends on which top-level modules the project has, and ``per-file-ignores`` depend on the
path. For such tools (``CONTEXT_TOOLS``) the key is not the bare blob sha but the blob sha
joined with a hash of that context (the file's path and executable bit, which of its
ancestor folders are packages, the project's top-level module names), set per commit with
:meth:`use_tree`. A blob that sits in two different contexts in the same commit is not
cached for that commit at all. So the cache stays exact, and it still serves a file
unchanged between commits unless its package layout changed.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from collectors.cache import PerFileResult, blob_sha
from storage.blob_cache import BlobCache, CacheStats

__all__ = ["CONTEXT_TOOLS", "StoredFileCache", "context_stand_ins", "layout_contexts"]

CONTEXT_TOOLS: frozenset[str] = frozenset({"ruff"})

# Where ruff looks for first-party modules by default (its `src` setting).
_SOURCE_ROOTS = ("", "src")


def _module_entries(paths: Iterable[str]) -> list[str]:
    """Module names directly under each source root, as folders (``name/``) or files."""
    names: set[str] = set()
    for path in paths:
        parts = PurePosixPath(path).parts
        for root in _SOURCE_ROOTS:
            rest = parts if not root else (parts[1:] if parts[:1] == (root,) else ())
            if len(rest) >= 2:
                names.add(str(PurePosixPath(root, rest[0])) + "/")
            elif len(rest) == 1:
                names.add(str(PurePosixPath(root, rest[0])))
    return sorted(names)


def _python(paths: Iterable[str]) -> list[str]:
    return sorted(p for p in paths if p.endswith((".py", ".pyi")))


def layout_contexts(paths: Iterable[str], executable: Iterable[str] = ()) -> dict[str, str]:
    """For each Python path, a short hash of what context-dependent rules may look at besides content.

    ``executable`` lists the paths with the executable bit (ruff's ``EXE`` rules look at it).
    """
    runnable = set(executable)
    all_paths = _python(paths)
    packages = {str(PurePosixPath(p).parent) for p in all_paths if PurePosixPath(p).name == "__init__.py"}
    modules = "\x1e".join(_module_entries(all_paths))
    contexts: dict[str, str] = {}
    for path in all_paths:
        pure = PurePosixPath(path)
        chain = "".join("1" if str(parent) in packages else "0" for parent in pure.parents)
        text = "\x1f".join((path, chain, modules, "x" if path in runnable else "-"))
        contexts[path] = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]
    return contexts


def context_stand_ins(paths: Iterable[str]) -> list[str]:
    """Empty files and folders (ending in ``/``) that reproduce a layout's context in a scratch tree."""
    python = _python(paths)
    inits = [p for p in python if PurePosixPath(p).name == "__init__.py"]
    return sorted({*inits, *_module_entries(python)})


class StoredFileCache:
    """A ``FileCache`` on the metric database, with a memo and per-commit layout context."""

    def __init__(self, blobs: BlobCache, *, memo_limit: int = 200_000) -> None:
        self.blobs = blobs
        self.memo_limit = memo_limit
        self._memo: dict[tuple[str, str, str, str], PerFileResult] = {}
        self._blob_key: dict[str, str] = {}
        self._ambiguous: set[str] = set()
        self.served = 0
        self.asked = 0

    @property
    def stats(self) -> CacheStats:
        """Database-level counts (hits served from the memo are in ``served``)."""
        return self.blobs.stats

    def use_tree(self, blob_paths: Mapping[str, str], executable: Iterable[str] = ()) -> None:
        """Set the layout of the commit being analysed: ``{path: blob_sha}`` and executable paths.

        Until it is called (e.g. a plain ``collect``), context tools are not cached at all,
        which is always exact.
        """
        contexts = layout_contexts(blob_paths, executable)
        keys: dict[str, set[str]] = {}
        for path in contexts:
            sha = blob_paths[path]
            keys.setdefault(sha, set()).add(f"{sha}:{contexts[path]}")
        self._blob_key = {sha: next(iter(k)) for sha, k in keys.items() if len(k) == 1}
        self._ambiguous = {sha for sha, k in keys.items() if len(k) > 1}

    def use_directory(self, root: Path, files: Iterable[str]) -> None:
        """Set the layout from a folder on disk (for ``collect`` of a working tree).

        ``files`` are the discovered Python files (relative POSIX paths); their blob shas are
        computed from their bytes, as git would.
        """
        layout: dict[str, str] = {}
        executable: list[str] = []
        for path in files:
            target = root / path
            try:
                layout[path] = blob_sha(target.read_bytes())
                if target.stat().st_mode & stat.S_IXUSR:
                    executable.append(path)
            except OSError:
                continue
        self.use_tree(layout, executable)

    def key_for(self, tool: str, sha: str) -> str | None:
        """The cache key of blob ``sha`` for ``tool`` in the current layout (None: not cached)."""
        if tool not in CONTEXT_TOOLS:
            return sha
        if sha in self._ambiguous:
            return None
        return self._blob_key.get(sha)

    def get_many(
        self, tool: str, tool_version: str, config_hash: str, blob_shas: Iterable[str]
    ) -> dict[str, PerFileResult]:
        """Known results by blob sha (the protocol's method)."""
        found: dict[str, PerFileResult] = {}
        to_read: dict[str, str] = {}
        for sha in dict.fromkeys(blob_shas):
            self.asked += 1
            key = self.key_for(tool, sha)
            if key is None:
                continue
            memo = self._memo.get((tool, tool_version, config_hash, key))
            if memo is not None:
                found[sha] = memo
            else:
                to_read[key] = sha
        if to_read:
            texts = self.blobs.get_many(tool, tool_version, config_hash, to_read)
            decoded = {key: PerFileResult.from_json(text) for key, text in texts.items()}
            self._remember(tool, tool_version, config_hash, decoded)
            for key, result in decoded.items():
                found[to_read[key]] = result
        self.served += len(found)
        return found

    def peek(
        self, tool: str, tool_version: str, config_hash: str, blob_shas: Iterable[str]
    ) -> set[str]:
        """Which of ``blob_shas`` are cached, without counting them as served (for prewarm)."""
        asked, served = self.asked, self.served
        known = set(self.get_many(tool, tool_version, config_hash, blob_shas))
        self.asked, self.served = asked, served
        return known

    def put_many(
        self, tool: str, tool_version: str, config_hash: str, results: Mapping[str, PerFileResult]
    ) -> None:
        """Store new results by blob sha (the protocol's method)."""
        fresh: dict[str, PerFileResult] = {}
        for sha, result in results.items():
            key = self.key_for(tool, sha)
            if key is not None and (tool, tool_version, config_hash, key) not in self._memo:
                fresh[key] = result
        if not fresh:
            return
        self.blobs.put_many(
            tool, tool_version, config_hash, {k: r.to_json() for k, r in fresh.items()}
        )
        self._remember(tool, tool_version, config_hash, fresh)

    def _remember(
        self, tool: str, tool_version: str, config_hash: str, results: Mapping[str, PerFileResult]
    ) -> None:
        if len(self._memo) + len(results) > self.memo_limit:
            self._memo.clear()
        for key, result in results.items():
            self._memo[(tool, tool_version, config_hash, key)] = result
