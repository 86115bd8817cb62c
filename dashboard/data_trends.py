"""Data of the Project trends page: series with commits, gate lines and failures, tool changes.

Every function is cached per (database, data version) through :func:`dashboard.data.cached`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from dashboard.context import GateLine
from dashboard.data import FAIL_STATES, cached, existing_views, matching, read, store_for
from storage import queries

__all__ = [
    "RANGE_PRESETS",
    "RANGE_SLUGS",
    "Comparison",
    "TrendLink",
    "compare_runs",
    "gate_failures",
    "gate_thresholds",
    "gates_evaluated",
    "metric_catalogue",
    "metric_units",
    "moving_thresholds",
    "project_metrics",
    "project_runs",
    "project_span",
    "range_bounds",
    "read_link",
    "tool_changes",
    "trend_series",
]

RANGE_PRESETS: dict[str, int | None] = {"30 days": 30, "90 days": 90, "1 year": 365, "all": None}
# How each range preset is written in the address (``/trends?project=NAME&range=1y``).
RANGE_SLUGS: dict[str, str] = {"30 days": "30d", "90 days": "90d", "1 year": "1y", "all": "all"}
_POINT_TS = "coalesce(committed_at, started_at)"


def _span(db: str, version: str, project: str) -> tuple[datetime, datetime] | None:
    del version
    (frame,) = read(
        db, (f"SELECT min({_POINT_TS}) AS lo, max({_POINT_TS}) AS hi FROM runs WHERE project = ?", [project])
    )
    lo, hi = frame.row(0)
    return None if lo is None else (lo, hi)


def project_span(db: str, version: str, project: str, *, ttl_s: int) -> tuple[datetime, datetime] | None:
    """First and last point time of a project (``None`` when it has no run)."""
    return cached(_span, ttl_s)(db, version, project)


def range_bounds(span: tuple[datetime, datetime], preset: str) -> tuple[datetime, datetime]:
    """The (start, end) of a range preset, ending at the project's newest point."""
    first, last = span
    days = RANGE_PRESETS[preset]
    end = last + timedelta(seconds=1)
    return (first if days is None else max(first, last - timedelta(days=days))), end


@dataclass(frozen=True, slots=True)
class TrendLink:
    """What the address (``?range=1y&metrics=a,b``) asks of the trends page.

    ``preset`` and ``metrics`` are what it asked for that exists (``None`` and empty when it
    asked for nothing usable); ``unknown_range`` and ``unknown_metrics`` are what it asked for
    that does not, as written, for the page to say it ignored them.
    """

    preset: str | None = None
    metrics: tuple[str, ...] = ()
    unknown_range: str | None = None
    unknown_metrics: tuple[str, ...] = ()


def read_link(range_text: str | None, metrics_text: str | None, available: Sequence[str]) -> TrendLink:
    """The range preset and metrics named by a link, among the presets and ``available`` metrics.

    A range is its slug (``1y``) or its label (``1 year``), in any letter case; metrics are
    comma-separated names. Anything else is returned as unknown, never raised: a link is typed
    or pasted by a person.
    """
    wanted = (range_text or "").strip().lower()
    presets = {**{slug: p for p, slug in RANGE_SLUGS.items()}, **{p: p for p in RANGE_SLUGS}}
    preset = presets.get(wanted)
    names = list(dict.fromkeys(n.strip() for n in (metrics_text or "").split(",") if n.strip()))
    return TrendLink(
        preset=preset,
        metrics=tuple(n for n in names if n in available),
        unknown_range=range_text if wanted and preset is None else None,
        unknown_metrics=tuple(n for n in names if n not in available),
    )


def _catalogue(db: str, version: str) -> pl.DataFrame:
    del version
    (frame,) = read(db, ("SELECT name, unit, direction, aggregation, description, tool FROM metrics", []))
    return frame


def metric_catalogue(db: str, version: str, *, ttl_s: int) -> pl.DataFrame:
    """The ``metrics`` view (name, unit, direction, aggregation, description, tool)."""
    return cached(_catalogue, ttl_s)(db, version)


