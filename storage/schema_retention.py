"""Migration 0009: the record of what retention dropped, so that rollups stay exact after it.

Retention deletes old raw points; a bucket that lost some of them can still be recomputed
later (a commit re-collected, a rollup rebuild), and a recomputation from the remaining raw
points alone would lose the dropped ones. So retention merges the aggregate of every point it
drops into ``dropped_day``, ``dropped_week`` and ``dropped_month`` (the columns and merge
rules of the rollup tables, keyed by series id and bucket), and every recomputation merges a
bucket's remaining raw points with its dropped record. Internal tables, not a public view.
"""

from __future__ import annotations

from storage.schema_core import ROLLUP_ROW_DDL, ROLLUP_TABLES

__all__ = ["DERIVE_DROPPED", "DERIVE_UNRECORDED_STATEMENTS", "DROPPED_STATEMENTS", "DROPPED_TABLES"]

DROPPED_TABLES: dict[str, str] = {
    "day": "dropped_day",
    "week": "dropped_week",
    "month": "dropped_month",
}

# Like the rollup tables since 0004: no key or index (written in (series_id, bucket) order by
# retention, read a few buckets at a time through zone maps).
_DROPPED_DDL = "CREATE TABLE IF NOT EXISTS {table} (" + ROLLUP_ROW_DDL + ")"

# A database where retention ran before 0009 has no record of the dropped points: derive it
# from the rollups, which still count them, minus the raw points that remain. Only buckets
# that start before the cutoff (retention's latest, kept in store_state; the one parameter)
# can have lost points. With no cutoff stored, retention never dropped anything and the
# migration does not run these.
#
# * n and the sum are exact: the rollup's minus the remaining raw points'. A bucket without a
#   remaining raw point (every bucket that ends at or before the cutoff, unless points were
#   added at old times later) is its rollup row unchanged.
# * min and max are the rollup's. That is exact when the extreme lies beyond every remaining
#   raw point (it must then be a dropped point's); otherwise the dropped points' extreme is not
#   known, and the rollup's is the choice that leaves the bucket's values as they are while its
#   raw points stay (merging gives back the rollup's min and max).
# * last: when the rollup's (last_ts, last_value) is later than every remaining raw point's, it
#   is a dropped point's, and exact. Otherwise a raw point holds it, and the dropped record gets
#   a last that never wins over that raw point: at the earlier of the cutoff's previous
#   microsecond and that raw point's time, with the bucket's minimum (at equal times the
#   larger value wins). Unknown but harmless while that raw point stays.
_DERIVE_DROPPED = """
INSERT INTO {dropped}
WITH cut AS (SELECT ?::TIMESTAMP AS cutoff),
raw AS (
    SELECT s.series_id, date_trunc('{grain}', m.ts) AS bucket, sum(m.value) AS sum_value,
           count(*) AS n, max(m.ts) AS last_ts, arg_max(m.value, (m.ts, m.value)) AS last_value
    FROM measure_point m JOIN series s USING (project, metric), cut
    WHERE date_trunc('{grain}', m.ts) < cut.cutoff
    GROUP BY ALL
),
kept AS (
    SELECT r.*, raw.n AS raw_n, raw.sum_value AS raw_sum, raw.last_ts AS raw_last_ts,
           raw.n IS NULL OR (r.last_ts, r.last_value) > (raw.last_ts, raw.last_value)
               AS last_dropped,
           cut.cutoff
    FROM {rollup} r CROSS JOIN cut LEFT JOIN raw USING (series_id, bucket)
    WHERE r.bucket < cut.cutoff AND r.n > coalesce(raw.n, 0) {unrecorded}
)
SELECT series_id, bucket, min_value, max_value,
       CASE WHEN raw_n IS NULL THEN sum_value ELSE sum_value - raw_sum END,
       n - coalesce(raw_n, 0),
       CASE WHEN last_dropped THEN last_ts
            ELSE least(cutoff - INTERVAL 1 MICROSECOND, raw_last_ts) END,
       CASE WHEN last_dropped THEN last_value ELSE min_value END
FROM kept
ORDER BY series_id, bucket
"""

DROPPED_STATEMENTS: list[str] = [_DROPPED_DDL.format(table=t) for t in DROPPED_TABLES.values()]

#: Per grain, the statement that fills the dropped record from the rollups (parameter: the cutoff).
DERIVE_DROPPED: dict[str, str] = {
    grain: _DERIVE_DROPPED.format(dropped=table, rollup=ROLLUP_TABLES[grain], grain=grain,
                                  unrecorded="")
    for grain, table in DROPPED_TABLES.items()
}

# Migration 0011. Retention run by a release before 0005 recorded no cutoff, so 0009 derived
# nothing for it, and a later recomputation of such a bucket (a rebuild, a commit re-collected)
# lost its dropped points. A bucket whose rollup counts more points than its raw points, with
# no dropped record, can only be one of those (every write since keeps rollup = raw + dropped):
# derive its record the same way, with no cutoff (every bucket; the dropped last, when a raw
# point holds the bucket's last, sits at that point's time and never wins over it). States
# written before 0008 keep the time they were evaluated as ``since``: set it to the point time
# of the run that moved the gate, as every later state has it.
DERIVE_UNRECORDED_STATEMENTS: list[str] = [
    *(
        _DERIVE_DROPPED.replace("?::TIMESTAMP", "'infinity'::TIMESTAMP").format(
            dropped=table, rollup=ROLLUP_TABLES[grain], grain=grain,
            unrecorded=f"AND NOT EXISTS (SELECT 1 FROM {table} d "
                       "WHERE d.series_id = r.series_id AND d.bucket = r.bucket)",
        )
        for grain, table in DROPPED_TABLES.items()
    ),
    """
    UPDATE alert_state_record SET since = r.point_ts
    FROM run_record r
    WHERE r.run_id = alert_state_record.since_run_id AND alert_state_record.since <> r.point_ts
    """,
]
