"""mypy: type errors from ``mypy --output json`` (JSON Lines, one object per message).

Project-wide (not cached per file): one run over the whole file list. Exit codes: 0 clean,
1 errors, 2 a blocking error (a syntax error, still reported as JSON lines with code
``syntax``) or a crash (text on stderr, no JSON: the tool failed). Notes are not counted.
Without a project configuration we pass ``--config-file=`` (no configuration from parent
folders or the user's home) and ``mypy_args`` from the settings. A project whose own mypy
configuration names what to check (``files``, ``packages`` or ``modules``) is checked as it
configured itself, without our file list: its own scope wins (test folders without
``__init__.py`` otherwise stop mypy with "Duplicate module named ...").

Exit code 2 with JSON is accepted when the blocking errors are syntax errors (recorded as
mypy reports them); any other blocking error (a duplicate module, a bad configuration) means
mypy analysed nothing: the tool failed, with mypy's message as the reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from collectors.base import (
    Adapter,
    CollectOptions,
    SourceLines,
    ToolOutput,
    ToolSetup,
    config_hash,
    metric,
    relative_path,
)
from collectors.cache import FileFinding
from collectors.projectconfig import config_text, mypy_names_its_files, pyproject_section, setup_cfg_section
from collectors.runner import ToolFailed, check_exit, one_line, resolve_executable, run_process, tool_version

__all__ = ["ADAPTER", "METRICS", "parse"]

NAME = "mypy"
METRICS = (
    metric(NAME, "mypy.errors", "errors", "aim_low", "sum", "Type errors reported by mypy."),
)


def parse(text: str) -> list[dict[str, Any]]:
    """mypy's JSON Lines as dicts (blank lines skipped); :class:`ToolFailed` on anything else."""
    entries: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise ToolFailed(f"mypy printed a line that is not JSON: {one_line(line, 120)}") from None
        if not isinstance(entry, dict) or "severity" not in entry:
            raise ToolFailed("mypy printed JSON that is not a message")
        entries.append(entry)
    return entries


def _own_config(root: Path) -> list[str]:
    found = [config_text(root, "mypy.ini"), config_text(root, ".mypy.ini"),
             pyproject_section(root, "mypy"), setup_cfg_section(root, "mypy")]
    return [text for text in found if text is not None]


def prepare(root: Path, options: CollectOptions) -> ToolSetup:
    """Own configuration (``mypy.ini``, ``[tool.mypy]``, ``setup.cfg``) wins, else our options."""
    prefix = resolve_executable(NAME, options.executables)
    version = tool_version(prefix, cwd=root)
    if options.cache_dir is not None:
        key = hashlib.sha256(str(root).encode()).hexdigest()[:12]
        cache = str(options.cache_dir / "mypy" / key)
    else:
        cache = "/dev/null"  # mypy's documented way to write no cache
    own = _own_config(root)
    if own:
        choices = ("project_scope",) if mypy_names_its_files(root) else ()
        return ToolSetup(NAME, prefix, version, ("--cache-dir", cache),
                         config_hash(NAME, version, *own, *choices), own_config=True, choices=choices)
    args = ("--config-file=", *options.mypy_args)
    return ToolSetup(NAME, prefix, version, (*args, "--cache-dir", cache),
                     config_hash(NAME, version, *args))


def command(setup: ToolSetup, files: Sequence[str]) -> tuple[str, ...]:
    """``mypy --output json [config] FILES`` (no FILES when the project names its own scope)."""
    if "project_scope" in setup.choices:
        return (*setup.prefix, "--output", "json", *setup.config_args)
    return (*setup.prefix, "--output", "json", *setup.config_args, "--", *files)


def run(setup: ToolSetup, root: Path, files: Sequence[str], options: CollectOptions) -> ToolOutput:
    """Run mypy over all ``files`` at once."""
    argv = command(setup, files)
    if not files:
        return ToolOutput(command=argv)
    result = run_process(argv, cwd=root, timeout_s=options.timeout_s)
    check_exit(result, (0, 1, 2), NAME)
    try:
        entries = parse(result.stdout)
    except ToolFailed:
        if result.returncode != 2:
            raise
        # Some blocking errors (a file that is not UTF-8) skip the JSON: stdout has only the
        # summary line, stderr has mypy's message, which is the reason worth keeping.
        reason = one_line(result.stderr) or one_line(result.stdout) or "no output"
        raise ToolFailed(f"mypy stopped with code 2: {reason}") from None
    if result.returncode == 2 and not entries:
        raise ToolFailed(f"mypy stopped with code 2: {one_line(result.stderr) or 'no output'}")
    if result.returncode == 2 and not any(e.get("code") == "syntax" for e in entries):
        raise ToolFailed(f"mypy stopped: {one_line(str(entries[0].get('message', '')), 160)}")
    sources = SourceLines(root)
    findings: list[tuple[str, FileFinding]] = []
    for entry in entries:
        if entry.get("severity") != "error":
            continue
        path = relative_path(str(entry.get("file", "")), root)
        line = entry.get("line")
        line = line if isinstance(line, int) and line > 0 else None
        col = entry.get("column")
        message = str(entry.get("message", ""))
        findings.append((path, FileFinding(
            rule=str(entry.get("code") or "misc"), severity="error", line=line,
            col=col + 1 if isinstance(col, int) and col >= 0 else None,  # mypy columns are 0-based
            message=message, anchor=sources.anchor(path, line, message),
        )))
    return ToolOutput(command=argv, findings=findings, measures={"mypy.errors": float(len(findings))})


ADAPTER = Adapter(NAME, METRICS, False, prepare, command, run)
