"""complexity: cyclomatic complexity per function, maintainability index and raw line counts.

Numbers are radon's (``radon cc``, ``radon mi``, ``radon raw``), computed by
:mod:`collectors.complexity_worker` in one worker process per run from one parse per file
(see that module for why radon's own raw counting is not used). A file that does not parse is
recorded as a ``syntax-error`` finding of severity ``error``; a function above
``complexity_limit`` is a ``complex-function`` finding.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from collectors.base import Adapter, CollectOptions, SourceLines, ToolOutput, ToolSetup, config_hash, metric
from collectors.cache import FileFinding, PerFileResult
from collectors.runner import ToolFailed, check_exit, run_process

__all__ = ["ADAPTER", "METRICS", "parse", "per_file_result"]

NAME = "complexity"
# run as a script by path (not imported here), so radon stays out of the collector's process
WORKER = Path(__file__).resolve().with_name("complexity_worker.py")
RAW_KEYS = ("loc", "lloc", "sloc", "comments", "multi", "blank", "single_comments")
METRICS = (
    metric(NAME, "complexity.cyclomatic.mean", "paths", "aim_low", "mean",
           "Mean cyclomatic complexity of functions and methods (radon cc)."),
    metric(NAME, "complexity.cyclomatic.max", "paths", "aim_low", "max",
           "Highest cyclomatic complexity of any function or method."),
    # Sizes and counts of things are "neutral": more code is neither better nor worse, so a
    # report must not list growth as a regression (gates on them still work: min/max/increase).
    metric(NAME, "complexity.functions", "functions", "neutral", "last",
           "Functions and methods measured."),
    metric(NAME, "complexity.functions_over_limit", "functions", "aim_low", "sum",
           "Functions whose cyclomatic complexity is above complexity_limit."),
    metric(NAME, "maintainability.mean", "index", "aim_high", "mean",
           "Mean maintainability index of files, 0-100 (radon mi)."),
    metric(NAME, "maintainability.min", "index", "aim_high", "min",
           "Lowest maintainability index of any file."),
    metric(NAME, "size.files", "files", "neutral", "last", "Python files analysed."),
    metric(NAME, "size.loc", "lines", "neutral", "last", "Lines of code, all lines (radon raw loc)."),
    metric(NAME, "size.sloc", "lines", "neutral", "last", "Source lines of code (radon raw sloc)."),
    metric(NAME, "size.lloc", "lines", "neutral", "last", "Logical lines of code (radon raw lloc)."),
    metric(NAME, "size.comments", "lines", "neutral", "last", "Comment lines (radon raw comments)."),
)


def parse(text: str) -> dict[str, dict[str, Any]]:
    """The worker's JSON (``{file: result}``); :class:`ToolFailed` when it is not that."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ToolFailed("complexity worker printed something that is not JSON") from None
    if not isinstance(data, dict):
        raise ToolFailed("complexity worker printed JSON that is not an object")
    return data


def prepare(root: Path, options: CollectOptions) -> ToolSetup:
    """The worker runs with our interpreter; its version is radon's."""
    import radon  # local: only the version string is needed here

    prefix = tuple(options.executables.get(NAME, (sys.executable, str(WORKER))))
    version = f"radon {radon.__version__}"
    args = ("--limit", str(options.complexity_limit))
    jobs = ("--jobs", str(options.complexity_jobs))  # how, not what: left out of the hash
    # Another program in place of our worker measures in its own way: its results must not be
    # mixed with (nor served from) the cached results of ours.
    own = ("executable", *prefix) if NAME in options.executables else ()
    return ToolSetup(NAME, prefix, version, (*args, *jobs), config_hash(NAME, version, *args, *own))


def command(setup: ToolSetup, files: Sequence[str]) -> tuple[str, ...]:
    """``python complexity_worker.py --limit N --jobs J -- FILES``."""
    return (*setup.prefix, *setup.config_args, "--", *files)


def per_file_result(
    path: str, result: Mapping[str, Any], limit: int, sources: SourceLines
) -> PerFileResult:
    """One file's worker result as findings and additive numbers."""
    if "error" in result:
        message = str(result["error"])
        rule = "syntax-error" if message.startswith(("SyntaxError", "ValueError")) else "analysis-error"
        finding = FileFinding(rule, "error", None, None, message, message)
        return PerFileResult((finding,), {"errors": 1.0})
    findings: list[FileFinding] = []
    values = [int(f["complexity"]) for f in result.get("functions", [])]
    for func in result.get("functions", []):
        if int(func["complexity"]) > limit:
            message = f"{func['name']} has cyclomatic complexity {func['complexity']} (limit {limit})"
            findings.append(FileFinding(
                "complex-function", "warning", int(func["line"]), None, message,
                sources.anchor(path, int(func["line"]), message),
            ))
    numbers: dict[str, float] = {
        "files": 1.0,
        "cc_sum": float(sum(values)),
        "cc_count": float(len(values)),
        "cc_max": float(max(values, default=0)),
        "cc_over": float(len(findings)),
        "mi": float(result["mi"]),
    }
    numbers.update({key: float(result["raw"][key]) for key in RAW_KEYS})
    return PerFileResult(tuple(findings), numbers)


def run(setup: ToolSetup, root: Path, files: Sequence[str], options: CollectOptions) -> ToolOutput:
    """Run the worker once over ``files``."""
    argv = command(setup, files)
    if not files:
        return ToolOutput(command=argv)
    result = run_process(argv, cwd=root, timeout_s=options.timeout_s)
    check_exit(result, (0,), NAME)
    data = parse(result.stdout)
    sources = SourceLines(root)
    per_file = {}
    for path in files:
        if path not in data or not isinstance(data[path], dict):
            raise ToolFailed(f"complexity worker gave no result for {path}")
        per_file[path] = per_file_result(path, data[path], options.complexity_limit, sources)
    return ToolOutput(command=argv, per_file=per_file)


def summarise(per_file: Mapping[str, PerFileResult], _options: CollectOptions) -> dict[str, float]:
    """Means, maxima and sums over files (absent when no file could be measured)."""
    measured = [r.numbers for r in per_file.values() if "mi" in r.numbers]
    if not measured:
        return {}
    count = sum(n["cc_count"] for n in measured)
    measures = {
        "complexity.functions": count,
        "complexity.functions_over_limit": sum(n["cc_over"] for n in measured),
        "maintainability.mean": sum(n["mi"] for n in measured) / len(measured),
        "maintainability.min": min(n["mi"] for n in measured),
        "size.files": float(len(measured)),
        "size.loc": sum(n["loc"] for n in measured),
        "size.sloc": sum(n["sloc"] for n in measured),
        "size.lloc": sum(n["lloc"] for n in measured),
        "size.comments": sum(n["comments"] for n in measured),
    }
    if count:
        measures["complexity.cyclomatic.mean"] = sum(n["cc_sum"] for n in measured) / count
        measures["complexity.cyclomatic.max"] = max(n["cc_max"] for n in measured)
    return measures


ADAPTER = Adapter(NAME, METRICS, True, prepare, command, run, summarise)
