"""ruff: lint findings from ``ruff check --output-format json``.

Exit codes: 0 clean, 1 findings, 2 bad usage. Syntax errors arrive as ordinary entries with
``code: null`` (recorded with rule ``invalid-syntax``).

Configuration: the project's own ``ruff.toml``, ``.ruff.toml`` or ``[tool.ruff]``, in its folder
or in a folder up to its repository root (a monorepo's root configuration), wins: ruff then
runs without configuration flags and finds it itself, as when run by hand in the project
folder. Without one we run ``--isolated`` (no configuration from folders above the repository,
nor the user's own) with ``--select`` from the settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

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
from collectors.projectconfig import config_folders, config_text, pyproject_section
from collectors.runner import ToolFailed, check_exit, resolve_executable, run_process, tool_version

__all__ = ["ADAPTER", "METRICS", "parse"]

NAME = "ruff"
METRICS = (
    metric(NAME, "ruff.issues", "findings", "aim_low", "sum", "Lint findings reported by ruff."),
    metric(NAME, "ruff.issues.fixable", "findings", "aim_low", "sum",
           "ruff findings that `ruff check --fix` fixes (unsafe fixes only where the "
           "project enables them), as ruff's own summary counts them."),
)

# A fix's applicability in ruff's JSON: "safe", "unsafe" or "display-only".
_ALWAYS_APPLIED = frozenset({"safe"})
_WITH_UNSAFE = frozenset({"safe", "unsafe"})
# Part of the configuration hash: per-file results cached before fixes were counted by their
# applicability (every fix counted) are not reused.
_COUNTING = "fixable-by-applicability"


def unsafe_fixes_enabled(prefix: Sequence[str], root: Path, timeout_s: float) -> bool:
    """Whether the configuration ruff resolves in ``root`` sets ``unsafe-fixes = true``.

    ruff's summary ("N fixable with `--fix`") counts unsafe fixes only then, and takes the
    setting from the configuration of the folder it runs in, for every file (a sub-folder's
    own configuration does not change it). The JSON output is the same either way, so ask
    ruff for the settings of a file right in ``root`` (``--show-settings FILE``: settings are
    resolved per file, and on a folder ruff picks the first file it finds, perhaps under a
    sub-folder's configuration). Without such a file, nothing unsafe is counted, as ruff's
    default.
    """
    try:
        probe = next(e.name for e in sorted(os.scandir(root), key=lambda e: e.name)
                     if e.is_file(follow_symlinks=False))
    except (OSError, StopIteration):
        return False
    try:
        result = run_process((*prefix, "check", "--show-settings", "--", probe), cwd=root,
                             timeout_s=timeout_s)
    except ToolFailed:
        return False
    return any(line.replace(" ", "") == "unsafe_fixes=enabled" for line in result.stdout.splitlines())


def parse(text: str, root: Path) -> list[tuple[str, dict[str, object]]]:
    """ruff's JSON output as (relative path, entry) pairs; :class:`ToolFailed` if not JSON."""
    try:
        entries = json.loads(text)
    except json.JSONDecodeError:
        raise ToolFailed("ruff printed something that is not JSON") from None
    if not isinstance(entries, list):
        raise ToolFailed("ruff printed JSON that is not a list of findings")
    return [(relative_path(str(e["filename"]), root), e) for e in entries]


def _own_config(folder: Path) -> list[str]:
    return [text for text in (config_text(folder, "ruff.toml"), config_text(folder, ".ruff.toml"),
                              pyproject_section(folder, "ruff")) if text is not None]


def prepare(root: Path, options: CollectOptions) -> ToolSetup:
    """Own configuration (``ruff.toml``, ``.ruff.toml``, ``[tool.ruff]``) wins, else our selection.

    The nearest folder with one, from ``root`` up to its repository root, is the one ruff uses
    (a ``pyproject.toml`` without ``[tool.ruff]`` is passed over, by ruff too).
    """
    prefix = resolve_executable(NAME, options.executables)
    version = tool_version(prefix, cwd=root)
    for folder in config_folders(root):
        own = _own_config(folder)
        if own:
            # where it lives is part of it: paths in it are relative to its folder
            where = () if folder == root else (f"in {os.path.relpath(folder, root)}",)
            choices = ("unsafe_fixes",) if unsafe_fixes_enabled(prefix, root, options.timeout_s) else ()
            return ToolSetup(NAME, prefix, version, (),
                             config_hash(NAME, version, *own, *where, *choices, _COUNTING),
                             own_config=True, choices=choices)
    args = ("--isolated", "--select", ",".join(options.ruff_select))
    return ToolSetup(NAME, prefix, version, args, config_hash(NAME, version, *args, _COUNTING))


def command(setup: ToolSetup, files: Sequence[str]) -> tuple[str, ...]:
    """``ruff check --output-format json --no-cache --force-exclude [config] FILES``.

    ``--force-exclude``: the project's own ``exclude`` settings apply to the files we name too.
    """
    return (*setup.prefix, "check", "--output-format", "json", "--no-cache", "--force-exclude",
            *setup.config_args, "--", *files)


def run(setup: ToolSetup, root: Path, files: Sequence[str], options: CollectOptions) -> ToolOutput:
    """Run ruff on ``files`` and group its findings per file."""
    argv = command(setup, files)
    result = run_process(argv, cwd=root, timeout_s=options.timeout_s)
    check_exit(result, (0, 1), NAME)
    sources = SourceLines(root)
    grouped: dict[str, list[FileFinding]] = {f: [] for f in files}
    fixable: dict[str, int] = dict.fromkeys(files, 0)
    names = reported_names(files)
    applied = _WITH_UNSAFE if "unsafe_fixes" in setup.choices else _ALWAYS_APPLIED
    for reported, entry in parse(result.stdout, root):
        path = given_file(names, reported, NAME)
        location = entry.get("location") or {}
        line = location.get("row") if isinstance(location, dict) else None
        col = location.get("column") if isinstance(location, dict) else None
        message = str(entry.get("message", ""))
        grouped.setdefault(path, []).append(FileFinding(
            rule=str(entry.get("code") or entry.get("name") or "invalid-syntax"),
            severity=str(entry.get("severity") or "error"),
            line=line, col=col, message=message,
            anchor=sources.anchor(path, line, message),
        ))
        fix = entry.get("fix")
        if isinstance(fix, dict) and fix.get("applicability") in applied:
            fixable[path] = fixable.get(path, 0) + 1
    per_file = {
        path: PerFileResult(tuple(found), {"issues": len(found), "fixable": fixable.get(path, 0)})
        for path, found in grouped.items()
    }
    return ToolOutput(command=argv, per_file=per_file)


def summarise(per_file: Mapping[str, PerFileResult], _options: CollectOptions) -> dict[str, float]:
    """``ruff.issues`` and ``ruff.issues.fixable`` summed over files."""
    return {
        "ruff.issues": sum(r.numbers.get("issues", 0) for r in per_file.values()),
        "ruff.issues.fixable": sum(r.numbers.get("fixable", 0) for r in per_file.values()),
    }


ADAPTER = Adapter(NAME, METRICS, True, prepare, command, run, summarise)
