"""`flext-quality check` on a planted project with the real analyzers (ruff, bandit), and the
other commands of this area through the command line."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import click
import pytest
from alert_helpers import HttpReceiver, RunMaker
from click.testing import CliRunner, Result

from flext_quality.cli import alert_cmds
from flext_quality.cli.common import FlextGroup
from storage.store import MetricStore

RISKY = '''"""A module with a high-severity security finding."""
import subprocess


def run(cmd: str) -> int:
    """Run a shell command."""
    return subprocess.call(cmd, shell=True)
'''
SAFE = '''"""The same module, fixed."""
import subprocess


def run(cmd: list[str]) -> int:
    """Run a command without a shell."""
    return subprocess.call(cmd)
'''


def _cli() -> click.Group:
    @click.group(cls=FlextGroup)
    def cli() -> None:
        """Test group with this area's commands."""

    alert_cmds.register(cli)
    return cli


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(_cli(), list(args))


def test_check_collects_gates_and_exits_by_gate_state(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    project = tmp_path / "planted"
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "__init__.py").write_text('"""Package."""\n')
    (project / "pkg" / "shell.py").write_text(RISKY)
    config = tmp_path / "flext-quality.toml"
    config.write_text(f"""
allowed_roots = ["{tmp_path}"]
[collect]
tools = ["ruff", "bandit"]
[[gates]]
metric = "bandit.issues.high"
max = 0
[[gates]]
metric = "ruff.issues"
max_increase = 100
[[routes]]
purpose = "alerts"
urls = ["json://127.0.0.1:{http_receiver.port}/ci"]
""", encoding="utf-8")
    db = tmp_path / "q.duckdb"
    junit = tmp_path / "out" / "gates.xml"
    common = ["--db", str(db), "--config", str(config)]

    red = _invoke("check", str(project), "--junit", str(junit), *common)
    assert red.exit_code == 1, red.output
    assert "FAIL     bandit.issues.high max=0: bandit.issues.high = 1 violates <= 0" in red.output
    assert "NO DATA  ruff.issues max_increase=100" in red.output  # first run: no reference
    assert "planted (run " in red.output and "1 red gate(s)" in red.output
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "1", "1")
    failure = suite.find("testcase[@name='bandit.issues.high max=0']/failure")
    assert failure is not None and "violates" in (failure.get("message") or "")
    assert len(http_receiver.requests) == 1  # the alert went out right after the run

    again = _invoke("check", "--no-collect", "--project", "planted", "--format", "json", *common)
    assert again.exit_code == 1
    data = json.loads(again.output)
    assert data["passed"] is False
    assert {g["gate"]: g["state"] for g in data["gates"]}["bandit.issues.high max=0"] == "fail"
    assert len(http_receiver.requests) == 1  # same violation: no second alert

    (project / "pkg" / "shell.py").write_text(SAFE)
    green = _invoke("check", str(project), "--format", "json", *common)
    assert green.exit_code == 0, green.output
    data = json.loads(green.output)
    assert data["passed"] is True
    assert [g["state"] for g in data["gates"]] == ["pass", "pass"]
    assert [n["status"] for n in data["notifications"]] == ["delivered"]
    assert "GREEN again" in http_receiver.requests[-1].json()["title"]

    # a gate without data (coverage did not run) passes by default; --fail-on-no-data fails
    config.write_text(config.read_text() + '[[gates]]\nmetric = "coverage.line_percent"\nmin = 50\n')
    lenient = _invoke("check", "--no-collect", "--project", "planted", *common)
    assert lenient.exit_code == 0, lenient.output
    assert "NO DATA  coverage.line_percent min=50" in lenient.output
    assert lenient.output.rstrip().endswith("all gates pass, 1 without data")
    strict = _invoke("check", "--no-collect", "--project", "planted", "--fail-on-no-data", *common)
    assert strict.exit_code == 1
    assert strict.output.rstrip().endswith("failed: 1 gate(s) without data (--fail-on-no-data)")

    # a metric no analyzer reports and the store never saw is a typo: it stops the build
    config.write_text(config.read_text() + '[[gates]]\nmetric = "ruff.isues"\nmax = 0\n')
    typo = _invoke("check", "--no-collect", "--project", "planted", *common)
    assert typo.exit_code == 1
    assert typo.stderr.strip() == (
        "error: gate 'ruff.isues max=0': unknown metric 'ruff.isues' (did you mean 'ruff.issues'?); "
        'the metrics view lists them (flext-quality sql "SELECT name FROM metrics")'
    )

    gates = _invoke("gates", *common)
    assert gates.exit_code == 0
    assert "bandit.issues.high max=0" in gates.output and "pass" in gates.output
    assert "unknown metric 'ruff.isues' (did you mean 'ruff.issues'?)" in gates.stderr

    listed = _invoke("notify", "--list", "--format", "json", *common)
    rows = json.loads(listed.output)
    assert [r["status"] for r in rows] == ["delivered", "delivered"]

    report = _invoke("report", "--project", "planted", "--period", "day", "--format", "text", *common)
    assert report.exit_code == 0
    assert "== planted ==" in report.output and "bandit.issues.high" in report.output


