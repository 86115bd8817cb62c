"""Git history backfill: one run per selected commit, analysed from git objects.

For each selected commit (oldest first) the commit is materialised into one temporary
directory that is updated incrementally (:class:`collectors.gitwalk.Materialiser`): the
project folder at its place in the repository, under the configuration files the commit has
in the folders above it (a monorepo's root ``pyproject.toml``), the top marked as the
repository root. The regular collect pipeline runs on the project folder there with the
content-addressed file cache, so ruff and mypy read the configuration they read in a real
checkout, and the run is
stored with the commit's sha and time and ``trigger = backfill`` in its own transaction.
Finished runs are written every ``flush_s`` seconds (and at the end of each chunk) on one
writer connection, since opening the database per run cost more than storing it; Ctrl-C or
SIGTERM writes the buffered runs first and then raises :class:`BackfillInterrupted`, which
carries the counts so far, and a hard kill loses at most the last ``flush_s`` seconds of
analysis. A rerun resumes after the stored commits: commits already stored for the project
are skipped unless ``force``.

Exactness comes from running the *same* pipeline on a faithful checkout: per-file results may
come from the cache, whose keys hold everything a result depends on (for ruff also the file's
place in the package layout, see :mod:`collectors.stored_cache`), and the prewarm step
(:mod:`collectors.prewarm`) that batches the changed files of many commits into few tool
invocations fills it with exactly what the pipeline would have computed.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from collectors.backfill_types import (
    BackfillInterrupted,
    BackfillProgress,
    BackfillRequest,
    BackfillSummary,
    CollectFn,
    ProgressFn,
)
from collectors.backfill_walk import PER_FILE_TOOLS, Walk, WalkContext, inner_options
from collectors.base import Adapter
from collectors.discovery import resolve_project
from collectors.gitwalk import BlobReader, Commit, list_commits, repo_info, resolve_start
from collectors.stored_cache import StoredFileCache
from storage.blob_cache import BlobCache
from storage.store import MetricStore

__all__ = [
    "PER_FILE_TOOLS",
    "BackfillInterrupted",
    "BackfillProgress",
    "BackfillRequest",
    "BackfillSummary",
    "CollectFn",
    "ProgressFn",
    "backfill",
    "stored_commits",
]


logger = logging.getLogger(__name__)


def stored_commits(store: MetricStore, project: str) -> set[str]:
    """Commit shas that already have a clean run for ``project`` (a dirty tree's run is not one)."""
    if not store.path.exists():
        return set()
    rows = store.fetch(
        "SELECT DISTINCT commit_sha FROM runs WHERE project = ? AND commit_sha IS NOT NULL "
        "AND NOT dirty",
        [project],
    )
    return {str(r[0]) for r in rows}


def backfill(
    path: Path,
    request: BackfillRequest,
    *,
    store: MetricStore,
    collect: CollectFn,
    adapters: Sequence[Adapter] = (),
    on_progress: ProgressFn | None = None,
    on_stored: Callable[[int, Commit], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    tmp_root: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> BackfillSummary:
    """Analyse the selected commits of ``path`` and store one run per commit.

    ``adapters`` are the per-file analyzers whose work is batched per chunk of commits
    (:func:`collectors.prewarm.prewarm_chunk`); leave empty to analyse commit by commit.
    ``on_stored(n, commit)`` is called after the n-th run is committed to the store.
    ``on_warning`` receives one-line warnings about the whole backfill (a shallow clone's
    missing history); without it they are logged. An interrupt stores the analysed runs and
    raises :class:`BackfillInterrupted`.
    """
    started = clock()
    path = resolve_project(path, request.options.allowed_roots)
    info = repo_info(path)
    start = resolve_start(info.root, request.ref)
    if info.shallow:
        (on_warning or logger.warning)(
            f"{info.root} is a shallow clone: commits before its shallow boundary are missing "
            f"and are not backfilled; run `git -C {info.root} fetch --unshallow`, then this "
            "backfill again, to add them (stored commits are skipped)"
        )
    commits = list_commits(
        info.root, ref=start.sha, max_commits=request.max_commits,
        since=request.since, every=request.every, prefix=info.prefix,
    )
    summary = BackfillSummary(project=request.project, selected=len(commits))
    done = set() if request.force else stored_commits(store, request.project)
    todo = [c for c in commits if c.sha not in done]
    summary.skipped = len(commits) - len(todo)
    workdir = Path(tempfile.mkdtemp(prefix="flext-backfill-", dir=tmp_root))
    context = WalkContext(
        info_root=info.root, prefix=info.prefix, branch=start.branch, path=path,
        store=store, request=request, collect=collect,
        cache=StoredFileCache(BlobCache(store)), options=inner_options(request.options, workdir),
    )
    walk = Walk(context, todo, summary, adapters, on_progress, on_stored, clock, started)
    try:
        walk.report(0)
        with BlobReader(info.root) as reader:
            walk.run(reader, workdir)
    except KeyboardInterrupt as interrupt:
        walk.flush()  # the runs already analysed are kept
        summary.wall_s = clock() - started
        raise BackfillInterrupted(summary) from interrupt
    finally:
        try:
            walk.flush()  # also after an error: analysed runs are kept
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    summary.wall_s = clock() - started
    return summary
