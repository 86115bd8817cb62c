"""Helpers of the store tests: a run builder, view counts, naive rollups, the real console script."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from storage.migrations import MIGRATIONS
from storage.models import FindingRecord, MetricSpec, RunRecord, RunResult, ToolRunRecord
from storage.store import MetricStore

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
T0 = datetime(2026, 3, 2, 9, 0)  # a Monday


def make_run(
    project: str,
    commit: str | None,
    measures: Mapping[str, float],
    when: datetime = T0,
    *,
    run_id: str | None = None,
    findings: int = 2,
) -> RunResult:
    """A run with two tool records, ``findings`` findings and the given measures at ``when``."""
    rid = run_id or f"{project}-{commit}-{when.isoformat()}"
    return RunResult(
        run=RunRecord(
            run_id=rid, project=project, started_at=when, finished_at=when, status="succeeded",
            trigger="manual", commit_sha=commit, committed_at=when if commit else None,
            author="ana", branch="main",
        ),
        tools=[
            ToolRunRecord(tool="ruff", status="succeeded", tool_version="0.17.6",
                          duration_s=0.5, command=("ruff", "check", ".")),
            ToolRunRecord(tool="mypy", status="failed", error="boom", command=("mypy", ".")),
        ],
        measures=dict(measures),
        findings=[
            FindingRecord(tool="ruff", rule=f"F40{i}", severity="error", path="a.py", line=i,
                          col=1, message="m", fingerprint=f"fp{i}")
            for i in range(findings)
        ],
        catalogue=[MetricSpec(name=m, unit="count", direction="aim_low", aggregation="last",
                              description="test metric", tool="ruff") for m in measures],
    )


def database_before(path: Path, name: str) -> duckdb.DuckDBPyConnection:
    """A file with every migration before ``name`` applied by hand, as that release left it;
    returns an open connection to add data."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                "name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
    names = [n for _, n, _ in MIGRATIONS]
    for version, earlier, apply in MIGRATIONS[:names.index(name)]:
        apply(con)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [version, earlier, datetime(2026, 1, 1)])
    return con


def counts(store: MetricStore) -> dict[str, int]:
    """Row counts of every public view."""
    views = ("runs", "tool_runs", "measures", "findings",
             "measures_daily", "measures_weekly", "measures_monthly")
    return {v: int(store.fetch(f"SELECT count(*) FROM {v}")[0][0]) for v in views}


def rollup_rows(store: MetricStore) -> dict[str, list[tuple[object, ...]]]:
    """Every rollup view's rows, sorted, for before/after comparisons."""
    return {
        v: store.fetch(f"SELECT * FROM {v} ORDER BY ALL")
        for v in ("measures_daily", "measures_weekly", "measures_monthly")
    }


GRAIN_VIEWS = {"day": "measures_daily", "week": "measures_weekly", "month": "measures_monthly"}
Point = tuple[datetime, str, str, float]  # ts, project, metric, value


def bucket_start(ts: datetime, grain: str) -> datetime:
    """The start of ``ts``'s day, ISO week (Monday) or month, computed by hand."""
    day = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def naive_rollups(points: Iterable[Point], grain: str) -> list[tuple[object, ...]]:
    """(bucket, project, metric, min, max, mean, last, n, last_ts) by brute force."""
    groups: dict[tuple[datetime, str, str], list[tuple[datetime, float]]] = defaultdict(list)
    for ts, project, metric, value in points:
        groups[(bucket_start(ts, grain), project, metric)].append((ts, value))
    rows: list[tuple[object, ...]] = []
    for (bucket, project, metric), items in sorted(groups.items()):
        values = [v for _, v in items]
        last_ts, last = max(items)  # latest time; at equal times the larger value
        rows.append((bucket, project, metric, min(values), max(values),
                     statistics.fmean(values), last, len(values), last_ts))
    return rows


def assert_rollups_equal_naive(store: MetricStore, points: Iterable[Point]) -> None:
    """Every grain's rollup rows (with their last time) equal a brute-force recomputation of
    ``points``; means to rounding."""
    points = list(points)
    for grain, view in GRAIN_VIEWS.items():
        got = store.fetch(
            f"SELECT v.bucket, v.project, v.metric, v.min_value, v.max_value, v.mean_value, "
            f"v.last_value, v.n, r.last_ts FROM {view} v JOIN series s USING (project, metric) "
            f"JOIN rollup_{grain} r ON r.series_id = s.series_id AND r.bucket = v.bucket "
            f"ORDER BY v.bucket, v.project, v.metric"
        )
        want = naive_rollups(points, grain)
        assert [r[:3] for r in got] == [r[:3] for r in want], grain
        for g, w in zip(got, want, strict=True):
            assert g[3:5] + g[6:] == w[3:5] + w[6:], (grain, g, w)
            assert g[5] == pytest.approx(w[5]), (grain, g, w)


def cli(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``flext-quality`` console script."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXT_QUALITY_")}
    full_env.update(env or {})
    return subprocess.run(
        [str(BIN / "flext-quality"), *args], cwd=cwd, env=full_env, capture_output=True,
        text=True, timeout=120, check=False,
    )
