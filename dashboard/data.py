"""Read access for the dashboard: short read-only connections, cached per data version.

Every helper takes the database path and a *data version* (a string that changes whenever a
run, a gate result or an outbox message lands) as its first arguments, so that
``st.cache_data`` serves repeated reruns from memory and a new run invalidates the cache at
once; the TTL (``dashboard.cache_ttl_s``) bounds staleness of anything the version misses.
Connections are opened read-only for one helper call and retried while a writer holds the
file (``MetricStore.reader``). The alert views (``gate_results``, ``alert_states``,
``outbox``, ``job_runs``) may not exist in a database: helpers check the catalogue and degrade
to empty.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import polars as pl
import streamlit as st

from dashboard.context import GateLine
from storage.schema_alerts import ALERT_VIEWS as _ALERT_VIEW_SQL
from storage.store import MetricStore

__all__ = [
    "ALERT_VIEWS",
    "FAIL_STATES",
    "cached",
    "configured_for",
    "data_version",
    "existing_views",
    "has_runs",
    "matching",
    "overview",
    "page_count",
    "page_rows",
    "projects",
    "read",
    "run_statuses",
    "search_projects",
    "state_counts",
    "state_of",
    "store_for",
]

P = ParamSpec("P")
R = TypeVar("R")

# The alerts layer's views, named by the migration that creates them: a new one (job_runs was
# missed once) is listed on the SQL page without anyone touching the dashboard.
ALERT_VIEWS: tuple[str, ...] = tuple(_ALERT_VIEW_SQL)
# The alerts layer owns the state words; accept the usual spellings of "failing".
FAIL_STATES: tuple[str, ...] = ("fail", "failed", "failing", "red", "violated")
STALE_STATES: tuple[str, ...] = ("stale",)
PASS_STATES: tuple[str, ...] = ("pass", "passed", "passing", "green", "ok")
# Worst first. Rank 1, between red and stale, is a project whose runs all failed: it has no
# score to judge, and needs someone as much as a failing gate does. "no data" (gates checked,
# nothing measured) is not green: nobody knows whether the project is fine.
STATE_ORDER: dict[str, int] = {
    "red": 0,
    "stale": 2,
    "no data": 3,
    "not evaluated": 4,
    "no gates": 4,
    "green": 5,
}
ALL_RUNS_FAILED_RANK = 1

_STORES: dict[str, MetricStore] = {}
_STORES_LOCK = threading.Lock()
_WRAPPED: dict[tuple[str, int], Callable[..., Any]] = {}


def store_for(db: str) -> MetricStore:
    with _STORES_LOCK:
        if db not in _STORES:
            _STORES[db] = MetricStore(Path(db), read_timeout_s=30.0)
        return _STORES[db]


def read(db: str, *queries: tuple[str, Sequence[object]]) -> list[pl.DataFrame]:
    """Run trusted queries on one short read-only connection; one frame per query."""
    with store_for(db).reader() as con:
        return [con.sql(sql, params=list(params) or None).pl() for sql, params in queries]


def cached(func: Callable[P, R], ttl_s: int) -> Callable[P, R]:
    """``func`` behind ``st.cache_data`` with this TTL (wrapped once per function and TTL)."""
    key = (f"{func.__module__}.{func.__qualname__}", ttl_s)
    if key not in _WRAPPED:
        _WRAPPED[key] = st.cache_data(ttl=ttl_s, show_spinner=False)(func)
    wrapped: Callable[P, R] = _WRAPPED[key]
    return wrapped


def existing_views(db: str) -> frozenset[str]:
    """Which of the alert views exist in this database (uncached: it is one catalogue read)."""
    (frame,) = read(
        db,
        (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name IN (SELECT unnest(?::VARCHAR[]))",
            [list(ALERT_VIEWS)],
        ),
    )
    return frozenset(frame["table_name"].to_list())


def data_version(db: str) -> str | None:
    """A string that changes when new data lands; ``None`` when there is no database file.

    Count and newest time of runs and gate results, and an order-independent hash of the alert
    states and outbox rows (a retry or a delivery changes it): one cheap aggregate each, on
    one short connection.
    """
    if not Path(db).exists():
        return None
    with store_for(db).reader() as con:
        views = {
            str(r[0])
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        }
        parts = [
            "SELECT 'runs', count(*)::VARCHAR || '/' || coalesce(max(finished_at)::VARCHAR, '') FROM runs"
        ]
        if "gate_results" in views:
            parts.append(
                "SELECT 'gates', count(*)::VARCHAR || '/' || coalesce(max(evaluated_at)::VARCHAR, '') "
                "FROM gate_results"
            )
        if "alert_states" in views:
            parts.append(
                "SELECT 'states', count(*)::VARCHAR || '/' "
                "|| coalesce(sum(hash(project, gate, state, since))::VARCHAR, '') FROM alert_states"
            )
        if "outbox" in views:
            parts.append(
                "SELECT 'outbox', count(*)::VARCHAR || '/' "
                "|| coalesce(sum(hash(message_id, status, attempts))::VARCHAR, '') FROM outbox"
            )
        rows = con.execute(" UNION ALL ".join(parts)).fetchall()
    return ";".join(f"{k}={v}" for k, v in sorted(rows))


def has_runs(version: str | None) -> bool:
    """True when the version (see :func:`data_version`) says at least one run is stored."""
    return version is not None and not any(part.startswith("runs=0/") for part in version.split(";"))


def _projects(db: str, version: str) -> list[str]:
    del version  # cache key only
    (frame,) = read(db, ("SELECT DISTINCT project FROM runs ORDER BY project", []))
    return [str(p) for p in frame["project"].to_list()]


def projects(db: str, version: str, ttl_s: int) -> list[str]:
    """Every project name with at least one run, sorted."""
    return cached(_projects, ttl_s)(db, version)


def _run_statuses(db: str, version: str, project: str) -> dict[str, int]:
    del version  # cache key only
    (frame,) = read(
        db, ("SELECT status, count(*) AS n FROM runs WHERE project = ? GROUP BY status", [project])
    )
    return {str(status): int(n) for status, n in frame.iter_rows()}


def run_statuses(db: str, version: str, project: str, *, ttl_s: int) -> dict[str, int]:
    """How many runs of a project ended in each status (``succeeded``, ``partial``, ``failed``)."""
    return cached(_run_statuses, ttl_s)(db, version, project)


def configured_for(gates: Sequence[GateLine], project: str) -> bool:
    """True when one of the configured ``gates`` applies to ``project``."""
    return any(matching(gate.projects, project) for gate in gates)


def state_of(gate_states: Sequence[str], *, configured: bool = False, measured: bool = True) -> str:
    """One project's gate state from its gates' states.

    ``red`` when a gate fails, ``stale`` when one is stale, ``green`` when at least one gate
    passed on a ``measured`` project (one with a run that did not fail), ``no data`` when the
    gates were checked but none passed (each ``no_data``: its metric was never reported) or
    nothing was measured. Without any state: ``not evaluated`` when gates are ``configured``
    for it (generated demo data and runs stored before a gate existed are not checked), else
    ``no gates``.
    """
    lowered = [s.lower() for s in gate_states if s]
    if any(s in FAIL_STATES for s in lowered):
        return "red"
    if any(s in STALE_STATES for s in lowered):
        return "stale"
    if measured and any(s in PASS_STATES for s in lowered):
        return "green"
    if lowered:
        return "no data"
    return "not evaluated" if configured else "no gates"


_OVERVIEW_SQL = """
WITH last AS (
    SELECT project, max(coalesce(committed_at, started_at)) AS last_ts, max(started_at) AS last_run_at,
           count(*) AS runs, count(*) FILTER (WHERE status = 'failed') AS failed_runs,
           arg_max(status, started_at) AS last_status
    FROM runs GROUP BY project
),
horizon AS (SELECT date_trunc('day', max(last_ts)) - INTERVAL 90 DAY AS low FROM last),
daily AS (
    SELECT d.project, d.bucket, d.last_value, date_trunc('day', l.last_ts) AS last_day
    FROM measures_daily d JOIN last l USING (project)
    WHERE d.metric = ? AND d.bucket >= (SELECT low FROM horizon)
      AND d.bucket >= date_trunc('day', l.last_ts) - INTERVAL 90 DAY
)
SELECT l.project, l.last_ts, l.last_run_at, l.runs, l.failed_runs, l.last_status,
       arg_max(d.last_value, d.bucket) AS score,
       arg_max(d.last_value, d.bucket) FILTER (WHERE d.bucket <= d.last_day - INTERVAL 7 DAY)
           AS score_week_ago,
       arg_max(d.last_value, d.bucket) FILTER (WHERE d.bucket <= d.last_day - INTERVAL 30 DAY)
           AS score_month_ago,
       list(d.last_value ORDER BY d.bucket) FILTER (WHERE d.last_value IS NOT NULL) AS spark
