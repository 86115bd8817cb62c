"""What every analyzer adapter shares: run options, the adapter record, outputs and helpers.

An adapter is a module with a name, its metric catalogue entries and four plain functions,
bundled in an :class:`Adapter` and registered in :data:`collectors.registry.ADAPTERS`:

- ``prepare(root, options) -> ToolSetup``: find the executable, its version, and the
  effective configuration (the project's own wins, else our defaults) with its hash;
- ``command(setup, files) -> argv``: the exact argv for a file list (recorded per run);
- ``run(setup, root, files, options) -> ToolOutput``: run it and parse the output;
- ``summarise(per_file, options) -> metrics`` (per-file tools): metrics from per-file numbers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from collectors.cache import FileFinding, PerFileResult
from collectors.runner import ToolFailed
from storage.models import MetricSpec

__all__ = [
    "DEFAULT_RUFF_SELECT",
    "Adapter",
    "CollectOptions",
    "SourceLines",
    "ToolOutput",
    "ToolSetup",
    "config_hash",
    "given_file",
    "metric",
    "relative_path",
    "reported_names",
    "stored_path",
]

#: Same default as the settings (kept here too: collectors do not import the entry points).
DEFAULT_RUFF_SELECT: tuple[str, ...] = ("E4", "E7", "E9", "F", "W", "B", "UP", "PLE", "RUF100")


@dataclass(frozen=True, slots=True)
class CollectOptions:
    """How a collect runs; built by the entry points from ``Settings.collect``.

    ``executables`` maps a tool name to the argv prefix that starts it (a configured path,
    or a test's fake script); unnamed tools are found beside the interpreter, then on PATH.
    ``cache_dir`` holds mypy's incremental cache (never inside the analysed project).
    ``complexity_jobs`` is the complexity worker's process count: 1 while other analyzers use
    the cores (the pipeline raises it to ``concurrency`` when complexity runs alone).
    ``shard_tools`` are per-file tools whose files are split into ``concurrency`` shards run
    side by side (bandit: by far the slowest, and its per-file results are independent).
    """

    allowed_roots: tuple[Path, ...]
    concurrency: int = 2
    timeout_s: float = 600.0
    excludes: tuple[str, ...] = ()
    ruff_select: tuple[str, ...] = DEFAULT_RUFF_SELECT
    mypy_args: tuple[str, ...] = ("--ignore-missing-imports",)
    bandit_skip_tests: bool = True
    coverage_file: str | None = None
    coverage_run_tests: bool = False
    coverage_test_args: tuple[str, ...] = ("-m", "pytest", "-q", "-x")
    complexity_limit: int = 10
    executables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    cache_dir: Path | None = None
    complexity_jobs: int = 1
    shard_tools: tuple[str, ...] = ("bandit",)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency!r}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s!r}")


@dataclass(frozen=True, slots=True)
class ToolSetup:
    """A tool ready to run: its argv prefix, version and effective configuration.

    ``choices`` are adapter-specific decisions that are part of the configuration hash
    (for example bandit's ``skip_tests``).
    """

    tool: str
    prefix: tuple[str, ...]
    version: str
    config_args: tuple[str, ...]
    config_hash: str
    own_config: bool = False
    choices: tuple[str, ...] = ()


@dataclass(slots=True)
class ToolOutput:
    """What one tool run produced.

    Per-file tools fill ``per_file`` (every analysed file has an entry, also when clean);
    project-wide tools fill ``findings`` as (relative path, finding) pairs and ``measures``.
    ``skipped`` is the reason when the tool had nothing to analyse (coverage without data);
    ``note`` is what the tool said about the run besides its findings (mypy's note on unused
    configuration sections), kept in the tool run's ``error`` column without failing it.
    """

    command: tuple[str, ...] = ()
    per_file: dict[str, PerFileResult] = field(default_factory=dict)
    findings: list[tuple[str, FileFinding]] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None
    note: str | None = None


Prepare = Callable[[Path, CollectOptions], ToolSetup]
Command = Callable[[ToolSetup, Sequence[str]], tuple[str, ...]]
Run = Callable[[ToolSetup, Path, Sequence[str], CollectOptions], ToolOutput]
Summarise = Callable[[Mapping[str, PerFileResult], CollectOptions], dict[str, float]]
Select = Callable[[ToolSetup, Sequence[str]], list[str]]


def _all_files(_setup: ToolSetup, files: Sequence[str]) -> list[str]:
    return list(files)


@dataclass(frozen=True, slots=True)
class Adapter:
    """One analyzer: its name, metrics, and the functions the pipeline calls."""

    name: str
    metrics: tuple[MetricSpec, ...]
    per_file: bool
    prepare: Prepare
    command: Command
    run: Run
    summarise: Summarise | None = None
    select: Select = _all_files


def metric(tool: str, name: str, unit: str, direction: str, aggregation: str, description: str) -> MetricSpec:
    """A catalogue entry (short form used by the adapters' ``METRICS`` tuples)."""
    return MetricSpec(
        name=name, unit=unit, direction=direction,  # type: ignore[arg-type]
        aggregation=aggregation, description=description, tool=tool,  # type: ignore[arg-type]
    )


def config_hash(tool: str, version: str, *parts: object) -> str:
    """A short stable hash of a tool's version and effective configuration."""
    text = json.dumps([tool, version, *[str(p) for p in parts]], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def relative_path(filename: str, root: Path) -> str:
    """A tool's file name (absolute, ``./x``, or relative) as a POSIX path relative to ``root``."""
    path = Path(filename)
    if path.is_absolute():
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            try:
                return path.resolve().relative_to(root).as_posix()
            except ValueError:
                return path.as_posix()
    text = path.as_posix()
    return text[2:] if text.startswith("./") else text


def stored_path(path: str) -> str:
    """A relative path as stored and shown: bytes of a file name that are not UTF-8 as ``\\xNN``.

    Discovery (``os.walk``) and git give such a name with surrogate escapes (``bad\\udcffname.py``),
    which text columns cannot hold; the escape (``bad\\xffname.py``) is readable, and two
    different names never look the same. Every other path is kept as it is.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return path


def reported_names(files: Sequence[str]) -> dict[str, str | None]:
    """How a tool's output names each of ``files`` -> that file (``None``: several look alike).

    A tool names a file whose name is not UTF-8 with each bad byte replaced by U+FFFD (ruff
    writes it so; bandit's raw bytes are decoded so), which is all that links its findings to
    the file; two names that differ only there cannot be told apart in the output.
    """
    names: dict[str, str | None] = {name: name for name in files}
    for name in files:
        shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if shown != name:
            names[shown] = name if names.get(shown, name) == name else None
    return names


def given_file(names: Mapping[str, str | None], reported: str, tool: str) -> str:
    """The file of ``names`` (see :func:`reported_names`) that ``tool`` reported as ``reported``.

    :class:`ToolFailed` when it is none of them or stands for several: its findings could not
    be counted for the right file, and a count that silently differs from the tool's is worse
    than a failed tool.
    """
    name = names.get(reported, "")
    if name is None:
        raise ToolFailed(f"{tool} reported {stored_path(reported)}, which stands for several files "
                         "whose names are not valid UTF-8: cannot tell their findings apart")
    if not name:
        raise ToolFailed(f"{tool} reported a file it was not given: {stored_path(reported)}")
    return name


class SourceLines:
    """Lines of a project's files, read once each, for finding anchors."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lines: dict[str, list[str]] = {}

    def line(self, path: str, number: int | None) -> str:
        """The stripped source line ``number`` (1-based) of ``path``, or ``""``."""
        if number is None or number < 1:
            return ""
        lines = self._lines.get(path)
        if lines is None:
            try:
                text = (self.root / path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            lines = self._lines[path] = text.splitlines()
        return lines[number - 1].strip() if number <= len(lines) else ""

    def anchor(self, path: str, number: int | None, message: str) -> str:
        """The finding's anchor: its source line, or the message where there is none."""
        return self.line(path, number) or message
