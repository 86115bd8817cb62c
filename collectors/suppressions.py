"""suppressions: ``# noqa``, ``# type: ignore`` and ``# nosec`` comments in the code.

Counted in process (no tool to run). A line is a candidate when a cheap pattern matches; the
file is then tokenized so that only real comments count (not the same words in a string).
Each suppression is also a finding (severity ``info``), so newly added ones show up as new.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Mapping, Sequence
from pathlib import Path

from collectors.base import Adapter, CollectOptions, ToolOutput, ToolSetup, config_hash, metric
from collectors.cache import FileFinding, PerFileResult

__all__ = ["ADAPTER", "KINDS", "METRICS", "count_source"]

NAME = "suppressions"
#: kind -> pattern inside a comment
KINDS: dict[str, re.Pattern[str]] = {
    "noqa": re.compile(r"#\s*noqa\b", re.IGNORECASE),
    "type_ignore": re.compile(r"#\s*type:\s*ignore\b"),
    "nosec": re.compile(r"#\s*nosec\b"),
}
_CANDIDATE = re.compile(r"#.*(?:noqa|type:\s*ignore|nosec)", re.IGNORECASE)
METRICS = (
    metric(NAME, "suppressions.count", "comments", "aim_low", "sum",
           "Suppression comments: # noqa, # type: ignore and # nosec."),
    *(
        metric(NAME, f"suppressions.{kind}", "comments", "aim_low", "sum",
               f"'# {kind.replace('_', ': ')}' suppression comments.")
        for kind in KINDS
    ),
)
VERSION = "1"


def _comments(source: str) -> list[tuple[int, str]]:
    try:
        return [(t.start[0], t.string)
                for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError):
        # an untokenizable file: fall back to the plain line scan
        return [(n, line[line.index("#"):]) for n, line in enumerate(source.splitlines(), 1)
                if "#" in line]


def count_source(source: str) -> PerFileResult:
    """Suppression comments of one file's source."""
    if not _CANDIDATE.search(source):
        return PerFileResult((), dict.fromkeys(KINDS, 0.0))
    findings: list[FileFinding] = []
    lines = source.splitlines()
    for number, comment in _comments(source):
        for kind, pattern in KINDS.items():
            if pattern.search(comment):
                anchor = lines[number - 1].strip() if number <= len(lines) else comment
                findings.append(FileFinding(kind, "info", number, None, comment.strip(), anchor))
    numbers = {kind: float(sum(1 for f in findings if f.rule == kind)) for kind in KINDS}
    return PerFileResult(tuple(findings), numbers)


def prepare(_root: Path, _options: CollectOptions) -> ToolSetup:
    """Nothing to find: the counting is ours."""
    return ToolSetup(NAME, (), VERSION, (), config_hash(NAME, VERSION, *KINDS))


def command(_setup: ToolSetup, _files: Sequence[str]) -> tuple[str, ...]:
    """No external command."""
    return ()


def run(_setup: ToolSetup, root: Path, files: Sequence[str], _options: CollectOptions) -> ToolOutput:
    """Count suppressions in each file."""
    per_file = {}
    for path in files:
        try:
            source = (root / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            source = ""
        per_file[path] = count_source(source)
    return ToolOutput(per_file=per_file)


def summarise(per_file: Mapping[str, PerFileResult], _options: CollectOptions) -> dict[str, float]:
    """Totals per kind and overall."""
    measures = {f"suppressions.{kind}": sum(r.numbers.get(kind, 0) for r in per_file.values())
                for kind in KINDS}
    measures["suppressions.count"] = sum(measures.values())
    return measures


ADAPTER = Adapter(NAME, METRICS, True, prepare, command, run, summarise)
