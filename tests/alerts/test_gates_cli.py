"""`flext-quality gates`: only configured gates' states, and one error line for a bad database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from alert_helpers import RunMaker, invoke_cli

from collectors.registry import CATALOGUE as REGISTRY
from storage.store import MetricStore

OLD_GATES = """
[[gates]]
metric = "ruff.issues"
max = 5
[[gates]]
metric = "bandit.issues.high"
max = 0
[[gates]]
metric = "quality.score"
min = 70
"""
NEW_GATES = """
[[gates]]
metric = "quality.score"
min = 70
projects = ["demo"]
[[gates]]
metric = "coverage.line_percent"
min = 80
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_gates_shows_only_configured_gates(tmp_path: Path, store: MetricStore, make_run: RunMaker) -> None:
    db = ["--db", str(store.path)]
    old = _write(tmp_path, "old.toml", OLD_GATES)
    for project in ("demo", "other"):
        make_run({"ruff.issues": 9, "bandit.issues.high": 0, "quality.score": 80}, project=project)
        assert invoke_cli("check", "--no-collect", "--project", project, "--config", old, *db).exit_code == 1
    before = invoke_cli("gates", "--config", old, *db)
    assert before.exit_code == 0, before.output
    assert before.stdout.count("ruff.issues max=5") == 3  # the gate line and two states

    new = _write(tmp_path, "new.toml", NEW_GATES)
    result = invoke_cli("gates", "--config", new, *db)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "ruff.issues" not in out and "bandit.issues.high" not in out
    # quality.score now applies to "demo" only: other's state is hidden too
    assert out.count("quality.score min=70") == 2  # the gate line and demo's state
    assert "demo" in out and "other" not in out
    assert out.rstrip().endswith("(5 stored state(s) of gates no longer configured are not shown)")

    # the report's gate section follows the configuration the same way
    report = invoke_cli("report", "--project", "demo", "--format", "json", "--config", new, *db)
    assert report.exit_code == 0, report.output
    assert [g["gate"] for g in json.loads(report.stdout)[0]["gates"]] == ["quality.score min=70"]
    old_report = invoke_cli("report", "--project", "demo", "--format", "json", "--config", old, *db)
    assert len(json.loads(old_report.stdout)[0]["gates"]) == 3

    only_demo = invoke_cli("gates", "--project", "demo", "--config", new, *db)
    assert "(2 stored state(s) of gates no longer configured are not shown)" in only_demo.stdout

    none = invoke_cli("gates", "--config", _write(tmp_path, "none.toml", ""), *db)
    assert none.exit_code == 0
    assert none.stdout.splitlines() == [
        "no gates configured (see README, Gates)",
        "(6 stored state(s) of gates no longer configured are not shown)",
    ]


def _corrupt(path: Path) -> str:
    path.write_bytes(b"this is not a DuckDB database\n" * 100)
    return "error: cannot open database"


def _newer(path: Path) -> str:
    MetricStore(path).ensure_schema()
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO schema_migrations VALUES (99, '0099_future', now())")
    return "database schema is newer than this flext-quality"


@pytest.mark.parametrize("spoil", [_corrupt, _newer])
@pytest.mark.parametrize("gates", ["", OLD_GATES])
def test_gates_on_an_unreadable_database_is_only_the_error_line(
    tmp_path: Path, spoil: Callable[[Path], str], gates: str
) -> None:
    db = tmp_path / "q.duckdb"
    expected = spoil(db)
    result = invoke_cli("gates", "--db", str(db), "--config", _write(tmp_path, "c.toml", gates))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]


def test_gates_shows_each_rule_and_warns_about_typos_and_unknown_projects(
    tmp_path: Path, store: MetricStore, make_run: RunMaker
) -> None:
    config = _write(tmp_path, "c.toml", """
[[gates]]
name = "no-high-bandit"
metric = "bandit.issues.high"
max = 0
[[gates]]
metric = "ruff.isues"
max_increase = 3
""")
    fresh = invoke_cli("gates", "--config", config, "--db", str(tmp_path / "none.duckdb"))
    assert fresh.exit_code == 0, fresh.output
    assert fresh.stdout.splitlines()[0].startswith("no-high-bandit: bandit.issues.high max=0  [projects *")
    assert "gate 'ruff.isues max_increase=3 against=previous': unknown metric 'ruff.isues' " \
           "(did you mean 'ruff.issues'?)" in fresh.stderr  # even before any run is stored

    make_run({"bandit.issues.high": 0}, project="demo")
    ghost = invoke_cli("gates", "--project", "ghost", "--config", config, "--db", str(store.path))
    assert ghost.exit_code == 0, ghost.output
    assert "warning: no run of project 'ghost' is stored (stored: demo)" in ghost.stderr
    assert sum("ruff.isues" in line for line in ghost.stderr.splitlines()) == 1  # one warning, not two


def test_gates_warns_about_a_real_metric_no_run_has_reported(
    tmp_path: Path, store: MetricStore, make_run: RunMaker
) -> None:
    config = _write(tmp_path, "c.toml", """
[[gates]]
metric = "coverage.branch_percent"
min = 60
[[gates]]
metric = "bandit.issues.high"
max = 0
""")
    # every stored run records the whole catalogue, coverage metrics included, even without
    # coverage data: the warning must look at stored values, not at the catalogue
    make_run({"bandit.issues.high": 0}, project="demo")
    store.write_catalogue(REGISTRY)  # as a real collect writes it
    listed = store.fetch("SELECT count(*) FROM metrics WHERE name = 'coverage.branch_percent'")
    assert listed == [(1,)]
    done = invoke_cli("gates", "--config", config, "--db", str(store.path))
    assert done.exit_code == 0, done.output
    warned = [line for line in done.stderr.splitlines() if "metric 'coverage" in line]
    assert warned == ["warning: metric 'coverage.branch_percent' has no stored value yet; its gates "
                      "have no data until a run reports it"], done.stderr
