"""The public shapes of a backfill: request, progress, summary, and the interrupt."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from collectors.base import CollectOptions
from collectors.cache import FileCache
from collectors.gitwalk import Commit, Every
from storage.models import RunResult, Trigger

__all__ = [
    "BackfillInterrupted",
    "BackfillProgress",
    "BackfillRequest",
    "BackfillSummary",
    "CollectFn",
    "ProgressFn",
]


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
