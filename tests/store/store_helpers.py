"""Helpers of the store tests: a run builder, view counts, the real console script."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

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


def cli(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``flext-quality`` console script."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXT_QUALITY_")}
    full_env.update(env or {})
    return subprocess.run(
        [str(BIN / "flext-quality"), *args], cwd=cwd, env=full_env, capture_output=True,
        text=True, timeout=120, check=False,
    )
