"""Schema migrations: a new file, an older schema upgraded in place, a newer one refused."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from store_helpers import T0, cli, database_before, make_run

from storage.alert_store import OutboxMessage, claim_due, enqueue_messages
from storage.errors import SchemaVersionError, StoreError
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


def _columns(path: Path, table: str) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT column_name, is_nullable FROM information_schema.columns "
                           "WHERE table_name = ?", [table]).fetchall()
    finally:
        con.close()
    return {str(c): str(n) for c, n in rows}


def test_0008_counts_earlier_alert_states_as_announced(tmp_path: Path) -> None:
    path = tmp_path / "v7.duckdb"
    con = database_before(path, "0008_alert_announced_state")
    try:
        con.execute("INSERT INTO alert_state_record (project, gate, state, since, since_run_id, "
                    "consecutive_failures, last_notified_at, updated_at) VALUES "
                    "('p', 'g-red', 'fail', ?, 'r1', 2, ?, ?), ('p', 'g-ok', 'pass', ?, 'r1', 0, NULL, ?)",
                    [T0] * 5)
    finally:
        con.close()
    store = MetricStore(path)
    assert store.ensure_schema() == ALL_NAMES[ALL_NAMES.index("0008_alert_announced_state"):]
    # A red gate alerted under the old rules is not announced again after the upgrade.
    assert store.fetch("SELECT gate, announced_state FROM alert_state_record ORDER BY gate") == [
        ("g-ok", "pass"), ("g-red", "fail")]


def test_0007_gives_the_outbox_a_notify_type_and_queued_messages_info(tmp_path: Path) -> None:
    path = tmp_path / "v6.duckdb"
    con = database_before(path, "0007_outbox_notify_type")
    try:
        con.execute("INSERT INTO outbox_record (message_id, dedup_key, route, url_index, endpoint, "
                    "purpose, project, title, body, body_format, status, attempts, created_at, "
                    "next_attempt_at) VALUES ('old', 'old-key', 'ops', 0, 'json://h/a', 'alerts', "
                    "'p', 'flext-quality: p: 1 gate(s) RED', 'body', 'markdown', 'pending', 0, ?, ?)",
                    [T0, T0])
    finally:
        con.close()
    assert "notify_type" not in _columns(path, "outbox")
    store = MetricStore(path)
    assert store.ensure_schema() == ALL_NAMES[ALL_NAMES.index("0007_outbox_notify_type"):]
    assert _columns(path, "outbox_record")["notify_type"] == "NO"  # NOT NULL
    assert "notify_type" in _columns(path, "outbox")
    assert store.fetch("SELECT message_id, notify_type FROM outbox") == [("old", "info")]
    # The outbox's index is back (it was dropped to alter the table).
    assert store.fetch("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'outbox_record'") == [
        ("outbox_status_idx",)
    ]
    # The queued message is delivered as info, and new messages keep their own type.
    new = OutboxMessage(message_id="new", dedup_key="new-key", route="ops", url_index=0,
                        endpoint="json://h/a", purpose="alerts", project="p", title="t", body="b",
                        body_format="markdown", notify_type="failure", created_at=T0)
    assert enqueue_messages(store, [new]) == ["new"]
    claimed, _ = claim_due(store, T0, claim_until=T0.replace(hour=23))
    assert {(r.message.message_id, r.message.notify_type) for r in claimed} == {
        ("old", "info"), ("new", "failure")
    }


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


def test_a_migration_that_cannot_apply_is_one_line_and_keeps_the_steps_before(tmp_path: Path) -> None:
    # A file whose ledger says 0002 ran but has no outbox (the very first skeleton recorded an
    # empty 0002): 0007 cannot alter a table that is not there.
    path = tmp_path / "odd.duckdb"
    con = database_before(path, "0004_series_rollups")
    con.execute("DROP VIEW outbox")
    con.execute("DROP TABLE outbox_record")
    con.close()
    store = MetricStore(path)
    with pytest.raises(StoreError) as caught:
        store.ensure_schema()
    line = str(caught.value)
    assert "\n" not in line
    assert "cannot upgrade the database: migration 0007_outbox_notify_type failed: Catalog Error" in line
    con = duckdb.connect(str(path), read_only=True)
    applied = [n for (n,) in con.execute("SELECT name FROM schema_migrations ORDER BY version").fetchall()]
    con.close()
    assert applied[-1] == "0006_drop_run_commit_index"  # 0004-0006 kept, 0007 rolled back


def test_a_value_a_migration_cannot_read_is_one_line_too(tmp_path: Path) -> None:
    path = tmp_path / "odd.duckdb"
    con = database_before(path, "0009_retention_dropped_record")
    con.execute("INSERT INTO store_state VALUES ('retention_cutoff', 'garbage')")  # edited by hand
    con.close()
    with pytest.raises(StoreError, match=r"migration 0009_retention_dropped_record failed: .*garbage"):
        MetricStore(path).ensure_schema()


def test_0011_gives_old_gate_states_the_commit_time_as_since(tmp_path: Path) -> None:
    path = tmp_path / "v10.duckdb"
    con = database_before(path, "0011_dropped_record_without_cutoff")
    commit_time = datetime(2026, 11, 20, 10, 0)
    con.execute("INSERT INTO run_record (run_id, project, commit_sha, committed_at, trigger, started_at, "
                "finished_at, status, point_ts) VALUES ('r1', 'p', 'abc', ?, 'manual', ?, ?, 'succeeded', ?)",
                [commit_time, datetime(2026, 11, 26, 11, 56), datetime(2026, 11, 26, 11, 57), commit_time])
    # a state written before 0008: `since` is when it was evaluated, after the commit
    con.execute("INSERT INTO alert_state_record (project, gate, state, since, since_run_id, "
                "consecutive_failures, updated_at) VALUES ('p', 'g', 'fail', ?, 'r1', 1, ?)",
                [datetime(2026, 11, 26, 11, 56), datetime(2026, 11, 26, 11, 56)])
    con.close()
    store = MetricStore(path)
    assert store.ensure_schema() == [name for version, name, _ in MIGRATIONS if version >= 11]
    assert store.fetch("SELECT since FROM alert_states") == [(commit_time,)]


def test_an_older_file_that_cannot_be_written_says_what_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "backup.duckdb"
    database_before(path, "0010_job_run_detail").close()
    locked = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if locked.returncode != 0:
        pytest.skip(f"chattr +i is not possible here: {locked.stderr.decode().strip()}")
    try:
        with pytest.raises(StoreError) as caught:
            MetricStore(path).fetch("SELECT count(*) FROM runs")
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    line = str(caught.value)
    assert "was written by an older flext-quality and needs migrations 0010_job_run_detail to " in line
    assert "cannot be written here: run `flext-quality migrate` where it can" in line
