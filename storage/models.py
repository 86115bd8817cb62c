"""Plain records that flow from the collectors into the store.

They carry no behaviour beyond validation: the store turns them into rows, the collectors
build them from tool output. Timestamps are naive UTC ``datetime`` values throughout.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "AGGREGATIONS",
    "DIRECTIONS",
    "RUN_STATUSES",
    "TOOL_STATUSES",
    "TRIGGERS",
    "Direction",
    "FindingRecord",
    "MetricSpec",
    "RunRecord",
    "RunResult",
    "ToolRunRecord",
    "finding_fingerprint",
    "judge_change",
]

RunStatus = Literal["succeeded", "partial", "failed"]
ToolStatus = Literal["succeeded", "failed", "skipped"]
Trigger = Literal["manual", "scheduled", "backfill", "ci"]
# Which way a metric should move: down (issues), up (coverage, score), or neither ("neutral":
# counts of things such as lines or files, whose growth is neither good nor bad).
Direction = Literal["aim_low", "aim_high", "neutral"]
Aggregation = Literal["sum", "mean", "max", "min", "last"]

RUN_STATUSES: tuple[str, ...] = ("succeeded", "partial", "failed")
TOOL_STATUSES: tuple[str, ...] = ("succeeded", "failed", "skipped")
TRIGGERS: tuple[str, ...] = ("manual", "scheduled", "backfill", "ci")
DIRECTIONS: tuple[str, ...] = ("aim_low", "aim_high", "neutral")
AGGREGATIONS: tuple[str, ...] = ("sum", "mean", "max", "min", "last")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One entry of the metric catalogue: what a metric means and which way is good.

    ``direction`` is ``aim_low``, ``aim_high`` or ``neutral`` (no way is good: size, counts).
    """

    name: str
    unit: str
    direction: Direction
    aggregation: Aggregation
    description: str
    tool: str = ""

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(
                f"aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}"
            )


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One analysis of one project at one commit (or working tree)."""

    run_id: str
    project: str
    started_at: datetime
    finished_at: datetime
    status: RunStatus
    trigger: Trigger = "manual"
    commit_sha: str | None = None
    committed_at: datetime | None = None
    author: str | None = None
    branch: str | None = None
    message: str | None = None
    dirty: bool = False
    path: str | None = None

    def __post_init__(self) -> None:
        if self.status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {RUN_STATUSES}, got {self.status!r}")
        if self.trigger not in TRIGGERS:
            raise ValueError(f"trigger must be one of {TRIGGERS}, got {self.trigger!r}")

    @property
    def point_time(self) -> datetime:
        """The time of this run's measures: the commit time for git projects, else the start.

        A dirty working tree is not the commit: its measures are at the run's start.
        """
        return self.committed_at if self.committed_at is not None and not self.dirty else self.started_at


@dataclass(frozen=True, slots=True)
class ToolRunRecord:
    """How one analyzer fared in one run: status, version, the exact argv and any error."""

    tool: str
    status: ToolStatus
    tool_version: str | None = None
    duration_s: float = 0.0
    command: tuple[str, ...] = ()
    error: str | None = None
    config_hash: str | None = None
    files: int = 0
    cached_files: int = 0

    def __post_init__(self) -> None:
        if self.status not in TOOL_STATUSES:
            raise ValueError(f"status must be one of {TOOL_STATUSES}, got {self.status!r}")


@dataclass(frozen=True, slots=True)
class FindingRecord:
    """One problem a tool reported, with a fingerprint that survives line shifts."""

    tool: str
    rule: str
    severity: str
    path: str
    line: int | None
    col: int | None
    message: str
    fingerprint: str
    confidence: str | None = None


@dataclass(slots=True)
class RunResult:
    """Everything one run produced, ready for :meth:`storage.MetricStore.append_run`."""

    run: RunRecord
    tools: list[ToolRunRecord] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)
    findings: list[FindingRecord] = field(default_factory=list)
    catalogue: list[MetricSpec] = field(default_factory=list)


def judge_change(direction: str, delta: float) -> bool | None:
    """Whether a change of ``delta`` in a metric aiming ``direction`` is for the better.

    True for the better, False for the worse, None for neither: no change, a ``neutral``
    metric (code growing is not a regression), or a direction this version does not know.
    Reports, gates and the dashboard all judge changes through this one rule.
    """
    if not delta or direction not in ("aim_low", "aim_high"):
        return None
    return (delta > 0) == (direction == "aim_high")


def finding_fingerprint(tool: str, rule: str, path: str, anchor: str, occurrence: int = 0) -> str:
    """A stable id for a finding: tool, rule, path and a line-independent anchor.

    ``anchor`` is the normalised source line (or the message when there is no line);
    ``occurrence`` tells apart identical findings on identical lines of one file.
    """
    normalised = " ".join(anchor.split())
    key = "\x1f".join((tool, rule, path, normalised, str(occurrence)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
