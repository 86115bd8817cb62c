"""The SQL sandbox: hostile statements are refused or bounded, and the file never changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dashboard.data_sql import run_query
from storage.errors import SandboxError
from storage.sandbox import PUBLIC_VIEW_NAMES, check_statement, run_sandboxed
from storage.schema_alerts import ALERT_VIEWS

TABLES = (
    "run_record",
    "tool_record",
    "measure_point",
    "finding_record",
    "metric_catalogue",
    "rollup_day",
    "rollup_week",
    "rollup_month",
    "schema_migrations",
)

READERS = [
    "SELECT * FROM read_csv('{f}')",
    "SELECT * FROM read_csv_auto('{f}')",
    "SELECT * FROM read_parquet('{f}')",
    "SELECT * FROM parquet_scan('{f}')",
    "SELECT * FROM parquet_metadata('{f}')",
    "SELECT * FROM parquet_schema('{f}')",
    "SELECT * FROM read_json('{f}')",
    "SELECT * FROM read_json_auto('{f}')",
    "SELECT * FROM read_json_objects('{f}')",
    "SELECT * FROM read_ndjson('{f}')",
    "SELECT * FROM read_text('{f}')",
    "SELECT * FROM read_blob('{f}')",
    "SELECT * FROM glob('{d}/*')",
    "SELECT * FROM sniff_csv('{f}')",
    "SELECT * FROM '{f}'",
    "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
    "SELECT * FROM duckdb_secrets()",
]

STATEMENTS = [
    "COPY (SELECT * FROM runs) TO '{d}/leak.csv'",
    "COPY runs TO '{d}/leak.parquet' (FORMAT parquet)",
    "COPY runs FROM '{f}'",
    "EXPORT DATABASE '{d}/dump'",
    "IMPORT DATABASE '{d}'",
    "ATTACH '{d}/other.duckdb' AS other",
    "ATTACH ':memory:' AS scratch",
    "DETACH db",
    "INSTALL httpfs",
    "LOAD httpfs",
    "LOAD json",
    "SET enable_external_access = true",
    "SET memory_limit = '100GB'",
    "SET lock_configuration = false",
    "RESET enable_external_access",
    "PRAGMA enable_profiling",
    "PRAGMA database_size",
    "CALL pragma_version()",
    "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "CREATE TABLE db.main.evil AS SELECT 1",
    "CREATE TEMP TABLE scratch AS SELECT 1",
    "CREATE MACRO leak(x) AS x",
    "CHECKPOINT",
    "VACUUM",
    "BEGIN TRANSACTION",
    "USE memory",
    "SELECT 1; DROP VIEW runs",
    "SELECT 1; SELECT 2",
]

# Writes inside a WITH: the statement parses as a SELECT, so the read-only attachment refuses
# them when they run.
WRITING_CTES = [
    "WITH x AS (DELETE FROM run_record RETURNING *) SELECT * FROM x",
    "WITH x AS (INSERT INTO run_record SELECT * FROM run_record RETURNING *) SELECT count(*) FROM x",
    "WITH x AS (UPDATE run_record SET project = 'x' RETURNING *) SELECT count(*) FROM x",
]


def _writes() -> list[str]:
    out = []
    for name in (*PUBLIC_VIEW_NAMES, *TABLES, *ALERT_VIEWS):
        out += [
            f"INSERT INTO {name} SELECT * FROM {name} LIMIT 1",
            f"UPDATE {name} SET project = 'x'",
            f"DELETE FROM {name}",
            f"DROP {'VIEW' if name in PUBLIC_VIEW_NAMES or name in ALERT_VIEWS else 'TABLE'} {name}",
            f"ALTER TABLE {name} RENAME TO {name}_old",
        ]
    out += [f"CREATE OR REPLACE VIEW {v} AS SELECT 1" for v in PUBLIC_VIEW_NAMES]
    return out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory, seeded_master: Path) -> Path:
    """A private copy of the seeded database and a readable secret file beside it."""
    folder = tmp_path_factory.mktemp("hostile")
    target = folder / "quality.duckdb"
    target.write_bytes(seeded_master.read_bytes())
    (folder / "secret.csv").write_text("user,password\nroot,hunter2\n")
    return target


def _cases(db: Path) -> list[str]:
    f, d = db.parent / "secret.csv", db.parent
    return [s.format(f=f, d=d) for s in (*READERS, *STATEMENTS)] + _writes() + WRITING_CTES


def test_every_hostile_statement_is_refused_and_the_file_is_unchanged(hostile_db: Path) -> None:
    before = _digest(hostile_db)
    files_before = sorted(p.name for p in hostile_db.parent.iterdir())
    cases = _cases(hostile_db)
    assert len(cases) > 100
    accepted: list[str] = []
    messages: dict[str, str] = {}
    for sql in cases:
        try:
            run_sandboxed(hostile_db, sql, timeout_s=5)
        except SandboxError as error:
            messages[sql] = str(error)
        else:
            accepted.append(sql)
    assert accepted == []
    for sql, message in messages.items():
        # Readable: one line, says what happened, no traceback.
        assert "\n" not in message and "Traceback" not in message, sql
        assert any(
            w in message
            for w in ("refused", "not allowed", "read-only", "does not exist", "syntax", "Catalog Error")
        ), (sql, message)
    # Readers are stopped by the locked file-less instance, not only by the statement check.
    for sql in [s.format(f=hostile_db.parent / "secret.csv", d=hostile_db.parent) for s in READERS]:
        assert "hunter2" not in messages[sql]
        assert "no file, network" in messages[sql] or "does not exist" in messages[sql], messages[sql]
    assert "2 statements" in messages["SELECT 1; SELECT 2"]
    copy_to = f"COPY (SELECT * FROM runs) TO '{hostile_db.parent}/leak.csv'"
    assert "COPY statements are not allowed" in messages[copy_to]
    for sql in WRITING_CTES:  # said plainly, not as DuckDB's "Cannot execute statement of type SELECT"
        assert messages[sql] == (
            "refused: the sandbox only reads; this query would change the database "
            "(INSERT, UPDATE or DELETE, also inside WITH), and writes are refused"
        ), messages[sql]
    assert _digest(hostile_db) == before
    assert sorted(p.name for p in hostile_db.parent.iterdir()) == files_before


def test_runaway_cross_join_is_interrupted_by_the_time_limit(hostile_db: Path) -> None:
    before = _digest(hostile_db)
    with pytest.raises(SandboxError, match="time limit of 1s"):
        run_sandboxed(hostile_db, "SELECT count(*) FROM measures a, measures b, measures c", timeout_s=1.0)
    assert _digest(hostile_db) == before


def test_a_result_larger_than_the_row_cap_is_bounded_and_flagged(hostile_db: Path) -> None:
    total = run_sandboxed(hostile_db, "SELECT count(*) AS n FROM measures").frame["n"][0]
    result = run_sandboxed(hostile_db, "SELECT * FROM measures", row_limit=500)
    assert total > 500
    assert result.frame.height == 500 and result.truncated and result.row_limit == 500
    exact = run_sandboxed(hostile_db, "SELECT * FROM measures LIMIT 500", row_limit=500)
    assert exact.frame.height == 500 and not exact.truncated


def test_memory_limit_stops_a_greedy_query(hostile_db: Path) -> None:
    with pytest.raises(SandboxError, match="memory"):
        run_sandboxed(
            hostile_db,
            "SELECT list(value) FROM (SELECT * FROM measures, range(40))",
            memory_limit="20MB",
            timeout_s=20,
        )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM runs",
        "WITH x AS (SELECT 1 AS a) SELECT * FROM x",
        "FROM metrics",
        "DESCRIBE findings",
        "SUMMARIZE SELECT value FROM measures LIMIT 10",
        "EXPLAIN SELECT * FROM measures_daily",
        "SELECT * FROM query('SELECT 42 AS answer')",
        "  select 1 as a ;  ",
        "SELECT 1; -- a comment after the statement",
        "SELECT ';' AS s /* ; */ ; /* and another */",
        "-- a comment first\nSELECT 1",
        "PIVOT measures ON metric USING first(value) GROUP BY project",
        "SELECT * FROM (PIVOT measures ON metric USING max(value)) LIMIT 3",
        "UNPIVOT (SELECT 1 AS a, 2 AS b) ON a, b INTO NAME k VALUE v",
    ],
)
def test_read_statements_still_work(hostile_db: Path, sql: str) -> None:
    assert check_statement(sql).strip() in sql  # the statement, cut before a closing ';'
    assert run_sandboxed(hostile_db, sql).frame.height >= 1


def test_no_spill_folder_is_made_or_readable(
    hostile_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB's default spill folder is ".tmp" in the working directory, and its file readers
    # may open what is in it even with external access disabled.
    work = tmp_path / "cwd"
    (work / ".tmp").mkdir(parents=True)
    (work / ".tmp" / "probe.txt").write_text("secret-in-tmp", encoding="utf-8")
    monkeypatch.chdir(work)
    for sql in ("SELECT content FROM read_text('.tmp/probe.txt')", f"SELECT * FROM glob('{work}/.tmp/*')"):
        with pytest.raises(SandboxError, match="refused"):
            run_sandboxed(hostile_db, sql)
    # Over the memory limit a query stops; it does not spill into the working directory.
    with pytest.raises(SandboxError, match="more memory than the sandbox allows"):
        run_sandboxed(hostile_db, "SELECT count(DISTINCT range) FROM range(3000000)", memory_limit="50MB")
    assert [p.name for p in (work / ".tmp").iterdir()] == ["probe.txt"]


def test_an_extension_function_is_refused_without_an_install_attempt(hostile_db: Path) -> None:
    with pytest.raises(SandboxError, match="refused: the SQL sandbox loads no extensions"):
        run_sandboxed(hostile_db, "SELECT * FROM iceberg_scan('x')")


def test_query_function_cannot_smuggle_a_write(hostile_db: Path) -> None:
    with pytest.raises(SandboxError):
        run_sandboxed(hostile_db, f"SELECT * FROM query('COPY (SELECT 1) TO ''{hostile_db.parent}/x.csv''')")
    assert not (hostile_db.parent / "x.csv").exists()


@pytest.mark.parametrize("sql", ["", "   ", ";", "SELEC 1", "-- only a comment"])
def test_empty_and_broken_input_gets_a_readable_message(hostile_db: Path, sql: str) -> None:
    with pytest.raises(SandboxError, match=r"empty query|syntax error"):
        run_sandboxed(hostile_db, sql)


@pytest.mark.parametrize(("sql", "named"), [("USE memory", "USE"), ("RESET threads", "RESET"),
                                            ("SET threads = 1", "SET")])
def test_a_refused_statement_is_named_as_written(sql: str, named: str) -> None:
    with pytest.raises(SandboxError, match=rf"^refused: {named} statements are not allowed"):
        check_statement(sql)


def test_too_deep_a_query_says_so_without_suggesting_a_refused_setting() -> None:
    deep = "SELECT " + "(" * 1100 + "1" + ")" * 1100
    with pytest.raises(SandboxError, match="too deeply nested") as caught:
        check_statement(deep)
    assert "SET" not in str(caught.value)


def test_the_sql_pages_query_is_bounded_in_size_by_default(hostile_db: Path) -> None:
    # 101 values of 1 MB: inside the row cap, just over the default size bound of 100 MB.
    with pytest.raises(SandboxError, match=r"larger than 100 MB \(sql\.max_result_mb\)"):
        run_query(str(hostile_db), "v1", "SELECT repeat('x', 1000000) AS s FROM range(101)",
                  timeout_s=10, row_limit=10_000, memory_limit="1GB", ttl_s=1)
    small = run_query(str(hostile_db), "v1", "SELECT 1 AS a", timeout_s=10, row_limit=10_000,
                      memory_limit="1GB", ttl_s=1, max_result_mb=1)
    assert small.frame["a"].to_list() == [1]