def test_check_without_runs_or_with_unknown_project_is_one_clear_line(tmp_path: Path) -> None:
    result = _invoke("check", "--no-collect", "--project", "ghost", "--db", str(tmp_path / "x.duckdb"))
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: no stored run of project 'ghost'")
    usage = _invoke("notify", "--db", str(tmp_path / "x.duckdb"))
    assert usage.exit_code == 2 and "choose --flush, --list, --show or --test" in usage.output


def test_check_says_when_a_gate_fails_but_is_not_red_yet_and_names_a_missing_baseline(
    tmp_path: Path, store: MetricStore, make_run: RunMaker
) -> None:
    config = tmp_path / "gates.toml"
    config.write_text("""
[[gates]]
metric = "ruff.issues"
max = 5
consecutive = 2
[[gates]]
metric = "bandit.issues"
max_increase = 1
against = "baseline"
baseline_run = "no-such-run"
""", encoding="utf-8")
    common = ["--project", "demo", "--no-collect", "--db", str(store.path), "--config", str(config)]
    make_run({"ruff.issues": 9, "bandit.issues": 3})
    first = _invoke("check", *common)
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[0] == ("WARN     ruff.issues max=5: ruff.issues = 9 violates <= 5 (threshold 5) "
                        "(not red yet: red after 2 failing runs in a row)")
    assert "baseline run 'no-such-run' not found, or it has no bandit.issues" in lines[1]
    make_run({"ruff.issues": 9, "bandit.issues": 3})
    second = _invoke("check", *common)
    assert second.exit_code == 1
    assert second.output.startswith(
        "FAIL     ruff.issues max=5: ruff.issues = 9 violates <= 5 (threshold 5)\n")


def test_collect_and_backfill_refuse_an_unusable_route_url_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flext_quality.cli import main  # the whole command set: collect and backfill too

    project = tmp_path / "planted"
    project.mkdir()
    (project / "mod.py").write_text(RISKY, encoding="utf-8")
    config = tmp_path / "fq.toml"
    config.write_text('[[routes]]\npurpose = "alerts"\nurls = ["hello world"]\n', encoding="utf-8")
    monkeypatch.setenv("FLEXT_QUALITY_ALLOWED_ROOTS", str(tmp_path))
    db = tmp_path / "q.duckdb"
    for command in ("collect", "backfill"):
        result = CliRunner().invoke(main, ["--config", str(config), command, str(project), "--db", str(db)])
        assert result.exit_code == 1, (command, result.output)
        last = result.output.strip().splitlines()[-1]
        assert last.startswith("error: invalid setting routes"), result.output
    assert not db.exists()  # refused before anything was analysed or stored
