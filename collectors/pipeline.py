"""The collect pipeline: discover files once, run the analyzers concurrently, build a run.

:func:`collect` is pure with respect to the store: it returns a :class:`RunResult`; the
caller stores it with :meth:`storage.MetricStore.append_run`. One analyzer failing (missing,
timed out, crashed, unreadable output) marks that tool ``failed`` and the run ``partial``;
every other tool's results are kept. A run is ``failed`` only when no tool succeeded.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from collectors.aggregate import findings_from_pairs, findings_from_per_file
from collectors.base import Adapter, CollectOptions, ToolOutput, ToolSetup, stored_path
from collectors.cache import FileCache, PerFileResult, blob_sha
from collectors.discovery import discover_files, resolve_project, would_walk
from collectors.gitmeta import git_info
from collectors.registry import ADAPTERS, CATALOGUE
from collectors.runner import ToolFailed
from collectors.score import derived_metrics
from storage.errors import ProjectError
from storage.models import FindingRecord, RunRecord, RunResult, ToolRunRecord, Trigger

__all__ = ["ToolResult", "collect", "run_tool"]

Clock = Callable[[], datetime]
logger = logging.getLogger(__name__)

#: Start the usually slowest analyzers first, so that with fewer slots than tools the quick
#: ones fill the gaps instead of a slow one starting last (longest-processing-time order).
START_ORDER: tuple[str, ...] = ("bandit", "mypy", "complexity", "ruff", "coverage", "suppressions")


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(slots=True)
class ToolResult:
    """One tool's part of a run: its record, findings and metrics."""

    record: ToolRunRecord
    findings: list[FindingRecord] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)
    per_file: dict[str, PerFileResult] = field(default_factory=dict)


def _blob_shas(root: Path, files: Sequence[str]) -> dict[str, str]:
    shas: dict[str, str] = {}
    for path in files:
        try:
            shas[path] = blob_sha((root / path).read_bytes())
        except OSError:
            continue
    return shas


def run_tool(
    adapter: Adapter,
    root: Path,
    files: Sequence[str],
    options: CollectOptions,
    file_cache: FileCache | None = None,
) -> ToolResult:
    """Run one analyzer over ``files`` (relative to ``root``) and never raise for its failures.

    With ``file_cache`` (per-file tools only), files whose blob is cached for this tool,
    version and configuration are not analysed again; metrics and findings are aggregated
    from the per-file results of all files either way.
    """
    started = time.perf_counter()
    setup: ToolSetup | None = None
    command: tuple[str, ...] = ()
    try:
        setup = adapter.prepare(root, options)
        selected = adapter.select(setup, files)
        command = adapter.command(setup, selected)
        if adapter.per_file:
            return _run_per_file(adapter, setup, root, selected, options, file_cache, started)
        output = adapter.run(setup, root, selected, options)
    except ToolFailed as failure:
        reason = failure.reason
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OSError) as error:
        # output of an unexpected shape (or an unreadable file): this tool failed, not the run
        logger.warning("%s failed unexpectedly", adapter.name, exc_info=True)
        reason = f"unexpected {type(error).__name__} reading {adapter.name}'s results: {error}"[:300]
    else:
        return _project_result(adapter, setup, output, len(selected), started)
    return ToolResult(ToolRunRecord(
        tool=adapter.name, status="failed",
        tool_version=setup.version if setup else None,
        duration_s=time.perf_counter() - started, command=command, error=reason,
        config_hash=setup.config_hash if setup else None, files=len(files),
    ))


def _project_result(
    adapter: Adapter, setup: ToolSetup, output: ToolOutput, files: int, started: float
) -> ToolResult:
    record = ToolRunRecord(
        tool=adapter.name, status="skipped" if output.skipped else "succeeded",
        tool_version=setup.version, duration_s=time.perf_counter() - started,
        command=output.command, error=output.skipped or output.note, config_hash=setup.config_hash,
        files=0 if output.skipped else files,
    )
    pairs = [(stored_path(path), finding) for path, finding in output.findings]
    return ToolResult(record, findings_from_pairs(adapter.name, pairs), dict(output.measures))


def _run_per_file(
    adapter: Adapter,
    setup: ToolSetup,
    root: Path,
    files: Sequence[str],
    options: CollectOptions,
    file_cache: FileCache | None,
    started: float,
) -> ToolResult:
    per_file: dict[str, PerFileResult] = {}
    todo = list(files)
    cached = 0
    shas: dict[str, str] = {}
    if file_cache is not None and files:
        shas = _blob_shas(root, files)
        known = file_cache.get_many(adapter.name, setup.version, setup.config_hash, set(shas.values()))
        for path, sha in shas.items():
            if sha in known:
                per_file[path] = known[sha]
        todo = [path for path in files if path not in per_file]
        cached = len(per_file)
    if todo:
        fresh = _run_shards(adapter, setup, root, todo, options)
        per_file.update(fresh)
        if file_cache is not None:
            file_cache.put_many(adapter.name, setup.version, setup.config_hash,
                                {shas[p]: r for p, r in fresh.items() if p in shas})
    assert adapter.summarise is not None, f"per-file adapter {adapter.name} needs summarise"
    record = ToolRunRecord(
        tool=adapter.name, status="succeeded", tool_version=setup.version,
        duration_s=time.perf_counter() - started, command=adapter.command(setup, files),
        config_hash=setup.config_hash, files=len(files), cached_files=cached,
    )
    # Measures are floats (DOUBLE in the store), also where a tool's per-file numbers are ints.
    measures = {name: float(value) for name, value in adapter.summarise(per_file, options).items()}
    # a file name that is not UTF-8 is stored with its bad bytes escaped (see stored_path)
    shown = {stored_path(path): result for path, result in per_file.items()}
    return ToolResult(record, findings_from_per_file(adapter.name, shown), measures, per_file)