def metric_units(db: str, version: str, *, ttl_s: int) -> dict[str, str | None]:
    """Each catalogued metric's unit (``points``, ``%``, ``issues``, ...), for axis titles."""
    catalogue = metric_catalogue(db, version, ttl_s=ttl_s)
    return dict(zip(catalogue["name"].to_list(), catalogue["unit"].to_list(), strict=True))


def _project_metrics(db: str, version: str, project: str) -> list[str]:
    del version
    (frame,) = read(
        db, ("SELECT DISTINCT metric FROM measures_monthly WHERE project = ? ORDER BY metric", [project])
    )
    return [str(m) for m in frame["metric"].to_list()]


def project_metrics(db: str, version: str, project: str, *, ttl_s: int) -> list[str]:
    """Metrics a project has data for (from the monthly rollup: small and fast)."""
    return cached(_project_metrics, ttl_s)(db, version, project)


def _project_runs(db: str, version: str, project: str, start: datetime, end: datetime) -> pl.DataFrame:
    del version
    (frame,) = read(
        db,
        (
            f"""SELECT run_id, {_POINT_TS} AS ts, commit_sha, author, message, status, trigger
                FROM runs WHERE project = ? AND {_POINT_TS} BETWEEN ? AND ?
                ORDER BY ts, started_at""",
            [project, start, end],
        ),
    )
    return frame


def project_runs(
    db: str, version: str, project: str, start: datetime, end: datetime, *, ttl_s: int
) -> pl.DataFrame:
    """Runs of a project in a range: run_id, ts, commit_sha, author, message, status, trigger."""
    return cached(_project_runs, ttl_s)(db, version, project, start, end)


def _series(
    db: str, version: str, project: str, metrics: tuple[str, ...], start: datetime, end: datetime
) -> tuple[pl.DataFrame, str]:
    grain = queries.choose_granularity(start, end)
    frame = queries.series(store_for(db), project, list(metrics), start, end, grain)
    if grain == "raw":
        runs = _project_runs(db, version, project, start, end).select("run_id", "author", "message")
        frame = frame.join(runs, on="run_id", how="left")
    else:
        # A bucket's line value is its last point: show the last commit of the bucket with it.
        (last,) = read(
            db,
            (
                f"""SELECT date_trunc('{grain}', {_POINT_TS}) AS ts,
                           arg_max(commit_sha, {_POINT_TS}) AS last_sha,
                           arg_max(author, {_POINT_TS}) AS author,
                           arg_max(message, {_POINT_TS}) AS message
                    FROM runs WHERE project = ? AND {_POINT_TS} BETWEEN ? AND ?
                    GROUP BY 1""",
                [project, start, end],
            ),
        )
        frame = (
            frame.join(last.with_columns(pl.col("ts").cast(frame.schema["ts"])), on="ts", how="left")
            .with_columns(pl.coalesce("commit_sha", "last_sha").alias("commit_sha"))
            .drop("last_sha")
        )
    return frame, grain


def trend_series(
    db: str, version: str, project: str, metrics: Sequence[str], start: datetime, end: datetime, *, ttl_s: int
) -> tuple[pl.DataFrame, str]:
    """Points of the chosen metrics and the granularity used (raw, day, week or month).

    Raw points carry run_id, commit_sha, author and message for the hover; rollup buckets
    carry min, max and count, and the commit, author and message of the bucket's last run.
    Long ranges read the rollups, never the raw points.
    """
    return cached(_series, ttl_s)(db, version, project, tuple(metrics), start, end)


def _failures(
    db: str, version: str, project: str, metrics: tuple[str, ...], start: datetime, end: datetime
) -> pl.DataFrame:
    del version
    if "gate_results" not in existing_views(db):
        return pl.DataFrame(
            schema={
                "ts": pl.Datetime("us"),
                "metric": pl.String,
                "gate": pl.String,
                "value": pl.Float64,
                "threshold": pl.Float64,
                "commit_sha": pl.String,
            }
        )
    (frame,) = read(
        db,
        (
            f"""SELECT {_POINT_TS} AS ts, g.metric, g.gate, g.value, g.threshold, r.commit_sha
                FROM gate_results g JOIN runs r USING (run_id)
                WHERE g.project = ? AND g.metric IN (SELECT unnest(?::VARCHAR[]))
                  AND lower(g.state) IN (SELECT unnest(?::VARCHAR[]))
                  AND {_POINT_TS} BETWEEN ? AND ?
                ORDER BY ts""",
            [project, list(metrics), list(FAIL_STATES), start, end],
        ),
    )
    return frame


