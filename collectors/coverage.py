"""coverage: line and branch coverage read from the project's ``coverage.json`` or Cobertura XML.

The file is the one named by ``coverage_file`` (relative to the project), else
``coverage.json``, else ``coverage.xml``. When none exists and ``coverage_run_tests`` is on,
the project's tests run under ``coverage run --branch`` (data kept outside the project) and
the report is read from that run. No data at all: the tool is ``skipped`` and the coverage
metrics are absent, never zero.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

# DTDs are refused before parsing (see parse_cobertura), so the standard parser is safe here
from xml.etree import ElementTree  # nosec B405

from collectors.base import Adapter, CollectOptions, ToolOutput, ToolSetup, config_hash, metric
from collectors.runner import ToolFailed, one_line, resolve_executable, run_process, tool_version

__all__ = ["ADAPTER", "METRICS", "parse_cobertura", "parse_json"]

NAME = "coverage"
METRICS = (
    metric(NAME, "coverage.line_percent", "%", "aim_high", "last", "Share of statements run by the tests."),
    metric(NAME, "coverage.branch_percent", "%", "aim_high", "last",
           "Share of branch directions taken by the tests (when branch data exists)."),
    metric(NAME, "coverage.statements", "statements", "aim_high", "last",
           "Statements measured by coverage."),
)
DEFAULT_FILES = ("coverage.json", "coverage.xml")


def parse_json(text: str) -> dict[str, float]:
    """Metrics from coverage.py's JSON report (``totals``)."""
    try:
        totals = json.loads(text)["totals"]
        statements = float(totals["num_statements"])
        covered = float(totals["covered_lines"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise ToolFailed("coverage report is not coverage.py JSON with totals") from None
    line = totals.get("percent_statements_covered")
    measures = {
        "coverage.line_percent": float(line) if line is not None
        else (100.0 * covered / statements if statements else 100.0),
        "coverage.statements": statements,
    }
    if totals.get("num_branches"):
        branches = float(totals["num_branches"])
        measures["coverage.branch_percent"] = float(
            totals.get("percent_branches_covered", 100.0 * totals.get("covered_branches", 0) / branches)
        )
    return measures


def parse_cobertura(text: str) -> dict[str, float]:
    """Metrics from a Cobertura ``coverage.xml`` (root attributes)."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        # a coverage report never needs a DTD; refusing one rules out entity-expansion attacks
        raise ToolFailed("coverage.xml declares a DTD or entities: refused")
    try:
        root = ElementTree.fromstring(text)  # noqa: S314  # nosec B314
        line_rate = float(root.attrib["line-rate"])
    except (ElementTree.ParseError, KeyError, ValueError):
        raise ToolFailed("coverage.xml is not a Cobertura report") from None
    # The rates are rounded to 4 digits in the file; the counts beside them give the exact
    # percentage, the one `coverage report` prints.
    measures = {"coverage.line_percent": _percent(root.attrib, "lines", line_rate)}
    if "lines-valid" in root.attrib:
        measures["coverage.statements"] = float(root.attrib["lines-valid"])
    if _count(root.attrib, "branches-valid") > 0:
        branch_rate = float(root.attrib.get("branch-rate", "0"))
        measures["coverage.branch_percent"] = _percent(root.attrib, "branches", branch_rate)
    return measures


def _count(attrib: dict[str, str], key: str) -> float:
    try:
        return float(attrib.get(key, "0") or 0)
    except ValueError:
        return 0.0


def _percent(attrib: dict[str, str], kind: str, rate: float) -> float:
    """``100 * covered / valid`` from the report's counts, else ``100 * rate``."""
    valid = _count(attrib, f"{kind}-valid")
    if valid > 0 and f"{kind}-covered" in attrib:
        return 100.0 * _count(attrib, f"{kind}-covered") / valid
    return 100.0 * rate


def _report_path(root: Path, options: CollectOptions) -> Path | None:
    names = (options.coverage_file,) if options.coverage_file else DEFAULT_FILES
    for name in names:
        if name and (root / name).is_file():
            return root / name
    return None


def prepare(root: Path, options: CollectOptions) -> ToolSetup:
    """The coverage executable is needed only to run tests; reading a report needs nothing."""
    report = _report_path(root, options)
    if report is None and options.coverage_run_tests:
        prefix = resolve_executable(NAME, options.executables)
        version = tool_version(prefix, cwd=root)
        args = ("run", "--branch", *options.coverage_test_args)
        return ToolSetup(NAME, prefix, version, args, config_hash(NAME, version, *args))
    # An absolute coverage_file outside the project is recorded as given.
    shown = "" if report is None else (
        report.relative_to(root).as_posix() if report.is_relative_to(root) else str(report)
    )
    return ToolSetup(NAME, (), "report", (shown,) if shown else (), config_hash(NAME, "report", shown))


def command(setup: ToolSetup, _files: Sequence[str]) -> tuple[str, ...]:
    """The test command when tests are run, else empty (a report file is only read)."""
    return (*setup.prefix, *setup.config_args) if setup.prefix else ()


def run(setup: ToolSetup, root: Path, _files: Sequence[str], options: CollectOptions) -> ToolOutput:
    """Read the report, or run the tests under coverage and read that run's report."""
    if not setup.prefix:
        if not setup.config_args:
            return ToolOutput(skipped="no coverage data (coverage.json or coverage.xml)")
        report = root / setup.config_args[0]
        text = report.read_text(encoding="utf-8", errors="replace")
        parse = parse_cobertura if report.suffix == ".xml" else parse_json
        return ToolOutput(measures=parse(text))
    with tempfile.TemporaryDirectory(prefix="flext-coverage-") as tmp:
        key = hashlib.sha256(str(root).encode()).hexdigest()[:8]
        data = Path(tmp) / f"coverage-{key}"
        argv = (*setup.prefix, "run", f"--data-file={data}", *setup.config_args[1:])
        run_process(argv, cwd=root, timeout_s=options.timeout_s)  # failing tests still give data
        out = Path(tmp) / "coverage.json"
        made = run_process((*setup.prefix, "json", f"--data-file={data}", "-o", str(out)),
                           cwd=root, timeout_s=options.timeout_s)
        if made.returncode != 0 or not out.is_file():
            detail = one_line(made.stderr) or one_line(made.stdout)
            return ToolOutput(command=argv, skipped=f"the tests gave no coverage data ({detail})")
        return ToolOutput(command=argv, measures=parse_json(out.read_text(encoding="utf-8")))


def select(_setup: ToolSetup, _files: Sequence[str]) -> list[str]:
    """Coverage reads a report (or runs the tests), not the discovered files."""
    return []


ADAPTER = Adapter(NAME, METRICS, False, prepare, command, run, select=select)
