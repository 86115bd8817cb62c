"""Named, ordered schema migrations, recorded in the database itself.

Opening an older database applies the missing migrations in order, each in its own
transaction; opening a database that records a migration this code does not know refuses
with :class:`~storage.errors.SchemaVersionError`, so an old binary never writes into a newer
schema.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import duckdb

from storage.errors import SchemaVersionError, StoreError
from storage.schema_alerts import (
    ALERT_STATEMENTS,
    ANNOUNCED_STATE_STATEMENTS,
    JOB_DETAIL_STATEMENTS,
    NOTIFY_TYPE_STATEMENTS,
)
from storage.schema_cache import CACHE_STATEMENTS
from storage.schema_core import (
    CORE_STATEMENTS,
    LAYOUT_STATEMENTS,
    PUBLIC_VIEWS,
    PUBLIC_VIEWS_V1,
    RUN_INDEX_STATEMENTS,
    STATE_STATEMENTS,
)
from storage.schema_retention import DERIVE_DROPPED, DERIVE_UNRECORDED_STATEMENTS, DROPPED_STATEMENTS

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "applied_versions", "migrate", "pending"]

Migration = tuple[int, str, Callable[[duckdb.DuckDBPyConnection], None]]


def _run_all(statements: list[str]) -> Callable[[duckdb.DuckDBPyConnection], None]:
    def apply(con: duckdb.DuckDBPyConnection) -> None:
        for statement in statements:
            con.execute(statement)

    return apply


def _create_views(con: duckdb.DuckDBPyConnection, views: dict[str, str]) -> None:
    for name, body in views.items():
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {body}")


def _core(con: duckdb.DuckDBPyConnection) -> None:
    _run_all(CORE_STATEMENTS)(con)
    _create_views(con, PUBLIC_VIEWS_V1)


def _layout(con: duckdb.DuckDBPyConnection) -> None:
    _run_all(LAYOUT_STATEMENTS)(con)
    _create_views(con, PUBLIC_VIEWS)


def _dropped_record(con: duckdb.DuckDBPyConnection) -> None:
    _run_all(DROPPED_STATEMENTS)(con)
    cutoff = con.execute("SELECT value FROM store_state WHERE key = 'retention_cutoff'").fetchall()
    if cutoff:
        # Retention ran before this migration: derive what it dropped from the rollups.
        for statement in DERIVE_DROPPED.values():
            con.execute(statement, [datetime.fromisoformat(str(cutoff[0][0]))])


MIGRATIONS: tuple[Migration, ...] = (
    (1, "0001_core", _core),
    (2, "0002_alerts", _run_all(ALERT_STATEMENTS)),
    (3, "0003_blob_cache", _run_all(CACHE_STATEMENTS)),
    (4, "0004_series_rollups", _layout),
    (5, "0005_store_state", _run_all(STATE_STATEMENTS)),
    (6, "0006_drop_run_commit_index", _run_all(RUN_INDEX_STATEMENTS)),
    (7, "0007_outbox_notify_type", _run_all(NOTIFY_TYPE_STATEMENTS)),
    (8, "0008_alert_announced_state", _run_all(ANNOUNCED_STATE_STATEMENTS)),
    (9, "0009_retention_dropped_record", _dropped_record),
    (10, "0010_job_run_detail", _run_all(JOB_DETAIL_STATEMENTS)),
    (11, "0011_dropped_record_without_cutoff", _run_all(DERIVE_UNRECORDED_STATEMENTS)),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL
)
"""


def applied_versions(con: duckdb.DuckDBPyConnection) -> dict[int, str]:
    """The migrations recorded in the database (empty for a new file)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchall()
    if exists[0][0] == 0:
        return {}
    rows = con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    return {int(v): str(n) for v, n in rows}


def pending(con: duckdb.DuckDBPyConnection) -> list[Migration]:
    """Migrations this database still needs; raises if it is newer than this code."""
    applied = applied_versions(con)
    known = {version for version, _, _ in MIGRATIONS}
    unknown = sorted(set(applied) - known)
    if unknown:
        names = ", ".join(applied[v] for v in unknown)
        raise SchemaVersionError(
            f"database schema is newer than this flext-quality (it has {names}; "
            f"this version knows up to {MIGRATIONS[-1][1]}): upgrade flext-quality"
        )
    return [m for m in MIGRATIONS if m[0] not in applied]


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every pending migration, each in one transaction; return the names applied."""
    con.execute(_LEDGER)
    done: list[str] = []
    for version, name, apply in pending(con):
        con.execute("BEGIN TRANSACTION")
        try:
            apply(con)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [version, name, datetime.now(UTC).replace(tzinfo=None)],
            )
            con.execute("COMMIT")
        except (duckdb.Error, ValueError, TypeError) as error:
            # A file this code cannot upgrade (damaged, or edited by hand: a value a step reads
            # that does not parse): one line naming the step; the migrations before it are
            # kept, this one is rolled back.
            con.execute("ROLLBACK")
            reason = " ".join(str(error).split())
            raise StoreError(f"cannot upgrade the database: migration {name} failed: {reason}") from None
        except BaseException:
            con.execute("ROLLBACK")
            raise
        done.append(name)
    return done
