"""Data of the Findings page: new vs fixed per period, current findings with first-seen commit.

"New" and "fixed" compare each run with the previous run of the same project, by fingerprint,
only for tools that succeeded in both runs (a tool that failed once must not look like all
its findings were fixed and then introduced again), as ``storage.queries.new_and_fixed`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from dashboard.data import cached, read

__all__ = [
    "FindingFilter",
    "analyzers_ran",
    "as_filter",
    "current_findings",
    "filter_options",
    "flow",
    "hot_spots",
    "top_rules",
]

_POINT_TS = "coalesce(committed_at, started_at)"


@dataclass(frozen=True, slots=True)
class FindingFilter:
    """Filters of the Findings page; empty means "everything"."""

    tools: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    path: str = ""

    def sql(self, alias: str) -> tuple[str, list[object]]:
        """A WHERE fragment on findings alias ``alias`` and its parameters."""
        parts: list[str] = []
        params: list[object] = []
        for column, values in (("tool", self.tools), ("severity", self.severities), ("rule", self.rules)):
            if values:
                parts.append(f"{alias}.{column} IN (SELECT unnest(?::VARCHAR[]))")
                params.append(list(values))
        if self.path.strip():
            parts.append(f"{alias}.path ILIKE ?")
            params.append(f"%{self.path.strip()}%")
        return (" AND ".join(parts) or "true"), params


def _options(db: str, version: str, project: str) -> dict[str, list[str]]:
    del version
    (frame,) = read(
        db,
        (
            """SELECT list(DISTINCT tool ORDER BY tool) AS tools,
                      list(DISTINCT severity ORDER BY severity) AS severities,
                      list(DISTINCT rule ORDER BY rule) AS rules
               FROM findings WHERE project = ?""",
            [project],
        ),
    )
    row = frame.row(0, named=True)
    return {k: [str(v) for v in (row[k] or [])] for k in ("tools", "severities", "rules")}


def _analyzers_ran(db: str, version: str, project: str) -> bool:
    del version
    (frame,) = read(db, ("""SELECT count(*) AS n FROM tool_runs t JOIN runs r USING (run_id)
                           WHERE r.project = ? AND t.status = 'succeeded'""", [project]))
    return bool(frame.item())


def analyzers_ran(db: str, version: str, project: str, *, ttl_s: int) -> bool:
    """Whether any analyzer succeeded in a run of the project (generated data has none)."""
    return bool(cached(_analyzers_ran, ttl_s)(db, version, project))


def filter_options(db: str, version: str, project: str, *, ttl_s: int) -> dict[str, list[str]]:
    """The tools, severities and rules that occur in a project's findings."""
    return cached(_options, ttl_s)(db, version, project)


_PAIRS = f"""
WITH ordered AS (
    SELECT run_id, {_POINT_TS} AS ts,
           lag(run_id) OVER (ORDER BY {_POINT_TS}, started_at) AS prev_id
    FROM runs WHERE project = ?
),
pairs AS (
    SELECT o.run_id, o.prev_id, date_trunc(?, o.ts) AS period, t.tool
    FROM ordered o
    JOIN tool_runs t ON t.run_id = o.run_id AND t.status = 'succeeded'
    JOIN tool_runs p ON p.run_id = o.prev_id AND p.tool = t.tool AND p.status = 'succeeded'
)
"""


def _flow(db: str, version: str, project: str, grain: str, flt: FindingFilter) -> pl.DataFrame:
    del version
    where_new, params_new = flt.sql("f")
    where_fixed, params_fixed = flt.sql("f")
    (frame,) = read(
        db,
        (
            f"""{_PAIRS}
            SELECT period, 'new' AS kind, count(*) AS findings
            FROM pairs JOIN findings f ON f.run_id = pairs.run_id AND f.tool = pairs.tool
            WHERE {where_new} AND NOT EXISTS (SELECT 1 FROM findings x
                  WHERE x.run_id = pairs.prev_id AND x.fingerprint = f.fingerprint)
            GROUP BY period
            UNION ALL
            SELECT period, 'fixed', count(*)
            FROM pairs JOIN findings f ON f.run_id = pairs.prev_id AND f.tool = pairs.tool
            WHERE {where_fixed} AND NOT EXISTS (SELECT 1 FROM findings x
                  WHERE x.run_id = pairs.run_id AND x.fingerprint = f.fingerprint)
            GROUP BY period
            ORDER BY period, kind""",
            [project, grain, *params_new, *params_fixed],
        ),
    )
    return frame


def flow(db: str, version: str, project: str, grain: str, flt: FindingFilter, *, ttl_s: int) -> pl.DataFrame:
    """New and fixed findings per period (``grain``: day, week or month): period, kind, findings."""
    if grain not in ("day", "week", "month"):
        raise ValueError(f"grain must be day, week or month, got {grain!r}")
    return cached(_flow, ttl_s)(db, version, project, grain, flt)


def _current(db: str, version: str, project: str, flt: FindingFilter) -> pl.DataFrame:
    del version
    where, params = flt.sql("f")
    (frame,) = read(
        db,
        (
            f"""
            WITH latest AS (
                SELECT run_id FROM runs WHERE project = ?
                ORDER BY {_POINT_TS} DESC, started_at DESC LIMIT 1
            ),
            first_seen AS (
                SELECT f.fingerprint, min({_POINT_TS}) AS first_seen,
                       arg_min(r.commit_sha, {_POINT_TS}) AS first_commit,
                       arg_min(r.author, {_POINT_TS}) AS first_author
                FROM findings f JOIN runs r USING (run_id)
                WHERE r.project = ?
                GROUP BY f.fingerprint
            )
            SELECT f.tool, f.rule, f.severity, f.confidence, f.path, f.line, f.message,
                   s.first_seen, s.first_commit, s.first_author, f.fingerprint
            FROM findings f JOIN latest USING (run_id) JOIN first_seen s USING (fingerprint)
            WHERE {where}
            ORDER BY f.tool, f.path, f.line""",
            [project, project, *params],
        ),
    )
    return frame


def current_findings(db: str, version: str, project: str, flt: FindingFilter, *, ttl_s: int) -> pl.DataFrame:
    """Findings of the project's newest run, each with the commit where it was first seen."""
    return cached(_current, ttl_s)(db, version, project, flt)


def top_rules(current: pl.DataFrame, limit: int = 15) -> pl.DataFrame:
    """The rules with the most current findings: tool, rule, findings, label ("tool rule")."""
    return (
        current.group_by("tool", "rule")
        .agg(pl.len().alias("findings"))
        .sort(["findings", "tool", "rule"], descending=[True, False, False])
        .head(limit)
        .with_columns((pl.col("tool") + " " + pl.col("rule")).alias("label"))
    )


def hot_spots(current: pl.DataFrame, limit: int = 15) -> pl.DataFrame:
    """The files with the most current findings: path, findings, rules."""
    return (
        current.group_by("path")
        .agg(pl.len().alias("findings"), pl.col("rule").unique().sort().str.join(", ").alias("rules"))
        .sort(["findings", "path"], descending=[True, False])
        .head(limit)
    )


def as_filter(
    tools: Sequence[str], severities: Sequence[str], rules: Sequence[str], path: str
) -> FindingFilter:
    """A :class:`FindingFilter` from widget values."""
    return FindingFilter(tuple(tools), tuple(severities), tuple(rules), path)
