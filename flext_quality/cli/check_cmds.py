"""The ``check`` command: collect a project in CI, evaluate its gates, exit 1 when it must not pass.

A build fails when a gate is red, and when an analyzer failed: a crashed linter must not pass
a build unnoticed, as it would not when run by hand. ``--allow-analyzer-failures`` lets such a
build pass unless a gate stays red because this run could not measure it (the dashboard still
shows it red) or the run measured nothing at all. ``--fail-on-no-data`` also fails a build on
a gate whose metric is missing from the run.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
from dataclasses import dataclass
from pathlib import Path

import click

from alerts.evaluate import Evaluation
from flext_quality import jobs
from flext_quality.cli.common import (
    AppContext,
    ProjectPath,
    analyzers_stop_on_signals,
    common_options,
    pass_app,
)
from flext_quality.cli.gate_metrics import check_gate_metrics
from flext_quality.settings import Settings
from storage.alert_store import GateResultRow
from storage.errors import ConfigError, FlextQualityError, ProjectError
from storage.queries import latest_run
from storage.store import MetricStore

__all__ = ["check_cmd"]

# Built with zip: bandit reads a {"pass": ...} literal as a hard-coded password.
_MARKS = dict(zip(("pass", "fail", "stale", "no_data"), ("PASS", "FAIL", "STALE", "NO DATA"), strict=True))


@dataclass(frozen=True, slots=True)
class _Verdict:
    """Everything that decides the exit status, read back after the run was evaluated."""

    run_status: str
    failed_tools: list[tuple[str, str]]  # (tool, first line of its error)
    red: list[GateResultRow]  # red after this run
    held_red: list[GateResultRow]  # not measured this run, and still red from before
    unmeasured: list[GateResultRow]  # metric missing from this run (not merely a reference)
    without_data: int  # gates not evaluated (no metric or no reference), not held red
    fail_on_no_data: bool
    allow_analyzer_failures: bool

    @property
    def run_failed(self) -> bool:
        return self.run_status == "failed"

    @property
    def analyzers_failed(self) -> bool:
        return bool(self.failed_tools) and not self.allow_analyzer_failures

    @property
    def passed(self) -> bool:
        missing = self.unmeasured if self.fail_on_no_data else []
        return not (self.run_failed or self.analyzers_failed or self.red or self.held_red or missing)

    def summary(self) -> str:
        if self.run_failed:
            return f"failed: the run measured nothing ({len(self.failed_tools)} analyzer(s) failed)"
        if self.red or self.held_red:
            return f"{len(self.red) + len(self.held_red)} red gate(s)"
        if self.analyzers_failed:
            return (f"failed: {len(self.failed_tools)} analyzer(s) failed "
                    "(--allow-analyzer-failures lets the gates decide)")
        if self.fail_on_no_data and self.unmeasured:
            return f"failed: {len(self.unmeasured)} gate(s) without data (--fail-on-no-data)"
        no_data = self.without_data
        return "all gates pass" + (f", {no_data} without data" if no_data else "")


def _verdict(
    store: MetricStore, evaluation: Evaluation, *, fail_on_no_data: bool, allow_analyzer_failures: bool
) -> _Verdict:
    run_id, project = evaluation.run_id, evaluation.project
    status = store.fetch("SELECT status FROM runs WHERE run_id = ?", [run_id])
    failed = store.fetch(
        "SELECT tool, coalesce(error, '') FROM tool_runs WHERE run_id = ? AND status = 'failed' "
        "ORDER BY tool",
        [run_id],
    )
    stored = dict(store.fetch("SELECT gate, state FROM alert_states WHERE project = ?", [project]))
    no_data = [r for r in evaluation.results if r.state == "no_data"]
    held = [r for r in no_data if stored.get(r.gate) in ("fail", "stale")]
    return _Verdict(
        run_status=str(status[0][0]) if status else "failed",
        failed_tools=[(str(t), (str(e).strip().splitlines() or ["failed"])[0]) for t, e in failed],
        red=evaluation.red,
        held_red=held,
        # A relative gate without a reference yet (a first build) has its metric: not missing.
        unmeasured=[r for r in no_data if r.value is None and r not in held],
        without_data=len(no_data) - len(held),
        fail_on_no_data=fail_on_no_data,
        allow_analyzer_failures=allow_analyzer_failures,
    )


def quoteattr(text: str) -> str:
    """``text`` as a quoted XML attribute value."""
    return f'"{html.escape(text, quote=True)}"'


def _junit_xml(evaluation: Evaluation, verdict: _Verdict) -> str:
    """The gate results as a JUnit XML test suite: one test case per gate, one per failed tool."""
    classname = quoteattr("gates." + evaluation.project)
    cases: list[str] = []
    failures = 0
    for r in evaluation.results:
        attrs = f"classname={classname} name={quoteattr(r.gate)}"
        if r.state in ("fail", "stale") or r in verdict.held_red:
            kind = r.state if r.state != "no_data" else "still red"
            inner = (f"<failure message={quoteattr(kind + ': ' + r.detail)} "
                     f"type={quoteattr(kind)}>{html.escape(r.detail)}</failure>")
            failures += 1
        elif r.state == "no_data":
            inner = f"<skipped message={quoteattr(r.detail)} />"
        else:
            inner = ""
        cases.append(f"  <testcase {attrs}>{inner}</testcase>")
    for tool, error in verdict.failed_tools:
        attrs = f"classname={quoteattr('analyzers.' + evaluation.project)} name={quoteattr(tool)}"
        cases.append(f"  <testcase {attrs}><error message={quoteattr(error)} type=\"failed\" /></testcase>")
    skipped = sum(r.state == "no_data" and r not in verdict.held_red for r in evaluation.results)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f"<testsuite name={quoteattr('flext-quality gates: ' + evaluation.project)} "
        f'tests="{len(cases)}" failures="{failures}" errors="{len(verdict.failed_tools)}" '
        f'skipped="{skipped}">\n' + "".join(c + "\n" for c in cases) + "</testsuite>\n"
    )


def _writable(path: Path) -> None:
    """Refuse a JUnit path that cannot be written, before a minute of collecting."""
    parent = path.parent
    blocking = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ConfigError(f"cannot write --junit {path}: {blocking} is a file, not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot write --junit {path}: {error.strerror or error}") from None
    if path.is_dir() or not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"cannot write --junit {path}: not a writable file")


def _write_error_junit(path: Path, project: str, error: str) -> None:
    case = (f"  <testcase classname={quoteattr('gates.' + project)} name=\"flext-quality check\">"
            f"<error message={quoteattr(error)} type=\"error\" /></testcase>\n")
    suite = ('<?xml version="1.0" encoding="utf-8"?>\n'
             f"<testsuite name={quoteattr('flext-quality gates: ' + project)} "
             f'tests="1" failures="0" errors="1" skipped="0">\n{case}</testsuite>\n')
    with contextlib.suppress(OSError):  # the error line is what matters; the report is extra
        path.write_text(suite, encoding="utf-8")


def _write_junit(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write --junit {path}: {error.strerror or error}") from None


def _echo_text(name: str, run_id: str, evaluation: Evaluation, verdict: _Verdict,
               settings: Settings) -> None:
    consecutive = {g.gate_id: g.consecutive for g in settings.gates}
    if not evaluation.results:
        click.echo(f"{name}: no gates apply (configure [[gates]] in flext-quality.toml)")
    for r in evaluation.results:
        if r.state == "pass" and r.raw_state == "fail":
            # failing, but `consecutive` asks for more failing runs in a row before red
            click.echo(f"{'WARN':<8} {r.gate}: {r.detail} (not red yet: red after "
                       f"{consecutive.get(r.gate, 1)} failing runs in a row)")
        elif r in verdict.held_red:
            click.echo(f"{'FAIL':<8} {r.gate}: still red, this run could not measure it ({r.detail})")
        else:
            click.echo(f"{_MARKS[r.state]:<8} {r.gate}: {r.detail}")
    for tool, error in verdict.failed_tools:
        click.echo(f"{'ERROR':<8} analyzer {tool} failed: {error}")
    click.echo(f"{name} (run {run_id}): {verdict.summary()}")


@click.command("check")
@click.argument("path", required=False, type=ProjectPath())
@click.option("--project", help="Project name (default: the folder name of PATH).")
@click.option("--no-collect", is_flag=True, help="Evaluate the project's latest stored run instead.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--junit", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the gate results as JUnit XML to this file.")
@click.option("--fail-on-no-data", is_flag=True,
              help="Also exit 1 when a gate's metric is missing from the run.")
@click.option("--allow-analyzer-failures", is_flag=True,
              help="Do not fail the build because an analyzer failed (gates still decide).")
@common_options
@pass_app
def check_cmd(
    app: AppContext, path: Path | None, project: str | None, no_collect: bool, fmt: str,
    junit: Path | None, fail_on_no_data: bool, allow_analyzer_failures: bool,
) -> None:
    """Collect (or read the latest run), evaluate the gates; exit 1 when the build must not pass.

    That is: a gate is red, or an analyzer failed (unless --allow-analyzer-failures: then a
    gate that stays red because its analyzer failed, or a run that measured nothing).
    """
    target = (path or Path()).resolve()
    name = project or target.name
    try:
        _check(app, target, name, no_collect, fmt, junit,
               _Flags(fail_on_no_data=fail_on_no_data, allow_analyzer_failures=allow_analyzer_failures))
    except FlextQualityError as error:
        if fmt == "json":  # CI reading the JSON gets the reason too (the line goes to stderr)
            click.echo(json.dumps({"project": name, "passed": False, "error": str(error)}, indent=2))
        if junit is not None and not isinstance(error, ConfigError):
            # A CI test report that says why, instead of an old one left from an earlier build.
            _write_error_junit(junit, name, str(error))
        raise


@dataclass(frozen=True, slots=True)
class _Flags:
    fail_on_no_data: bool
    allow_analyzer_failures: bool


def _check(app: AppContext, target: Path, name: str, no_collect: bool, fmt: str,
           junit: Path | None, flags: _Flags) -> None:
    settings = app.settings
    jobs.prepare_notifications(settings)
    store = app.store()
    check_gate_metrics(settings, store, name)
    if junit is not None:
        _writable(junit)
    if no_collect:
        run = latest_run(store, name) if store.path.exists() else None
        if run is None:
            raise ProjectError(f"no stored run of project {name!r}: run without --no-collect first")
        run_id = str(run["run_id"])
        evaluation, deliveries = jobs.evaluate_and_deliver(settings, store, run_id)
    else:
        # Ctrl-C and SIGTERM kill the running analyzers instead of waiting for them
        with analyzers_stop_on_signals(sigterm_interrupts=False):
            outcome = jobs.collect_and_evaluate(settings, store, target, name, trigger="ci")
        evaluation, deliveries, run_id = outcome.evaluation, outcome.deliveries, outcome.run_id
    verdict = _verdict(store, evaluation, fail_on_no_data=flags.fail_on_no_data,
                       allow_analyzer_failures=flags.allow_analyzer_failures)
    if junit is not None:
        _write_junit(junit, _junit_xml(evaluation, verdict))
    if fmt == "json":
        click.echo(json.dumps({
            "project": name, "run_id": run_id, "passed": verdict.passed,
            "run_status": verdict.run_status,
            "failed_tools": [{"tool": t, "error": e} for t, e in verdict.failed_tools],
            "gates": [
                {"gate": r.gate, "metric": r.metric, "state": r.state,
                 "this_run": r.raw_state, "still_red": r in verdict.held_red, "value": r.value,
                 "threshold": r.threshold, "reference_value": r.reference_value,
                 "detail": r.detail}
                for r in evaluation.results
            ],
            "notifications": [
                {"route": d.route, "endpoint": d.endpoint, "status": d.status} for d in deliveries
            ],
        }, indent=2))
    else:
        _echo_text(name, run_id, evaluation, verdict, settings)
    if not verdict.passed:
        click.get_current_context().exit(1)