def gate_failures(
    db: str, version: str, project: str, metrics: Sequence[str], start: datetime, end: datetime, *, ttl_s: int
) -> pl.DataFrame:
    """Runs where a gate on one of ``metrics`` failed: ts, metric, gate, value, threshold, sha."""
    return cached(_failures, ttl_s)(db, version, project, tuple(metrics), start, end)


def _evaluated(db: str, version: str, project: str) -> bool:
    del version
    if "gate_results" not in existing_views(db):
        return False
    (frame,) = read(db, ("SELECT count(*) AS n FROM gate_results WHERE project = ?", [project]))
    return bool(frame["n"].item())


def gates_evaluated(db: str, version: str, project: str, *, ttl_s: int) -> bool:
    """True when a gate was ever evaluated on a run of ``project`` (``check``, the scheduler);
    plain ``collect`` and generated data leave configured gates unevaluated."""
    return cached(_evaluated, ttl_s)(db, version, project)


def _stored_thresholds(db: str, version: str, project: str) -> pl.DataFrame:
    del version
    if "gate_results" not in existing_views(db):
        return pl.DataFrame(schema={"gate": pl.String, "metric": pl.String, "threshold": pl.Float64})
    # Only gates whose threshold never moved: a relative gate's threshold follows the
    # reference value, and is drawn per run by :func:`moving_thresholds` instead.
    (frame,) = read(
        db,
        (
            """SELECT gate, metric, arg_max(threshold, evaluated_at) AS threshold
               FROM gate_results WHERE project = ? AND threshold IS NOT NULL
               GROUP BY gate, metric HAVING count(DISTINCT threshold) = 1 ORDER BY gate""",
            [project],
        ),
    )
    return frame


def _moving(
    db: str, version: str, project: str, metrics: tuple[str, ...], start: datetime, end: datetime
) -> pl.DataFrame:
    del version
    if "gate_results" not in existing_views(db):
        return pl.DataFrame(schema={"ts": pl.Datetime("us"), "metric": pl.String, "gate": pl.String,
                                    "threshold": pl.Float64})
    (frame,) = read(
        db,
        (
            f"""WITH moving AS (
                    SELECT gate FROM gate_results WHERE project = ? AND threshold IS NOT NULL
                    GROUP BY gate HAVING count(DISTINCT threshold) > 1)
                SELECT {_POINT_TS} AS ts, g.metric, g.gate, g.threshold
                FROM gate_results g JOIN runs r USING (run_id)
                WHERE g.project = ? AND g.gate IN (SELECT gate FROM moving)
                  AND g.metric IN (SELECT unnest(?::VARCHAR[])) AND g.threshold IS NOT NULL
                  AND {_POINT_TS} BETWEEN ? AND ?
                ORDER BY g.gate, ts""",
            [project, project, list(metrics), start, end],
        ),
    )
    return frame


def moving_thresholds(
    db: str, version: str, project: str, metrics: Sequence[str], start: datetime, end: datetime, *, ttl_s: int
) -> pl.DataFrame:
    """Per-run thresholds of relative gates ("may not rise by N"): ts, metric, gate, threshold."""
    return cached(_moving, ttl_s)(db, version, project, tuple(metrics), start, end)


def gate_thresholds(
    db: str, version: str, project: str, configured: Sequence[GateLine], *, ttl_s: int
) -> list[tuple[str, str, float]]:
    """(gate, metric, threshold) lines to draw: configured absolute gates, then stored ones.

    Relative gates ("must not rise by N") have a moving threshold: they are left to
    :func:`moving_thresholds`, which gives their threshold at every run.
    """
    lines: dict[tuple[str, str], float] = {}
    for gate in configured:
        if matching(gate.projects, project):
            for bound in (gate.min, gate.max):
                if bound is not None:
                    lines[(gate.gate, gate.metric)] = bound
    stored = cached(_stored_thresholds, ttl_s)(db, version, project)
    for gate_name, metric, threshold in stored.iter_rows():
        lines.setdefault((str(gate_name), str(metric)), float(threshold))
    return [(g, m, t) for (g, m), t in lines.items()]


