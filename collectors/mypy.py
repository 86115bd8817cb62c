"""mypy: type errors from ``mypy --output json`` (JSON Lines, one object per message).

Project-wide (not cached per file): one run over the whole file list. Exit codes: 0 clean,
1 errors, 2 a blocking error (a syntax error, still reported as JSON lines with code
``syntax``) or a crash (text on stderr, no JSON: the tool failed). Notes are not counted.
The project's configuration is the first of ``mypy.ini``, ``.mypy.ini``, ``[tool.mypy]``,
``setup.cfg [mypy]`` in its folder or a folder up to its repository root (a monorepo's root
configuration): the same search mypy 2.x makes when run by hand in the project folder, so mypy
finds it itself. Without one we pass ``--config-file=`` (nothing from folders above the
repository or the user's home) and ``mypy_args`` from the settings. A project whose own mypy
configuration names what to check (``files``, ``packages`` or ``modules``) is checked as it
configured itself, without our file list: its own scope wins (test folders without
``__init__.py`` otherwise stop mypy with "Duplicate module named ...").

Exit code 2 with JSON is accepted when the blocking errors are syntax errors (recorded as
mypy reports them); any other blocking error (a duplicate module, a bad configuration) means
mypy analysed nothing: the tool failed, with mypy's message as the reason.

Besides its JSON lines, mypy prints a few notes about the configuration as plain text among
them (``setup.cfg: note: unused section(s): [mypy-colorama.*]`` under ``warn_unused_configs``):
they are not messages about code, so they are kept as the tool run's note, not counted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
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
    reported_names,
    stored_path,
)
from collectors.cache import FileFinding
from collectors.projectconfig import (
    config_folders,
    config_text,
    mypy_excludes,
    mypy_names_its_files,
    pyproject_section,
    setup_cfg_section,
)
from collectors.runner import ToolFailed, check_exit, one_line, resolve_executable, run_process, tool_version

__all__ = ["ADAPTER", "METRICS", "parse", "split_notes"]

NAME = "mypy"
METRICS = (
    metric(NAME, "mypy.errors", "errors", "aim_low", "sum", "Type errors reported by mypy."),
)


#: A plain-text note mypy prints about its configuration even with ``--output json``
#: (``<config file>: note: unused section(s): ...``).
_TEXT_NOTE = re.compile(r"^[^{\s][^:]*: note: \S")


def split_notes(text: str) -> tuple[str, list[str]]:
    """mypy's output without its plain-text configuration notes, and those notes."""
    kept: list[str] = []
    notes: list[str] = []
    for line in text.splitlines():
        (notes if _TEXT_NOTE.match(line) else kept).append(line)
    return "\n".join(kept), [line.strip() for line in notes]


def parse(text: str) -> list[dict[str, Any]]:
    """mypy's JSON Lines as dicts (blank lines skipped); :class:`ToolFailed` on anything else.

    Plain-text configuration notes are skipped (see :func:`split_notes`).
    """
    entries: list[dict[str, Any]] = []
    for line in split_notes(text)[0].splitlines():
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


def _crash_reason(stderr: str, files: Sequence[str]) -> str:
    """Why mypy stopped without output: its error line, else its last line."""
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    reason = one_line(errors[0] if errors else stderr) or "no output"
    if "INTERNAL ERROR" in reason:
        reason = reason.split(" -- ")[0]  # the rest asks to try mypy master
        # mypy 2.4 crashes on a file name that is not UTF-8 (it cannot encode it to parse it)
        odd = [name for name in files if stored_path(name) != name]
        if odd:
            reason += f" (a file name is not valid UTF-8, which mypy cannot read: {stored_path(odd[0])})"
    return reason


def _own_config(root: Path) -> list[str]:
    found = [config_text(root, "mypy.ini"), config_text(root, ".mypy.ini"),
             pyproject_section(root, "mypy"), setup_cfg_section(root, "mypy")]
    return [text for text in found if text is not None]


