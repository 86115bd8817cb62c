"""Per-file results and the content-addressed cache interface shared by collect and backfill.

Per-file analyzers (ruff, bandit, complexity, suppressions) report what they found *per file*
as a :class:`PerFileResult`: the findings without anything run-specific (no path, no run id,
no fingerprint) and the per-file numbers needed to rebuild the run's metrics. Because a
result depends only on the file's bytes, the tool, its version and its effective
configuration, it can be cached under ``(tool, tool_version, config_hash, blob_sha)`` where
``blob_sha`` is git's blob id of the content (:func:`blob_sha`, the same value as
``git hash-object FILE``), so a backfill can reuse results straight from git's object ids.

How the pipeline uses a cache (``collect(..., file_cache=cache)``):

1. it computes every discovered file's blob sha;
2. ``cache.get_many(tool, version, config_hash, shas)`` returns the known results;
3. only the files whose sha was not returned are given to the tool;
4. ``cache.put_many(tool, version, config_hash, {sha: result})`` stores the new ones;
5. the run's metrics and findings are aggregated from the per-file results of *all* files
   (:func:`collectors.aggregate.aggregate_tool`), so a run with a cache gives exactly the
   same measures and findings as one without.

Any object with these two methods is a cache (a :class:`typing.Protocol`);
:class:`MemoryFileCache` is a dict-backed one for tests and single runs. ``to_json`` /
``from_json`` give a stable JSON form for a database-backed cache.

Caveat for exactness: a per-file result must not depend on other files. That holds for
bandit, complexity and suppressions, and for ruff's default rule selection here; ruff rules
that look at other files (``INP001``, first-party detection in ``I001``) may differ when a
project's own configuration enables them - see the README section on collecting.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

__all__ = [
    "FileCache",
    "FileFinding",
    "MemoryFileCache",
    "PerFileResult",
    "blob_sha",
]


def blob_sha(data: bytes) -> str:
    """Git's blob id of ``data`` (what ``git hash-object`` prints for a file with these bytes)."""
    header = b"blob %d\0" % len(data)
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class FileFinding:
    """One finding inside one file, without path or run: everything needed to rebuild a record.

    ``anchor`` is the finding's source line as the file had it (stripped), or the message when
    the tool gives no line; the fingerprint is computed from it together with the path when
    the run is assembled, so it survives line shifts and file renames are tracked by path.
    """

    rule: str
    severity: str
    line: int | None
    col: int | None
    message: str
    anchor: str
    confidence: str | None = None


@dataclass(frozen=True, slots=True)
class PerFileResult:
    """What one per-file tool found in one file's content.

    ``findings`` count toward the tool's issue metrics unless their severity is ``"error"``
    (the tool could not analyse the file, e.g. a syntax error as bandit or radon report it;
    ruff and mypy report syntax errors as ordinary findings and they count like any other).
    ``numbers`` are additive per-file measures named by each adapter (for example
    ``loc``, ``cc_sum``, ``cc_count``, ``cc_max``, ``mi``); the adapter's ``summarise``
    function turns the numbers of all files into the run's metrics.
    """

    findings: tuple[FileFinding, ...] = ()
    numbers: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        """A stable JSON text (sorted keys) for storing this result."""
        return json.dumps(
            {"findings": [asdict(f) for f in self.findings], "numbers": dict(self.numbers)},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> PerFileResult:
        """Rebuild a result written by :meth:`to_json`."""
        data: dict[str, Any] = json.loads(text)
        return cls(
            findings=tuple(FileFinding(**f) for f in data.get("findings", [])),
            numbers={str(k): float(v) for k, v in data.get("numbers", {}).items()},
        )


class FileCache(Protocol):
    """Where per-file results are kept between runs (DuckDB-backed in backfill).

    Keys: the tool name, its version string, the hash of its effective configuration (as
    recorded in ``tool_runs.config_hash``), and the git blob sha of the file content.
    """

    def get_many(
        self, tool: str, tool_version: str, config_hash: str, blob_shas: Iterable[str]
    ) -> dict[str, PerFileResult]:
        """Return the cached results among ``blob_shas`` (missing ones are simply absent)."""
        ...

    def put_many(
        self, tool: str, tool_version: str, config_hash: str, results: Mapping[str, PerFileResult]
    ) -> None:
        """Store results by blob sha (storing an existing key again is harmless)."""
        ...


class MemoryFileCache:
    """A :class:`FileCache` in a dict: for tests, and to share results within one process."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str, str, str], PerFileResult] = {}
        self.hits = 0
        self.misses = 0

    def get_many(
        self, tool: str, tool_version: str, config_hash: str, blob_shas: Iterable[str]
    ) -> dict[str, PerFileResult]:
        """Return the known results; count hits and misses."""
        found: dict[str, PerFileResult] = {}
        for sha in blob_shas:
            hit = self.entries.get((tool, tool_version, config_hash, sha))
            if hit is None:
                self.misses += 1
            else:
                self.hits += 1
                found[sha] = hit
        return found

    def put_many(
        self, tool: str, tool_version: str, config_hash: str, results: Mapping[str, PerFileResult]
    ) -> None:
        """Store the results."""
        for sha, result in results.items():
            self.entries[(tool, tool_version, config_hash, sha)] = result