def _changes(db: str, version: str, project: str, start: datetime, end: datetime) -> pl.DataFrame:
    del version
    (frame,) = read(
        db,
        (
            f"""
            SELECT ts, tool, prev_version, tool_version, prev_hash, config_hash, commit_sha FROM (
                SELECT {_POINT_TS} AS ts, t.tool, t.tool_version, t.config_hash, r.commit_sha,
                       lag(t.tool_version) OVER w AS prev_version,
                       lag(t.config_hash) OVER w AS prev_hash,
                       row_number() OVER w AS nth
                FROM tool_runs t JOIN runs r USING (run_id)
                WHERE r.project = ? AND t.status = 'succeeded'
                WINDOW w AS (PARTITION BY t.tool ORDER BY {_POINT_TS}, r.started_at)
            )
            WHERE nth > 1 AND (prev_version IS DISTINCT FROM tool_version
                               OR prev_hash IS DISTINCT FROM config_hash)
              AND ts BETWEEN ? AND ?
            ORDER BY ts, tool""",
            [project, start, end],
        ),
    )
    return frame


def tool_changes(
    db: str, version: str, project: str, start: datetime, end: datetime, *, ttl_s: int
) -> pl.DataFrame:
    """Runs where an analyzer's version or configuration hash changed from its previous run."""
    return cached(_changes, ttl_s)(db, version, project, start, end)


@dataclass(frozen=True, slots=True)
class Comparison:
    """What changed between two runs of one project."""

    deltas: pl.DataFrame
    new_findings: pl.DataFrame
    fixed_findings: pl.DataFrame
    commits: pl.DataFrame


def _compare(db: str, version: str, project: str, run_a: str, run_b: str) -> Comparison:
    catalogue = _catalogue(db, version)
    values, commits = read(
        db,
        (
            "SELECT run_id, metric, value FROM measures WHERE run_id IN (?, ?)",
            [run_a, run_b],
        ),
        (
            f"""SELECT {_POINT_TS} AS ts, commit_sha, author, message, status, run_id FROM runs
                WHERE project = ?
                  AND {_POINT_TS} > (SELECT {_POINT_TS} FROM runs WHERE run_id = ?)
                  AND {_POINT_TS} <= (SELECT {_POINT_TS} FROM runs WHERE run_id = ?)
                ORDER BY ts""",
            [project, run_a, run_b],
        ),
    )
    before = values.filter(pl.col("run_id") == run_a).select("metric", pl.col("value").alias("before"))
    after = values.filter(pl.col("run_id") == run_b).select("metric", pl.col("value").alias("after"))
    deltas = (
        before.join(after, on="metric", how="full", coalesce=True)
        .with_columns((pl.col("after") - pl.col("before")).alias("delta"))
        .join(catalogue.select(pl.col("name").alias("metric"), "direction", "unit"), on="metric", how="left")
        .with_columns(
            pl.when(pl.col("before").is_null() & pl.col("after").is_not_null())
            .then(pl.lit("new"))
            .when(pl.col("after").is_null() & pl.col("before").is_not_null())
            .then(pl.lit("gone"))
            .when(pl.col("delta").is_null() | (pl.col("delta") == 0))
            .then(pl.lit("same"))
            # As storage.models.judge_change: only aim_low/aim_high metrics get better or worse;
            # a neutral one (size) or one the catalogue lacks just changed.
            .when(~pl.col("direction").is_in(["aim_low", "aim_high"]).fill_null(False))
            .then(pl.lit("changed"))
            .when((pl.col("delta") > 0) == (pl.col("direction") == "aim_high"))
            .then(pl.lit("better"))
            .otherwise(pl.lit("worse"))
            .alias("verdict")
        )
        .sort("metric")
    )
    new, fixed = queries.new_and_fixed(store_for(db), run_b, against=run_a)
    return Comparison(deltas, new, fixed, commits)


def compare_runs(db: str, version: str, project: str, run_a: str, run_b: str, *, ttl_s: int) -> Comparison:
    """Metric deltas, new and fixed findings, and the commits after ``run_a`` up to ``run_b``."""
    return cached(_compare, ttl_s)(db, version, project, run_a, run_b)
