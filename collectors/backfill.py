"""Git history backfill: one run per selected commit, analysed from git objects.

For each selected commit (oldest first) the commit is materialised into one temporary
directory that is updated incrementally (:class:`collectors.gitwalk.Materialiser`), the
regular collect pipeline runs on it with the content-addressed file cache, and the run is
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

import dataclasses
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from collectors.base import Adapter, CollectOptions
from collectors.cache import FileCache
from collectors.discovery import resolve_project
from collectors.gitwalk import (
    BlobReader,
    Commit,
    Every,
    Materialiser,
    list_commits,
    list_tree,
    repo_info,
    resolve_start,
)
from collectors.prewarm import ChunkCommit, layout_of, prewarm_chunk
from collectors.stored_cache import StoredFileCache
from storage.blob_cache import BlobCache
from storage.errors import FlextQualityError
from storage.models import RunRecord, RunResult, Trigger
from storage.store import MetricStore

__all__ = [
    "PER_FILE_TOOLS",
    "BackfillInterrupted",
    "BackfillProgress",
    "BackfillRequest",
    "BackfillSummary",
    "CollectFn",
    "backfill",
    "stored_commits",
]


logger = logging.getLogger(__name__)

#: Tools whose results are per file (cached and batched); the others run per commit.
PER_FILE_TOOLS: frozenset[str] = frozenset({"ruff", "bandit", "complexity", "suppressions"})


class CollectFn(Protocol):
    """The shape of ``collectors.pipeline.collect``, injectable for tests."""

    def __call__(
        self,
        path: Path,
        *,
        project: str | None,
        tools: Sequence[str],
        options: CollectOptions,
        trigger: Trigger = "manual",
        file_cache: FileCache | None = None,
    ) -> RunResult: ...


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    """What a progress display needs: once at the start, when a chunk's batch analysis starts
    (``activity`` says what runs), and after each stored run (``commit``, ``status``).

    ``done`` and ``total`` count this invocation's commits only: commits stored before are
    skipped and are in neither. ``work_s`` is the time this invocation spent on its ``done``
    commits, ``prepaid_s`` the batch analysis already done for commits still to come.
    """

    done: int
    total: int
    commit: Commit | None
    status: str | None
    files_analysed: int
    files_cached: int
    elapsed_s: float
    activity: str | None = None
    work_s: float = 0.0
    prepaid_s: float = 0.0

    @property
    def hit_rate(self) -> float:
        """Share of per-file results served from the cache so far."""
        seen = self.files_analysed + self.files_cached
        return self.files_cached / seen if seen else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at this invocation's pace (None until one of its commits is stored).

        A chunk's batch analysis is shared by the chunk's commits, so the first commit does
        not look as slow as the whole batch; the part of it that serves commits not yet
        analysed is already spent and is not counted again.
        """
        if self.done == 0:
            return None
        return max(self.work_s / self.done * (self.total - self.done) - self.prepaid_s, 0.0)


@dataclass(slots=True)
class BackfillSummary:
    """The outcome of one backfill."""

    project: str
    selected: int = 0
    skipped: int = 0
    stored: int = 0
    partial: int = 0
    failed: int = 0
    files_needed: int = 0
    files_analysed: int = 0
    files_cached: int = 0
    wall_s: float = 0.0
    run_ids: list[str] = field(default_factory=list)

    @property
    def hit_rate(self) -> float:
        """Share of per-file results served from the cache."""
        seen = self.files_analysed + self.files_cached
        return self.files_cached / seen if seen else 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``--format json``)."""
        data = dataclasses.asdict(self)
        data["hit_rate"] = round(self.hit_rate, 4)
        data["wall_s"] = round(self.wall_s, 3)
        return data


ProgressFn = Callable[[BackfillProgress], None]


class BackfillInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a backfill after its analysed runs were stored.

    ``summary`` counts what was stored. It is a :class:`KeyboardInterrupt`, not an error (the
    person asked to stop; nothing failed), so code that does not know it sees an interrupt.
    """

    def __init__(self, summary: BackfillSummary) -> None:
        super().__init__(f"interrupted after {summary.stored} stored runs")
        self.summary = summary


def stored_commits(store: MetricStore, project: str) -> set[str]:
    """Commit shas that already have a run for ``project``."""
    if not store.path.exists():
        return set()
    rows = store.fetch(
        "SELECT DISTINCT commit_sha FROM runs WHERE project = ? AND commit_sha IS NOT NULL",
        [project],
    )
    return {str(r[0]) for r in rows}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _as_backfill_run(
    result: RunResult, commit: Commit, *, branch: str | None, path: Path
) -> RunResult:
    run = dataclasses.replace(
        result.run,
        trigger="backfill",
        commit_sha=commit.sha,
        committed_at=commit.committed_at,
        author=commit.author,
        branch=branch,
        message=commit.subject,
        dirty=False,
        path=str(path),
    )
    return dataclasses.replace(result, run=run)


