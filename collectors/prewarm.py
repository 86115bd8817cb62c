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
  project's root configuration files beside them, one invocation per core (of near-equal
  bytes) per tool and configuration;
* layout-dependent tools (ruff, see :mod:`collectors.stored_cache`): one shard per commit that
  has misses, holding that commit's root configuration files, its ruff configuration files at
  any depth, its missing files, and an empty stand-in for every other folder and ``.py`` /
  ``.pyi`` file of the commit (isort's first-party detection looks up the *full* path of each
  imported module, ``INP001`` the ``__init__.py`` files), and one invocation per shard with
  the shard as working directory, as ``collect`` does.

A sub-folder project (a monorepo's) sits at its real place in the ruff shards and in the
``cfgN`` folders where setups are prepared, under the configuration files its commit has
above it, the top marked as the repository root, as in the checkout; commits are grouped by
those files too. bandit and complexity never read above the project folder.

A failed batch is not an error: those files are simply still missing from the cache and the
pipeline analyses them per commit (recording any tool failure in that commit's run).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from collectors.backfill_types import ChunkCommit
from collectors.base import Adapter, CollectOptions, ToolSetup
from collectors.cache import PerFileResult
from collectors.discovery import SKIPPED_DIRS, is_excluded
from collectors.gitwalk import BlobReader, TreeEntry
from collectors.projectconfig import mark_repository_root
from collectors.runner import ToolFailed
from collectors.stored_cache import (
    CONTEXT_TOOLS,
    StoredFileCache,
    context_files,
    context_stand_ins,
)

__all__ = [
    "ChunkCommit",
    "balanced_parts",
    "config_fingerprint",
    "discover_in_tree",
    "executable_paths",
    "layout_of",
    "prewarm_chunk",
]


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


def config_fingerprint(tree: Mapping[str, TreeEntry], above: Mapping[str, TreeEntry] | None = None) -> str:
    """A hash of the root configuration files: commits with equal ones share tool setups.

    ``above``: the configuration files above the project folder, which count too.
    """
    files = sorted(_root_files(tree).items())
    files += [(f"../{p}", f"{e.mode} {e.blob_sha}") for p, e in sorted((above or {}).items())]
    text = "\n".join(f"{p}\0{s}" for p, s in files)
    return hashlib.sha1(text.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()[:16]


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


def _project_tree(writer: _Writer, top: Path, prefix: str, above: Mapping[str, str]) -> Path:
    """A tree at ``top`` marked as a repository root, holding ``above``; its project folder.

    For a project at the repository root (``prefix`` empty) that is ``top`` itself.
    """
    mark_repository_root(top)
    writer.write(top, above)
    project = top.joinpath(*PurePosixPath(prefix).parts)
    project.mkdir(parents=True, exist_ok=True)
    return project


def _run_quietly(job: _Job) -> dict[str, PerFileResult]:
    if not job.files:
        return {}
    try:
        return job.adapter.run(job.setup, job.root, job.files, job.options).per_file
    except ToolFailed:
        return {}


@dataclass(slots=True)
class _Job:
    """One tool invocation of a prewarm: its files (under ``root``) and what they weigh."""

    adapter: Adapter
    setup: ToolSetup
    root: Path
    files: list[str]
    options: CollectOptions
    weight: int
    store: Callable[[dict[str, PerFileResult]], None]


def prewarm_chunk(
    reader: BlobReader,
    commits: Sequence[ChunkCommit],
    cache: StoredFileCache,
    *,
    adapters: Sequence[Adapter],
    options: CollectOptions,
    tmp_root: Path | None = None,
) -> int:
    """Fill ``cache`` for every per-file tool and commit of the chunk; return files analysed.

    Every tool invocation of the chunk (each per-file tool's batch in byte-balanced parts,
    each ruff shard) goes to one pool of ``options.concurrency`` workers, heaviest first, so
    the cores stay busy to the end instead of waiting for one tool's slowest part; results
    are stored in one write when all have finished, or on Ctrl-C those of the finished ones.
    """
    if not commits:
        return 0
    work = Path(tempfile.mkdtemp(prefix="flext-prewarm-", dir=tmp_root))
    planner = _Planner(_Writer(reader), cache, options, workers=max(1, options.concurrency))
    try:
        with ThreadPoolExecutor(max_workers=planner.workers) as pool, cache.deferred():
            running: list[tuple[_Job, Future[dict[str, PerFileResult]]]] = []

            def submit(jobs: list[_Job]) -> None:
                for job in sorted(jobs, key=lambda j: -j.weight):
                    running.append((job, pool.submit(_run_quietly, job)))

            analysed = stored = 0
            try:
                batches = planner.tool_batches(commits, adapters, work)
                # Batches of whole files first (the heavy ones), so they run while the
                # per-commit shards of the context tools are written.
                for batch in batches:
                    if batch.adapter.name not in CONTEXT_TOOLS:
                        submit(planner.plan_flat(batch))
                for batch in batches:
                    if batch.adapter.name in CONTEXT_TOOLS:
                        submit(planner.plan_by_commit(batch))
                for job, future in running:
                    job.store(future.result())
                    analysed += len(job.files)
                    stored += 1
            except KeyboardInterrupt:
                _keep_finished(pool, running[stored:])
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return analysed


def _keep_finished(
    pool: ThreadPoolExecutor, running: list[tuple[_Job, Future[dict[str, PerFileResult]]]]
) -> None:
    """On Ctrl-C, store the results of the jobs that finished; drop the jobs not started.

    The CLI has killed the running tools by then (:func:`collectors.runner.kill_all_processes`),
    so waiting for their threads is short; a killed tool gives no result, so what is stored
    is exact.
    """
    pool.shutdown(wait=True, cancel_futures=True)
    for job, future in running:
        if not future.cancelled() and future.exception() is None:
            job.store(future.result())


def _wanted(
    commit: ChunkCommit, adapter: Adapter, setup: ToolSetup, options: CollectOptions
) -> dict[str, str]:
    files = adapter.select(setup, discover_in_tree(commit.tree, options.excludes))
    return {path: commit.tree[path].blob_sha for path in files}


def balanced_parts(weights: Mapping[str, int], parts: int) -> list[list[str]]:
    """Split ``weights``' keys into at most ``parts`` lists of near-equal total weight.

    Largest first, each to the lightest list so far (the classic greedy schedule); lists come
    out heaviest first, each in sorted order.
    """
    bins: list[tuple[int, list[str]]] = [(0, []) for _ in range(max(1, parts))]
    for name in sorted(weights, key=lambda n: (-weights[n], n)):
        lightest = min(range(len(bins)), key=lambda i: bins[i][0])
        total, members = bins[lightest]
        members.append(name)
        bins[lightest] = (total + weights[name], members)
    filled = [(total, sorted(members)) for total, members in bins if members]
    return [members for _total, members in sorted(filled, key=lambda b: -b[0])]


@dataclass(frozen=True, slots=True)
class _ToolBatch:
    """One per-file tool over the commits of a chunk that share root configuration files."""

    adapter: Adapter
    setup: ToolSetup
    commits: Sequence[ChunkCommit]
    root: Path  # where this batch's trees are written
    root_files: Mapping[str, str]  # the group's root configuration files: path -> blob sha
    prefix: str = ""  # the project folder in the repository
    above: Mapping[str, str] = field(default_factory=dict)  # configuration above it: path -> sha


@dataclass(slots=True)
class _Planner:
    """Turns a chunk's tool batches into jobs, each missing result planned once."""

    writer: _Writer
    cache: StoredFileCache
    options: CollectOptions
    workers: int
    # (tool, version, config hash, cache key) already given to a job: commits whose root
    # files differ (a README edit) form separate groups, but share most blobs
    claimed: set[tuple[str, str, str, str]] = field(default_factory=set)

    def tool_batches(
        self, commits: Sequence[ChunkCommit], adapters: Sequence[Adapter], work: Path
    ) -> list[_ToolBatch]:
        """A batch per per-file tool and group of commits with equal root configuration."""
        groups: dict[tuple[str, str], list[ChunkCommit]] = {}
        for commit in commits:
            key = (commit.prefix, config_fingerprint(commit.tree, commit.above))
            groups.setdefault(key, []).append(commit)
        batches: list[_ToolBatch] = []
        for index, members in enumerate(groups.values()):
            first = members[0]
            root_files, above = _root_files(first.tree), first.above_files()
            # the project at its place under the configuration above it, as in the checkout
            config_dir = _project_tree(self.writer, work / f"cfg{index}", first.prefix, above)
            self.writer.write(config_dir, root_files)
            for adapter in adapters:
                if not adapter.per_file:
                    continue
                try:
                    setup = adapter.prepare(config_dir, self.options)
                except ToolFailed:
                    continue
                batches.append(_ToolBatch(adapter, setup, members, work / f"{adapter.name}{index}",
                                          root_files, first.prefix, above))
        return batches

    def _claim(self, batch: _ToolBatch, key: str) -> bool:
        """Give ``key`` of ``batch``'s tool to a job, unless an earlier job has it."""
        claim = (batch.adapter.name, batch.setup.version, batch.setup.config_hash, key)
        if claim in self.claimed:
            return False
        self.claimed.add(claim)
        return True

    def plan_flat(self, batch: _ToolBatch) -> list[_Job]:
        """Jobs for a layout-independent tool: the batch's missing blobs, split per core."""
        adapter, setup, cache = batch.adapter, batch.setup, self.cache
        # a layout-independent tool's key is the bare blob sha: one lookup for the whole chunk
        wanted: dict[str, str] = {}  # blob sha -> one path it has
        for commit in batch.commits:
            for path, sha in _wanted(commit, adapter, setup, self.options).items():
                wanted.setdefault(sha, path)
        known = cache.peek(adapter.name, setup.version, setup.config_hash, wanted)
        missing = {
            sha: path for sha, path in wanted.items()
            if sha not in known and self._claim(batch, sha)
        }
        if not missing:
            return []
        # versions of one path go to numbered shards so they can sit side by side
        shards: dict[str, int] = {}
        placed: dict[str, str] = {}  # path in the batch tree -> blob sha
        for sha, path in missing.items():
            shard = shards.get(path, 0)
            shards[path] = shard + 1
            placed[f"v{shard}/{path}"] = sha
        self.writer.write(batch.root, {**placed, **batch.root_files})
        # one invocation per core, of near-equal bytes: bandit spends ~0.06 s per file, so the
        # batch itself is worth splitting, and file sizes vary a lot
        sizes = {path: (batch.root / path).stat().st_size for path in placed}
        parts = max(1, min(self.workers, len(placed) // _MIN_PART))

        def store(results: dict[str, PerFileResult]) -> None:
            found = {placed[path]: result for path, result in results.items() if path in placed}
            cache.put_many(adapter.name, setup.version, setup.config_hash, found)

        return [
            _Job(adapter, setup, batch.root, files, self.options, sum(sizes[f] for f in files),
                 store)
            for files in balanced_parts(sizes, parts)
        ]

    def plan_by_commit(self, batch: _ToolBatch) -> list[_Job]:
        """Jobs for a layout-dependent tool: one shard per commit with missing results."""
        adapter, setup, cache = batch.adapter, batch.setup, self.cache
        jobs: list[_Job] = []
        for number, commit in enumerate(batch.commits):
            layout, executable, symlinks = layout_of(commit.tree)
            cache.use_tree(layout, executable, symlinks, commit.outer())
            wanted = _wanted(commit, adapter, setup, self.options)
            known = cache.peek(adapter.name, setup.version, setup.config_hash, wanted.values())
            todo: dict[str, str] = {}
            for path, sha in wanted.items():
                key = cache.key_for(adapter.name, sha)
                if key is not None and sha not in known and self._claim(batch, key):
                    todo[path] = sha
            if not todo:
                continue
            shard = _project_tree(self.writer, batch.root / f"c{number}", batch.prefix, batch.above)
            # the commit's whole module layout (empty stand-ins) and its ruff configuration
            # files: isort's first-party test looks up the full path of every imported module
            self.writer.write(
                shard, {**context_files(layout), **batch.root_files, **todo},
                context_stand_ins(layout), executable,
            )

            def store(results: dict[str, PerFileResult], tree: ChunkCommit = commit,
                      todo: dict[str, str] = todo) -> None:
                # keys depend on the commit's layout
                cache.use_tree(*layout_of(tree.tree), tree.outer())
                found = {todo[p]: r for p, r in results.items() if p in todo}
                cache.put_many(adapter.name, setup.version, setup.config_hash, found)

            weight = sum((shard / path).stat().st_size for path in todo)
            jobs.append(_Job(adapter, setup, shard, sorted(todo), self.options, weight, store))
        return jobs