#: Fewer files than this are never split: a shard costs one more tool start-up.
MIN_SHARD_FILES = 8


def _shards(root: Path, files: list[str], count: int) -> list[list[str]]:
    """``files`` in ``count`` groups of similar total size (largest first into the lightest)."""
    sizes: dict[str, int] = {}
    for path in files:
        try:
            sizes[path] = (root / path).stat().st_size
        except OSError:
            sizes[path] = 0
    groups: list[list[str]] = [[] for _ in range(count)]
    loads = [0] * count
    for path in sorted(files, key=lambda p: (-sizes[p], p)):
        lightest = loads.index(min(loads))
        groups[lightest].append(path)
        loads[lightest] += sizes[path]
    return [sorted(group) for group in groups if group]


def _run_shards(
    adapter: Adapter, setup: ToolSetup, root: Path, files: list[str], options: CollectOptions
) -> dict[str, PerFileResult]:
    """Run a per-file tool on ``files``, split into shards run side by side when worthwhile.

    Exact because a per-file result depends only on its file; a failing shard fails the tool.
    """
    count = options.concurrency if adapter.name in options.shard_tools else 1
    count = min(count, len(files) // MIN_SHARD_FILES) or 1
    if count == 1:
        outputs = [adapter.run(setup, root, files, options)]
    else:
        groups = _shards(root, files, count)
        with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix=adapter.name) as pool:
            outputs = list(pool.map(lambda group: adapter.run(setup, root, group, options), groups))
    merged: dict[str, PerFileResult] = {}
    for output in outputs:
        merged.update(output.per_file)
    return {path: merged.get(path, PerFileResult()) for path in files}


def collect(
    path: Path,
    *,
    project: str | None,
    tools: Sequence[str],
    options: CollectOptions,
    trigger: Trigger = "manual",
    file_cache: FileCache | None = None,
    clock: Clock = _utcnow,
) -> RunResult:
    """Analyse the project at ``path`` with ``tools`` and return the run (not stored).

    Raises :class:`storage.errors.ProjectError` when the path is missing, outside the
    allowed roots, or a tool name is unknown; tool failures are results, not errors.
    """
    unknown = [t for t in tools if t not in ADAPTERS]
    if unknown:
        raise ProjectError(
            f"unknown tool {unknown[0]!r}: choose from {', '.join(ADAPTERS)}"
        )
    root = resolve_project(path, options.allowed_roots)
    started_at = clock()
    files = discover_files(root, options.excludes)
    chosen = list(dict.fromkeys(tools))
    if chosen == ["complexity"] or (len(chosen) == 2 and set(chosen) == {"complexity", "suppressions"}):
        # nothing else competes for the cores: let the worker use them all
        options = replace(options, complexity_jobs=options.concurrency)
    adapters = [ADAPTERS[name] for name in sorted(
        chosen, key=lambda n: START_ORDER.index(n) if n in START_ORDER else len(START_ORDER))]
    with ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="collect") as pool:
        futures = [pool.submit(run_tool, a, root, files, options, file_cache) for a in adapters]
        git = git_info(root, walked=lambda rel: would_walk(root, rel, options.excludes))
        by_name = {r.record.tool: r for r in (future.result() for future in futures)}
    results = [by_name[name] for name in chosen]
    measures: dict[str, float] = {}
    findings: list[FindingRecord] = []
    for result in results:
        if result.record.status == "succeeded":
            measures.update(result.measures)
            findings.extend(result.findings)
    if files:  # no code, no score: zero findings in no files is not a clean project
        measures.update(derived_metrics(measures))
    statuses = {r.record.status for r in results}
    if "succeeded" not in statuses:
        status = "failed" if "failed" in statuses else "succeeded"
    else:
        status = "partial" if "failed" in statuses else "succeeded"
    run = RunRecord(
        run_id=uuid.uuid4().hex,
        project=project or root.name,
        started_at=started_at,
        finished_at=clock(),
        status=status,  # type: ignore[arg-type]
        trigger=trigger,
        commit_sha=git.commit_sha if git else None,
        committed_at=git.committed_at if git else None,
        author=git.author if git else None,
        branch=git.branch if git else None,
        message=git.message if git else None,
        dirty=git.dirty if git else False,
        path=str(root),
    )
    return RunResult(run=run, tools=[r.record for r in results], measures=measures,
                     findings=findings, catalogue=list(CATALOGUE))
