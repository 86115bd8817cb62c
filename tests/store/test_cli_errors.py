"""What the store commands do with a wrong path, a wrong value or an awkward result.

Each mistake gets one line (exit 1, or 2 for a usage error) and loses and creates nothing.
Run in-process through click's runner: the console script itself is covered by test_cli.py.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from flext_quality.cli import main
from storage.demo import generate
from storage.store import MetricStore


@pytest.fixture
def demo_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MetricStore:
    monkeypatch.chdir(tmp_path)  # no flext-quality.toml of the developer's own
    store = MetricStore(tmp_path / "demo.duckdb")
    data = generate(projects=2, metrics=4, days=60, seed=3, end=datetime(2026, 11, 1))
    store.ingest_points(data.points, data.runs)
    return store


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def one_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[-1]


def test_reading_commands_refuse_a_missing_database_and_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    typo = tmp_path / "nowhere" / "demo.duckbd"
    for args in (
        ("sql", "SELECT count(*) FROM runs"),
        ("export", "runs", "-o", str(tmp_path / "runs.csv")),
        ("rollup", "--rebuild"),
        ("retention", "--days", "30"),
        ("findings", "--project", "x"),
    ):
        result = run("--db", str(typo), *args)
        assert result.exit_code == 1, (args, result.output)
        assert f"no database at {typo}" in one_line(result)
    assert not typo.parent.exists()
    assert not (tmp_path / "runs.csv").exists()


@pytest.mark.parametrize(
    ("args", "retention_days"),
    [((), None), ((), "30"), (("--days", "5"), None)],
    ids=["no-limit", "setting", "days"],
)
def test_retention_refuses_a_missing_database_with_or_without_a_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], retention_days: str | None
) -> None:
    # Without a limit it used to say "keeping everything" about a database that is not there.
    monkeypatch.chdir(tmp_path)
    typo = tmp_path / "nope.duckdb"
    result = CliRunner().invoke(main, ["--db", str(typo), "retention", *args],
                                env={"FLEXT_QUALITY_RETENTION_DAYS": retention_days})
    assert result.exit_code == 1, result.output
    assert one_line(result) == (
        f"error: no database at {typo}: check --db / FLEXT_QUALITY_DB, or create it with "
        "`flext-quality collect`, `backfill` or `migrate`")
    assert result.stdout == ""
    assert not typo.exists() and not Path(f"{typo}.lock").exists()


@pytest.mark.parametrize(
    "flags",
    [("--new", "--fixed"), ("--all", "--new"), ("--fixed", "--all"), ("--new", "--fixed", "--all")],
)
def test_findings_refuses_flags_that_exclude_each_other(
    demo_db: MetricStore, flags: tuple[str, ...]
) -> None:
    result = run("--db", str(demo_db.path), "findings", *flags)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: ") and "exclude each other" in error
    assert all(flag in error for flag in flags), error


@pytest.mark.parametrize("flags", [(), ("--new",), ("--fixed",), ("--all",), ("--new", "--new")])
def test_findings_takes_one_side_or_both(demo_db: MetricStore, flags: tuple[str, ...]) -> None:
    result = run("--db", str(demo_db.path), "findings", *flags)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("days", ["-3", "0", "36526", "1000000", "100000000000"])
def test_retention_refuses_a_day_count_out_of_range(demo_db: MetricStore, days: str) -> None:
    total = demo_db.fetch("SELECT count(*) FROM measures")[0][0]
    result = run("--db", str(demo_db.path), "retention", "--days", days)
    assert result.exit_code == 2
    assert "--days" in result.stderr and "1<=x<=36525" in result.stderr
    assert "Traceback" not in result.stderr
    assert demo_db.fetch("SELECT count(*) FROM measures")[0][0] == total > 0
    setting = run("--db", str(demo_db.path), "retention", env={"FLEXT_QUALITY_RETENTION_DAYS": days})
    assert setting.exit_code == 1
    assert one_line(setting).startswith(f"error: invalid setting retention_days={days!r}")


def test_export_takes_the_format_from_the_file_name(demo_db: MetricStore, tmp_path: Path) -> None:
    runs = demo_db.fetch("SELECT count(*) FROM runs")[0][0]
    as_csv = run("--db", str(demo_db.path), "export", "runs", "-o", str(tmp_path / "r.csv"))
    assert as_csv.exit_code == 0, as_csv.output
    assert pl.read_csv(tmp_path / "r.csv").height == runs
    as_parquet = run("--db", str(demo_db.path), "export", "runs", "-o", str(tmp_path / "r.parquet"))
    assert as_parquet.exit_code == 0, as_parquet.output
    assert (tmp_path / "r.parquet").read_bytes()[:4] == b"PAR1"
    unknown = run("--db", str(demo_db.path), "export", "runs", "-o", str(tmp_path / "r.xyz"))
    assert unknown.exit_code == 2 and "--format" in unknown.stderr
    clash = run("--db", str(demo_db.path), "export", "runs", "--format", "parquet",
                "-o", str(tmp_path / "s.csv"))
    assert clash.exit_code == 2 and "does not match" in clash.stderr
    assert not (tmp_path / "r.xyz").exists() and not (tmp_path / "s.csv").exists()


def test_sql_output_stays_valid_for_awkward_values(demo_db: MetricStore) -> None:
    db = str(demo_db.path)
    # Nested values are JSON text in their cell (as the dashboard's CSV download writes them).
    nested = run("--db", db, "sql", "SELECT [1.5, 'nan'::DOUBLE] AS l, {'a': 'x,y'} AS s, 3 AS n",
                 "--format", "csv")
    assert nested.exit_code == 0, nested.output
    assert pl.read_csv(io.StringIO(nested.stdout)).rows() == [("[1.5, null]", '{"a": "x,y"}', 3)]
    raw = run("--db", db, "sql", "SELECT 3 AS n, '\\x00'::BLOB AS b", "--format", "csv")
    assert raw.exit_code == 1 and "column b holds raw bytes" in raw.stderr
    assert raw.stderr.count("\n") == 1 and "Usage:" not in raw.stderr  # one line, no usage banner
    odd = run("--db", db, "sql", "SELECT 'nan'::DOUBLE AS x, 'inf'::DOUBLE AS y, '\\x00\\xff'::BLOB AS b, "
              "[1.5, 'nan'::DOUBLE] AS l", "--format", "json")
    assert odd.exit_code == 0, odd.output
    assert json.loads(odd.stdout) == [{"x": None, "y": None, "b": "00ff", "l": [1.5, None]}]


def test_sql_table_is_not_folded_into_a_narrow_pipe(demo_db: MetricStore) -> None:
    result = run("--db", str(demo_db.path), "sql", "SELECT * FROM runs ORDER BY run_id LIMIT 1")
    first_run = demo_db.fetch("SELECT run_id, commit_sha FROM runs ORDER BY run_id LIMIT 1")[0]
    # whole values on one line, even though the table is far wider than 80 columns
    assert any(first_run[0] in line and first_run[1] in line for line in result.stdout.splitlines())


def test_init_creates_missing_folders_and_names_an_unwritable_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    made = run("init", "sub/dir/flext-quality.toml")
    assert made.exit_code == 0, made.output
    assert (tmp_path / "sub" / "dir" / "flext-quality.toml").is_file()
    (tmp_path / "file").write_text("x", encoding="utf-8")
    blocked = run("init", "file/flext-quality.toml")  # a file where a folder must go
    assert blocked.exit_code == 1 and "cannot write file/flext-quality.toml" in one_line(blocked)


def test_a_database_where_nothing_can_be_written_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x", encoding="utf-8")
    result = run("--db", str(tmp_path / "file" / "q.duckdb"), "migrate")
    assert result.exit_code == 1
    assert "cannot write beside database" in one_line(result)


@pytest.mark.parametrize(
    ("option", "value"), [("--projects", "-1"), ("--metrics", "0"), ("--metrics", "21"), ("--days", "0")]
)
def test_demo_refuses_sizes_out_of_range(tmp_path: Path, option: str, value: str) -> None:
    result = run("--db", str(tmp_path / "d.duckdb"), "demo", option, value)
    assert result.exit_code == 2 and option in result.stderr
    assert not (tmp_path / "d.duckdb").exists()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FLEXT_QUALITY_SCHEDULER__REPORT_AT": "25:99"},
         "invalid setting scheduler.report_at='25:99': expected a time of day HH:MM"),
        ({"FLEXT_QUALITY_SCHEDULER__MAINTENANCE_AT": "3:00"},
         "invalid setting scheduler.maintenance_at='3:00': expected a time of day HH:MM"),
        ({"FLEXT_QUALITY_COLLECT__TOOLS": "ruff"},
         "invalid setting FLEXT_QUALITY_COLLECT__TOOLS='ruff': expected a JSON list"),
        ({"FLEXT_QUALITY_GATES": "notjson"},
         "invalid setting FLEXT_QUALITY_GATES='notjson': expected a JSON list"),
        ({"FLEXT_QUALITY_SQL": "{oops"},
         "invalid setting FLEXT_QUALITY_SQL='{oops': expected a JSON object"),
    ],
)
def test_a_bad_environment_value_names_the_variable(
    demo_db: MetricStore, env: dict[str, str], expected: str
) -> None:
    result = run("--db", str(demo_db.path), "sql", "SELECT 1", env=env)
    assert result.exit_code == 1
    assert one_line(result).startswith(f"error: {expected}")


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("FLEXT_QUALITY_DB_PATH", "unknown environment variable FLEXT_QUALITY_DB_PATH: did you mean "
                                  "FLEXT_QUALITY_DB?"),
        ("FLEXT_QUALITY_SQL__ROWLIMIT", "unknown environment variable FLEXT_QUALITY_SQL__ROWLIMIT: "
                                        "did you mean FLEXT_QUALITY_SQL__ROW_LIMIT?"),
        ("FLEXT_QUALITY_NOTHING_LIKE_IT", "unknown environment variable FLEXT_QUALITY_NOTHING_LIKE_IT: "
                                          "(settings are listed"),
    ],
)
def test_a_misspelt_environment_variable_is_refused_not_ignored(
    demo_db: MetricStore, variable: str, expected: str
) -> None:
    result = run("--db", str(demo_db.path), "sql", "SELECT 1", env={variable: "500"})
    assert result.exit_code == 1
    assert one_line(result).startswith(f"error: {expected}")


def test_variables_that_are_not_settings_or_name_a_dict_key_are_accepted(demo_db: MetricStore) -> None:
    env = {
        "FLEXT_QUALITY_REQUIRE_BROWSER": "1",
        "FLEXT_QUALITY_COLLECT__EXECUTABLES__RUFF": '["ruff"]',
        "FLEXT_QUALITY_SQL__ROW_LIMIT": "7",
        "flext_quality_log_level": "ERROR",  # names are not case-sensitive, as pydantic reads them
    }
    result = run("--db", str(demo_db.path), "sql", "SELECT 1 AS one", "--format", "csv", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["one", "1"]


def test_report_and_outbox_commands_refuse_a_missing_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    typo = tmp_path / "qualty.duckdb"
    for args in (("report",), ("notify", "--list"), ("notify", "--flush")):
        result = run("--db", str(typo), *args)
        assert result.exit_code == 1, (args, result.output)
        assert f"no database at {typo}" in one_line(result)
    assert not typo.exists() and not Path(f"{typo}.lock").exists()


@pytest.mark.parametrize(
    ("sql", "kind"),
    [("INSTALL httpfs", "INSTALL"), ("FORCE INSTALL httpfs", "INSTALL"), ("LOAD httpfs", "LOAD")],
)
def test_sql_refusals_name_the_statement_given(demo_db: MetricStore, sql: str, kind: str) -> None:
    result = run("--db", str(demo_db.path), "sql", sql)
    assert result.exit_code == 1
    assert one_line(result).startswith(f"error: refused: {kind} statements are not allowed")


def test_sql_shows_variant_values_as_text_in_every_format(demo_db: MetricStore) -> None:
    query = "SELECT 'ok' AS x, 1::VARIANT AS \"odd \"\"name\"\"\", {'a': 2}::VARIANT AS w"
    as_csv = run("--db", str(demo_db.path), "sql", query, "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.stdout.splitlines() == ['x,"odd ""name""",w', "ok,1,{'a': 2}"]
    as_json = run("--db", str(demo_db.path), "sql", query, "--format", "json")
    assert json.loads(as_json.stdout) == [{"x": "ok", 'odd "name"': "1", "w": "{'a': 2}"}]


def test_sql_shows_intervals_and_unions_as_text(demo_db: MetricStore) -> None:
    query = ("SELECT INTERVAL 3 DAY AS i, [INTERVAL 1 HOUR] AS l, "
             "union_value(n := 7)::UNION(n INTEGER, s VARCHAR) AS u")
    result = run("--db", str(demo_db.path), "sql", query, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"i": "3 days", "l": "['01:00:00']", "u": "7"}]


def test_export_to_standard_output(demo_db: MetricStore, tmp_path: Path) -> None:
    db = str(demo_db.path)
    runs = demo_db.fetch("SELECT count(*) FROM runs")[0][0]
    # a real process: the data goes to file descriptor 1 itself
    as_csv = subprocess.run([sys.executable, "-m", "flext_quality", "--db", db, "export", "runs",
                             "-o", "-", "--format", "csv"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120, check=False)
    assert as_csv.returncode == 0, as_csv.stderr
    assert pl.read_csv(io.StringIO(as_csv.stdout)).height == runs  # the data alone on stdout
    assert as_csv.stderr.strip() == f"wrote {runs} rows to standard output"
    unsure = run("--db", db, "export", "runs", "-o", "-")
    assert unsure.exit_code == 2 and "pass --format parquet|csv" in unsure.stderr
