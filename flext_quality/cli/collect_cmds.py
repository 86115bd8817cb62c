"""``flext-quality collect`` and ``flext-quality findings``: analyse a project, show what changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from collectors.registry import TOOL_NAMES
from collectors.score import unscored
from flext_quality.cli.common import (
    AppContext,
    ProjectPath,
    analyzers_stop_on_signals,
    common_options,
    parse_tools,
    pass_app,
)
from flext_quality.jobs import collect_cached, evaluate_and_deliver, prepare_notifications
from storage.errors import ProjectError
from storage.models import RunResult
from storage.queries import latest_run, new_and_fixed, previous_run
from storage.store import MetricStore

__all__ = ["register"]

#: The metric shown as each tool's "count" in the summary table.
HEADLINE = {
    "ruff": "ruff.issues",
    "mypy": "mypy.errors",
    "bandit": "bandit.issues",
    "coverage": "coverage.line_percent",
    "complexity": "complexity.functions_over_limit",
    "suppressions": "suppressions.count",
}
_SHOWN_FINDINGS = 10


def _summary(
    result: RunResult, new: pl.DataFrame, fixed: pl.DataFrame, previous: str | None
) -> dict[str, Any]:
    run = result.run
    return {
        "run_id": run.run_id,
        "project": run.project,
        "status": run.status,
        "previous_run_id": previous,
        "commit_sha": run.commit_sha,
        "branch": run.branch,
        "dirty": run.dirty,
        "score": result.measures.get("quality.score"),
        "score_left_out": unscored(result.measures),
        "tools": [
            {
                "tool": t.tool,
                "status": t.status,
                "version": t.tool_version,
                "duration_s": round(t.duration_s, 3),
                "files": t.files,
                "cached_files": t.cached_files,
                "count": result.measures.get(HEADLINE.get(t.tool, "")) if t.status == "succeeded" else None,
                "error": t.error,
            }
            for t in result.tools
        ],
        "measures": dict(sorted(result.measures.items())),
        "new": new.drop("run_id", "project").to_dicts(),
        "fixed": fixed.drop("run_id", "project").to_dicts(),
    }


def _print_summary(summary: dict[str, Any]) -> None:
    console = Console(soft_wrap=False)
    table = Table(title=f"{summary['project']}: run {summary['run_id'][:12]} {summary['status']}")
    for column in ("tool", "status", "duration", "files", "count", "note"):
        table.add_column(column, justify="right" if column in ("duration", "files", "count") else "left")
    for tool in summary["tools"]:
        files = str(tool["files"]) + (f" ({tool['cached_files']} cached)" if tool["cached_files"] else "")
        count = tool["count"]
        shown = "" if count is None else (f"{count:.1f}" if tool["tool"] == "coverage" else f"{count:g}")
        note = escape(tool["error"] or "")  # "[mypy-colorama.*]" is text, not rich markup
        table.add_row(tool["tool"], tool["status"], f"{tool['duration_s']:.2f}s", files, shown, note)
    console.print(table)
    if summary.get("replaced_tools_not_run"):
        console.print(
            f"note: this run replaced the commit's earlier run, and the results of "
            f"{', '.join(summary['replaced_tools_not_run'])} went with it (not among this run's "
            "tools; collect with them to measure them again)", highlight=False, soft_wrap=True)
    score = summary["score"]
    console.print(f"quality score: {'n/a' if score is None else f'{score:.1f} / 100'}")
    if summary["score_left_out"]:
        ran = any(t["tool"] == "complexity" for t in summary["tools"])
        console.print(
            f"  the score leaves out {' and '.join(summary['score_left_out'])} (findings per 1,000 "
            "source lines): no line count was measured; "
            + ("the complexity tool, which measures it, failed" if ran
               else "add the complexity tool to measure it"),
            highlight=False,
            soft_wrap=True,
        )
    for gate in summary.get("gates", []):
        colour = {"fail": "red", "stale": "yellow", "no_data": "white"}.get(gate["state"], "green")
        console.print(
            f"gate [{colour}]{gate['state']:7}[/] {gate['gate']}  {gate['detail']}", highlight=False
        )
    if summary["previous_run_id"]:
        against = "against the previous run"
    elif summary.get("replaced_run_id"):
        # collecting the same commit again replaced its run: there is nothing else to compare
        against = "this run replaced the earlier run of this commit; no other run to compare"
    else:
        against = "first run of this project"
    console.print(f"new findings: {len(summary['new'])}, fixed: {len(summary['fixed'])} ({against})")
    for label, rows in (("new", summary["new"]), ("fixed", summary["fixed"])):
        for row in rows[:_SHOWN_FINDINGS]:
            where = f"{row['path']}:{row['line']}" if row["line"] is not None else row["path"]
            console.print(
                f"  {label:5} {row['tool']:8} {row['rule']:16} {where}  {row['message'][:80]}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        if len(rows) > _SHOWN_FINDINGS:
            console.print(
                f"  ... and {len(rows) - _SHOWN_FINDINGS} more {label} (flext-quality findings --new/--fixed)"
            )


@click.command("collect")
@common_options
@click.argument("path", type=ProjectPath(), default=Path())
@click.option("--project", default=None, help="Project name (default: the folder's name).")
@click.option(
    "--tools",
    default=None,
    help=f"Comma-separated analyzers (default: collect.tools; known: {','.join(TOOL_NAMES)}).",
)
@click.option(
    "--trigger",
    type=click.Choice(["manual", "ci", "scheduled"]),
    default="manual",
    show_default=True,
    help="Why this run happens (stored with it).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_app
def collect_cmd(
    app: AppContext, path: Path, project: str | None, tools: str | None, trigger: str, fmt: str
) -> None:
    """Analyse the project at PATH, store one run, and show it with new and fixed findings.

    Exit code 0 when the run was stored (findings or not), 1 when nothing could be stored.
    """
    settings = app.settings
    prepare_notifications(settings)
    chosen = parse_tools(tools, settings.collect.tools)
    store = app.store()
    # Ctrl-C and SIGTERM kill the running analyzers instead of waiting for them
    with analyzers_stop_on_signals(sigterm_interrupts=False):
        result = collect_cached(settings, store, path, project=project, tools=chosen, trigger=trigger)
        replaced = store.replaced_run(result.run)
        # tools the replaced run had that this one did not run: their results go with it
        gone = sorted({str(t) for (t,) in store.fetch(
            "SELECT tool FROM tool_runs WHERE run_id = ? AND status = 'succeeded'", [replaced])}
            - {t.tool for t in result.tools}) if replaced else []
        store.append_run(result)
    # Gates are evaluated after every stored run; alerts go out right away (what fails to
    # deliver stays in the outbox for the scheduler or `notify --flush`).
    evaluation, _ = evaluate_and_deliver(settings, store, result.run.run_id)
    new, fixed = new_and_fixed(store, result.run.run_id)
    previous = previous_run(store, result.run.run_id)
    summary = _summary(result, new, fixed, str(previous["run_id"]) if previous else None)
    summary["replaced_run_id"] = replaced
    summary["replaced_tools_not_run"] = gone
    summary["gates"] = [
        {"gate": r.gate, "metric": r.metric, "state": r.state, "value": r.value,
         "threshold": r.threshold, "detail": r.detail}
        for r in evaluation.results
    ]
    if fmt == "json":
        click.echo(json.dumps(summary, default=str, indent=2))
    else:
        _print_summary(summary)
    if result.run.status == "failed":
        raise ProjectError("every analyzer failed: no measures were stored (see the tool errors above)")


def _resolve_run(store: MetricStore, run_id: str | None, project: str | None) -> str:
    if run_id is not None:
        rows = store.fetch("SELECT run_id FROM runs WHERE run_id LIKE ? || '%'", [run_id])
        if len(rows) != 1:
            raise ProjectError(f"run {run_id!r} " + ("is ambiguous" if rows else "does not exist"))
        return str(rows[0][0])
    if project is not None:
        latest = latest_run(store, project)
        if latest is None:
            raise ProjectError(f"project {project!r} has no runs")
        return str(latest["run_id"])
    rows = store.fetch("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")
    if not rows:
        raise ProjectError("the database has no runs yet: run flext-quality collect PATH first")
    return str(rows[0][0])


@click.command("findings")
@common_options
@click.option("--run", "run_id", default=None, help="Run id or unique prefix (default: the latest run).")
@click.option("--project", default=None, help="Latest run of this project.")
@click.option("--new", "only_new", is_flag=True, help="Only findings new against the previous run.")
@click.option("--fixed", "only_fixed", is_flag=True, help="Only findings fixed since the previous run.")
@click.option("--all", "all_", is_flag=True, help="Every finding of the run.")
@click.option("--tool", default=None, help="Only this tool's findings.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
@pass_app
def findings_cmd(
    app: AppContext, run_id: str | None, project: str | None, only_new: bool, only_fixed: bool, all_: bool,
    tool: str | None, fmt: str,
) -> None:
    """Show a run's findings: new and fixed against the previous run (default), or all."""
    from flext_quality.cli.store_cmds import print_frame  # one table printer for every command

    which = _which_findings(new=only_new, fixed=only_fixed, all_=all_)
    store = app.existing_store()
    store.ensure_schema()
    run = _resolve_run(store, run_id, project)
    if which == "all":
        frames = {
            "all": store.query("SELECT * FROM findings WHERE run_id = ? ORDER BY tool, path, line", [run])
        }
    else:
        new, fixed = new_and_fixed(store, run)
        frames = {"new": new, "fixed": fixed}
        if which in ("new", "fixed"):
            frames = {which: frames[which]}
    parts = []
    for label, frame in frames.items():
        if tool is not None:
            frame = frame.filter(pl.col("tool") == tool)
        parts.append(frame.select(pl.lit(label).alias("change"), pl.exclude("run_id", "project")))
    combined = pl.concat(parts)
    if fmt == "table" and combined.is_empty():  # one line says it better than an empty table
        click.echo(_no_findings_line(store, run, which, tool))
        return
    if fmt == "table":  # the full columns are in --format json/csv
        combined = combined.select("change", "tool", "rule", "severity", "path", "line", "message")
    print_frame(combined, fmt, title=f"findings of run {run[:12]}")


