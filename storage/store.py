"""The metric store: one DuckDB file with runs, tool runs, measures, findings and rollups.

Every write goes through :func:`storage.connection.write_connection` (cross-process writer
lock, connection closed right after) and happens in one transaction; reads use short
read-only connections that retry while a writer holds the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from storage import rollup_bulk, rollups
from storage.connection import read_connection, write_connection
from storage.errors import DatabaseBusyError, SchemaVersionError, StoreError
from storage.migrations import SCHEMA_VERSION, migrate, pending
from storage.models import FindingRecord, MetricSpec, RunRecord, RunResult

__all__ = ["MetricStore"]

_TS = pl.Datetime("us")
MEASURE_SCHEMA: dict[str, Any] = {
    "ts": _TS,
    "project": pl.String,
    "metric": pl.String,
    "value": pl.Float64,
    "run_id": pl.String,
    "commit_sha": pl.String,
}
FINDING_COLUMNS = (
    "run_id", "project", "tool", "rule", "severity", "confidence", "path", "line", "col",
    "message", "fingerprint",
)
RUN_COLUMNS = (
    "run_id", "project", "commit_sha", "committed_at", "author", "branch", "message", "dirty",
    "path", "trigger", "started_at", "finished_at", "status", "point_ts",
)


class MetricStore:
    """A DuckDB metric store at ``path``.

    ``write_timeout_s`` bounds the wait for the cross-process writer lock;
    ``read_timeout_s`` bounds a reader's retries while a writer holds the file.
    """

    def __init__(
        self, path: Path | str, *, write_timeout_s: float = 120.0, read_timeout_s: float = 30.0
    ) -> None:
        self.path = Path(path)
        self.write_timeout_s = write_timeout_s
        self.read_timeout_s = read_timeout_s
        self._migrated = False

    # -- connections -----------------------------------------------------------------------

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection under the writer lock, schema up to date. Caller owns BEGIN."""
        with write_connection(self.path, timeout_s=self.write_timeout_s) as con:
            if not self._migrated:
                self._migrate(con)
            yield con

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short read-only connection; upgrades an older file first (briefly as a writer)."""
        if not self._migrated:
            self.ensure_schema()
        with read_connection(self.path, timeout_s=self.read_timeout_s) as con:
            yield con

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writer connection inside ``BEGIN``/``COMMIT``; rolled back on any exception."""
        with self.writer() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def ensure_schema(self) -> list[str]:
        """Create or upgrade the database file; return the migrations applied.

        Checks read-only first, so an up-to-date file is never opened for writing by a reader.
        """
        if self.path.exists():
            with read_connection(self.path, timeout_s=self.read_timeout_s) as con:
                try:
                    todo = pending(con)
                except SchemaVersionError as error:
                    raise SchemaVersionError(f"{self.path}: {error}") from None
                except duckdb.Error as error:
                    raise StoreError(f"{self.path} is not a flext-quality database: {error}") from error
            if not todo:
                self._migrated = True
                return []
            try:
                with write_connection(self.path, timeout_s=self.write_timeout_s) as con:
                    return self._migrate(con)
            except DatabaseBusyError:
                raise
            except StoreError as error:
                if not any(why in str(error) for why in _NOT_WRITABLE):
                    raise
                # An older file on read-only storage (a mounted backup, an immutable copy):
                # this version can read it only once upgraded.
                raise StoreError(
                    f"{self.path} was written by an older flext-quality and needs "
                    f"{_names(todo)} before this version can read it, but it cannot be written "
                    "here: run `flext-quality migrate` where it can, or read it with the version "
                    "that wrote it"
                ) from None
        with write_connection(self.path, timeout_s=self.write_timeout_s) as con:
            return self._migrate(con)

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        try:
            applied = migrate(con)
        except SchemaVersionError as error:
            raise SchemaVersionError(f"{self.path}: {error}") from None
        self._migrated = True
        return applied

    @property
    def schema_version(self) -> int:
        """The newest schema version this code writes."""
        return SCHEMA_VERSION

    # -- writing ---------------------------------------------------------------------------

    def append_run(self, result: RunResult) -> str:
        """Store a run with its tool records, measures and findings in one transaction.

        A run for the same project and commit replaces the earlier one (and its measures,
        findings and rollup contributions) instead of adding a second copy.
        """
        return self.append_runs([result])[0]

    def append_runs(self, results: Sequence[RunResult]) -> list[str]:
        """Store several runs, each in its own transaction, on one writer connection.

        The same as :meth:`append_run` for each result in order, without opening and closing
        the database file per run (backfill stores a few buffered runs at a time this way).
        """
        if not results:
            return []
        with self.writer() as con:
            for result in results:
                con.execute("BEGIN TRANSACTION")
                try:
                    self._append(con, result)
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
        return [result.run.run_id for result in results]

    def _append(self, con: duckdb.DuckDBPyConnection, result: RunResult) -> None:
        run = result.run
        replaced = self._delete_commit(con, run)
        con.register("_run_df", _run_frame(result))
        con.execute(f"INSERT INTO run_record SELECT {', '.join(RUN_COLUMNS)} FROM _run_df")
        con.register("_tool_df", _tool_frame(result))
        con.execute("INSERT INTO tool_record SELECT * FROM _tool_df")
        con.register("_finding_df", _finding_frame(run.run_id, run.project, result.findings))
        con.execute(
            f"INSERT INTO finding_record SELECT {', '.join(FINDING_COLUMNS)} FROM _finding_df"
        )
        points = pl.DataFrame(
            {
                "ts": [run.point_time] * len(result.measures),
                "project": [run.project] * len(result.measures),
                "metric": list(result.measures),
                "value": [float(v) for v in result.measures.values()],
                "run_id": [run.run_id] * len(result.measures),
                "commit_sha": [run.commit_sha] * len(result.measures),
            },
            schema=MEASURE_SCHEMA,
        )
        con.register("_points_df", points)
        con.execute("INSERT INTO measure_point SELECT * FROM _points_df")
        if replaced:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _touched AS "
                "SELECT * FROM _replaced UNION ALL SELECT ts, project, metric FROM _points_df"
            )
            rollups.recompute_keys(con, "_touched")
            con.execute("DROP TABLE IF EXISTS _touched")
        else:
            rollups.merge_run(con, run.project, run.point_time, result.measures)
        con.execute("DROP TABLE IF EXISTS _replaced")
        self._upsert_catalogue(con, result.catalogue)
        for name in ("_run_df", "_tool_df", "_finding_df", "_points_df"):
            con.unregister(name)

    def _delete_commit(self, con: duckdb.DuckDBPyConnection, run: RunRecord) -> bool:
        """Delete an earlier run of the same project and commit (or the same run id).

        A run of a dirty working tree replaces only an earlier dirty run of that commit: the
        commit's own (clean) run stays, and a clean run leaves the dirty ones alone. A failed
        run replaces only failed runs (see ``_SAME_COMMIT``).

        The deleted points' keys are left in the temp table ``_replaced`` for the rollups.
        Points are found by project and time (a run's points carry its point time), which
        DuckDB answers from zone maps instead of scanning every run id.
        """
        rows = con.execute(
            f"SELECT run_id, project, point_ts FROM run_record WHERE run_id = ? OR ({_SAME_COMMIT})",
            [run.run_id, *_same_commit_params(run)],
        ).fetchall()
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _replaced "
            "(ts TIMESTAMP, project VARCHAR, metric VARCHAR)"
        )
        if not rows:
            return False
        old_ids = sorted({str(r[0]) for r in rows})
        points = (
            "FROM measure_point WHERE project IN (SELECT unnest(?::VARCHAR[])) "
            "AND ts BETWEEN ? AND ? AND ts IN (SELECT unnest(?::TIMESTAMP[])) "
            "AND run_id IN (SELECT unnest(?::VARCHAR[]))"
        )
        times = sorted({r[2] for r in rows})
        params = [sorted({str(r[1]) for r in rows}), times[0], times[-1], times, old_ids]
        con.execute(f"INSERT INTO _replaced SELECT ts, project, metric {points}", params)
        con.execute(f"DELETE {points}", params)
        # The replaced run's gate results go too: the new run is evaluated afresh.
        for table in ("finding_record", "tool_record", "gate_result_record", "run_record"):
            con.execute(
                f"DELETE FROM {table} WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [old_ids]
            )
        return True

    def replaced_run(self, run: RunRecord) -> str | None:
        """The stored run that appending ``run`` would replace (same project, commit and
        dirtiness, another run id; for a failed run, a failed one), if any."""
        if not self.path.exists():
            return None
        rows = self.fetch(
            f"SELECT run_id FROM run_record WHERE ({_SAME_COMMIT}) AND run_id <> ?",
            [*_same_commit_params(run), run.run_id],
        )
        return str(rows[0][0]) if rows else None

    def _upsert_catalogue(
        self, con: duckdb.DuckDBPyConnection, catalogue: Sequence[MetricSpec]
    ) -> None:
        if not catalogue:
            return
        frame = pl.DataFrame([asdict(spec) for spec in catalogue]).unique("name", keep="last")
        con.register("_catalogue_df", frame)
        con.execute(
            "INSERT OR REPLACE INTO metric_catalogue "
            "SELECT name, unit, direction, aggregation, description, tool FROM _catalogue_df"
        )
        con.unregister("_catalogue_df")

    def write_catalogue(self, catalogue: Sequence[MetricSpec]) -> None:
        """Record the metric catalogue (also done with every stored run)."""
        with self.transaction() as con:
            self._upsert_catalogue(con, catalogue)

    def ingest_points(self, points: pl.DataFrame, runs: pl.DataFrame | None = None) -> int:
        """Bulk-append measures (and optionally their runs) through Arrow; return points added.

        ``points`` has the columns of the ``measures`` view, each point at its run's point
        time; ``runs`` has those of ``run_record``. Rollups are merged in the same transaction.
        Meant for imports and generated data: unlike :meth:`append_run` it does not replace
        earlier data of the same commits.
        """
        points = points.select([pl.col(c).cast(t) for c, t in MEASURE_SCHEMA.items()])
        try:
            self._ingest(points, runs)
        except _DuplicateRunsError:
            raise self._duplicate_runs(runs) from None
        return points.height

    def _ingest(self, points: pl.DataFrame, runs: pl.DataFrame | None) -> None:
        with self.transaction() as con, ThreadPoolExecutor(max_workers=1) as pool:
            known: pl.DataFrame = con.sql("SELECT series_id, project, metric FROM series").pl()
            # The new series ids and the rollups are computed in memory (polars and numpy
            # release the GIL) while DuckDB writes the raw points, so the two overlap on a
            # multi-core machine. The writer lock keeps the series table as read meanwhile.
            pending = pool.submit(
                rollup_bulk.bulk_aggregates, points.select("ts", "project", "metric", "value"), known
            )
            if runs is not None and runs.height:
                con.register("_runs_df", runs.select(RUN_COLUMNS))
                try:
                    con.execute("INSERT INTO run_record SELECT * FROM _runs_df")
                except duckdb.ConstraintException as error:
                    raise _DuplicateRunsError from error
                con.unregister("_runs_df")
            con.register("_bulk_df", points)
            con.execute("INSERT INTO measure_point SELECT * FROM _bulk_df")
            con.unregister("_bulk_df")
            aggregates = pending.result()
            con.register("_new_series_df", aggregates.new_series)
            con.execute("INSERT INTO series SELECT series_id, project, metric FROM _new_series_df")
            con.unregister("_new_series_df")
            for grain, frame in aggregates.grains.items():
                con.register("_agg_bulk", frame)
                rollups.merge_aggregates(con, grain, "_agg_bulk", ordered=True)
                con.unregister("_agg_bulk")

    def _duplicate_runs(self, runs: pl.DataFrame | None) -> StoreError:
        """The one-line error for a bulk ingest whose runs are stored already (or repeated)."""
        ids = runs.get_column("run_id") if runs is not None else pl.Series("run_id", [], pl.String)
        repeated = ids.filter(ids.is_duplicated()).sort()
        if repeated.len():
            return StoreError(f"run id {repeated[0]!r} appears more than once in the runs to ingest")
        with self.reader() as con:
            con.register("_ids", ids.to_frame())
            count, first = con.execute(
                "SELECT count(*), min(run_id) FROM _ids WHERE run_id IN (SELECT run_id FROM run_record)"
            ).fetchone() or (0, None)
        return StoreError(
            f"{count} of the runs to ingest are stored already (first: {first!r}): a bulk ingest "
            "adds new runs only (collecting a commit again replaces its data)"
        )

    def rebuild_rollups(self) -> None:
        """Recompute every rollup from the raw measures (``flext-quality rollup --rebuild``)."""
        with self.transaction() as con:
            rollups.rebuild(con)

    # -- reading ---------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[object] | None = None) -> pl.DataFrame:
        """Run a trusted read-only query (our own SQL) and return a polars frame."""
        with self.reader() as con:
            frame: pl.DataFrame = con.sql(sql, params=list(params) if params else None).pl()
            return frame

    def fetch(self, sql: str, params: Sequence[object] | None = None) -> list[tuple[Any, ...]]:
        """Run a trusted read-only query and return plain tuples."""
        with self.reader() as con:
            return con.execute(sql, list(params) if params else []).fetchall()


