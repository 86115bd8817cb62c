"""Data of the Runs and the Gates and alerts pages (the SQL page has :mod:`dashboard.data_sql`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from dashboard.context import GateLine
from dashboard.data import ALERT_VIEWS, cached, existing_views, matching, read
from storage.alert_store import OUTBOX_DISPLAY

__all__ = [
    "SHORT_SHA",
    "alert_states",
    "gate_history",
    "gate_rule",
    "history_range",
    "mask_endpoint",
    "not_evaluated",
    "outbox",
    "recent_runs",
    "run_labels",
    "tool_details",
]

# Characters of a commit hash shown in tables (as `git log --abbrev=10`); the full hash is in
# the run detail, where it can be copied.
SHORT_SHA = 10


def _recent_runs(
    db: str,
    version: str,
    project: str | None,
    statuses: tuple[str, ...],
    triggers: tuple[str, ...],
    limit: int,
) -> pl.DataFrame:
    del version
    where = ["true"]
    params: list[object] = []
    if project:
        where.append("r.project = ?")
        params.append(project)
    if statuses:
        where.append("r.status IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(statuses))
    if triggers:
        where.append("r.trigger IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(triggers))
    (frame,) = read(
        db,
        (
            f"""
            WITH recent AS (
                SELECT * FROM runs r WHERE {" AND ".join(where)}
                ORDER BY r.started_at DESC LIMIT ?
            )
            SELECT r.started_at, r.project, r.status, r.trigger, left(r.commit_sha, {SHORT_SHA}) AS commit,
                   r.commit_sha, r.author, r.branch,
                   date_diff('millisecond', r.started_at, r.finished_at) / 1000.0 AS duration_s,
                   string_agg(t.tool || ': ' || t.status, ', ' ORDER BY t.tool) AS tools,
                   count(t.tool) FILTER (WHERE t.status = 'failed') AS failed_tools,
                   r.message, r.run_id
            FROM recent r LEFT JOIN tool_runs t USING (run_id)
            GROUP BY ALL
            ORDER BY r.started_at DESC""",
            [*params, limit],
        ),
    )
    return frame


def recent_runs(
    db: str,
    version: str,
    *,
    project: str | None,
    statuses: Sequence[str],
    triggers: Sequence[str],
    limit: int,
    ttl_s: int,
) -> pl.DataFrame:
    """The newest runs (optionally of one project, some statuses, some triggers) with tool summary.

    ``commit`` is the first :data:`SHORT_SHA` characters of ``commit_sha`` (kept in full).
    """
    return cached(_recent_runs, ttl_s)(db, version, project, tuple(statuses), tuple(triggers), limit)


def run_labels(runs: pl.DataFrame) -> dict[str, str]:
    """Run id -> a label that tells the runs of a :func:`recent_runs` frame apart:
    ``2026-11-26 11:26:05 · repo2 · 1a2b3c4d5e · succeeded`` (``no commit`` without one).

    Runs alike in all of that (a folder outside git collected twice in one second: runs of
    one commit replace each other, runs without one do not) also name their run id.
    """
    labels = {
        str(r["run_id"]): " · ".join(
            [
                f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
                str(r["project"]),
                r["commit"] or "no commit",
                str(r["status"]),
            ]
        )
        for r in runs.iter_rows(named=True)
    }
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {
        run_id: f"{label} · run {run_id}" if seen[label] > 1 else label for run_id, label in labels.items()
    }


def _tool_details(db: str, version: str, run_id: str) -> pl.DataFrame:
    del version
    (frame,) = read(
        db,
        (
            """SELECT tool, status, tool_version, duration_s, files, cached_files, error, config_hash, command
               FROM tool_runs WHERE run_id = ? ORDER BY tool""",
            [run_id],
        ),
    )
    return frame


def tool_details(db: str, version: str, run_id: str, *, ttl_s: int) -> pl.DataFrame:
    """Per-analyzer status, version, duration, files and error of one run."""
    return cached(_tool_details, ttl_s)(db, version, run_id)


def _alert_view(db: str, version: str, view: str, project: str | None) -> pl.DataFrame | None:
    del version
    if view not in ALERT_VIEWS or view not in existing_views(db):
        return None
    order = {
        "alert_states": "state, project, gate",
        "outbox": "created_at DESC",
    }[view]
    where, params = ("project = ?", [project]) if project else ("true", [])
    if project and view == "outbox":
        # Messages about no project (test notifications) went to every project's routes.
        where = "(project = ? OR project IS NULL)"
    source = f"({OUTBOX_DISPLAY})" if view == "outbox" else view
    (frame,) = read(db, (f"SELECT * FROM {source} WHERE {where} ORDER BY {order} LIMIT 5000", params))
    return frame


def alert_states(db: str, version: str, *, project: str | None, ttl_s: int) -> pl.DataFrame | None:
    """Current state of every gate (``None`` when the alerts schema is not there)."""
    return cached(_alert_view, ttl_s)(db, version, "alert_states", project)


def _gate_history(db: str, version: str, project: str | None) -> pl.DataFrame | None:
    del version
    if "gate_results" not in existing_views(db):
        return None
    # On the time axis of the runs (commit time), not of the evaluation: a backfill evaluates
    # months of history in one minute.
    where, params = ("g.project = ?", [project]) if project else ("true", [])
    (frame,) = read(
        db,
        (
            f"""SELECT coalesce(r.committed_at, r.started_at) AS ts, g.*, r.commit_sha, r.author
                FROM gate_results g JOIN runs r USING (run_id)
                WHERE {where} ORDER BY ts DESC LIMIT 5000""",
            params,
        ),
    )
    return frame


def gate_history(db: str, version: str, *, project: str | None, ttl_s: int) -> pl.DataFrame | None:
    """Gate results with their run's time, newest first (at most 5,000); ``None`` without alerts."""
    return cached(_gate_history, ttl_s)(db, version, project)


