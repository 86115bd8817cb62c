"""Schema migrations: a new file, an older schema upgraded in place, a newer one refused."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from store_helpers import T0, cli, make_run

from storage.errors import SchemaVersionError
from storage.migrations import MIGRATIONS, SCHEMA_VERSION
from storage.store import MetricStore

ALL_NAMES = [name for _, name, _ in MIGRATIONS]
VIEWS = {"runs", "tool_runs", "measures", "findings", "metrics",
         "measures_daily", "measures_weekly", "measures_monthly"}


def _ledger(path: Path) -> list[tuple[int, str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [(int(v), str(n)) for v, n in
                con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()]
    finally:
        con.close()


def test_an_empty_file_gets_every_migration(tmp_path: Path) -> None:
    store = MetricStore(tmp_path / "new.duckdb")
    assert store.ensure_schema() == ALL_NAMES
    assert _ledger(store.path) == [(v, n) for v, n, _ in MIGRATIONS]
    names = {r[0] for r in store.fetch("SELECT table_name FROM information_schema.tables")}
    assert names >= VIEWS
    assert store.ensure_schema() == []  # idempotent
    assert store.schema_version == SCHEMA_VERSION


def _database_at_0001(path: Path) -> None:
    """Apply migration 0001 by hand, as an early release would have left the file, with data."""
    version, name, apply = MIGRATIONS[0]
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                    "name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
        apply(con)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, datetime(2026, 1, 1)])
        con.execute("INSERT INTO run_record (run_id, project, commit_sha, committed_at, trigger, "
                    "started_at, finished_at, status, point_ts) VALUES "
                    "('old', 'p', 'c0', ?, 'manual', ?, ?, 'succeeded', ?)", [T0] * 4)
        con.execute("INSERT INTO measure_point VALUES (?, 'p', 'm', 2.0, 'old', 'c0')", [T0])
        for grain in ("day", "week", "month"):
            con.execute(f"INSERT INTO rollup_{grain} VALUES (date_trunc('{grain}', ?::TIMESTAMP), "
                        "'p', 'm', 2.0, 2.0, 2.0, 1, ?, 2.0)", [T0, T0])
    finally:
        con.close()


def test_an_older_schema_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _database_at_0001(path)
    store = MetricStore(path)
    indexes = "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'run_record'"
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute(indexes).fetchall() == [("run_project_idx",)]  # 0001 created it
    con.close()
    assert store.ensure_schema() == ALL_NAMES[1:]
    assert _ledger(path) == [(v, n) for v, n, _ in MIGRATIONS]
    assert store.fetch("SELECT run_id, value FROM measures") == [("old", 2.0)]
    assert store.fetch(indexes) == []  # 0006 dropped it
    # The upgraded file takes new runs, and its rollups keep merging exactly.
    store.append_run(make_run("p", "c1", {"m": 4.0}, T0.replace(hour=12)))
    assert store.fetch("SELECT min_value, max_value, mean_value, last_value, n FROM measures_daily") == [
        (2.0, 4.0, 3.0, 4.0, 2)
    ]


def test_the_first_write_upgrades_an_older_file_too(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _database_at_0001(path)
    MetricStore(path).append_run(make_run("p", "c1", {"m": 1.0}))
    assert [n for _, n in _ledger(path)] == ALL_NAMES


def _database_from_the_future(path: Path) -> None:
    MetricStore(path).ensure_schema()
    con = duckdb.connect(str(path))
    try:
        con.execute("INSERT INTO schema_migrations VALUES (?, '0999_from_the_future', ?)",
                    [SCHEMA_VERSION + 100, datetime(2030, 1, 1)])
    finally:
        con.close()


def test_a_newer_schema_is_refused_for_reading_and_writing(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    _database_from_the_future(path)
    with pytest.raises(SchemaVersionError, match="0999_from_the_future") as info:
        MetricStore(path).ensure_schema()
    message = str(info.value)
    assert str(path) in message and "upgrade flext-quality" in message
    assert ALL_NAMES[-1] in message
    with pytest.raises(SchemaVersionError):
        MetricStore(path).append_run(make_run("p", "c1", {"m": 1.0}))
    with pytest.raises(SchemaVersionError):
        MetricStore(path).query("SELECT 1")
    # Nothing was written to the newer file.
    assert max(v for v, _ in _ledger(path)) == SCHEMA_VERSION + 100
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM run_record").fetchall() == [(0,)]
    con.close()


def test_the_cli_refuses_a_newer_schema_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    _database_from_the_future(path)
    done = cli("--db", str(path), "migrate", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "0999_from_the_future" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
