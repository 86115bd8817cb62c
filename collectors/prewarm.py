"""Batching the changed files of many commits into few tool invocations (backfill's speed).

Per-process start-up dominates ruff and radon on small inputs, so analysing each commit's few
changed files in its own tool call wastes most of the time. Before a chunk of commits is
collected, :func:`prewarm_chunk` finds the per-file results the cache lacks for any commit of
the chunk, analyses each missing one once, and stores it; the regular pipeline then finds
every per-file result in the cache and only runs the project-wide tools.

Exactness: results are computed by the adapters' own ``prepare`` and ``run`` (same argv, same
parser) on a tree that reproduces what the result can depend on:

* layout-independent tools (bandit, complexity): the chunk's distinct missing blobs at their
  real relative paths (several versions of one path go to numbered shard folders), the
  project's root configuration files beside them, one invocation per tool and configuration;
* layout-dependent tools (ruff, see :mod:`collectors.stored_cache`): one shard per commit that
  has misses, holding that commit's root configuration files, its ruff configuration files at
  any depth, its missing files, and an empty stand-in for every other folder and ``.py`` /
  ``.pyi`` file of the commit (isort's first-party detection looks up the *full* path of each
  imported module, ``INP001`` the ``__init__.py`` files), and one invocation per shard with
  the shard as working directory, as ``collect`` does.

A failed batch is not an error: those files are simply still missing from the cache and the
pipeline analyses them per commit (recording any tool failure in that commit's run).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from collectors.base import Adapter, CollectOptions, ToolSetup
from collectors.cache import PerFileResult
from collectors.discovery import SKIPPED_DIRS, is_excluded
from collectors.gitwalk import BlobReader, TreeEntry
from collectors.runner import ToolFailed
from collectors.stored_cache import (
    CONTEXT_TOOLS,
    StoredFileCache,
    context_files,
    context_stand_ins,
)

__all__ = [
    "ChunkCommit",
    "config_fingerprint",
    "discover_in_tree",
    "executable_paths",
    "layout_of",
    "prewarm_chunk",
]


@dataclass(frozen=True, slots=True)
class ChunkCommit:
    """One commit of a chunk: its sha and its files."""

    sha: str
    tree: Mapping[str, TreeEntry]


# Fewer files than this per invocation and start-up costs more than the parallelism gains.
_MIN_PART = 20


def _hidden_or_skipped(part: str) -> bool:
    return part.startswith(".") or part in SKIPPED_DIRS or part.endswith(".egg-info")


def discover_in_tree(tree: Mapping[str, TreeEntry], excludes: Sequence[str] = ()) -> list[str]:
    """The files ``collectors.discovery.discover_files`` would pick in a checkout of ``tree``.

    Regular ``.py`` files only: symlinks are left to the pipeline (a miss costs time, not
    exactness).
    """
    venvs = {str(PurePosixPath(p).parent) for p in tree if PurePosixPath(p).name == "pyvenv.cfg"}
    picked: list[str] = []
    for path, entry in tree.items():
        pure = PurePosixPath(path)
        if entry.mode == "120000" or pure.suffix != ".py" or pure.name.startswith("."):
            continue
        folders = pure.parts[:-1]
        if any(_hidden_or_skipped(part) for part in folders):
            continue
        if any(str(PurePosixPath(*folders[: i + 1])) in venvs for i in range(len(folders))):
            continue
        if excludes and is_excluded(path, excludes):
            continue
        picked.append(path)
    return sorted(picked)


def _root_files(tree: Mapping[str, TreeEntry]) -> dict[str, str]:
    """Root-level non-Python files (where configuration lives): ``{name: blob_sha}``."""
    return {
        p: e.blob_sha for p, e in tree.items()
        if "/" not in p and not p.endswith(".py") and e.mode != "120000"
    }


def executable_paths(tree: Mapping[str, TreeEntry]) -> frozenset[str]:
    """Paths with the executable bit in ``tree``."""
    return frozenset(p for p, e in tree.items() if e.mode == "100755")


def layout_of(
    tree: Mapping[str, TreeEntry],
) -> tuple[dict[str, str], frozenset[str], frozenset[str]]:
    """The arguments of :meth:`StoredFileCache.use_tree` for ``tree``: files, executables, symlinks."""
    symlinks = frozenset(p for p, e in tree.items() if e.mode == "120000")
    return {p: e.blob_sha for p, e in tree.items()}, executable_paths(tree), symlinks


def config_fingerprint(tree: Mapping[str, TreeEntry]) -> str:
    """A hash of the root configuration files: commits with equal ones share tool setups."""
    text = "\n".join(f"{p}\0{s}" for p, s in sorted(_root_files(tree).items()))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


class _Writer:
    """Writes blobs into prewarm trees."""

    def __init__(self, reader: BlobReader) -> None:
        self.reader = reader

    def write(
        self,
        root: Path,
        files: Mapping[str, str],
        empty: Sequence[str] = (),
        executable: frozenset[str] = frozenset(),
    ) -> None:
        contents = self.reader.read_many(files.values())
        for path, sha in files.items():
            target = root.joinpath(*PurePosixPath(path).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(contents[sha])
            target.chmod(0o755 if path in executable else 0o644)
        for path in empty:
            target = root.joinpath(*PurePosixPath(path).parts)
            if path.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
            elif not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()


def _run_quietly(
    adapter: Adapter, setup: ToolSetup, root: Path, files: Sequence[str], options: CollectOptions
) -> dict[str, PerFileResult]:
    if not files:
        return {}
    try:
        return adapter.run(setup, root, files, options).per_file
    except ToolFailed:
        return {}


def prewarm_chunk(
    reader: BlobReader,
    commits: Sequence[ChunkCommit],
    cache: StoredFileCache,
    *,
    adapters: Sequence[Adapter],
    options: CollectOptions,
    tmp_root: Path | None = None,
) -> int:
    """Fill ``cache`` for every per-file tool and commit of the chunk; return files analysed."""
    if not commits:
        return 0
    analysed = 0
    writer = _Writer(reader)
    work = Path(tempfile.mkdtemp(prefix="flext-prewarm-", dir=tmp_root))
    try:
        groups: dict[str, list[ChunkCommit]] = {}
        for commit in commits:
            groups.setdefault(config_fingerprint(commit.tree), []).append(commit)
        for index, (_fingerprint, members) in enumerate(groups.items()):
            config_dir = work / f"cfg{index}"
            config_dir.mkdir()
            root_files = _root_files(members[0].tree)
            writer.write(config_dir, root_files)
            for adapter in adapters:
                if not adapter.per_file:
                    continue
                try:
                    setup = adapter.prepare(config_dir, options)
                except ToolFailed:
                    continue
                if adapter.name in CONTEXT_TOOLS:
                    analysed += _prewarm_by_commit(
                        writer, members, cache, adapter, setup, options, work / f"ctx{index}",
                        root_files,
                    )
                else:
                    analysed += _prewarm_flat(
                        writer, members, cache, adapter, setup, options, work / f"flat{index}",
                        root_files,
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return analysed


def _wanted(
    commit: ChunkCommit, adapter: Adapter, setup: ToolSetup, options: CollectOptions
) -> dict[str, str]:
    files = adapter.select(setup, discover_in_tree(commit.tree, options.excludes))
    return {path: commit.tree[path].blob_sha for path in files}


def _prewarm_flat(
    writer: _Writer,
    commits: Sequence[ChunkCommit],
    cache: StoredFileCache,
    adapter: Adapter,
    setup: ToolSetup,
    options: CollectOptions,
    root: Path,
    root_files: Mapping[str, str],
) -> int:
    missing: dict[str, str] = {}  # blob sha -> one path it has
    for commit in commits:
        wanted = _wanted(commit, adapter, setup, options)
        cache.use_tree(*layout_of(commit.tree))
        known = cache.peek(adapter.name, setup.version, setup.config_hash, wanted.values())
        for path, sha in wanted.items():
            if sha not in known and sha not in missing:
                missing[sha] = path
    if not missing:
        return 0
    # versions of one path go to numbered shards so they can sit side by side
    shards: dict[str, int] = {}
    placed: dict[str, str] = {}  # path in the batch tree -> blob sha
    for sha, path in missing.items():
        shard = shards.get(path, 0)
        shards[path] = shard + 1
        placed[f"v{shard}/{path}"] = sha
    writer.write(root, {**placed, **root_files})
    # one invocation per core: bandit spends ~0.1 s per file, so the batch itself is worth splitting
    ordered = sorted(placed)
    parts = max(1, min(options.concurrency, len(ordered) // _MIN_PART))
    slices = [ordered[i::parts] for i in range(parts)]
    with ThreadPoolExecutor(max_workers=parts) as pool:
        outputs = list(pool.map(lambda files: _run_quietly(adapter, setup, root, files, options), slices))
    found = {
        placed[path]: result
        for results in outputs for path, result in results.items() if path in placed
    }
    cache.put_many(adapter.name, setup.version, setup.config_hash, found)
    return len(placed)


def _prewarm_by_commit(
    writer: _Writer,
    commits: Sequence[ChunkCommit],
    cache: StoredFileCache,
    adapter: Adapter,
    setup: ToolSetup,
    options: CollectOptions,
    root: Path,
    root_files: Mapping[str, str],
) -> int:
    seen: set[str] = set()
    jobs: list[tuple[ChunkCommit, Path, dict[str, str]]] = []
    for number, commit in enumerate(commits):
        layout, executable, symlinks = layout_of(commit.tree)
        cache.use_tree(layout, executable, symlinks)
        wanted = _wanted(commit, adapter, setup, options)
        known = cache.peek(adapter.name, setup.version, setup.config_hash, wanted.values())
        todo: dict[str, str] = {}
        for path, sha in wanted.items():
            key = cache.key_for(adapter.name, sha)
            if key is None or sha in known or key in seen:
                continue
            seen.add(key)
            todo[path] = sha
        if not todo:
            continue
        shard = root / f"c{number}"
        # the commit's whole module layout (empty stand-ins) and its ruff configuration files:
        # isort's first-party test looks up the full path of every imported module
        writer.write(
            shard, {**context_files(layout), **root_files, **todo}, context_stand_ins(layout),
            executable,
        )
        jobs.append((commit, shard, todo))
    if not jobs:
        return 0

    def run(job: tuple[ChunkCommit, Path, dict[str, str]]) -> dict[str, PerFileResult]:
        _commit, shard, todo = job
        return _run_quietly(adapter, setup, shard, sorted(todo), options)

    with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
        outputs = list(pool.map(run, jobs))
    for (commit, _shard, todo), results in zip(jobs, outputs, strict=True):
        cache.use_tree(*layout_of(commit.tree))
        found = {todo[p]: r for p, r in results.items() if p in todo}
        cache.put_many(adapter.name, setup.version, setup.config_hash, found)
    return sum(len(todo) for _c, _s, todo in jobs)