def _failed_run(project: str, commit: Commit, error: BaseException, started: datetime) -> RunResult:
    # A commit the pipeline could not handle at all still gets a row, so the Runs page shows
    # why it is missing and a rerun does not silently retry it forever (use --force for that).
    return RunResult(
        run=RunRecord(
            run_id=f"bf-{commit.sha[:12]}-{int(started.timestamp())}",
            project=project,
            started_at=started,
            finished_at=_now(),
            status="failed",
            trigger="backfill",
            commit_sha=commit.sha,
            committed_at=commit.committed_at,
            author=commit.author,
            message=f"{commit.subject} [backfill error: {error}]",
        )
    )


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    """What to backfill and how (the CLI flags, as plain values)."""

    project: str
    tools: tuple[str, ...]
    options: CollectOptions
    ref: str | None = None
    max_commits: int | None = None
    since: datetime | None = None
    every: Every | None = None
    force: bool = False
    chunk: int = 25
    coverage_dir: Path | None = None
    flush_s: float = 2.0

    def __post_init__(self) -> None:
        if self.chunk < 1:
            raise ValueError(f"chunk must be at least 1, got {self.chunk!r}")
        if self.max_commits is not None and self.max_commits < 1:
            raise ValueError(f"max_commits must be at least 1, got {self.max_commits!r}")
        if self.every not in (None, "day", "week", "month"):
            raise ValueError(f"every must be day, week or month, got {self.every!r}")


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
    context = _Context(
        info_root=info.root, prefix=info.prefix, branch=start.branch, path=path,
        store=store, request=request, collect=collect,
        cache=StoredFileCache(BlobCache(store)), options=_inner_options(request.options, workdir),
    )
    walk = _Walk(context, todo, summary, adapters, on_progress, on_stored, clock, started)
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


@dataclass(slots=True)
class _Analysed:
    """A commit's run waiting in the write buffer, with the pace figures at its analysis."""

    commit: Commit
    result: RunResult
    work_s: float
    prepaid_s: float


@dataclass(slots=True)
class _Walk:
    """The loop of one backfill: analyse chunk by chunk, buffer the runs, store them, report."""

    context: _Context
    todo: list[Commit]
    summary: BackfillSummary
    adapters: Sequence[Adapter]
    on_progress: ProgressFn | None
    on_stored: Callable[[int, Commit], None] | None
    clock: Callable[[], float]
    started: float
    began: float = field(init=False)
    buffer: list[_Analysed] = field(init=False, default_factory=list)
    buffered_since: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        # the pace counts from here: finding and listing the commits is not per-commit work
        self.began = self.clock()

    def report(self, done: int, item: _Analysed | None = None, activity: str | None = None) -> None:
        """Tell the progress display where the backfill is."""
        if self.on_progress is None:
            return
        summary = self.summary
        self.on_progress(BackfillProgress(
            done=done, total=len(self.todo), commit=item.commit if item else None,
            status=item.result.run.status if item else None,
            files_analysed=summary.files_analysed, files_cached=summary.files_cached,
            elapsed_s=self.clock() - self.started, activity=activity,
            work_s=item.work_s if item else 0.0, prepaid_s=item.prepaid_s if item else 0.0,
        ))

    def run(self, reader: BlobReader, workdir: Path) -> None:
        """Analyse and store every commit to do, oldest first."""
        checkout = workdir / "tree"
        checkout.mkdir()
        materialiser = Materialiser(reader, checkout)
        size = self.context.request.chunk
        for offset in range(0, len(self.todo), size):
            self._chunk(offset, self.todo[offset:offset + size], materialiser, workdir)
            self.flush()

    def _chunk(
        self, offset: int, commits: list[Commit], materialiser: Materialiser, workdir: Path
    ) -> None:
        ctx = self.context
        chunk_started = self.clock()
        if self.adapters:
            # the batch analysis of a chunk can take a while before its first run is stored
            span = f"s {offset + 1}-{offset + len(commits)}" if len(commits) > 1 else f" {offset + 1}"
            self.report(self.summary.stored, activity=f"analysing changed files of commit{span}")
        batch = [ChunkCommit(c.sha, list_tree(ctx.info_root, c.sha, ctx.prefix)) for c in commits]
        if self.adapters:
            self.summary.files_analysed += _prewarm_safely(
                materialiser.reader, batch, ctx.cache, self.adapters, ctx.options, workdir
            )
        # listing and batch analysis serve the whole chunk: each commit bears an equal share
        share = (self.clock() - chunk_started) / len(commits)
        for index, (commit, listed) in enumerate(zip(commits, batch, strict=True)):
            if not self.buffer:
                self.buffered_since = self.clock()
            result = _one_commit(commit, listed, materialiser, ctx)
            prepaid = share * (len(commits) - index - 1)
            now = self.clock()
            self.buffer.append(_Analysed(commit, result, now - self.began - prepaid, prepaid))
            if now - self.buffered_since >= ctx.request.flush_s:
                self.flush()

    def flush(self) -> None:
        """Store the buffered runs on one writer connection, each in its own transaction."""
        if not self.buffer:
            return
        # The buffer is emptied only once stored: an interrupt while storing leaves it for the
        # final flush, and storing a commit's run again replaces it rather than adding one.
        # A store that refused the runs is not asked again (it would only wait again).
        try:
            self.context.store.append_runs([item.result for item in self.buffer])
        except Exception:
            self.buffer.clear()
            raise
        runs, self.buffer = self.buffer, []
        first = self.summary.stored
        for item in runs:
            _count(item.result, self.summary)
        for number, item in enumerate(runs, start=first + 1):
            if self.on_stored is not None:
                self.on_stored(number, item.commit)
            self.report(number, item)


