"""Rollups: per series (project and metric), per day, ISO week (Monday) and month.

Each rollup row keeps min, max, sum, count and the last value (with its time), so that a
mean is ``sum / n`` and two partial rollups merge exactly. The last value is the value at the
latest time; at equal times the larger value wins, so that incremental merging and
recomputation from raw points always agree.

How they stay exact and cheap:

* a series (project, metric) has an integer id (table ``series``); rollup rows are keyed by
  ``(series_id, bucket)`` and written clustered that way, so that DuckDB's zone maps skip every
  row group but a series' own (zone maps on strings only keep an 8-byte prefix, useless for
  names like ``project-0001``);
* appending points aggregates them per day once, derives week and month from those day
  aggregates (a day never straddles a week or a month), then *updates* the stored rows with
  the same keys and inserts the keys that are new;
* bulk loads aggregate in memory on sorted arrays (:mod:`storage.rollup_bulk`: one pass, no
  hash table) and insert rows already in clustered order;
* replacing a commit's points recomputes the touched buckets, since a minimum cannot be
  "un-merged": from the raw measures merged with the record of the points retention dropped
  from those buckets (``dropped_*``, see :mod:`storage.schema_retention`), so a bucket keeps
  the contributions of points that are no longer stored. A rebuild does the same for every
  bucket.

What cannot be exact: re-collecting a commit whose own raw points retention dropped. Its old
values are gone, so they cannot be taken out of the dropped record; they stay counted beside
the new run's (retention keeps each project's newest run, the one a scheduled collect of an
unchanged project replaces, so this takes re-collecting an old commit on purpose).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from storage.schema_core import ROLLUP_TABLES
from storage.schema_retention import DROPPED_TABLES

__all__ = [
    "GRAINS",
    "ROLLUP_COLUMNS",
    "ensure_series",
    "merge_aggregates",
    "merge_points",
    "merge_run",
    "rebuild",
    "recompute_keys",
    "record_dropped",
    "retention_cutoff",
]

GRAINS: tuple[str, ...] = tuple(ROLLUP_TABLES)
ROLLUP_COLUMNS = "series_id, bucket, min_value, max_value, sum_value, n, last_ts, last_value"

_POINT_AGG = """
    min(value) AS min_value, max(value) AS max_value, sum(value) AS sum_value,
    count(*) AS n, max(ts) AS last_ts, arg_max(value, (ts, value)) AS last_value
"""
_ROLLUP_AGG = """
    min(min_value) AS min_value, max(max_value) AS max_value, sum(sum_value) AS sum_value,
    sum(n)::BIGINT AS n, max(last_ts) AS last_ts,
    arg_max(last_value, (last_ts, last_value)) AS last_value
"""


def ensure_series(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Give every (project, metric) pair of relation ``source`` a series id."""
    con.execute(
        f"""
        INSERT INTO series
        SELECT (SELECT coalesce(max(series_id), 0) FROM series)
               + row_number() OVER (ORDER BY project, metric), project, metric
        FROM (SELECT DISTINCT project, metric FROM {source}) fresh
        WHERE NOT EXISTS (SELECT 1 FROM series s
                          WHERE s.project = fresh.project AND s.metric = fresh.metric)
        """
    )


def _day_aggregate(source: str) -> str:
    return (
        f"SELECT s.series_id, date_trunc('day', p.ts) AS bucket, {_POINT_AGG} "
        f"FROM {source} p JOIN series s USING (project, metric) GROUP BY ALL"
    )


def _regroup(source: str, grain: str) -> str:
    """Day aggregates of ``source`` folded into ``grain`` buckets."""
    if grain == "day":
        return f"SELECT {ROLLUP_COLUMNS} FROM {source}"
    return (
        f"SELECT series_id, date_trunc('{grain}', bucket) AS bucket, {_ROLLUP_AGG} "
        f"FROM {source} GROUP BY ALL"
    )


# Filters on stored rollup rows ``r`` that zone maps answer: series id and bucket ranges.
_PRUNE = (
    "r.series_id BETWEEN ? AND ? "
    "AND r.bucket BETWEEN date_trunc('{grain}', ?::TIMESTAMP) AND ?"
)


_UPDATE = """
    UPDATE {table} r SET
        min_value = least(r.min_value, a.min_value),
        max_value = greatest(r.max_value, a.max_value),
        sum_value = r.sum_value + a.sum_value,
        n = r.n + a.n,
        last_ts = greatest(r.last_ts, a.last_ts),
        last_value = CASE WHEN (a.last_ts, a.last_value) > (r.last_ts, r.last_value)
                          THEN a.last_value ELSE r.last_value END
    FROM {source} a
    WHERE r.series_id = a.series_id AND r.bucket = a.bucket AND {prune}
"""
# Run after _UPDATE: inserts the keys the update did not find (the other way round would
# count the new rows twice).
_INSERT_NEW = """
    INSERT INTO {table}
    SELECT a.series_id, a.bucket, a.min_value, a.max_value, a.sum_value, a.n, a.last_ts,
           a.last_value
    FROM {source} a
    WHERE NOT EXISTS (
        SELECT 1 FROM {table} r
        WHERE r.series_id = a.series_id AND r.bucket = a.bucket AND {prune})
"""


