"""Retention and export: the store's housekeeping jobs."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from storage.errors import StoreError
from storage.rollups import record_dropped, retention_cutoff
from storage.sandbox import PUBLIC_VIEW_NAMES
from storage.schema_alerts import ALERT_VIEWS
from storage.store import MetricStore

__all__ = ["EXPORTABLE_VIEWS", "apply_retention", "export_view"]

#: Every public view: the metric views and the alert views (gate results, states, outbox, jobs).
EXPORTABLE_VIEWS: tuple[str, ...] = (*PUBLIC_VIEW_NAMES, *ALERT_VIEWS)


def apply_retention(store: MetricStore, *, max_age_days: int, now: datetime) -> int:
    """Drop raw measures older than ``max_age_days``; return how many were dropped.

    Only points whose day, week and month buckets are already in the rollups are dropped, and
    the aggregate of what is dropped is merged into the dropped record in the same
    transaction, so any later recomputation of those buckets (a commit re-collected, a
    rebuild) still counts them. Each project's newest run (clean, and dirty) keeps its points:
    a scheduled collect of a project without new commits replaces that run, and a replaced
    run's values must still be stored to be taken out of its buckets.
    """
    cutoff = now - timedelta(days=max_age_days)
    with store.transaction() as con:
        # A point is safe to drop when the monthly rollup of its bucket exists; day and week
        # rollups are maintained in the same transaction as the monthly one.
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _drop AS
            SELECT m.rowid AS rid, m.ts, m.project, m.metric, m.value FROM measure_point m
            WHERE m.ts < ?
              AND EXISTS (SELECT 1 FROM rollup_month r JOIN series s USING (series_id)
                          WHERE s.project = m.project AND s.metric = m.metric
                            AND r.bucket = date_trunc('month', m.ts))
              AND m.run_id NOT IN (
                  SELECT run_id FROM run_record
                  QUALIFY point_ts = max(point_ts) OVER (PARTITION BY project, dirty))
            """,
            [cutoff],
        )
        dropped = int(con.execute("SELECT count(*) FROM _drop").fetchall()[0][0])
        if dropped:
            record_dropped(con, "_drop")
            con.execute("DELETE FROM measure_point WHERE rowid IN (SELECT rid FROM _drop)")
        con.execute("DROP TABLE _drop")
        # Remember how far back points may be missing (information; the dropped record is
        # what recomputations use).
        previous = retention_cutoff(con)
        if dropped and (previous is None or cutoff > previous):
            con.execute(
                "INSERT OR REPLACE INTO store_state VALUES ('retention_cutoff', ?)",
                [cutoff.isoformat()],
            )
    return dropped


def export_view(
    store: MetricStore, view: str, fmt: Literal["parquet", "csv"], output: Path
) -> int:
    """Write a public view to a Parquet or CSV file; return the number of rows."""
    if view not in EXPORTABLE_VIEWS:
        raise StoreError(f"unknown view {view!r}: choose one of {', '.join(EXPORTABLE_VIEWS)}")
    frame = store.query(f"SELECT * FROM {view}")
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.write_parquet(output)
    else:
        frame.write_csv(output)
    return frame.height
