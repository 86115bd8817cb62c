"""The loop of one backfill: chunk by chunk, batch-analyse, check out, collect, buffer, store.

:func:`collectors.backfill.backfill` selects the commits and hands them to :class:`Walk`.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from collectors.backfill_types import (
    BackfillProgress,
    BackfillRequest,
    BackfillSummary,
    ChunkCommit,
    CollectFn,
    Pace,
    ProgressFn,
)
from collectors.base import Adapter, CollectOptions
from collectors.gitwalk import BlobReader, Commit, Materialiser, list_config_above, list_tree
from collectors.prewarm import layout_of, prewarm_chunk
from collectors.projectconfig import mark_repository_root
from collectors.stored_cache import StoredFileCache
from storage.errors import FlextQualityError
from storage.models import RunRecord, RunResult
from storage.store import MetricStore

__all__ = ["PER_FILE_TOOLS", "Walk", "WalkContext", "inner_options"]

logger = logging.getLogger(__name__)

#: Tools whose results are per file (cached and batched); the others run per commit.
PER_FILE_TOOLS: frozenset[str] = frozenset({"ruff", "bandit", "complexity", "suppressions"})


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


@dataclass(slots=True)
class WalkContext:
    info_root: Path
    prefix: str
    branch: str | None
    path: Path
    store: MetricStore
    request: BackfillRequest
    collect: CollectFn
    cache: StoredFileCache
    options: CollectOptions


@dataclass(slots=True)
class _Analysed:
    """A commit's run waiting in the write buffer, with the time left as of its analysis."""

    commit: Commit
    result: RunResult
    eta_s: float | None


@dataclass(slots=True)
class Walk:
    """The loop of one backfill: analyse chunk by chunk, buffer the runs, store them, report."""

    context: WalkContext
    todo: list[Commit]
    summary: BackfillSummary
    adapters: Sequence[Adapter]
    on_progress: ProgressFn | None
    on_stored: Callable[[int, Commit], None] | None
    clock: Callable[[], float]
    started: float
    pace: Pace = field(init=False)
    buffer: list[_Analysed] = field(init=False, default_factory=list)
    buffered_since: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.pace = Pace(len(self.todo), self.clock)

    def report(self, done: int, item: _Analysed | None = None, activity: str | None = None) -> None:
        """Tell the progress display where the backfill is.

        A stored run carries the estimate from its analysis; otherwise (a chunk's batch
        analysis starts) it is the last analysed commit's, which holds while the batch runs.
        """
        if self.on_progress is None:
            return
        summary = self.summary
        self.on_progress(BackfillProgress(
            done=done, total=len(self.todo), commit=item.commit if item else None,
            status=item.result.run.status if item else None,
            files_analysed=summary.files_analysed, files_cached=summary.files_cached,
            elapsed_s=self.clock() - self.started, activity=activity,
            eta_s=item.eta_s if item else self.pace.eta_s(),
        ))

    def run(self, reader: BlobReader, workdir: Path) -> None:
        """Analyse and store every commit to do, oldest first."""
        checkout = workdir / "tree"
        checkout.mkdir()
        # the checkout's top is the repository's root: the configuration search of
        # config_folders, ruff and mypy ends there, as in a real checkout
        mark_repository_root(checkout)
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
        batch = [
            ChunkCommit(c.sha, list_tree(ctx.info_root, c.sha, ctx.prefix), ctx.prefix,
                        list_config_above(ctx.info_root, c.sha, ctx.prefix))
            for c in commits
        ]
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
            eta = self.pace.analysed(prepaid_s=share * (len(commits) - index - 1))
            self.buffer.append(_Analysed(commit, result, eta))
            if self.clock() - self.buffered_since >= ctx.request.flush_s:
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


def inner_options(options: CollectOptions, workdir: Path) -> CollectOptions:
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


_COVERAGE_COPY = ".flext-backfill-coverage"


def _commit_tools(
    commit: Commit, ctx: WalkContext, checkout: Path
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
    commit: Commit, listed: ChunkCommit, materialiser: Materialiser, ctx: WalkContext
) -> RunResult:
    """Collect one commit's checkout; a failure becomes a ``failed`` run, never an exception.

    The checkout holds the project folder at its place in the repository, under the
    configuration files the commit has in the folders above it (a monorepo's root
    ``pyproject.toml``), which ruff and mypy read as in a real checkout of the commit.
    """
    begun = _now()
    project = materialiser.directory.joinpath(*PurePosixPath(listed.prefix).parts)
    try:
        materialiser.checkout(listed.checkout_tree())
        project.mkdir(parents=True, exist_ok=True)  # a commit may have emptied it
        ctx.cache.use_tree(*layout_of(listed.tree), listed.outer())
        tools, options = _commit_tools(commit, ctx, project)
        result = ctx.collect(
            project, project=ctx.request.project, tools=tools, options=options,
            trigger="backfill", file_cache=ctx.cache,
        )
        return _as_backfill_run(result, commit, branch=ctx.branch, path=ctx.path)
    except (FlextQualityError, OSError, ValueError) as error:
        return _failed_run(ctx.request.project, commit, error, begun)
    finally:
        _drop_coverage_copy(project)


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
