"""Rollups: per project and metric, per day, ISO week (Monday) and month.

Each rollup row keeps min, max, sum, count and the last value (with its time), so that a
mean is ``sum / n`` and two partial rollups merge exactly. Appending points merges their
aggregates into the stored rows; replacing a commit's points recomputes the touched buckets
from the raw measures. The last value is the value at the latest time; at equal times the
larger value wins, so that incremental merging and recomputation always agree.
"""

from __future__ import annotations

import duckdb

from storage.schema_core import ROLLUP_TABLES

__all__ = ["GRAINS", "merge_points", "rebuild", "recompute_keys"]

GRAINS: tuple[str, ...] = tuple(ROLLUP_TABLES)


def _aggregate(source: str, grain: str) -> str:
    return f"""
        SELECT date_trunc('{grain}', ts) AS bucket, project, metric,
               min(value) AS min_value, max(value) AS max_value, sum(value) AS sum_value,
               count(*) AS n, max(ts) AS last_ts, arg_max(value, (ts, value)) AS last_value
        FROM {source}
        GROUP BY ALL
    """


def _bounds(con: duckdb.DuckDBPyConnection, table: str) -> tuple[list[str], object, object]:
    projects = [str(r[0]) for r in con.execute(f"SELECT DISTINCT project FROM {table}").fetchall()]
    low, high = con.execute(f"SELECT min(bucket), max(bucket) FROM {table}").fetchall()[0]
    return projects, low, high


def merge_points(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Merge the points of relation ``source`` (ts, project, metric, value) into every rollup.

    Runs inside the caller's transaction. The filters on project and bucket bounds let DuckDB
    skip row groups, so one run's merge stays cheap on a database of many millions of rows.
    """
    for grain, table in ROLLUP_TABLES.items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE _agg AS {_aggregate(source, grain)}")
        projects, low, high = _bounds(con, "_agg")
        if not projects:
            continue
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _old AS
            SELECT r.* FROM {table} r
            WHERE r.project IN (SELECT unnest(?::VARCHAR[])) AND r.bucket BETWEEN ? AND ?
              AND (r.project, r.metric, r.bucket) IN (SELECT (project, metric, bucket) FROM _agg)
            """,
            [projects, low, high],
        )
        if con.execute("SELECT count(*) FROM _old").fetchall()[0][0]:
            con.execute(
                f"""
                DELETE FROM {table} r
                WHERE r.project IN (SELECT unnest(?::VARCHAR[])) AND r.bucket BETWEEN ? AND ?
                  AND (r.project, r.metric, r.bucket) IN (SELECT (project, metric, bucket) FROM _old)
                """,
                [projects, low, high],
            )
        con.execute(
            f"""
            INSERT INTO {table}
            SELECT bucket, project, metric, min(min_value), max(max_value), sum(sum_value),
                   sum(n), max(last_ts), arg_max(last_value, (last_ts, last_value))
            FROM (SELECT * FROM _agg UNION ALL SELECT * FROM _old)
            GROUP BY ALL
            """
        )
    con.execute("DROP TABLE IF EXISTS _agg")
    con.execute("DROP TABLE IF EXISTS _old")


def recompute_keys(con: duckdb.DuckDBPyConnection, keys: str) -> None:
    """Recompute, from raw measures, the buckets touched by relation ``keys`` (ts, project, metric).

    Used after points were deleted (a commit's data replaced, or retention), where merging is
    not possible. Buckets left without any raw point are removed.
    """
    for grain, table in ROLLUP_TABLES.items():
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _keys AS
            SELECT DISTINCT date_trunc('{grain}', ts) AS bucket, project, metric FROM {keys}
            """
        )
        projects, low, high = _bounds(con, "_keys")
        if not projects:
            continue
        con.execute(
            f"""
            DELETE FROM {table} r
            WHERE r.project IN (SELECT unnest(?::VARCHAR[])) AND r.bucket BETWEEN ? AND ?
              AND (r.project, r.metric, r.bucket) IN (SELECT (project, metric, bucket) FROM _keys)
            """,
            [projects, low, high],
        )
        interval = {"day": "1 day", "week": "7 days", "month": "1 month"}[grain]
        con.execute(
            f"""
            INSERT INTO {table}
            {_aggregate(
                f"(SELECT m.ts, m.project, m.metric, m.value FROM measure_point m "
                f"WHERE m.project IN (SELECT unnest(?::VARCHAR[])) "
                f"AND m.ts >= ? AND m.ts < ?::TIMESTAMP + INTERVAL '{interval}' "
                f"AND (m.project, m.metric, date_trunc('{grain}', m.ts)) IN "
                f"(SELECT (project, metric, bucket) FROM _keys))",
                grain,
            )}
            """,
            [projects, low, high],
        )
    con.execute("DROP TABLE IF EXISTS _keys")


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild every rollup from the raw measures, clustered by project and metric."""
    for grain, table in ROLLUP_TABLES.items():
        con.execute(f"DELETE FROM {table}")
        con.execute(
            f"INSERT INTO {table} SELECT * FROM ({_aggregate('measure_point', grain)}) "
            "ORDER BY project, metric, bucket"
        )
