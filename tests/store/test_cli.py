"""The real ``flext-quality`` console script: help, init, bad settings, sql, rollup, export, retention."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from store_helpers import cli, rollup_rows

from flext_quality.config_template import markdown_table, setting_keys
from flext_quality.settings import load_settings
from storage.demo import generate
from storage.errors import StoreError
from storage.maintenance import apply_retention
from storage.queries import choose_granularity, series
from storage.store import MetricStore

README = Path(__file__).resolve().parents[2] / "README.md"
END = datetime(2026, 11, 1, 23, 0)


@pytest.fixture
def demo_db(tmp_path: Path) -> MetricStore:
    """Three generated projects, 8 metrics, 120 days, ending ``END``."""
    store = MetricStore(tmp_path / "demo.duckdb")
    data = generate(projects=3, metrics=8, days=120, seed=7, end=END)
    store.ingest_points(data.points, data.runs)
    return store


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_help_lists_the_store_commands(tmp_path: Path) -> None:
    done = cli("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for command in ("init", "migrate", "sql", "rollup", "retention", "export", "demo"):
        assert f"  {command} " in done.stdout


def test_init_writes_a_file_that_loads_back_as_the_defaults(tmp_path: Path) -> None:
    done = cli("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = tmp_path / "flext-quality.toml"
    loaded = load_settings(written)
    defaults = load_settings(None)
    assert loaded.model_dump(exclude={"allowed_roots"}) == defaults.model_dump(exclude={"allowed_roots"})
    text = written.read_text(encoding="utf-8")
    for key in setting_keys():
        assert key.split(".")[-1] in text, key
    again = cli("init", cwd=tmp_path)
    assert again.returncode == 1 and "--force" in _one_error_line(again.stderr)


@pytest.mark.parametrize(
    ("env", "toml", "key", "value", "allowed"),
    [
        ({"FLEXT_QUALITY_SQL__ROW_LIMIT": "0"}, None, "sql.row_limit", "'0'", "greater than or equal to 1"),
        ({"FLEXT_QUALITY_LOG_LEVEL": "LOUD"}, None, "log_level", "'LOUD'", "'DEBUG'"),
        ({}, "[collect]\ntimeout_s = -5\n", "collect.timeout_s", "-5", "greater than 0"),
        ({}, '[scheduler]\nreport_day = "someday"\n', "scheduler.report_day", "'someday'", "'monday'"),
    ],
)
def test_a_bad_setting_stops_with_one_line(
    tmp_path: Path, env: dict[str, str], toml: str | None, key: str, value: str, allowed: str
) -> None:
    if toml is not None:
        (tmp_path / "flext-quality.toml").write_text(toml, encoding="utf-8")
    done = cli("--db", str(tmp_path / "x.duckdb"), "migrate", cwd=tmp_path, env=env)
    assert done.returncode == 1
    line = _one_error_line(done.stderr)
    assert key in line and value in line and allowed in line, line
    assert not (tmp_path / "x.duckdb").exists()


def test_every_command_reads_the_settings_file_named_by_the_environment(tmp_path: Path) -> None:
    elsewhere = tmp_path / "etc" / "quality.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(f'db = "{tmp_path / "from-env.duckdb"}"\n', encoding="utf-8")
    (tmp_path / "flext-quality.toml").write_text('db = "from-cwd.duckdb"\n', encoding="utf-8")
    done = cli("migrate", cwd=tmp_path, env={"FLEXT_QUALITY_CONFIG": str(elsewhere)})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "from-env.duckdb").exists() and not (tmp_path / "from-cwd.duckdb").exists()
    # --config still wins over the environment; a named file that is missing is one line.
    done = cli("--config", "flext-quality.toml", "migrate", cwd=tmp_path,
               env={"FLEXT_QUALITY_CONFIG": str(elsewhere)})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "from-cwd.duckdb").exists()
    done = cli("migrate", cwd=tmp_path, env={"FLEXT_QUALITY_CONFIG": str(tmp_path / "nope.toml")})
    assert done.returncode == 1
    line = _one_error_line(done.stderr)
    assert "nope.toml does not exist" in line and "FLEXT_QUALITY_CONFIG" in line, line


def test_sql_prints_a_table_csv_and_json(demo_db: MetricStore, tmp_path: Path) -> None:
    query = "SELECT project, count(*) AS n FROM measures GROUP BY project ORDER BY project"
    as_csv = cli("--db", str(demo_db.path), "sql", query, "--format", "csv", cwd=tmp_path)
    assert as_csv.returncode == 0, as_csv.stderr
    assert as_csv.stdout.splitlines() == ["project,n"] + [f"project-{i:04d},960" for i in range(3)]
    as_json = cli("--db", str(demo_db.path), "sql", query, "--format", "json", cwd=tmp_path)
    assert json.loads(as_json.stdout)[0] == {"project": "project-0000", "n": 960}
    table = cli("--db", str(demo_db.path), "sql", query, cwd=tmp_path)
    assert "project-0002" in table.stdout
    refused = cli("--db", str(demo_db.path), "sql", "DELETE FROM measures", cwd=tmp_path)
    assert refused.returncode == 1
    _one_error_line(refused.stderr)


def test_rollup_rebuild_equals_the_incremental_rollups(demo_db: MetricStore, tmp_path: Path) -> None:
    before = rollup_rows(demo_db)
    done = cli("--db", str(demo_db.path), "rollup", "--rebuild", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    after = rollup_rows(demo_db)
    for view, rows in before.items():
        assert len(after[view]) == len(rows) > 0
        for old, new in zip(rows, after[view], strict=True):
            assert old[:5] == new[:5] and old[6:] == new[6:]
            assert new[5] == pytest.approx(old[5])


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_writes_every_row(demo_db: MetricStore, tmp_path: Path, fmt: str) -> None:
    for view in ("measures", "runs", "measures_weekly"):
        out = tmp_path / f"{view}.{fmt}"
        done = cli("--db", str(demo_db.path), "export", view, "--format", fmt, "-o", str(out), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        frame = pl.read_parquet(out) if fmt == "parquet" else pl.read_csv(out)
        expected = demo_db.fetch(f"SELECT count(*) FROM {view}")[0][0]
        assert frame.height == expected > 0
        assert f"wrote {expected} rows" in done.stdout


def test_retention_drops_only_old_raw_points_and_keeps_rollups(demo_db: MetricStore) -> None:
    before = rollup_rows(demo_db)
    total = demo_db.fetch("SELECT count(*) FROM measures")[0][0]
    old = demo_db.fetch("SELECT count(*) FROM measures WHERE ts < ?", [END - timedelta(days=30)])[0][0]
    dropped = apply_retention(demo_db, max_age_days=30, now=END)
    assert dropped == old > 0
    assert demo_db.fetch("SELECT count(*) FROM measures")[0][0] == total - old
    assert demo_db.fetch("SELECT min(ts) FROM measures")[0][0] >= END - timedelta(days=30)
    assert rollup_rows(demo_db) == before


def test_retention_command_without_a_setting_keeps_everything(demo_db: MetricStore, tmp_path: Path) -> None:
    total = demo_db.fetch("SELECT count(*) FROM measures")[0][0]
    done = cli("--db", str(demo_db.path), "retention", cwd=tmp_path)
    assert done.returncode == 0 and "keeping everything" in done.stdout
    assert demo_db.fetch("SELECT count(*) FROM measures")[0][0] == total


@pytest.mark.parametrize(
    ("days", "grain"), [(1, "raw"), (45, "raw"), (46, "day"), (550, "day"), (551, "week"), (1900, "month")]
)
def test_granularity_follows_the_range(days: int, grain: str) -> None:
    assert choose_granularity(END - timedelta(days=days), END) == grain


def _midnight(days_back: int) -> datetime:
    return (END - timedelta(days=days_back)).replace(hour=0)


def test_series_answers_at_each_granularity(demo_db: MetricStore) -> None:
    metric = "ruff.issues"
    raw = series(demo_db, "project-0001", [metric], _midnight(20), END)
    assert raw.height == 21 and raw.get_column("run_id").null_count() == 0
    daily = series(demo_db, "project-0001", [metric], _midnight(100), END)
    assert daily.height == 101 and daily.get_column("n").to_list() == [1] * 101
    assert daily.get_column("value").tail(20).to_list() == raw.get_column("value").tail(20).to_list()
    weekly = series(demo_db, "project-0001", [metric], END - timedelta(days=119), END, granularity="week")
    assert weekly.get_column("n").sum() == 120
    assert all(ts.weekday() == 0 for ts in weekly.get_column("ts").to_list())
    pair = [metric, "coverage.line_percent"]
    monthly = series(demo_db, "project-0001", pair, END - timedelta(days=119), END,
                     granularity="month")
    assert set(monthly.get_column("metric")) == {metric, "coverage.line_percent"}
    # Each month's last value is that month's last raw point.
    last_raw = demo_db.fetch(
        "SELECT arg_max(value, ts) FROM measures WHERE project = 'project-0001' AND metric = ? "
        "AND date_trunc('month', ts) = '2026-10-01'", [metric])[0][0]
    october = monthly.filter((pl.col("metric") == metric) & (pl.col("ts") == datetime(2026, 10, 1)))
    assert october.get_column("value").to_list() == [last_raw]


def test_bulk_ingest_rollups_equal_a_rebuild(demo_db: MetricStore) -> None:
    before = rollup_rows(demo_db)
    demo_db.rebuild_rollups()
    after = rollup_rows(demo_db)
    for view in before:
        assert [r[:5] + r[6:] for r in before[view]] == [r[:5] + r[6:] for r in after[view]]


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    missing = [key for key in setting_keys() if f"`{key}`" not in readme]
    hint = "python -m flext_quality.config_template --update-readme README.md"
    assert not missing, f"settings missing from README.md (run {hint}): {missing}"
    assert "FLEXT_QUALITY_" in markdown_table()


def test_a_rebuild_after_retention_keeps_the_rollups_of_dropped_points(
    demo_db: MetricStore, tmp_path: Path
) -> None:
    before = rollup_rows(demo_db)
    assert apply_retention(demo_db, max_age_days=45, now=END) > 0
    done = cli("--db", str(demo_db.path), "rollup", "--rebuild", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    after = rollup_rows(demo_db)
    for view, rows in before.items():
        assert [r[:5] + r[6:] for r in after[view]] == [r[:5] + r[6:] for r in rows], view


def test_demo_adds_batches_with_a_catalogue_and_nothing_in_the_future(tmp_path: Path) -> None:
    db = tmp_path / "gen.duckdb"
    first = cli("--db", str(db), "demo", "--projects", "2", "--days", "20", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "project-0000 to project-0001" in first.stdout
    again = cli("--db", str(db), "demo", "--projects", "2", "--days", "20", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # a second batch, not a duplicate-key traceback
    assert "project-0002 to project-0003" in again.stdout
    topped = cli("--db", str(db), "demo", "--projects", "3", "--top-up", cwd=tmp_path)
    assert "4 generated projects are stored already" in topped.stdout
    store = MetricStore(db)
    assert store.fetch("SELECT count(DISTINCT project), count(*) FROM runs") == [(4, 80)]
    # every generated metric has its unit and good direction, as collected ones do
    assert store.fetch(
        "SELECT count(*) FROM (SELECT DISTINCT metric FROM measures) m "
        "LEFT JOIN metrics c ON c.name = m.metric WHERE c.direction IS NULL") == [(0,)]
    [(newest,)] = store.fetch("SELECT max(committed_at) FROM runs")
    assert newest < datetime.now(UTC).replace(tzinfo=None)  # the store keeps naive UTC
    # a batch's walks differ from the first batch's (a new seed per batch)
    a, b = (store.fetch("SELECT list(value ORDER BY ts) FROM measures WHERE project = ? "
                        "AND metric = 'ruff.issues'", [p])[0][0] for p in ("project-0000", "project-0002"))
    assert a != b


def test_generated_metrics_hold_together() -> None:
    data = generate(projects=4, metrics=20, days=60, seed=3)
    wide = data.points.pivot(on="metric", index=["project", "ts"], values="value")
    parts = pl.col("bandit.issues.high") + pl.col("bandit.issues.medium") + pl.col("bandit.issues.low")
    checks = wide.select(
        (pl.col("bandit.issues") == parts).all().alias("bandit sum"),
        (pl.col("ruff.issues") == pl.col("ruff.issues").round()).all().alias("whole counts"),
        (pl.col("ruff.issues.fixable") <= pl.col("ruff.issues")).all().alias("fixable"),
        (pl.col("size.sloc") <= pl.col("size.loc")).all().alias("sloc"),
    )
    assert checks.row(0, named=True) == {"bandit sum": True, "whole counts": True, "fixable": True,
                                          "sloc": True}


def test_a_bulk_ingest_of_stored_runs_is_one_clear_error(demo_db: MetricStore, tmp_path: Path) -> None:
    data = generate(projects=3, metrics=8, days=120, seed=7, end=END)
    before = demo_db.fetch("SELECT count(*) FROM measures")
    stored = r"360 of the runs to ingest are stored already \(first: 'demo-0000-0'\)"
    with pytest.raises(StoreError, match=stored):
        demo_db.ingest_points(data.points, data.runs)
    assert demo_db.fetch("SELECT count(*) FROM measures") == before  # nothing half-written
    twice = pl.concat([data.runs.head(1), data.runs.head(1)]).with_columns(run_id=pl.lit("new-run"))
    with pytest.raises(StoreError, match="run id 'new-run' appears more than once"):
        demo_db.ingest_points(data.points.head(0), twice)


@pytest.mark.parametrize(
    ("env", "toml", "key", "value", "allowed"),
    [
        ({"FLEXT_QUALITY_NOTIFY__MAX_AGE_HOURS": "inf"}, None, "notify.max_age_hours", "'inf'",
         "expected a finite number (greater than 0, at most 876600)"),
        ({"FLEXT_QUALITY_NOTIFY__MAX_AGE_HOURS": "1e12"}, None, "notify.max_age_hours", "'1e12'",
         "less than or equal to 876600"),
        ({"FLEXT_QUALITY_NOTIFY__BREAKER_COOLDOWN_S": "1e12"}, None, "notify.breaker_cooldown_s",
         "'1e12'", "less than or equal to 3155760000"),
        ({"FLEXT_QUALITY_NOTIFY__REMINDER_HOURS": "inf"}, None, "notify.reminder_hours", "'inf'",
         "to never remind, leave notify.reminder_hours unset"),
        ({}, "[notify]\nstale_after_days = nan\n", "notify.stale_after_days", "nan",
         "expected a finite number (greater than 0, at most 36525)"),
        ({}, "[collect]\ntimeout_s = 1e9\n", "collect.timeout_s", "1000000000.0",
         "less than or equal to 86400"),
        ({"FLEXT_QUALITY_WRITE_TIMEOUT_S": "-inf"}, None, "write_timeout_s", "'-inf'", "finite number"),
        ({"FLEXT_QUALITY_DASHBOARD__BASE_URL": "notaurl"}, None, "dashboard.base_url", "'notaurl'",
         "expected an http:// or https:// URL with a host"),
    ],
)
def test_an_infinite_huge_or_malformed_setting_stops_with_one_line(
    tmp_path: Path, env: dict[str, str], toml: str | None, key: str, value: str, allowed: str
) -> None:
    test_a_bad_setting_stops_with_one_line(tmp_path, env, toml, key, value, allowed)


def test_commands_that_crashed_on_a_huge_age_now_stop_at_start(tmp_path: Path) -> None:
    db = str(tmp_path / "q.duckdb")
    assert cli("--db", db, "migrate", cwd=tmp_path).returncode == 0
    huge = {"FLEXT_QUALITY_NOTIFY__MAX_AGE_HOURS": "1e12"}
    flushed = cli("--db", db, "notify", "--flush", cwd=tmp_path, env=huge)  # was OverflowError
    assert flushed.returncode == 1
    assert _one_error_line(flushed.stderr) == (
        "error: invalid setting notify.max_age_hours='1e12': Input should be less than or equal "
        "to 876600"
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("import os\n", encoding="utf-8")
    checked = cli("--db", str(tmp_path / "new.duckdb"), "check", str(project), cwd=tmp_path,
                  env={"FLEXT_QUALITY_NOTIFY__MAX_AGE_HOURS": "inf"})
    assert checked.returncode == 1
    assert "notify.max_age_hours='inf'" in _one_error_line(checked.stderr)
    assert not (tmp_path / "new.duckdb").exists()  # stopped before collecting anything


def test_the_largest_allowed_ages_run_without_overflow(tmp_path: Path) -> None:
    """A red gate, a failed delivery, an opened circuit and a flush, every age at its bound."""
    db = str(tmp_path / "q.duckdb")
    assert cli("--db", db, "demo", "--projects", "1", "--days", "3", cwd=tmp_path).returncode == 0
    (tmp_path / "flext-quality.toml").write_text(
        '[[gates]]\nmetric = "ruff.issues"\nmax = 0\n'
        '[[gates]]\nmetric = "ruff.issues"\nmax_increase = 0\nagainst = "36525d"\n'
        '[[routes]]\npurpose = "alerts"\nurls = ["json://127.0.0.1:9/hook"]\n',  # refused at once
        encoding="utf-8",
    )
    env = {f"FLEXT_QUALITY_NOTIFY__{name}": value for name, value in {
        "MAX_AGE_HOURS": "876600", "REMINDER_HOURS": "876600", "STALE_AFTER_DAYS": "36525",
        "BREAKER_COOLDOWN_S": "3155760000", "BACKOFF_BASE_S": "3155760000",
        "BACKOFF_MAX_S": "3155760000", "MAX_ATTEMPTS": "1000", "BREAKER_THRESHOLD": "1",
    }.items()}
    checked = cli("--db", db, "check", "--no-collect", "--project", "project-0000", cwd=tmp_path, env=env)
    assert checked.returncode == 1 and "Traceback" not in checked.stderr, checked.stderr
    assert "FAIL     ruff.issues max=0" in checked.stdout
    flushed = cli("--db", db, "notify", "--flush", cwd=tmp_path, env=env)
    assert flushed.returncode == 0, flushed.stderr
    pending = re.search(r"1 pending, next attempt (\d{4})-", flushed.stdout)
    this_year = datetime.now(UTC).year
    assert pending and int(pending.group(1)) >= this_year + 50, flushed.stdout  # backoff, jittered
    [(open_until,)] = MetricStore(Path(db)).fetch("SELECT open_until FROM channel_breaker")
    assert open_until.year >= this_year + 99  # the circuit stays open for the century
