"""Data of the Runs, Gates and alerts, and SQL pages."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from dashboard.data import ALERT_VIEWS, cached, existing_views, read
from storage.sandbox import PUBLIC_VIEW_NAMES, SandboxResult, run_sandboxed

__all__ = [
    "EXAMPLE_QUERIES",
    "alert_states",
    "csv_bytes",
    "gate_history",
    "mask_endpoint",
    "outbox",
    "parquet_bytes",
    "recent_runs",
    "run_query",
    "schema",
    "tool_details",
]

EXAMPLE_QUERIES: dict[str, str] = {
    "Newest value of every metric of one project": (
        "SELECT metric, arg_max(value, ts) AS value, max(ts) AS at\n"
        "FROM measures\nWHERE project = (SELECT min(project) FROM runs)\nGROUP BY metric\nORDER BY metric"
    ),
    "Weekly mean quality score per project": (
        "SELECT project, bucket AS week, round(mean_value, 1) AS score\n"
        "FROM measures_weekly\nWHERE metric = 'quality.score'\nORDER BY project, week"
    ),
    "Projects by number of runs and failures": (
        "SELECT project, count(*) AS runs, count(*) FILTER (WHERE status <> 'succeeded') AS not_ok,\n"
        "       max(started_at) AS last_run\nFROM runs\nGROUP BY project\nORDER BY not_ok DESC, runs DESC"
    ),
    "Slowest analyzers": (
        "SELECT tool, round(avg(duration_s), 2) AS mean_s, round(max(duration_s), 2) AS max_s,\n"
        "       count(*) FILTER (WHERE status = 'failed') AS failures\n"
        "FROM tool_runs\nGROUP BY tool\nORDER BY mean_s DESC"
    ),
    "Most frequent rules in the newest runs": (
        "WITH latest AS (\n  SELECT project, arg_max(run_id, coalesce(committed_at, started_at)) AS run_id\n"
        "  FROM runs GROUP BY project\n)\nSELECT tool, rule, count(*) AS findings\n"
        "FROM findings JOIN latest USING (run_id)\nGROUP BY tool, rule\nORDER BY findings DESC\nLIMIT 20"
    ),
    "The metric catalogue": "SELECT * FROM metrics ORDER BY name",
}


def _schema(db: str, version: str) -> pl.DataFrame:
    del version
    names = [*PUBLIC_VIEW_NAMES, *sorted(existing_views(db))]
    (frame,) = read(
        db,
        (
            """SELECT table_name AS view, column_name AS column, data_type AS type, ordinal_position
               FROM information_schema.columns
               WHERE table_schema = 'main' AND table_name IN (SELECT unnest(?::VARCHAR[]))
               ORDER BY table_name, ordinal_position""",
            [names],
        ),
    )
    return frame.drop("ordinal_position")


def schema(db: str, version: str, *, ttl_s: int) -> dict[str, pl.DataFrame]:
    """The public views (and the alert views that exist) with their columns and types."""
    frame = cached(_schema, ttl_s)(db, version)
    return {str(name): part.drop("view") for (name,), part in frame.group_by("view", maintain_order=True)}


def _run_query(
    db: str, version: str, sql: str, timeout_s: float, row_limit: int, memory_limit: str
) -> SandboxResult:
    del version
    return run_sandboxed(Path(db), sql, timeout_s=timeout_s, row_limit=row_limit, memory_limit=memory_limit)


def run_query(
    db: str, version: str, sql: str, *, timeout_s: float, row_limit: int, memory_limit: str, ttl_s: int
) -> SandboxResult:
    """Run a user query in the SQL sandbox (cached, so reruns of the page do not run it again).

    Raises :class:`storage.errors.SandboxError` with a readable reason when it is refused.
    """
    return cached(_run_query, ttl_s)(db, version, sql, timeout_s, row_limit, memory_limit)


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """The frame as CSV (nested values as JSON text, which CSV cannot hold otherwise)."""
    return _flat(frame).write_csv().encode("utf-8")


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """The frame as a Parquet file in memory."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    nested = [c for c, t in frame.schema.items() if t.is_nested()]
    return frame.with_columns(pl.Series(c, _as_json(frame[c].to_list()), pl.String) for c in nested)


def _as_json(values: list[object]) -> list[str | None]:
    return [None if v is None else json.dumps(v, default=str) for v in values]


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
            SELECT r.started_at, r.project, r.status, r.trigger, r.commit_sha, r.author, r.branch,
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
    """The newest runs (optionally of one project, some statuses, some triggers) with tool summary."""
    return cached(_recent_runs, ttl_s)(db, version, project, tuple(statuses), tuple(triggers), limit)


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
    (frame,) = read(db, (f"SELECT * FROM {view} WHERE {where} ORDER BY {order} LIMIT 5000", params))
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
    """Outbox messages with endpoints masked, newest first, or ``None`` without the schema."""
    frame = cached(_alert_view, ttl_s)(db, version, "outbox", project)
    if frame is None or "endpoint" not in frame.columns:
        return frame
    return frame.with_columns(pl.col("endpoint").map_elements(mask_endpoint, return_dtype=pl.String))


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
