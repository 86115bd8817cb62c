"""Quality reports: what changed in a project over a day, week or month.

:func:`build_report` reads the store and returns a :class:`ProjectReport` (plain data);
:mod:`alerts.report_render` turns reports into Markdown (Slack), HTML (email), text or JSON.
The period ends at ``now`` and starts ``1``, ``7`` or ``30`` days before; changes compare the
newest value with the value at the start (the last point before the period, else the first
point inside it); a metric not measured inside the period has changed by 0. Whether a change
is better or worse follows the catalogue's direction (:func:`storage.models.judge_change`):
changes of ``neutral`` metrics (sizes) are shown as plain changes and are never regressions, and
a change that rounds to zero at the :data:`SHOWN_DIGITS` a report shows is no change at all
(neither better nor worse, never a regression).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import polars as pl

from storage.alert_store import load_alert_states, metric_directions, runs_between
from storage.models import judge_change
from storage.queries import new_and_fixed, series
from storage.store import MetricStore

__all__ = [
    "KEY_METRICS",
    "PERIODS",
    "SHOWN_DIGITS",
    "MetricLine",
    "Period",
    "ProjectReport",
    "Regression",
    "build_report",
    "rounds_to_zero",
    "sparkline",
]

Period = Literal["day", "week", "month"]
PERIODS: dict[str, timedelta] = {
    "day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30),
}
KEY_METRICS: tuple[str, ...] = (
    "quality.score", "ruff.issues", "mypy.errors", "bandit.issues.high", "bandit.issues",
    "coverage.line_percent", "complexity.cyclomatic.mean", "maintainability.mean", "size.loc",
)
#: Digits after the point that reports show for values and changes.
SHOWN_DIGITS = 2
_BARS = "▁▂▃▄▅▆▇█"
_MAX_SPARK = 24


def rounds_to_zero(change: float) -> bool:
    """True when ``change`` shows as zero at :data:`SHOWN_DIGITS` digits.

    Such a change is not judged: "4.01 (+0 (worse))" would call a change nobody can see a
    regression.
    """
    return round(change, SHOWN_DIGITS) == 0


def sparkline(values: list[float]) -> str:
    """A text sparkline (▁▂▃▄▅▆▇█) of at most 24 points; flat data gives a flat line."""
    if not values:
        return ""
    if len(values) > _MAX_SPARK:
        step = len(values) / _MAX_SPARK
        values = [values[int(i * step)] for i in range(_MAX_SPARK - 1)] + [values[-1]]
    low, high = min(values), max(values)
    if high == low:
        return _BARS[3] * len(values)
    return "".join(_BARS[round((v - low) / (high - low) * (len(_BARS) - 1))] for v in values)


@dataclass(frozen=True, slots=True)
class MetricLine:
    """One metric over the period.

    ``measured_at`` is the point time of the newest value (``end``); when it is not inside the
    period, the metric was not measured in it and ``change`` is 0. ``change`` is None when
    there is no earlier value (a new metric or project).
    """

    metric: str
    unit: str
    direction: str
    start: float | None
    end: float
    change: float | None
    spark: str
    measured_at: datetime | None = None

    @property
    def better(self) -> bool | None:
        """True if the change went the good way, False if the bad way; None if there is no
        change to judge (none, or one that rounds to zero at :data:`SHOWN_DIGITS`) or the
        metric has no good way (``neutral``)."""
        if self.change is None or rounds_to_zero(self.change):
            return None
        return judge_change(self.direction, self.change)


@dataclass(frozen=True, slots=True)
class Regression:
    """A step for the worse between two consecutive runs, with the commit that made it."""

    metric: str
    before: float
    after: float
    run_id: str
    commit_sha: str | None
    author: str | None
    message: str | None
    at: datetime

    @property
    def delta(self) -> float:
        """``after - before``."""
        return self.after - self.before


@dataclass(slots=True)
class ProjectReport:
    """Everything a report says about one project.

    ``runs`` counts the runs inside the period (``start``, ``end``]; ``first_run_at`` and
    ``last_run_at`` are the point times (commit time, else start time) of the first and last of
    them, None when the period has no run.
    """

    project: str
    period: str
    start: datetime
    end: datetime
    runs: int
    first_run_at: datetime | None = None
    last_run_at: datetime | None = None
    latest_run_id: str | None = None
    latest_commit: str | None = None
    metrics: list[MetricLine] = field(default_factory=list)
    gates: list[tuple[str, str, datetime | None]] = field(default_factory=list)
    new_findings: int = 0
    fixed_findings: int = 0
    top_new_rules: list[tuple[str, int]] = field(default_factory=list)
    top_new_files: list[tuple[str, int]] = field(default_factory=list)
    top_fixed_rules: list[tuple[str, int]] = field(default_factory=list)
    regressions: list[Regression] = field(default_factory=list)

    @property
    def score(self) -> MetricLine | None:
        """The quality score line, when the project has one."""
        return next((m for m in self.metrics if m.metric == "quality.score"), None)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "project": self.project, "period": self.period, "start": self.start.isoformat(),
            "end": self.end.isoformat(), "runs": self.runs,
            "first_run_at": self.first_run_at.isoformat() if self.first_run_at else None,
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
            "latest_run_id": self.latest_run_id,
            "latest_commit": self.latest_commit,
            "metrics": [
                {"metric": m.metric, "unit": m.unit, "direction": m.direction, "start": m.start,
                 "end": m.end, "change": m.change, "better": m.better, "sparkline": m.spark,
                 "measured_at": m.measured_at.isoformat() if m.measured_at else None}
                for m in self.metrics
            ],
            "gates": [{"gate": g, "state": s, "since": t.isoformat() if t else None}
                      for g, s, t in self.gates],
            "findings": {
                "new": self.new_findings, "fixed": self.fixed_findings,
                "top_new_rules": self.top_new_rules, "top_new_files": self.top_new_files,
                "top_fixed_rules": self.top_fixed_rules,
            },
            "regressions": [
                {"metric": r.metric, "before": r.before, "after": r.after, "delta": r.delta,
                 "run_id": r.run_id, "commit_sha": r.commit_sha, "author": r.author,
                 "message": r.message, "at": r.at.isoformat()}
                for r in self.regressions
            ],
        }


def _pick_metrics(available: set[str]) -> list[str]:
    chosen = [m for m in KEY_METRICS if m in available]
    extra = sorted(available - set(chosen))
    return chosen + extra[: max(0, 6 - len(chosen))]


# Metrics that move with others of the same run: listed only when those did not move too.
_SHADOWS: dict[str, tuple[str, ...]] = {
    "ruff.issues.fixable": ("ruff.issues",),
    "issues.per_kloc": ("ruff.issues", "mypy.errors", "bandit.issues"),
}


def _regressions(
    points: pl.DataFrame,
    runs: pl.DataFrame,
    directions: dict[str, tuple[str, str]],
    top: int,
    gated: Collection[str] = (),
) -> list[Regression]:
    """The biggest steps for the worse between consecutive runs.

    A step of a metric a gate watches comes first (it is what turns gates red), then the
    others; within each, by relative size, ``|change| / max(|before|, |after|, 1)``, so a
    5-point score drop outranks 5 more lint issues of 400, and coverage falling from 98 % to
    20 % is not outranked by lint going from 1 to 13. A step that only repeats another of
    the same run (more fixable issues, a higher density, beside more issues) is left out.
    """
    info = {r["run_id"]: r for r in runs.to_dicts()}
    found: list[tuple[bool, float, Regression]] = []
    for (metric,), frame in points.sort("ts").group_by(["metric"], maintain_order=True):
        direction = directions.get(str(metric), ("aim_low", ""))[0]
        rows = frame.to_dicts()
        for before, after in itertools.pairwise(rows):
            delta = after["value"] - before["value"]
            run = info.get(after["run_id"])
            if rounds_to_zero(delta) or judge_change(direction, delta) is not False or run is None:
                continue
            weight = abs(delta) / max(abs(before["value"]), abs(after["value"]), 1.0)
            found.append((str(metric) in gated, weight, Regression(
                str(metric), before["value"], after["value"], str(after["run_id"]),
                run["commit_sha"], run["author"], run["message"], after["ts"],
            )))
    found.sort(key=lambda item: (not item[0], -item[1]))
    listed = {(r.run_id, r.metric) for _, _, r in found}
    chosen = [r for is_gated, _, r in found
              if is_gated or not any((r.run_id, m) in listed for m in _SHADOWS.get(r.metric, ()))]
    return chosen[:top]


def _top(frame: pl.DataFrame, column: str, n: int = 5) -> list[tuple[str, int]]:
    return Counter(str(v) for v in frame[column].to_list()).most_common(n)


def build_report(
    store: MetricStore,
    project: str,
    *,
    period: Period,
    now: datetime,
    top: int = 5,
    gate_ids: Collection[str] | None = None,
    gated_metrics: Collection[str] = (),
) -> ProjectReport:
    """Build the report of ``project`` for the ``period`` ending at ``now``.

    ``gate_ids`` are the gates configured for the project (None: every stored gate state);
    states of gates removed from the configuration stay in the database but are not reported.
    ``gated_metrics``, the metrics those gates watch, lead the worst regressions.
    """
    start = now - PERIODS[period]
    runs = runs_between(store, project, start, now)
    before = runs_between(store, project, None, start)
    report = ProjectReport(project, period, start, now, runs=runs.height)
    if runs.height:
        report.first_run_at = runs.row(0, named=True)["point_ts"]
        report.last_run_at = runs.row(-1, named=True)["point_ts"]
    if runs.height == 0 and before.height == 0:
        return report
    latest = (runs if runs.height else before).row(-1, named=True)
    report.latest_run_id, report.latest_commit = latest["run_id"], latest["commit_sha"]
    directions = metric_directions(store)
    window_start = before.row(-1, named=True)["point_ts"] if before.height else start
    points = series(store, project, list(directions) or ["quality.score"], window_start, now,
                    granularity="raw")
    available = set(points["metric"].unique().to_list())
    if not directions:
        available = set()
    for metric in _pick_metrics(available):
        frame = points.filter(pl.col("metric") == metric)
        values = frame["value"].to_list()
        measured_at = frame["ts"][-1]
        direction, unit = directions.get(metric, ("aim_low", ""))
        if measured_at <= start:
            # Not measured in the period: its value at the start is its newest one, so the
            # change is 0 (not "new", which would hide that nothing was measured).
            first: float | None = values[-1]
        else:
            first = values[0] if len(values) > 1 else None
        report.metrics.append(MetricLine(
            metric, unit, direction, first, values[-1],
            None if first is None else values[-1] - first, sparkline(values), measured_at,
        ))
    report.gates = [(s.gate, s.state, s.since)
                    for s in sorted(load_alert_states(store, project).values(),
                                    key=lambda s: s.gate)
                    if gate_ids is None or s.gate in gate_ids]
    if runs.height:
        baseline = str(before.row(-1, named=True)["run_id"]) if before.height else None
        if baseline is None and runs.height > 1:
            baseline = str(runs.row(0, named=True)["run_id"])
        if baseline is not None and baseline != report.latest_run_id:
            new, fixed = new_and_fixed(store, str(report.latest_run_id), against=baseline)
            report.new_findings, report.fixed_findings = new.height, fixed.height
            report.top_new_rules = _top(new, "rule")
            report.top_new_files = _top(new, "path")
            report.top_fixed_rules = _top(fixed, "rule")
        in_period = points.filter(pl.col("run_id").is_in(
            [*runs["run_id"].to_list(), *before.tail(1)["run_id"].to_list()]))
        report.regressions = _regressions(in_period, pl.concat([before.tail(1), runs]),
                                          directions, top, gated_metrics)
    return report
