"""Read queries shared by the dashboard, the reports, the gates and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

import polars as pl

from storage.store import MetricStore

__all__ = [
    "Granularity",
    "choose_granularity",
    "latest_run",
    "new_and_fixed",
    "previous_run",
    "series",
]

Granularity = Literal["raw", "day", "week", "month"]
_VIEW = {"day": "measures_daily", "week": "measures_weekly", "month": "measures_monthly"}


def choose_granularity(start: datetime, end: datetime) -> Granularity:
    """Raw points up to 45 days, daily up to ~1.5 years, weekly up to 5 years, then monthly."""
    span = end - start
    if span <= timedelta(days=45):
        return "raw"
    if span <= timedelta(days=550):
        return "day"
    if span <= timedelta(days=5 * 366):
        return "week"
    return "month"


def series(
    store: MetricStore,
    project: str,
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    granularity: Granularity | Literal["auto"] = "auto",
) -> pl.DataFrame:
    """One project's metrics between ``start`` and ``end`` (inclusive).

    Columns: ``ts, metric, value, min_value, max_value, n, run_id, commit_sha``; ``value`` is
    the raw value or the bucket's last value, ``run_id``/``commit_sha`` are null for buckets.
    """
    grain = choose_granularity(start, end) if granularity == "auto" else granularity
    if grain == "raw":
        return store.query(
            """
            SELECT ts, metric, value, value AS min_value, value AS max_value, 1::BIGINT AS n,
                   run_id, commit_sha
            FROM measures
            WHERE project = ? AND metric IN (SELECT unnest(?::VARCHAR[])) AND ts BETWEEN ? AND ?
            ORDER BY metric, ts
            """,
            [project, list(metrics), start, end],
        )
    return store.query(
        f"""
        SELECT bucket AS ts, metric, last_value AS value, min_value, max_value, n,
               NULL::VARCHAR AS run_id, NULL::VARCHAR AS commit_sha
        FROM {_VIEW[grain]}
        WHERE project = ? AND metric IN (SELECT unnest(?::VARCHAR[]))
          AND bucket BETWEEN date_trunc('{grain}', ?::TIMESTAMP) AND ?
        ORDER BY metric, ts
        """,
        [project, list(metrics), start, end],
    )


def latest_run(store: MetricStore, project: str) -> dict[str, object] | None:
    """The newest run of a project by point time (commit time, else start time)."""
    frame = store.query(
        "SELECT * FROM run_record WHERE project = ? ORDER BY point_ts DESC, started_at DESC LIMIT 1",
        [project],
    )
    return frame.to_dicts()[0] if frame.height else None


def previous_run(store: MetricStore, run_id: str) -> dict[str, object] | None:
    """The run of the same project just before ``run_id`` (by point time)."""
    frame = store.query(
        """
        SELECT p.* FROM run_record r JOIN run_record p
          ON p.project = r.project AND p.run_id <> r.run_id
         AND (p.point_ts, p.started_at) < (r.point_ts, r.started_at)
        WHERE r.run_id = ?
        ORDER BY p.point_ts DESC, p.started_at DESC LIMIT 1
        """,
        [run_id],
    )
    return frame.to_dicts()[0] if frame.height else None


def new_and_fixed(
    store: MetricStore, run_id: str, against: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Findings new in ``run_id`` and fixed since ``against`` (default: the previous run).

    A set difference on fingerprints, restricted to tools that succeeded in both runs, so a
    tool failing in one run does not look like all its findings were fixed or introduced.
    """
    if against is None:
        prev = previous_run(store, run_id)
        if prev is None:
            empty = store.query("SELECT * FROM findings WHERE false")
            return store.query("SELECT * FROM findings WHERE run_id = ?", [run_id]), empty
        against = str(prev["run_id"])
    tools_sql = """
        SELECT tool FROM tool_runs WHERE run_id = ? AND status = 'succeeded'
        INTERSECT SELECT tool FROM tool_runs WHERE run_id = ? AND status = 'succeeded'
    """
    new = store.query(
        f"""
        SELECT * FROM findings WHERE run_id = ? AND tool IN ({tools_sql})
          AND fingerprint NOT IN (SELECT fingerprint FROM findings WHERE run_id = ?)
        ORDER BY tool, path, line
        """,
        [run_id, run_id, against, against],
    )
    fixed = store.query(
        f"""
        SELECT * FROM findings WHERE run_id = ? AND tool IN ({tools_sql})
          AND fingerprint NOT IN (SELECT fingerprint FROM findings WHERE run_id = ?)
        ORDER BY tool, path, line
        """,
        [against, run_id, against, run_id],
    )
    return new, fixed