# One commit's run: a re-collect replaces it. A dirty working tree is not its commit, so only
# runs of the same dirtiness replace each other. (commit_sha = NULL never matches.) A run that
# measured nothing (``failed``: every analyzer failed, say a crash during a CI retry) replaces
# only failed runs: the commit's measured run stays, and the failed attempt is kept beside it.
_SAME_COMMIT = "project = ? AND commit_sha = ? AND dirty = ? AND (? <> 'failed' OR status = 'failed')"


# How the system says a file cannot be written (DuckDB passes its words on).
_NOT_WRITABLE = ("Permission denied", "Operation not permitted", "Read-only file system")


def _names(todo: Sequence[tuple[int, str, object]]) -> str:
    """``migration 0010_x`` or ``migrations 0009_a to 0011_c``."""
    if len(todo) == 1:
        return f"migration {todo[0][1]}"
    return f"migrations {todo[0][1]} to {todo[-1][1]}"


class _DuplicateRunsError(Exception):
    """A bulk ingest hit the run_record key (turned into a StoreError after the rollback)."""


def _run_frame(result: RunResult) -> pl.DataFrame:
    run = result.run
    row = {
        "run_id": run.run_id, "project": run.project, "commit_sha": run.commit_sha,
        "committed_at": run.committed_at, "author": run.author, "branch": run.branch,
        "message": run.message, "dirty": run.dirty, "path": run.path, "trigger": run.trigger,
        "started_at": run.started_at, "finished_at": run.finished_at, "status": run.status,
        "point_ts": run.point_time,
    }
    schema = {
        c: (_TS if c in ("committed_at", "started_at", "finished_at", "point_ts")
            else pl.Boolean if c == "dirty" else pl.String)
        for c in RUN_COLUMNS
    }
    return pl.DataFrame([row], schema=schema)


