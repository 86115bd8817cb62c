"""bandit: security findings from ``bandit -f json -q FILES``.

Exit codes: 0 clean, 1 findings; **also 0** when a file cannot be parsed, which bandit lists
only in ``errors[]``: each becomes a finding with rule ``syntax-error`` and severity
``error`` (recorded, but not counted as a security issue). Without a project configuration,
test files are left out when ``bandit_skip_tests`` is on (their asserts are B101 noise).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from collectors.base import (
    Adapter,
    CollectOptions,
    SourceLines,
    ToolOutput,
    ToolSetup,
    config_hash,
    given_file,
    metric,
    relative_path,
    reported_names,
)
from collectors.cache import FileFinding, PerFileResult
from collectors.projectconfig import config_text, pyproject_section
from collectors.runner import ToolFailed, check_exit, resolve_executable, run_process, tool_version

__all__ = ["ADAPTER", "METRICS", "is_test_file", "parse"]

NAME = "bandit"
SEVERITIES = ("high", "medium", "low")
METRICS = (
    metric(NAME, "bandit.issues", "findings", "aim_low", "sum", "Security findings reported by bandit."),
    *(
        metric(NAME, f"bandit.issues.{s}", "findings", "aim_low", "sum",
               f"bandit findings of {s} severity.")
        for s in SEVERITIES
    ),
)
_TEST_FILE = re.compile(r"(^|/)(tests?|testing)/|(^|/)test_[^/]*\.py$|_test\.py$|(^|/)conftest\.py$")


def is_test_file(path: str) -> bool:
    """Whether a relative path is test code (a tests/ folder, test_*.py, *_test.py, conftest.py)."""
    return _TEST_FILE.search(path) is not None


def parse(text: str) -> dict[str, Any]:
    """bandit's JSON report; :class:`ToolFailed` when it is not one."""
    try:
        report = json.loads(text)
    except json.JSONDecodeError:
        raise ToolFailed("bandit printed something that is not JSON") from None
    if not isinstance(report, dict) or "results" not in report:
        raise ToolFailed("bandit printed JSON without a results list")
    return report


def prepare(root: Path, options: CollectOptions) -> ToolSetup:
    """Own configuration (``.bandit`` ini or ``[tool.bandit]``) wins, else bandit's defaults."""
    prefix = resolve_executable(NAME, options.executables)
    version = tool_version(prefix, cwd=root)
    ini = config_text(root, ".bandit")
    if ini is not None:
        return ToolSetup(NAME, prefix, version, ("--ini", ".bandit"),
                         config_hash(NAME, version, ini), own_config=True)
    section = pyproject_section(root, "bandit")
    if section is not None:
        return ToolSetup(NAME, prefix, version, ("-c", "pyproject.toml"),
                         config_hash(NAME, version, section), own_config=True)
    choices = ("skip_tests",) if options.bandit_skip_tests else ()
    return ToolSetup(NAME, prefix, version, (), config_hash(NAME, version, *choices),
                     choices=choices)


def select(setup: ToolSetup, files: Sequence[str]) -> list[str]:
    """The files bandit analyses: all, or all but tests under our default configuration."""
    if "skip_tests" not in setup.choices:
        return list(files)
    return [f for f in files if not is_test_file(f)]


def command(setup: ToolSetup, files: Sequence[str]) -> tuple[str, ...]:
    """``bandit -f json -q [config] -- FILES`` (``--``: a file named ``-x.py`` is a file, not an option)."""
    return (*setup.prefix, "-f", "json", "-q", *setup.config_args, "--", *files)


def run(setup: ToolSetup, root: Path, files: Sequence[str], options: CollectOptions) -> ToolOutput:
    """Run bandit on ``files`` and group findings and parse errors per file."""
    argv = command(setup, files)
    result = run_process(argv, cwd=root, timeout_s=options.timeout_s)
    check_exit(result, (0, 1), NAME)
    report = parse(result.stdout)
    sources = SourceLines(root)
    grouped: dict[str, list[FileFinding]] = {f: [] for f in files}
    names = reported_names(files)
    for item in report["results"]:
        path = given_file(names, relative_path(str(item["filename"]), root), NAME)
        line = item.get("line_number")
        message = str(item.get("issue_text", ""))
        grouped.setdefault(path, []).append(FileFinding(
            rule=str(item.get("test_id", "")), severity=str(item.get("issue_severity", "")).lower(),
            line=line, col=item.get("col_offset"), message=message,
            anchor=sources.anchor(path, line, message),
            confidence=str(item.get("issue_confidence", "")).lower() or None,
        ))
    for error in report.get("errors", []):
        path = given_file(names, relative_path(str(error.get("filename", "")), root), NAME)
        reason = str(error.get("reason", "could not be analysed"))
        grouped.setdefault(path, []).append(FileFinding(
            rule="syntax-error", severity="error", line=None, col=None, message=reason, anchor=reason,
        ))
    per_file = {path: _per_file(found) for path, found in grouped.items()}
    return ToolOutput(command=argv, per_file=per_file)


def _per_file(found: list[FileFinding]) -> PerFileResult:
    issues = [f for f in found if f.severity != "error"]
    numbers = {"issues": float(len(issues)), "errors": float(len(found) - len(issues))}
    for severity in SEVERITIES:
        numbers[severity] = float(sum(1 for f in issues if f.severity == severity))
    return PerFileResult(tuple(found), numbers)


def summarise(per_file: Mapping[str, PerFileResult], _options: CollectOptions) -> dict[str, float]:
    """Issue counts, total and per severity, summed over files."""
    measures = {"bandit.issues": sum(r.numbers.get("issues", 0) for r in per_file.values())}
    for severity in SEVERITIES:
        measures[f"bandit.issues.{severity}"] = sum(
            r.numbers.get(severity, 0) for r in per_file.values()
        )
    return measures


ADAPTER = Adapter(NAME, METRICS, True, prepare, command, run, summarise, select)