def outbox(db: str, version: str, *, project: str | None, ttl_s: int) -> pl.DataFrame | None:
    """Outbox messages with endpoints masked, newest first, or ``None`` without the schema.

    With a ``project``, its messages and those about no project (test notifications).
    """
    frame = cached(_alert_view, ttl_s)(db, version, "outbox", project)
    if frame is None or "endpoint" not in frame.columns:
        return frame
    # Read through storage's OUTBOX_DISPLAY, as `notify --list` shows them.
    return frame.with_columns(pl.col("endpoint").map_elements(mask_endpoint, return_dtype=pl.String))


def gate_rule(gate: GateLine) -> str:
    """A configured gate's condition without its metric, of any kind: ``min=70``,
    ``max_worsening_percent=1 against=previous consecutive=3``."""
    if gate.rule:
        return gate.rule.removeprefix(f"{gate.metric} ")
    bounds = {"min": gate.min, "max": gate.max}
    return " ".join(f"{key}={value:g}" for key, value in bounds.items() if value is not None)


def not_evaluated(projects: Sequence[str], gates: Sequence[GateLine], states: pl.DataFrame) -> list[str]:
    """The ``projects`` that a configured gate applies to but that have no state for it.

    Gates are evaluated when a run is stored (``collect``, ``check``, ``backfill``, the
    scheduler), with the gates configured at that time: generated demo data and runs stored
    before a gate was added have no state for it until a run is evaluated again.
    """
    known = set(states.select("project", "gate").iter_rows())
    return [
        project
        for project in projects
        if any(matching(g.projects, project) and (project, g.gate) not in known for g in gates)
    ]


# Narrower than this, plotly ticks the time axis in seconds and milliseconds (11:20:01.3655).
_MIN_TIME_SPAN = timedelta(hours=1)


def history_range(times: pl.Series) -> list[datetime] | None:
    """The time axis of the gate history, on whole minutes, when plotly's own would be too
    narrow: a single instant gets a day either side (as the trend charts do), a span under an
    hour is widened to an hour around its middle. ``None``: leave the axis to plotly."""
    if times.is_empty():
        return None
    first, last = times.min(), times.max()
    if not isinstance(first, datetime) or not isinstance(last, datetime):
        return None
    span = last - first
    if span >= _MIN_TIME_SPAN:
        return None
    half = timedelta(days=1) if span == timedelta(0) else _MIN_TIME_SPAN / 2
    start = (first + span / 2 - half).replace(second=0, microsecond=0)
    return [start, start + 2 * half + timedelta(minutes=1)]


_USERINFO = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:@/]*):(?P<secret>[^@/]+)@", re.IGNORECASE
)
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&+][^=&]*(?:pass|token|secret|key|auth|sig)[^=&]*=)[^&]+", re.IGNORECASE
)
_LONG_TOKEN = re.compile(r"(?<=/)(?P<head>[A-Za-z0-9_-]{2})[A-Za-z0-9_-]{10,}")


def mask_endpoint(endpoint: str | None) -> str | None:
    """Mask passwords, tokens and long path secrets in an endpoint URL (defence in depth).

    The alerts layer stores endpoints masked already; a page must never show a secret even if
    an older row or another writer did not.
    """
    if endpoint is None:
        return None
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:****@", endpoint)
    text = _QUERY_SECRET.sub(lambda m: f"{m['key']}****", text)
    return _LONG_TOKEN.sub(lambda m: f"{m['head']}****", text)
