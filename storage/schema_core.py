"""Migrations 0001 and 0004: the core tables, the rollup tables and the public views.

Internal tables carry a ``_`` prefix-free but distinct name from the public views, so that the
analyst-facing contract (the views) can stay stable while tables change.
"""

from __future__ import annotations

__all__ = [
    "CORE_STATEMENTS",
    "LAYOUT_STATEMENTS",
    "PUBLIC_VIEWS",
    "PUBLIC_VIEWS_V1",
    "ROLLUP_ROW_DDL",
    "ROLLUP_TABLES",
    "RUN_INDEX_STATEMENTS",
    "STATE_STATEMENTS",
]

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

# Migration 0004. The 20-million-point benchmark showed three things. (1) DuckDB's zone maps keep
# only an 8-byte prefix of a string's min/max, so rollup rows clustered by project name
# ("project-0001", "project-0002", ...) could not be skipped: every series query scanned the
# whole table. (2) Maintaining the rollup primary keys and the index on measure_point.run_id made
# bulk ingest several times slower than a plain insert. (3) Grouping on two strings is slow.
# So a series (project, metric) gets an integer id, rollups are keyed and clustered by
# (series_id, bucket) without an index, and the run index is dropped (a run's points are found
# by project and time). The public views keep their columns.
#: The columns of a rollup row since 0004 (also of retention's record of dropped points, 0009).
ROLLUP_ROW_DDL = """
    series_id INTEGER NOT NULL,
    bucket TIMESTAMP NOT NULL,
    min_value DOUBLE NOT NULL,
    max_value DOUBLE NOT NULL,
    sum_value DOUBLE NOT NULL,
    n BIGINT NOT NULL,
    last_ts TIMESTAMP NOT NULL,
    last_value DOUBLE NOT NULL
"""
_ROLLUP_V4 = "CREATE TABLE {table}_v4 (" + ROLLUP_ROW_DDL + ")"

LAYOUT_STATEMENTS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS series (
        series_id INTEGER PRIMARY KEY,
        project VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        UNIQUE (project, metric)
    )
    """,
    """
    INSERT INTO series
    SELECT row_number() OVER (ORDER BY project, metric), project, metric FROM (
        SELECT DISTINCT project, metric FROM measure_point
        UNION SELECT DISTINCT project, metric FROM rollup_day
    )
    """,
    "DROP INDEX IF EXISTS measure_run_idx",
    *(
        statement
        for table in ROLLUP_TABLES.values()
        for statement in (
            _ROLLUP_V4.format(table=table),
            f"""
            INSERT INTO {table}_v4
            SELECT s.series_id, r.bucket, r.min_value, r.max_value, r.sum_value, r.n,
                   r.last_ts, r.last_value
            FROM {table} r JOIN series s USING (project, metric)
            ORDER BY s.series_id, r.bucket
            """,
            f"DROP TABLE {table}",
            f"ALTER TABLE {table}_v4 RENAME TO {table}",
        )
    ),
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
        SELECT r.bucket, s.project, s.metric, r.min_value, r.max_value,
               r.sum_value / r.n AS mean_value, r.last_value, r.n
        FROM {ROLLUP_TABLES[grain]} r JOIN series s USING (series_id)
        """
        for grain, label in (("day", "daily"), ("week", "weekly"), ("month", "monthly"))
    },
}

# Migration 0005: small facts about the store itself. ``retention_cutoff`` is the latest time
# before which raw points may have been dropped (information; since 0009 what retention drops
# is recorded per bucket in ``dropped_*``, see storage.schema_retention).
STATE_STATEMENTS: list[str] = [
    "CREATE TABLE IF NOT EXISTS store_state (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
]

# Migration 0006: the index on run_record (project, commit_sha) answered no query (a commit's
# earlier run is looked up with ``run_id = ? OR (...)``, which DuckDB does not serve from an
# ART index), yet building and checkpointing it cost about a second per million bulk-loaded
# runs. A scan of run_record finds a commit's run in a few milliseconds.
RUN_INDEX_STATEMENTS: list[str] = ["DROP INDEX IF EXISTS run_project_idx"]

# The rollup views as migration 0001 created them (before series ids), kept so that
# 0001 still builds exactly the schema an early release wrote.
PUBLIC_VIEWS_V1: dict[str, str] = {
    **PUBLIC_VIEWS,
    **{
        f"measures_{label}": f"""
        SELECT bucket, project, metric, min_value, max_value, sum_value / n AS mean_value,
               last_value, n
        FROM {ROLLUP_TABLES[grain]}
        """
        for grain, label in (("day", "daily"), ("week", "weekly"), ("month", "monthly"))
    },
}