def _prewarm_safely(
    reader: BlobReader,
    batch: list[ChunkCommit],
    cache: StoredFileCache,
    adapters: Sequence[Adapter],
    options: CollectOptions,
    workdir: Path,
) -> int:
    """Prewarm a chunk; a failure only costs speed, since the pipeline then does the work."""
    try:
        return prewarm_chunk(reader, batch, cache, adapters=adapters, options=options, tmp_root=workdir)
    except (FlextQualityError, OSError, ValueError) as error:
        logger.warning("batched analysis of %d commits failed, analysing them one by one: %s",
                       len(batch), error)
        return 0


def _inner_options(options: CollectOptions, workdir: Path) -> CollectOptions:
    """Options for collecting the temporary checkout.

    The project itself was checked against the allowed roots; the checkout lives in our own
    temporary folder, which is therefore allowed too. Old commits' tests are never run. One
    incremental mypy cache serves every commit of this backfill, outside the checkout; it is
    removed with the checkout (mypy keys its cache by project path, and the checkout's path
    is new each time, so keeping it would only pile up).
    """
    return dataclasses.replace(
        options,
        coverage_run_tests=False,
        allowed_roots=(*options.allowed_roots, workdir),
        cache_dir=workdir / "cache",
    )


@dataclass(slots=True)
class _Context:
    info_root: Path
    prefix: str
    branch: str | None
    path: Path
    store: MetricStore
    request: BackfillRequest
    collect: CollectFn
    cache: StoredFileCache
    options: CollectOptions


_COVERAGE_COPY = ".flext-backfill-coverage"


def _commit_tools(
    commit: Commit, ctx: _Context, checkout: Path
) -> tuple[tuple[str, ...], CollectOptions]:
    """Tools and options for one commit.

    Coverage is never recomputed (old tests are not re-run): it comes from the commit's
    report in ``coverage_dir`` when there is one, else from a report committed in the tree,
    exactly as ``collect`` would read it; with neither it is ``skipped`` and its metrics are
    absent. A report from ``coverage_dir`` is copied into the checkout under a hidden name
    (coverage reads reports relative to the project) and removed by :func:`_drop_coverage_copy`.
    """
    tools = tuple(ctx.request.tools)
    folder = ctx.request.coverage_dir
    if folder is None or "coverage" not in tools:
        return tools, ctx.options
    for suffix in (".json", ".xml"):
        candidate = folder / f"{commit.sha}{suffix}"
        if candidate.is_file():
            copy = checkout / f"{_COVERAGE_COPY}{suffix}"
            shutil.copyfile(candidate, copy)
            return tools, dataclasses.replace(ctx.options, coverage_file=copy.name)
    return tools, ctx.options


def _drop_coverage_copy(checkout: Path) -> None:
    for suffix in (".json", ".xml"):
        (checkout / f"{_COVERAGE_COPY}{suffix}").unlink(missing_ok=True)


def _one_commit(
    commit: Commit, listed: ChunkCommit, materialiser: Materialiser, ctx: _Context
) -> RunResult:
    """Collect one commit's checkout; a failure becomes a ``failed`` run, never an exception."""
    begun = _now()
    try:
        materialiser.checkout(dict(listed.tree))
        ctx.cache.use_tree(*layout_of(listed.tree))
        tools, options = _commit_tools(commit, ctx, materialiser.directory)
        result = ctx.collect(
            materialiser.directory, project=ctx.request.project, tools=tools, options=options,
            trigger="backfill", file_cache=ctx.cache,
        )
        return _as_backfill_run(result, commit, branch=ctx.branch, path=ctx.path)
    except (FlextQualityError, OSError, ValueError) as error:
        return _failed_run(ctx.request.project, commit, error, begun)
    finally:
        _drop_coverage_copy(materialiser.directory)


def _count(result: RunResult, summary: BackfillSummary) -> None:
    """Add a stored run to the summary."""
    summary.stored += 1
    summary.run_ids.append(result.run.run_id)
    status = result.run.status
    if status == "partial":
        summary.partial += 1
    elif status == "failed":
        summary.failed += 1
    for tool in result.tools:
        if tool.tool in PER_FILE_TOOLS:
            summary.files_needed += tool.files
            summary.files_analysed += max(tool.files - tool.cached_files, 0)
    summary.files_cached = max(summary.files_needed - summary.files_analysed, 0)