def _bounds(con: duckdb.DuckDBPyConnection, source: str) -> list[object] | None:
    rows = con.execute(
        f"SELECT min(series_id), max(series_id), min(bucket), max(bucket) FROM {source}"
    ).fetchall()
    return None if rows[0][0] is None else list(rows[0])


def merge_aggregates(
    con: duckdb.DuckDBPyConnection, grain: str, source: str, *, ordered: bool = False
) -> None:
    """Merge ``source`` (rollup rows of ``grain``: series_id, bucket, ...) into its table.

    Stored rows with the same key are updated in place; keys seen for the first time are
    inserted. ``ordered`` says ``source`` is sorted by (series_id, bucket), so a plain insert
    keeps the table clustered.
    """
    _merge_into(con, ROLLUP_TABLES[grain], grain, source, ordered=ordered)


def _merge_into(
    con: duckdb.DuckDBPyConnection, table: str, grain: str, source: str, *, ordered: bool = False
) -> None:
    """:func:`merge_aggregates` into ``table`` (a rollup table or a dropped record of ``grain``)."""
    bounds = _bounds(con, source)
    if bounds is None:
        return
    prune = _PRUNE.format(grain=grain)
    overlap = con.execute(f"SELECT count(*) FROM {table} r WHERE {prune}", bounds).fetchall()
    if overlap[0][0] == 0:
        # Nothing stored yet for these series and times (bulk loads): a plain insert.
        order = "" if ordered else " ORDER BY series_id, bucket"
        con.execute(f"INSERT INTO {table} SELECT {ROLLUP_COLUMNS} FROM {source}{order}")
        return
    con.execute(_UPDATE.format(table=table, source=source, prune=prune), bounds)
    con.execute(_INSERT_NEW.format(table=table, source=source, prune=prune), bounds)


def merge_points(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Merge the points of relation ``source`` (ts, project, metric, value) into every rollup.

    Runs inside the caller's transaction; meant for a run's few points (bulk loads use
    :func:`bulk_aggregates` and :func:`merge_aggregates`).
    """
    ensure_series(con, source)
    _merge_point_aggregates(con, source, ROLLUP_TABLES)


def record_dropped(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Merge the points of relation ``source`` (ts, project, metric, value) into the record
    of what retention dropped (``dropped_day``, ``dropped_week``, ``dropped_month``).

    Call it in the transaction that deletes those points, for points whose series exist.
    """
    _merge_point_aggregates(con, source, DROPPED_TABLES)


def _merge_point_aggregates(
    con: duckdb.DuckDBPyConnection, source: str, tables: dict[str, str]
) -> None:
    con.execute(f"CREATE OR REPLACE TEMP TABLE _agg_day AS {_day_aggregate(source)}")
    for grain, table in tables.items():
        if grain == "day":
            _merge_into(con, table, grain, "_agg_day")
        else:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _agg_up AS {_regroup('_agg_day', grain)}"
            )
            _merge_into(con, table, grain, "_agg_up")
    con.execute("DROP TABLE IF EXISTS _agg_day")
    con.execute("DROP TABLE IF EXISTS _agg_up")


