"""Pure parsers on captured real outputs (tests/collect/fixtures, made by running the tools)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from collect_support import FIXTURES

from collectors import bandit, complexity, coverage, mypy, ruff, suppressions
from collectors.base import SourceLines
from collectors.runner import ToolFailed
from collectors.score import components, derived_metrics, quality_score

FIXPROJ = Path("/tmp/fixproj")  # where the fixtures were captured


def read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_ruff_parse_relativises_paths_and_keeps_every_entry() -> None:
    pairs = ruff.parse(read("ruff_sample.json"), FIXPROJ)
    assert len(pairs) == len(json.loads(read("ruff_sample.json")))
    assert {path for path, _ in pairs} == {"samplepkg/core.py"}
    assert [e["code"] for _, e in pairs] == ["F841", "E711", "B006", "UP045", "E722"]


def test_ruff_syntax_errors_are_ordinary_entries() -> None:
    pairs = ruff.parse(read("ruff_syntax.json"), FIXPROJ)
    broken = [e for path, e in pairs if path == "samplepkg/broken.py"]
    assert len(broken) == 2 and all(e["code"] == "invalid-syntax" for e in broken)
    assert len(pairs) - len(broken) == len(json.loads(read("ruff_sample.json")))


@pytest.mark.parametrize("text", ["", "not json", '{"a": 1}', "Traceback (most recent call last):"])
def test_ruff_garbage_is_a_tool_failure(text: str) -> None:
    with pytest.raises(ToolFailed):
        ruff.parse(text, FIXPROJ)


def test_mypy_parse_json_lines() -> None:
    entries = mypy.parse(read("mypy_sample.jsonl"))
    assert [e["code"] for e in entries] == ["arg-type", "assignment", "index"]
    assert mypy.parse(read("mypy_clean.jsonl")) == []
    syntax = mypy.parse(read("mypy_syntax.jsonl"))
    assert {e["code"] for e in syntax} == {"syntax"} and len(syntax) == 2


def test_mypy_configuration_notes_in_plain_text_are_kept_apart() -> None:
    # warn_unused_configs (part of --strict) prints this note as text among the JSON lines
    text = read("mypy_unused_config.jsonl")
    assert [e["code"] for e in mypy.parse(text)] == ["return-value", "assignment"]
    assert mypy.split_notes(text)[1] == ["setup.cfg: note: unused section(s): [mypy-colorama.*]"]
    assert mypy.split_notes(read("mypy_sample.jsonl"))[1] == []


@pytest.mark.parametrize(
    "text",
    ["samplepkg/core.py:1: error: oops", "samplepkg/core.py:1: note: oops", "[1, 2]\n", '{"file": 1}'],
)
def test_mypy_text_or_other_json_is_a_tool_failure(text: str) -> None:
    with pytest.raises(ToolFailed):
        mypy.parse(text)


def test_bandit_parse_results_and_errors() -> None:
    report = bandit.parse(read("bandit_sample.json"))
    severities = [r["issue_severity"] for r in report["results"]]
    totals = report["metrics"]["_totals"]
    assert severities.count("HIGH") == totals["SEVERITY.HIGH"]
    assert severities.count("MEDIUM") == totals["SEVERITY.MEDIUM"]
    assert severities.count("LOW") == totals["SEVERITY.LOW"]
    errors = bandit.parse(read("bandit_syntax.json"))["errors"]
    assert [e["filename"] for e in errors] == ["./samplepkg/broken.py"]
    with pytest.raises(ToolFailed):
        bandit.parse('{"no": "results"}')


@pytest.mark.parametrize(
    ("path", "is_test"),
    [
        ("tests/test_x.py", True),
        ("pkg/test_y.py", True),
        ("a/b_test.py", True),
        ("conftest.py", True),
        ("pkg/testing/util.py", True),
        ("pkg/core.py", False),
        ("pkg/contest.py", False),
        ("pkg/latest.py", False),
    ],
)
def test_bandit_test_file_rule(path: str, is_test: bool) -> None:
    assert bandit.is_test_file(path) is is_test


def test_radon_cc_fixture_shape_matches_complexity_parse() -> None:
    data = complexity.parse(read("radon_cc.json"))
    assert "error" in data["samplepkg/broken.py"]
    functions = [b for b in data["samplepkg/branches.py"] if b["type"] in ("function", "method")]
    assert sorted(b["complexity"] for b in functions) == [1, 1, 3, 15]


def test_coverage_json_and_cobertura() -> None:
    sample = Path(__file__).resolve().parents[2] / "data" / "sample" / "coverage.json"
    measures = coverage.parse_json(sample.read_text(encoding="utf-8"))
    totals = json.loads(sample.read_text(encoding="utf-8"))["totals"]
    assert measures["coverage.line_percent"] == pytest.approx(totals["percent_statements_covered"])
    assert measures["coverage.branch_percent"] == pytest.approx(totals["percent_branches_covered"])
    xml = (
        '<?xml version="1.0" ?><coverage version="7" line-rate="0.75" branch-rate="0.5" '
        'lines-valid="40" lines-covered="30" branches-valid="8" branches-covered="4"></coverage>'
    )
    cob = coverage.parse_cobertura(xml)
    assert cob == {
        "coverage.line_percent": 75.0,
        "coverage.statements": 40.0,
        "coverage.branch_percent": 50.0,
    }
    no_branches = xml.replace('branches-valid="8"', 'branches-valid="0"')
    assert "coverage.branch_percent" not in coverage.parse_cobertura(no_branches)
    with pytest.raises(ToolFailed):
        coverage.parse_cobertura("<html>")
    bomb = '<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "aaaa">]><coverage line-rate="1">&a;</coverage>'
    with pytest.raises(ToolFailed, match="DTD"):
        coverage.parse_cobertura(bomb)
    with pytest.raises(ToolFailed):
        coverage.parse_json("{}")


def test_suppressions_count_only_comments() -> None:
    source = (
        "import os  # noqa: F401\n"
        "x = '# noqa in a string'\n"
        "y: int = 'a'  # type: ignore[assignment]\n"
        "z = eval('1')  # nosec B307\n"
        "# a comment about nosec policy, but no marker\n"
        "w = 1  # NOQA\n"
    )
    result = suppressions.count_source(source)
    assert result.numbers == {"noqa": 2.0, "type_ignore": 1.0, "nosec": 1.0}
    assert [f.line for f in result.findings] == [1, 3, 4, 6]


def test_source_anchor_falls_back_to_message(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("a = 1\n    b = 2  \n", encoding="utf-8")
    lines = SourceLines(tmp_path)
    assert lines.anchor("m.py", 2, "msg") == "b = 2"
    assert lines.anchor("m.py", 9, "msg") == "msg"
    assert lines.anchor("missing.py", 1, "msg") == "msg"


def test_quality_score_ignores_absent_components() -> None:
    base = {
        "size.sloc": 2000.0,
        "ruff.issues": 20.0,
        "bandit.issues": 1.0,
        "bandit.issues.high": 1.0,
        "complexity.cyclomatic.mean": 4.0,
        "maintainability.mean": 70.0,
        "mypy.errors": 0.0,
    }
    parts = components(base)
    assert parts["lint"] == pytest.approx(50.0) and parts["security"] == 75.0
    assert "coverage" not in parts
    without = quality_score(base)
    with_full = quality_score({**base, "coverage.line_percent": 100.0})
    with_zero = quality_score({**base, "coverage.line_percent": 0.0})
    assert without is not None and with_full is not None and with_zero is not None
    assert with_zero < without < with_full  # absent is not the same as zero
    assert quality_score({}) is None
    assert derived_metrics(base)["issues.per_kloc"] == pytest.approx(10.5)


def test_cobertura_gives_the_same_percentages_as_coverage_json(tmp_path: Path) -> None:
    # 12 of 19 statements run: Cobertura's line-rate is rounded (0.6316), its counts are exact.
    (tmp_path / "mod.py").write_text(
        "def used(x):\n    if x:\n        return 1\n    return 2\n\n\n"
        "def unused(y):\n" + "".join(f"    y += {i}\n" for i in range(6)) + "    return y\n\n\n"
        "used(True)\nused(False)\nA = 1\nB = 2\nC = 3\nD = 4\nE = 5\n",
        encoding="utf-8",
    )
    python = sys.executable
    for args in (("run", "--branch", "mod.py"), ("json", "-o", "c.json"), ("xml", "-o", "c.xml")):
        subprocess.run([python, "-m", "coverage", *args], cwd=tmp_path, check=True, capture_output=True)
    from_json = coverage.parse_json((tmp_path / "c.json").read_text(encoding="utf-8"))
    from_xml = coverage.parse_cobertura((tmp_path / "c.xml").read_text(encoding="utf-8"))
    totals = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))["totals"]
    assert totals["covered_lines"] * 100 % totals["num_statements"] != 0  # a rounded rate
    assert from_xml["coverage.line_percent"] == from_json["coverage.line_percent"]
    assert from_xml["coverage.branch_percent"] == from_json["coverage.branch_percent"]
