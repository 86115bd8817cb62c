"""A deterministic generator of realistic metric histories, for tests, benchmarks and demos.

``generate(projects=N, metrics=M, days=T, seed=42)`` gives one run per project per day with M
measures each: counts that drift as random walks (never below zero), percentages that wander
inside 0-100, complexity means near 3-6, and a composite score. Related metrics hold together
as the analyzers would report them: counts are whole, ``bandit.issues`` is the sum of its three
severities, fixable ruff issues and source lines never exceed their totals. Same seed, same data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

__all__ = ["DEMO_METRICS", "DemoData", "generate"]

# (name, kind, start low, start high): kind drives the shape of the walk.
DEMO_METRICS: tuple[tuple[str, str, float, float], ...] = (
    ("quality.score", "percent", 55, 90),
    ("ruff.issues", "count", 5, 400),
    ("mypy.errors", "count", 0, 120),
    ("bandit.issues", "count", 0, 40),
    ("bandit.issues.high", "count", 0, 3),
    ("bandit.issues.medium", "count", 0, 10),
    ("bandit.issues.low", "count", 0, 30),
    ("coverage.line_percent", "percent", 40, 95),
    ("coverage.branch_percent", "percent", 30, 90),
    ("complexity.cyclomatic.mean", "level", 2, 6),
    ("complexity.cyclomatic.max", "count", 8, 40),
    ("maintainability.mean", "percent", 50, 85),
    ("size.loc", "size", 2_000, 200_000),
    ("size.sloc", "size", 1_500, 150_000),
    ("issues.per_kloc", "level", 1, 20),
    ("suppressions.count", "count", 0, 60),
    ("complexity.functions_over_limit", "count", 0, 50),
    ("ruff.issues.fixable", "count", 0, 200),
    ("complexity.functions", "size", 50, 3_000),
    ("size.files", "size", 10, 1_500),
)


@dataclass(frozen=True, slots=True)
class DemoData:
    """Generated measures (columns of the ``measures`` view) and their runs (``run_record``)."""

    points: pl.DataFrame
    runs: pl.DataFrame


def _walk(rng: np.random.Generator, kind: str, start: float, days: int) -> np.ndarray:
    steps = rng.normal(0.0, 1.0, days)
    if kind == "count":
        values = round(start) + np.cumsum(np.round(steps * max(1.0, start * 0.03)))
        return np.maximum(values, 0.0)
    if kind == "percent":
        return np.clip(start + np.cumsum(steps * 0.3), 0.0, 100.0)
    if kind == "size":
        return np.maximum(start + np.cumsum(np.abs(steps) * start * 0.002), 1.0).round()
    return np.maximum(start + np.cumsum(steps * 0.02), 0.0)


def _hold_together(walks: dict[str, np.ndarray]) -> None:
    """Make related metrics consistent, as one analysis would report them (in place)."""
    parts = [f"bandit.issues.{level}" for level in ("high", "medium", "low")]
    if "bandit.issues" in walks and all(p in walks for p in parts):
        walks["bandit.issues"] = walks[parts[0]] + walks[parts[1]] + walks[parts[2]]
    for part, total in (("ruff.issues.fixable", "ruff.issues"), ("size.sloc", "size.loc")):
        if part in walks and total in walks:
            walks[part] = np.minimum(walks[part], walks[total])


def generate(
    *,
    projects: int = 5,
    metrics: int = 16,
    days: int = 120,
    seed: int = 42,
    end: datetime | None = None,
    first_project: int = 0,
) -> DemoData:
    """Generate ``projects x metrics x days`` points, one run per project and day.

    The last day is ``end``'s day; each project commits at its own hour (08:00-18:00).
    Projects are named ``project-NNNN`` from ``first_project`` on (run ids follow the names),
    so a later batch can be added next to an earlier one.
    """
    if not 1 <= metrics <= len(DEMO_METRICS):
        raise ValueError(f"metrics must be between 1 and {len(DEMO_METRICS)}, got {metrics!r}")
    chooser = random.Random(seed)  # noqa: S311 - demo data, not security
    rng = np.random.default_rng(seed)
    end = end or datetime(2026, 11, 1)
    first = end - timedelta(days=days - 1)
    day_offsets = np.arange(days, dtype="int64")
    # Days start at midnight; each project's commit hour is added below.
    base = np.datetime64(first.replace(hour=0, minute=0, second=0, microsecond=0), "us")
    # Each project commits at its own hour of the day.
    hours = np.array([chooser.randrange(8, 19) for _ in range(projects)], dtype="int64")
    numbers = range(first_project, first_project + projects)
    names = [f"project-{i:04d}" for i in numbers]
    chosen = DEMO_METRICS[:metrics]

    ts_per_project = [
        base + (day_offsets * 86_400 + int(h) * 3_600).astype("timedelta64[s]") for h in hours
    ]
    run_ids = [
        np.char.add(f"demo-{i:04d}-", day_offsets.astype(str)) for i in numbers
    ]
    shas = [
        np.array([f"{chooser.getrandbits(160):040x}" for _ in range(days)]) for _ in range(projects)
    ]
    walks: dict[str, np.ndarray] = {}
    for name, kind, low, high in chosen:
        starts = [chooser.uniform(low, high) for _ in range(projects)]
        walks[name] = np.concatenate([_walk(rng, kind, s, days) for s in starts])
    _hold_together(walks)
    frames = [
        pl.DataFrame(
            {
                "ts": np.concatenate(ts_per_project),
                "project": np.repeat(names, days),
                "metric": name,
                "value": values.astype("float64"),
                "run_id": np.concatenate(run_ids),
                "commit_sha": np.concatenate(shas),
            }
        )
        for name, values in walks.items()
    ]
    points = pl.concat(frames).with_columns(pl.col("ts").cast(pl.Datetime("us"))).sort("ts")
    runs = pl.DataFrame(
        {
            "run_id": np.concatenate(run_ids),
            "project": np.repeat(names, days),
            "commit_sha": np.concatenate(shas),
            "committed_at": np.concatenate(ts_per_project),
            "author": [chooser.choice(("ana", "bo", "chen", "dara", "eli")) for _ in range(projects * days)],
            "branch": "main",
            "message": "demo commit",
            "dirty": False,
            "path": None,
            "trigger": "backfill",
            "started_at": np.concatenate(ts_per_project),
            "finished_at": np.concatenate(ts_per_project),
            "status": "succeeded",
            "point_ts": np.concatenate(ts_per_project),
        },
        schema_overrides={"path": pl.String},
    ).with_columns(
        pl.col("committed_at", "started_at", "finished_at", "point_ts").cast(pl.Datetime("us"))
    )
    return DemoData(points=points, runs=runs)