FROM last l LEFT JOIN daily d USING (project)
GROUP BY ALL
"""


def _overview(db: str, version: str, score_metric: str) -> pl.DataFrame:
    queries: list[tuple[str, Sequence[object]]] = [(_OVERVIEW_SQL, [score_metric])]
    if "alert_states" in existing_views(db):
        queries.append(
            (
                "SELECT project, list(state) AS states, count(*) AS gates FROM alert_states GROUP BY project",
                [],
            )
        )
    frames = read(db, *queries)
    frame = frames[0]
    del version  # cache key only
    if len(frames) > 1:
        frame = frame.join(frames[1], on="project", how="left")
    else:
        frame = frame.with_columns(
            pl.lit(None, dtype=pl.List(pl.String)).alias("states"), pl.lit(0).alias("gates")
        )
    return frame.with_columns(
        (pl.col("score") - pl.col("score_week_ago")).alias("change_week"),
        (pl.col("score") - pl.col("score_month_ago")).alias("change_month"),
    )


def overview(
    db: str,
    version: str,
    *,
    ttl_s: int,
    score_metric: str,
    now: datetime,
    stale_after_days: float,
    gates: Sequence[GateLine] = (),
) -> pl.DataFrame:
    """Every project: score, gate state, sparkline, change over a week and a month; worst first.

    One aggregate over the daily rollup for all projects (never a query per project). A project
    whose newest run started more than ``stale_after_days`` before ``now`` is ``stale`` unless
    red; one without gate states is ``not evaluated`` when one of the configured ``gates``
    applies to it; one whose runs all failed is never ``green`` (see :func:`state_of`).
    ``last_run_at`` is when its newest run started (``last_ts``, the newest point's commit
    time, places the sparkline). A project whose runs all failed comes right after the red
    ones, its ``last_status`` saying so.
    """
    frame = cached(_overview, ttl_s)(db, version, score_metric)
    stale_before = now - timedelta(days=stale_after_days)
    rows = frame.select("project", "states", "last_run_at", "runs", "failed_runs").iter_rows()
    states = [
        "red"
        if (
            s := state_of(
                list(states or []), configured=configured_for(gates, project), measured=failed < runs
            )
        )
        == "red"
        else "stale"
        if last_run_at is not None and last_run_at < stale_before
        else s
        for project, states, last_run_at, runs, failed in rows
    ]
    all_failed = pl.col("failed_runs") == pl.col("runs")
    rank = pl.col("gate_state").replace_strict(STATE_ORDER, default=9, return_dtype=pl.Int32)
    return (
        frame.with_columns(pl.Series("gate_state", states, dtype=pl.String))
        .with_columns(
            pl.when(all_failed & (pl.col("gate_state") != "red"))
            .then(pl.lit(ALL_RUNS_FAILED_RANK, dtype=pl.Int32))
            .otherwise(rank)
            .alias("_rank"),
            pl.when(all_failed & (pl.col("runs") == 1))
            .then(pl.lit("its only run failed"))
            .when(all_failed)
            .then(pl.format("all {} runs failed", "runs"))
            .otherwise(pl.col("last_status"))
            .alias("last_status"),
        )
        .sort(["_rank", "score"], nulls_last=True)
        .drop("_rank")
    )


def search_projects(frame: pl.DataFrame, search: str) -> pl.DataFrame:
    """Rows whose project name contains ``search`` (case-insensitive; empty keeps all)."""
    needle = search.strip().lower()
    if not needle:
        return frame
    return frame.filter(pl.col("project").str.to_lowercase().str.contains(needle, literal=True))


def page_count(rows: int, page_size: int) -> int:
    """Pages needed for ``rows`` rows (at least one)."""
    return max(1, -(-rows // page_size))


def page_rows(frame: pl.DataFrame, *, search: str, page: int, page_size: int) -> tuple[pl.DataFrame, int]:
    """Filter ``frame`` by a project-name search, then cut one page; also return the page count."""
    frame = search_projects(frame, search)
    pages = page_count(frame.height, page_size)
    page = min(max(1, page), pages)
    return frame.slice((page - 1) * page_size, page_size), pages


def state_counts(frame: pl.DataFrame) -> dict[str, int]:
    """How many projects of an :func:`overview` frame are in each gate state."""
    counts = frame["gate_state"].value_counts()
    return {str(state): int(n) for state, n in counts.iter_rows()}


def matching(pattern_list: Sequence[str], project: str) -> bool:
    """True when ``project`` matches one of the glob patterns (gates' ``projects``)."""
    return any(fnmatch.fnmatchcase(project, p) for p in pattern_list)
