"""Migrations 0002 and 0007: tables for gate results, alert state, the notification outbox
and job runs, and the outbox's notify type.

The tables are internal; the dashboard and analysts read the views ``gate_results``,
``alert_states``, ``outbox`` and ``job_runs``. No table ever holds a notification URL: the
outbox keeps the route name and the URL's index in that route (resolved from the settings at
delivery time) and the URL *masked* for display.
"""

from __future__ import annotations

__all__ = [
    "ALERT_STATEMENTS",
    "ALERT_VIEWS",
    "ANNOUNCED_STATE_STATEMENTS",
    "JOB_DETAIL_STATEMENTS",
    "NOTIFY_TYPE_STATEMENTS",
]

# The views as migration 0002 created them (before the outbox's notify type), kept so that
# 0002 still builds exactly the schema that release wrote.
_ALERT_VIEWS_V2: dict[str, str] = {
    "gate_results": """
        SELECT run_id, project, gate, metric, state, value, threshold, reference_value,
               detail, evaluated_at, raw_state, reference_run_id
        FROM gate_result_record
    """,
    "alert_states": """
        SELECT project, gate, state, since, since_run_id, consecutive_failures,
               last_notified_at, last_run_id, updated_at, streak_run_id
        FROM alert_state_record
    """,
    "outbox": """
        SELECT message_id, route, endpoint, purpose, project, title, status, attempts,
               created_at, next_attempt_at, delivered_at, last_error, dedup_key, body_format
        FROM outbox_record
    """,
    "job_runs": """
        SELECT job, started_at, finished_at, status, error FROM job_run_record
    """,
}

ALERT_STATEMENTS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS gate_result_record (
        run_id VARCHAR NOT NULL,
        project VARCHAR NOT NULL,
        gate VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        state VARCHAR NOT NULL CHECK (state IN ('pass', 'fail', 'no_data', 'stale')),
        raw_state VARCHAR NOT NULL,
        value DOUBLE,
        threshold DOUBLE,
        reference_value DOUBLE,
        reference_run_id VARCHAR,
        detail VARCHAR NOT NULL,
        evaluated_at TIMESTAMP NOT NULL,
        PRIMARY KEY (run_id, gate)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS alert_state_record (
        project VARCHAR NOT NULL,
        gate VARCHAR NOT NULL,
        state VARCHAR NOT NULL,
        since TIMESTAMP,
        since_run_id VARCHAR,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_notified_at TIMESTAMP,
        last_run_id VARCHAR,
        last_point_ts TIMESTAMP,
        updated_at TIMESTAMP NOT NULL,
        streak_run_id VARCHAR,
        PRIMARY KEY (project, gate)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS outbox_record (
        message_id VARCHAR PRIMARY KEY,
        dedup_key VARCHAR NOT NULL UNIQUE,
        route VARCHAR NOT NULL,
        url_index INTEGER NOT NULL,
        endpoint VARCHAR NOT NULL,
        purpose VARCHAR NOT NULL,
        project VARCHAR,
        title VARCHAR NOT NULL,
        body VARCHAR NOT NULL,
        body_format VARCHAR NOT NULL,
        status VARCHAR NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TIMESTAMP NOT NULL,
        next_attempt_at TIMESTAMP NOT NULL,
        delivered_at TIMESTAMP,
        last_error VARCHAR,
        claimed_until TIMESTAMP
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS channel_breaker (
        channel VARCHAR PRIMARY KEY,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        open_until TIMESTAMP,
        opened_count INTEGER NOT NULL DEFAULT 0,
        updated_at TIMESTAMP NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS job_run_record (
        job VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP NOT NULL,
        status VARCHAR NOT NULL CHECK (status IN ('succeeded', 'failed', 'skipped')),
        error VARCHAR
    )
    """,
    "CREATE INDEX IF NOT EXISTS gate_result_project_idx ON gate_result_record (project, gate)",
    "CREATE INDEX IF NOT EXISTS outbox_status_idx ON outbox_record (status, next_attempt_at)",
    *(f"CREATE OR REPLACE VIEW {name} AS {body}" for name, body in _ALERT_VIEWS_V2.items()),
]

_ALERT_VIEWS_V7: dict[str, str] = {
    **_ALERT_VIEWS_V2,
    "outbox": """
        SELECT message_id, route, endpoint, purpose, project, title, status, attempts,
               created_at, next_attempt_at, delivered_at, last_error, dedup_key, body_format,
               notify_type
        FROM outbox_record
    """,
}

ALERT_VIEWS: dict[str, str] = {
    **_ALERT_VIEWS_V7,
    "job_runs": """
        SELECT job, started_at, finished_at, status, error, detail FROM job_run_record
    """,
}
"""The public views of the alert tables, as the newest migration leaves them."""

# Migration 0007: each message stores its Apprise notify type (failure, warning, success,
# info) instead of having it read back from its title and body. Messages queued before it are
# ``info``. DuckDB refuses to alter a table that an index depends on, so the outbox's index is
# dropped and built again around the new column.
NOTIFY_TYPE_STATEMENTS: list[str] = [
    "DROP INDEX IF EXISTS outbox_status_idx",
    "ALTER TABLE outbox_record ADD COLUMN notify_type VARCHAR NOT NULL DEFAULT 'info'",
    "CREATE INDEX IF NOT EXISTS outbox_status_idx ON outbox_record (status, next_attempt_at)",
    *(f"CREATE OR REPLACE VIEW {name} AS {body}" for name, body in _ALERT_VIEWS_V7.items()),
]

# Migration 0008: what people were last told about each gate. A backfill moves the state through
# a project's history quietly (so a streak counts every failing commit and `since` is the commit
# that changed it); only the newest run announces, and it compares the state with this column.
# States written before were announced when they changed, so they start out as told.
ANNOUNCED_STATE_STATEMENTS: list[str] = [
    "ALTER TABLE alert_state_record ADD COLUMN announced_state VARCHAR",
    "UPDATE alert_state_record SET announced_state = state",
]

# Migration 0010: what a scheduler job did, in a line (``detail``): the run a collect stored
# and its gates, how many raw points the maintenance job dropped, how many messages a flush
# delivered. Jobs recorded before it have none.
JOB_DETAIL_STATEMENTS: list[str] = [
    "ALTER TABLE job_run_record ADD COLUMN detail VARCHAR",
    f"CREATE OR REPLACE VIEW job_runs AS {ALERT_VIEWS['job_runs']}",
]