def _tool_frame(result: RunResult) -> pl.DataFrame:
    rows = [
        {
            "run_id": result.run.run_id, "tool": t.tool, "tool_version": t.tool_version,
            "status": t.status, "duration_s": float(t.duration_s),
            "command": json.dumps(list(t.command)), "error": t.error,
            "config_hash": t.config_hash, "files": t.files, "cached_files": t.cached_files,
        }
        for t in result.tools
    ]
    schema = {
        "run_id": pl.String, "tool": pl.String, "tool_version": pl.String, "status": pl.String,
        "duration_s": pl.Float64, "command": pl.String, "error": pl.String,
        "config_hash": pl.String, "files": pl.Int64, "cached_files": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def _finding_frame(run_id: str, project: str, findings: Sequence[FindingRecord]) -> pl.DataFrame:
    schema = {
        "run_id": pl.String, "project": pl.String, "tool": pl.String, "rule": pl.String,
        "severity": pl.String, "confidence": pl.String, "path": pl.String, "line": pl.Int32,
        "col": pl.Int32, "message": pl.String, "fingerprint": pl.String,
    }
    return pl.DataFrame(
        {
            "run_id": [run_id] * len(findings),
            "project": [project] * len(findings),
            "tool": [f.tool for f in findings],
            "rule": [f.rule for f in findings],
            "severity": [f.severity for f in findings],
            "confidence": [f.confidence for f in findings],
            "path": [f.path for f in findings],
            "line": [f.line for f in findings],
            "col": [f.col for f in findings],
            "message": [f.message for f in findings],
            "fingerprint": [f.fingerprint for f in findings],
        },
        schema=schema,
    )


def _same_commit_params(run: RunRecord) -> list[object]:
    return [run.project, run.commit_sha, run.dirty, run.status]
