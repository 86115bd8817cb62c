"""From per-file results to a run's findings and metrics (the same with or without a cache).

Fingerprints: ``finding_fingerprint(tool, rule, path, anchor, occurrence)`` where the anchor
is the finding's stripped source line (or its message) and ``occurrence`` numbers identical
(rule, anchor) pairs within one file in line order. Moving code up or down keeps every
fingerprint; editing the flagged line or renaming the file makes a new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from collectors.cache import FileFinding, PerFileResult
from storage.models import FindingRecord, finding_fingerprint

__all__ = ["file_findings", "findings_from_pairs", "findings_from_per_file"]


def _order(finding: FileFinding) -> tuple[int, int, str, str]:
    return (finding.line or 0, finding.col or 0, finding.rule, finding.message)


def file_findings(tool: str, path: str, findings: Iterable[FileFinding]) -> list[FindingRecord]:
    """One file's findings as records with fingerprints (sorted by position)."""
    seen: dict[tuple[str, str], int] = {}
    records: list[FindingRecord] = []
    for finding in sorted(findings, key=_order):
        key = (finding.rule, " ".join(finding.anchor.split()))
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        records.append(FindingRecord(
            tool=tool, rule=finding.rule, severity=finding.severity, path=path,
            line=finding.line, col=finding.col, message=finding.message,
            fingerprint=finding_fingerprint(tool, finding.rule, path, finding.anchor, occurrence),
            confidence=finding.confidence,
        ))
    return records


def findings_from_per_file(tool: str, per_file: Mapping[str, PerFileResult]) -> list[FindingRecord]:
    """All findings of a per-file tool, file by file in path order."""
    records: list[FindingRecord] = []
    for path in sorted(per_file):
        records.extend(file_findings(tool, path, per_file[path].findings))
    return records


def findings_from_pairs(tool: str, pairs: Iterable[tuple[str, FileFinding]]) -> list[FindingRecord]:
    """Findings of a project-wide tool given as (path, finding) pairs."""
    grouped: dict[str, list[FileFinding]] = {}
    for path, finding in pairs:
        grouped.setdefault(path, []).append(finding)
    records: list[FindingRecord] = []
    for path in sorted(grouped):
        records.extend(file_findings(tool, path, grouped[path]))
    return records
