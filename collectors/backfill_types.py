"""The public shapes of a backfill: request, progress, summary, a chunk's commit, the interrupt."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from collectors.base import CollectOptions
from collectors.cache import FileCache
from collectors.gitwalk import Commit, Every, TreeEntry
from collectors.projectconfig import RUFF_CONFIG_NAMES, OuterConfig
from storage.models import RunResult, Trigger

__all__ = [
    "BackfillInterrupted",
    "BackfillProgress",
    "BackfillRequest",
    "BackfillSummary",
    "ChunkCommit",
    "CollectFn",
    "Pace",
    "ProgressFn",
]


@dataclass(frozen=True, slots=True)
class ChunkCommit:
    """One commit of a chunk: its sha and its files.

    ``tree`` holds the project folder's files, by path relative to it; ``prefix`` is that
    folder's path in the repository (``""`` at its root) and ``above`` the configuration
    files of the folders above it (:func:`collectors.gitwalk.list_config_above`), by
    repository-relative path.
    """

    sha: str
    tree: Mapping[str, TreeEntry]
    prefix: str = ""
    above: Mapping[str, TreeEntry] = field(default_factory=dict)

    def checkout_tree(self) -> dict[str, TreeEntry]:
        """Every file of a checkout of the commit, by repository-relative path."""
        if not self.prefix:
            return dict(self.tree)
        return {**self.above, **{f"{self.prefix}/{path}": entry for path, entry in self.tree.items()}}

    def outer(self) -> OuterConfig:
        """The ruff configuration above the project folder (for the keys of the ruff cache)."""
        ruff = {p: e for p, e in self.above.items() if PurePosixPath(p).name in RUFF_CONFIG_NAMES}
        return OuterConfig(self.prefix, {p: e.blob_sha for p, e in ruff.items()},
                           linked=any(e.mode == "120000" for e in ruff.values()))

    def above_files(self) -> dict[str, str]:
        """The regular configuration files above the project folder: ``{path: blob_sha}``."""
        return {p: e.blob_sha for p, e in self.above.items() if e.mode != "120000"}


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
    skipped and are in neither. ``eta_s`` is the time left (:meth:`Pace.eta_s`) as of the
    stored commit's analysis, or of the last analysed commit.
    """

    done: int
    total: int
    commit: Commit | None
    status: str | None
    files_analysed: int
    files_cached: int
    elapsed_s: float
    activity: str | None = None
    eta_s: float | None = None

    @property
    def hit_rate(self) -> float | None:
        """Share of per-file results served from the cache so far (None before any lookup)."""
        return _share(self.files_cached, self.files_analysed + self.files_cached)


@dataclass(slots=True)
class Pace:
    """This invocation's pace and the time it has left, on an injected ``clock``.

    Only this invocation's commits count: commits stored before are skipped and cost nothing.
    The first commit is left out of the pace, since it costs more than the others (it checks
    out the whole tree, mypy's cache is cold): extrapolated over the history it told several
    times the real time left. So there is no estimate until a second commit is analysed.
    A chunk's batch analysis is shared by its commits: the part already spent for commits
    still to come (``prepaid_s``) counts for them and is not counted again.
    """

    total: int
    clock: Callable[[], float]
    began: float = field(init=False)
    done: int = field(init=False, default=0)
    first_s: float = field(init=False, default=0.0)  # the first commit's time
    work_s: float = field(init=False, default=0.0)  # the time of the done commits
    prepaid_s: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        # the pace counts from here: finding and listing the commits is not per-commit work
        self.began = self.clock()

    def analysed(self, prepaid_s: float = 0.0) -> float | None:
        """Count one more analysed commit and return :meth:`eta_s`.

        ``prepaid_s`` is the batch analysis already done for the chunk's commits still to come.
        """
        self.done += 1
        self.prepaid_s = prepaid_s
        self.work_s = self.clock() - self.began - prepaid_s
        if self.done == 1:
            self.first_s = self.work_s
        return self.eta_s()

    def eta_s(self) -> float | None:
        """Seconds left as of the last analysed commit: None while there is no pace, 0 at the end."""
        if self.done >= self.total:
            return 0.0
        if self.done < 2:
            return None
        pace = (self.work_s - self.first_s) / (self.done - 1)
        return max(pace * (self.total - self.done) - self.prepaid_s, 0.0)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


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
    def hit_rate(self) -> float | None:
        """Share of per-file results served from the cache (None when none was looked up)."""
        return _share(self.files_cached, self.files_analysed + self.files_cached)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``--format json``)."""
        data = dataclasses.asdict(self)
        data["hit_rate"] = None if self.hit_rate is None else round(self.hit_rate, 4)
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
