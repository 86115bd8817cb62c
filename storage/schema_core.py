"""Migration 0001: the core tables, the rollup tables and the public views.

Internal tables carry a ``_`` prefix-free but distinct name from the public views, so that the
analyst-facing contract (the views) can stay stable while tables change.
"""

from __future__ import annotations

__all__ = ["CORE_STATEMENTS", "PUBLIC_VIEWS", "ROLLUP_TABLES"]

ROLLUP_TABLES: dict[str, str] = {
    "day": "rollup_day",
    "week": "rollup_week",
    "month": "rollup_month",
}

_ROLLUP_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    bucket TIMESTAMP NOT NULL,
    project VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    min_value DOUBLE NOT NULL,
    max_value DOUBLE NOT NULL,
    sum_value DOUBLE NOT NULL,
    n BIGINT NOT NULL,
    last_ts TIMESTAMP NOT NULL,
    last_value DOUBLE NOT NULL,
    PRIMARY KEY (project, metric, bucket)
)
"""

CORE_STATEMENTS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS run_record (
        run_id VARCHAR PRIMARY KEY,
        project VARCHAR NOT NULL,
        commit_sha VARCHAR,
        committed_at TIMESTAMP,
        author VARCHAR,
        branch VARCHAR,
        message VARCHAR,
        dirty BOOLEAN NOT NULL DEFAULT false,
        path VARCHAR,
        trigger VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP NOT NULL,
        status VARCHAR NOT NULL,
        point_ts TIMESTAMP NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS tool_record (
        run_id VARCHAR NOT NULL,
        tool VARCHAR NOT NULL,
        tool_version VARCHAR,
        status VARCHAR NOT NULL,
        duration_s DOUBLE NOT NULL,
        command VARCHAR NOT NULL,
        error VARCHAR,
        config_hash VARCHAR,
        files BIGINT NOT NULL DEFAULT 0,
        cached_files BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, tool)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS measure_point (
        ts TIMESTAMP NOT NULL,
        project VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        value DOUBLE NOT NULL,
        run_id VARCHAR NOT NULL,
        commit_sha VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS finding_record (
        run_id VARCHAR NOT NULL,
        project VARCHAR NOT NULL,
        tool VARCHAR NOT NULL,
        rule VARCHAR NOT NULL,
        severity VARCHAR NOT NULL,
        confidence VARCHAR,
        path VARCHAR NOT NULL,
        line INTEGER,
        col INTEGER,
        message VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS metric_catalogue (
        name VARCHAR PRIMARY KEY,
        unit VARCHAR NOT NULL,
        direction VARCHAR NOT NULL,
        aggregation VARCHAR NOT NULL,
        description VARCHAR NOT NULL,
        tool VARCHAR NOT NULL
    )
    """,
    *(_ROLLUP_DDL.format(table=t) for t in ROLLUP_TABLES.values()),
    "CREATE INDEX IF NOT EXISTS run_project_idx ON run_record (project, commit_sha)",
    "CREATE INDEX IF NOT EXISTS measure_run_idx ON measure_point (run_id)",
    "CREATE INDEX IF NOT EXISTS finding_run_idx ON finding_record (run_id)",
]

PUBLIC_VIEWS: dict[str, str] = {
    "runs": """
        SELECT run_id, project, commit_sha, committed_at, author, branch, trigger,
               started_at, finished_at, status, message, dirty, path
        FROM run_record
    """,
    "tool_runs": """
        SELECT run_id, tool, tool_version, status, duration_s, command, error,
               config_hash, files, cached_files
        FROM tool_record
    """,
    "measures": "SELECT ts, project, metric, value, run_id, commit_sha FROM measure_point",
    "findings": """
        SELECT run_id, project, tool, rule, severity, path, line, col, message, fingerprint,
               confidence
        FROM finding_record
    """,
    "metrics": "SELECT name, unit, direction, aggregation, description, tool FROM metric_catalogue",
    **{
        f"measures_{label}": f"""
        SELECT bucket, project, metric, min_value, max_value, sum_value / n AS mean_value,
               last_value, n
        FROM {ROLLUP_TABLES[grain]}
        """
        for grain, label in (("day", "daily"), ("week", "weekly"), ("month", "monthly"))
    },
}
