"""A re-collect of a stored commit keeps what an analyzer failing this time measured before.

Collecting a commit again replaces its stored run. When an analyzer that succeeded in the
stored run fails this time (a crash, a timeout, an executable gone), replacing the run would
throw its measures and findings away, and the commit's history would show a gap that the code
does not have: the code is the same commit. So such a tool's measures and findings are taken
over from the stored run, as long as the code and its configuration are known to be the same:
a clean working tree (a dirty one may have changed since), and the tool's configuration hash
equal to the stored one (a tool that could not even start has none, so nothing is kept). The
tool's record stays ``failed``, with its error and a note saying when the kept results were
measured, and the run stays ``partial``: this attempt failed, and CI still sees it. The derived
metrics (``quality.score``, ``issues.per_kloc``) are computed again over the whole.
"""

from __future__ import annotations

import re
from dataclasses import replace

from collectors.registry import ADAPTERS
from collectors.score import METRICS as DERIVED
from collectors.score import derived_metrics
from storage.models import FindingRecord, RunResult
from storage.store import MetricStore

__all__ = ["KEPT_NOTE", "keep_earlier_results"]

#: How a tool record says its results come from an earlier run of the commit (the time that
#: run started, UTC: the run itself is replaced).
KEPT_NOTE = "[results kept from this commit's run of {measured} UTC]"
_KEPT_LIKE = "%[results kept from this commit's run of % UTC]"
_KEPT_TIME = re.compile(r"\[results kept from this commit's run of (.+?) UTC\]")


def keep_earlier_results(store: MetricStore, result: RunResult) -> RunResult:
    """``result`` with the results of its failed tools taken from the run it will replace."""
    failed = {t.tool: t for t in result.tools if t.status == "failed" and t.tool in ADAPTERS}
    if not failed or result.run.status != "partial" or result.run.dirty:
        return result  # a fully failed run replaces only failed runs; a dirty tree may differ
    earlier = store.replaced_run(result.run)
    if earlier is None:
        return result
    [(started,)] = store.fetch("SELECT started_at FROM runs WHERE run_id = ?", [earlier])
    stored = {
        str(tool): (config, error) for tool, config, error in store.fetch(
            "SELECT tool, config_hash, error FROM tool_runs WHERE run_id = ? "
            "AND (status = 'succeeded' OR error LIKE ?)", [earlier, _KEPT_LIKE])
    }
    kept = [name for name, record in failed.items() if name in stored
            and record.config_hash is not None and record.config_hash == stored[name][0]]
    if not kept:
        return result
    names = [spec.name for name in kept for spec in ADAPTERS[name].metrics]
    measures = {k: v for k, v in result.measures.items() if k not in {m.name for m in DERIVED}}
    measures.update({str(metric): float(value) for metric, value in store.fetch(
        "SELECT metric, value FROM measures WHERE run_id = ? AND metric IN (SELECT unnest(?))",
        [earlier, names])})
    measures.update(derived_metrics(measures))
    findings = [FindingRecord(*row) for row in store.fetch(
        "SELECT tool, rule, severity, path, line, col, message, fingerprint, confidence "
        "FROM findings WHERE run_id = ? AND tool IN (SELECT unnest(?)) ORDER BY path, line, rule",
        [earlier, kept])]

    def note(tool: str) -> str:
        # kept once already: the time they were really measured travels along
        again = _KEPT_TIME.search(stored[tool][1] or "")
        return KEPT_NOTE.format(measured=again.group(1) if again else f"{started:%Y-%m-%d %H:%M:%S}")

    tools = [replace(t, error=f"{t.error or 'failed'} {note(t.tool)}") if t.tool in kept else t
             for t in result.tools]
    return replace(result, tools=tools, measures=measures, findings=[*result.findings, *findings])