def prepare(root: Path, options: CollectOptions) -> ToolSetup:
    """Own configuration (``mypy.ini``, ``[tool.mypy]``, ``setup.cfg``) wins, else our options.

    The nearest folder with one, from ``root`` up to its repository root, is the one mypy reads.
    """
    prefix = resolve_executable(NAME, options.executables)
    version = tool_version(prefix, cwd=root)
    if options.cache_dir is not None:
        key = hashlib.sha256(str(root).encode()).hexdigest()[:12]
        cache = str(options.cache_dir / "mypy" / key)
    else:
        cache = "/dev/null"  # mypy's documented way to write no cache
    for folder in config_folders(root):
        own = _own_config(folder)
        if own:
            # mypy applies `exclude` only to files it finds itself, not to files it is given:
            # the patterns are kept to leave out of our list what `mypy .` would not check
            choices = (("project_scope",) if mypy_names_its_files(folder)
                       else tuple(_EXCLUDE + pattern for pattern in mypy_excludes(folder)))
            where = () if folder == root else (f"in {os.path.relpath(folder, root)}",)
            return ToolSetup(NAME, prefix, version, ("--cache-dir", cache),
                             config_hash(NAME, version, *own, *where, *choices), own_config=True,
                             choices=choices)
    args = ("--config-file=", *options.mypy_args)
    return ToolSetup(NAME, prefix, version, (*args, "--cache-dir", cache),
                     config_hash(NAME, version, *args))


def command(setup: ToolSetup, files: Sequence[str]) -> tuple[str, ...]:
    """``mypy --output json [config] FILES`` (no FILES when the project names its own scope)."""
    if "project_scope" in setup.choices:
        return (*setup.prefix, "--output", "json", *setup.config_args)
    return (*setup.prefix, "--output", "json", *setup.config_args, "--", *files)


_EXCLUDE = "exclude="


def not_excluded(setup: ToolSetup, files: Sequence[str]) -> list[str]:
    """``files`` without those the project's mypy ``exclude`` patterns match, as mypy matches
    them while it walks a folder: ``re.search`` on the path relative to where it runs, and on
    each parent folder's path with a trailing ``/``."""
    patterns = [c.removeprefix(_EXCLUDE) for c in setup.choices if c.startswith(_EXCLUDE)]
    if not patterns:
        return list(files)
    try:
        compiled = [re.compile(p) for p in patterns]
    except re.error as error:
        raise ToolFailed(f"mypy exclude {error.pattern!r} is not a valid regular expression: "
                         f"{error}") from None

    def excluded(path: str) -> bool:
        parts = path.split("/")
        candidates = ["/".join(parts[:i]) + "/" for i in range(1, len(parts))] + [path]
        return any(c.search(candidate) for c in compiled for candidate in candidates)

    return [f for f in files if not excluded(f)]


def run(setup: ToolSetup, root: Path, files: Sequence[str], options: CollectOptions) -> ToolOutput:
    """Run mypy over all ``files`` at once (less those its ``exclude`` setting leaves out)."""
    given = files
    files = not_excluded(setup, files)
    if given and not files:
        return ToolOutput(skipped="the project's mypy exclude leaves out every file")
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
        raise ToolFailed(f"mypy stopped with code 2: {_crash_reason(result.stderr, files)}")
    if result.returncode == 2 and not any(e.get("code") == "syntax" for e in entries):
        raise ToolFailed(f"mypy stopped: {one_line(str(entries[0].get('message', '')), 160)}")
    notes = split_notes(result.stdout)[1]
    if result.returncode == 2:
        # A syntax error is blocking: mypy reports it and checks nothing else. Counted as mypy
        # counts it, but the run must say that typing was not checked.
        where = next((relative_path(str(e.get("file", "")), root) for e in entries
                      if e.get("code") == "syntax"), "a file")
        notes.append(f"mypy stopped at a syntax error in {where}: the other files were not "
                     "type-checked (fix the file or exclude it)")
    names = reported_names(files)
    sources = SourceLines(root)
    findings: list[tuple[str, FileFinding]] = []
    for entry in entries:
        if entry.get("severity") != "error":
            continue
        path = relative_path(str(entry.get("file", "")), root)
        path = names.get(path) or path  # mypy checks imported files too: not only ours
        line = entry.get("line")
        line = line if isinstance(line, int) and line > 0 else None
        col = entry.get("column")
        message = str(entry.get("message", ""))
        findings.append((path, FileFinding(
            rule=str(entry.get("code") or "misc"), severity="error", line=line,
            col=col + 1 if isinstance(col, int) and col >= 0 else None,  # mypy columns are 0-based
            message=message, anchor=sources.anchor(path, line, message),
        )))
    return ToolOutput(command=argv, findings=findings, measures={"mypy.errors": float(len(findings))},
                      note="; ".join(notes) or None)


ADAPTER = Adapter(NAME, METRICS, False, prepare, command, run)
