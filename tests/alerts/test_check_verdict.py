"""`flext-quality check` must not pass a build its analyzers could not measure.

Real analyzers on a planted project; a failing analyzer is a small script put in its place
through ``collect.executables`` (it answers ``--version``, then crashes).
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from click.testing import CliRunner, Result

from flext_quality.cli import main
from storage.store import MetricStore

RISKY = '"""Risky."""\nimport subprocess\n\n\ndef run(cmd: str) -> int:\n    """Run."""\n' \
        "    return subprocess.call(cmd, shell=True)\n"


def _crashing(tmp_path: Path, tool: str) -> Path:
    script = tmp_path / f"crashing-{tool}"
    script.write_text(
        '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "9.9.9"; exit 0; fi\n'
        'echo "internal error: cannot go on" >&2\nkill -SEGV $$\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def _setup(tmp_path: Path, gates: str, crashing: tuple[str, ...] = ()) -> tuple[Path, list[str]]:
    project = tmp_path / "planted"
    project.mkdir(exist_ok=True)
    (project / "shell.py").write_text(RISKY, encoding="utf-8")
    executables = ", ".join(f'{t} = ["{_crashing(tmp_path, t)}"]' for t in crashing)
    config = tmp_path / "flext-quality.toml"
    config.write_text(
        f'allowed_roots = ["{tmp_path}"]\n[collect]\ntools = ["ruff", "bandit"]\n'
        f"executables = {{ {executables} }}\n{gates}",
        encoding="utf-8",
    )
    return project, ["--db", str(tmp_path / "q.duckdb"), "--config", str(config)]


def _check(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", *args])


NO_HIGH = '[[gates]]\nmetric = "bandit.issues.high"\nmax = 0\n'


def test_a_run_that_measured_nothing_fails_the_build(tmp_path: Path) -> None:
    project, common = _setup(tmp_path, NO_HIGH, crashing=("ruff", "bandit"))
    text = _check(str(project), *common)
    assert text.exit_code == 1, text.output
    assert "ERROR    analyzer bandit failed: " in text.output
    assert "ERROR    analyzer ruff failed: " in text.output
    assert text.output.rstrip().endswith("failed: the run measured nothing (2 analyzer(s) failed)")
    data = json.loads(_check(str(project), "--format", "json", *common).output)
    assert data["passed"] is False and data["run_status"] == "failed"
    assert [t["tool"] for t in data["failed_tools"]] == ["bandit", "ruff"]


def test_a_red_gate_whose_analyzer_fails_stays_red_and_fails_the_build(tmp_path: Path) -> None:
    project, common = _setup(tmp_path, NO_HIGH)
    assert _check(str(project), *common).exit_code == 1  # bandit finds the shell=True call
    _setup(tmp_path, NO_HIGH, crashing=("bandit",))
    junit = tmp_path / "gates.xml"
    again = _check(str(project), "--junit", str(junit), *common)
    assert again.exit_code == 1, again.output
    assert ("FAIL     bandit.issues.high max=0: still red, this run could not measure it"
            in again.output)
    assert "ERROR    analyzer bandit failed: " in again.output
    assert again.output.rstrip().endswith("1 red gate(s)")
    suite = ET.parse(junit).getroot()
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "1", "0")
    assert suite.find("testcase[@name='bandit']/error") is not None
    # the dashboard's state agrees: still red
    store = MetricStore(tmp_path / "q.duckdb")
    assert store.fetch("SELECT state FROM alert_states") == [("fail",)]


def test_a_failed_analyzer_fails_the_build_unless_allowed(tmp_path: Path) -> None:
    project, common = _setup(tmp_path, NO_HIGH, crashing=("bandit",))
    strict = _check(str(project), *common)
    assert strict.exit_code == 1, strict.output
    assert "NO DATA  bandit.issues.high max=0" in strict.output
    assert strict.output.rstrip().endswith(
        "failed: 1 analyzer(s) failed (--allow-analyzer-failures lets the gates decide)")
    lenient = _check(str(project), "--allow-analyzer-failures", *common)
    assert lenient.exit_code == 0, lenient.output
    assert lenient.output.rstrip().endswith("all gates pass, 1 without data")
    assert _check(str(project), "--allow-analyzer-failures", "--fail-on-no-data", *common).exit_code == 1


def test_a_run_with_only_the_bundled_tools_left_fails_even_when_allowed(tmp_path: Path) -> None:
    """The default tools: every external analyzer crashed, the bundled ones still measured."""
    project, common = _setup(tmp_path, NO_HIGH, crashing=("ruff", "bandit"))
    config = Path(common[-1])
    config.write_text(config.read_text().replace('tools = ["ruff", "bandit"]',
                                                 'tools = ["ruff", "bandit", "suppressions"]'))
    done = _check(str(project), *common)
    assert done.exit_code == 1, done.output
    assert "2 analyzer(s) failed" in done.output


def test_a_first_build_with_a_relative_gate_passes_with_fail_on_no_data(tmp_path: Path) -> None:
    relative = '[[gates]]\nmetric = "ruff.issues"\nmax_increase = 1\nagainst = "previous"\n'
    project, common = _setup(tmp_path, relative)
    first = _check(str(project), "--fail-on-no-data", *common)
    assert first.exit_code == 0, first.output  # no previous run yet: not a missing metric
    assert first.output.rstrip().endswith("all gates pass, 1 without data")


def test_a_junit_report_says_why_when_check_stops_on_an_error(tmp_path: Path) -> None:
    _, common = _setup(tmp_path, NO_HIGH)
    empty = tmp_path / "empty"
    empty.mkdir()
    junit = tmp_path / "gates.xml"
    junit.write_text("<testsuite name='an earlier build' />", encoding="utf-8")
    done = _check(str(empty), "--junit", str(junit), *common)
    assert done.exit_code == 1
    error = ET.parse(junit).getroot().find("testcase/error")
    assert error is not None and (error.get("message") or "") in done.stderr


def test_an_unwritable_junit_path_is_one_line_before_any_collecting(tmp_path: Path) -> None:
    project, common = _setup(tmp_path, NO_HIGH)
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    done = _check(str(project), "--junit", str(blocker / "gates.xml"), *common)
    assert done.exit_code == 1
    assert done.stderr.strip().startswith(f"error: cannot write --junit {blocker / 'gates.xml'}: ")
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
    assert not (tmp_path / "q.duckdb").exists() or not MetricStore(tmp_path / "q.duckdb").fetch(
        "SELECT * FROM runs")


def test_json_output_carries_the_error_too(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _, common = _setup(tmp_path, NO_HIGH)
    done = _check(str(empty), "--format", "json", *common)
    assert done.exit_code == 1
    data = json.loads(done.stdout)
    assert data["passed"] is False and data["project"] == "empty"
    assert data["error"] in done.stderr