def _which_findings(*, new: bool, fixed: bool, all_: bool) -> str | None:
    """``new``, ``fixed``, ``all`` or None (both sides) from the flags, which exclude each other.

    Click would keep the last of two such flags and drop the other without a word.
    """
    chosen = [flag for flag, on in (("--new", new), ("--fixed", fixed), ("--all", all_)) if on]
    if len(chosen) > 1:
        named = ", ".join(chosen[:-1]) + " and " + chosen[-1]
        raise click.UsageError(
            f"{named} exclude each other: choose one (neither shows the new and the fixed findings)")
    return chosen[0][2:] if chosen else None


def _no_findings_line(store: MetricStore, run: str, which: str | None, tool: str | None) -> str:
    """``no new or fixed findings in run 1a2b3c4d5e6f (against the previous run)`` and the like."""
    kind = {"all": "", "new": "new ", "fixed": "fixed "}.get(which or "", "new or fixed ")
    of_tool = f" of {tool}" if tool else ""
    line = f"no {kind}findings{of_tool} in run {run[:12]}"
    if which == "all":
        return line
    previous = previous_run(store, run)
    against = f"against run {str(previous['run_id'])[:12]}" if previous else "first run of this project"
    return f"{line} ({against})"


def register(group: click.Group) -> None:
    """Add ``collect`` and ``findings`` to ``group``."""
    group.add_command(collect_cmd)
    group.add_command(findings_cmd)