def _trunc(ts: datetime, grain: str) -> datetime:
    day = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def merge_run(
    con: duckdb.DuckDBPyConnection, project: str, ts: datetime, measures: dict[str, float]
) -> None:
    """Merge one run's measures (one point per metric, all at ``ts``) into every rollup.

    The same result as :func:`merge_points`, in fewer statements: a run's aggregates are
    known without a query (each series has one point), so only the series ids are looked up
    and each grain takes an UPDATE, then an INSERT only for keys the UPDATE did not find.
    """
    if not measures:
        return
    names = list(measures)
    lookup = (
        "SELECT metric, series_id FROM series "
        "WHERE project = ? AND metric IN (SELECT unnest(?::VARCHAR[]))"
    )
    ids = dict(con.execute(lookup, [project, names]).fetchall())
    if len(ids) < len(names):
        con.register("_new_series", pl.DataFrame({"project": [project] * len(names), "metric": names}))
        ensure_series(con, "_new_series")
        con.unregister("_new_series")
        ids = dict(con.execute(lookup, [project, names]).fetchall())
    values = [float(measures[n]) for n in names]
    series_ids = [int(ids[n]) for n in names]
    low, high = min(series_ids), max(series_ids)
    for grain, table in ROLLUP_TABLES.items():
        bucket = _trunc(ts, grain)
        frame = pl.DataFrame(
            {
                "series_id": series_ids, "bucket": [bucket] * len(names), "min_value": values,
                "max_value": values, "sum_value": values, "n": [1] * len(names),
                "last_ts": [ts] * len(names), "last_value": values,
            },
            schema={"series_id": pl.Int32, "bucket": pl.Datetime("us"), "min_value": pl.Float64,
                    "max_value": pl.Float64, "sum_value": pl.Float64, "n": pl.Int64,
                    "last_ts": pl.Datetime("us"), "last_value": pl.Float64},
        )
        con.register("_run_agg", frame)
        prune = "r.series_id BETWEEN ? AND ? AND r.bucket = ?"
        updated = con.execute(_UPDATE.format(table=table, source="_run_agg", prune=prune),
                              [low, high, bucket]).fetchall()
        if updated[0][0] < len(names):
            con.execute(_INSERT_NEW.format(table=table, source="_run_agg", prune=prune),
                        [low, high, bucket])
        con.unregister("_run_agg")


def recompute_keys(con: duckdb.DuckDBPyConnection, keys: str) -> None:
    """Recompute the buckets touched by relation ``keys`` (ts, project, metric).

    Used after points were deleted (a commit's data replaced), where merging is not possible.
    A bucket is recomputed from its raw measures merged with the record of the points
    retention dropped from it; a bucket left with neither is removed.
    """
    ensure_series(con, keys)  # a replacing run may bring metrics never seen before
    projects = [str(r[0]) for r in con.execute(f"SELECT DISTINCT project FROM {keys}").fetchall()]
    for grain, table in ROLLUP_TABLES.items():
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _keys AS
            SELECT DISTINCT s.series_id, date_trunc('{grain}', k.ts) AS bucket
            FROM {keys} k JOIN series s USING (project, metric)
            """
        )
        bounds = _bounds(con, "_keys")
        if bounds is None:
            continue
        prune = _PRUNE.format(grain=grain)
        touched = "(r.series_id, r.bucket) IN (SELECT (series_id, bucket) FROM _keys)"
        con.execute(f"DELETE FROM {table} r WHERE {prune} AND {touched}", bounds)
        interval = {"day": "1 day", "week": "7 days", "month": "1 month"}[grain]
        con.execute(
            f"""
            INSERT INTO {table}
            SELECT series_id, bucket, {_ROLLUP_AGG} FROM (
                SELECT s.series_id, date_trunc('{grain}', m.ts) AS bucket, {_POINT_AGG}
                FROM measure_point m JOIN series s USING (project, metric)
                WHERE m.project IN (SELECT unnest(?::VARCHAR[]))
                  AND m.ts >= ? AND m.ts < ?::TIMESTAMP + INTERVAL '{interval}'
                  AND (s.series_id, date_trunc('{grain}', m.ts)) IN
                      (SELECT (series_id, bucket) FROM _keys)
                GROUP BY ALL
                UNION ALL
                SELECT {ROLLUP_COLUMNS} FROM {DROPPED_TABLES[grain]} r
                WHERE {prune} AND {touched}
            )
            GROUP BY ALL
            ORDER BY 1, 2
            """,
            [projects, bounds[2], bounds[3], *bounds],
        )
    con.execute("DROP TABLE IF EXISTS _keys")


def retention_cutoff(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The time before which retention may have dropped raw points (None: nothing dropped).

    Information only: what was dropped is in the ``dropped_*`` record, which every
    recomputation of a bucket uses.
    """
    rows = con.execute("SELECT value FROM store_state WHERE key = 'retention_cutoff'").fetchall()
    return datetime.fromisoformat(str(rows[0][0])) if rows else None


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild the rollups, clustered by series and bucket: from the raw measures, merged
    with the record of the points retention dropped (so buckets that lost raw points keep
    their contributions)."""
    ensure_series(con, "measure_point")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _agg_day AS {_day_aggregate('measure_point')}")
    for grain, table in ROLLUP_TABLES.items():
        con.execute(f"DELETE FROM {table}")
        con.execute(
            f"""
            INSERT INTO {table}
            SELECT series_id, bucket, {_ROLLUP_AGG} FROM (
                {_regroup('_agg_day', grain)}
                UNION ALL
                SELECT {ROLLUP_COLUMNS} FROM {DROPPED_TABLES[grain]}
            )
            GROUP BY ALL
            ORDER BY series_id, bucket
            """
        )
    con.execute("DROP TABLE IF EXISTS _agg_day")
