"""Gate, alert, report and scheduler commands: check, gates, report, notify, scheduler."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import cast

import click
import polars as pl
from click.core import ParameterSource

from alerts.gates import direction_conflict
from alerts.masking import mask_text
from alerts.notify import DeliveryOutcome, send_test_notification, utc_now
from alerts.report import Period
from alerts.report_render import render_report
from flext_quality import jobs
from flext_quality.cli.check_cmds import check_cmd
from flext_quality.cli.common import AppContext, common_options, pass_app
from flext_quality.cli.gate_metrics import known_metrics, unknown_metric
from flext_quality.cli.store_cmds import print_frame
from flext_quality.scheduler import scheduler_from_settings
from flext_quality.settings import Settings
from storage.alert_store import (
    OUTBOX_DISPLAY,
    AlertStateRow,
    find_messages,
    list_outbox,
    load_alert_states,
    metric_directions,
    project_names,
)
from storage.errors import NotifyError
from storage.store import MetricStore

__all__ = ["register"]


def _ready(app: AppContext) -> Settings:
    """Settings with routes checked and their secrets registered for masking."""
    settings = app.settings
    jobs.prepare_notifications(settings)
    return settings


_OUTCOME_SCHEMA = {
    "message_id": pl.String, "route": pl.String, "endpoint": pl.String, "ok": pl.Boolean,
    "status": pl.String, "error": pl.String,
}


def _echo_outcomes(outcomes: list[DeliveryOutcome], fmt: str = "table") -> None:
    """One line per endpoint (masked; with the error when it failed), or rows as JSON/CSV."""
    if fmt != "table":
        print_frame(pl.DataFrame([asdict(o) for o in outcomes], schema=_OUTCOME_SCHEMA), fmt)
        return
    for o in outcomes:
        tail = "" if o.ok else f": {o.error}"
        click.echo(f"{o.status:<9} {o.route} {o.endpoint}{tail}")


@click.command("gates")
@click.option("--project", help="Only this project's states.")
@common_options
@pass_app
def gates_cmd(app: AppContext, project: str | None) -> None:
    """List the configured gates and the current state of each gate per project.

    States of gates that are no longer configured (or no longer apply to that project) stay
    in the database but are not shown; a last line counts them.
    """
    settings = app.settings
    store = app.store()
    # Read first: a database that cannot be read gives its one error line and nothing else.
    known: dict[str, tuple[str, str]] | None = None
    stored: list[AlertStateRow] = []
    projects: list[str] = []
    metrics = known_metrics(store)
    measured: set[str] = set()
    if store.path.exists():
        known = metric_directions(store)
        stored = list(load_alert_states(store, project).values())
        projects = project_names(store)
        # every metric some run stored a value of (the catalogue lists every metric an
        # analyzer can report, measured or not)
        measured = {str(m) for (m,) in store.fetch("SELECT DISTINCT metric FROM series")}
    configured = {g.gate_id: g for g in settings.gates}
    states = sorted(
        (s for s in stored if s.gate in configured and configured[s.gate].applies_to(s.project)),
        key=lambda s: (s.project, s.gate),
    )
    if not settings.gates:
        click.echo("no gates configured (see README, Gates)")
    for gate in settings.gates:
        named = f"{gate.name}: " if gate.name else ""
        click.echo(f"{named}{gate.rule}  [projects {', '.join(gate.projects)}; "
                   f"consecutive {gate.consecutive}; tolerance {gate.tolerance:g}]")
    for gate in settings.gates:
        if gate.metric not in metrics:
            click.echo(f"warning: {unknown_metric(gate, metrics)}; `check` refuses it", err=True)
    if known is not None:
        _warn_about_gates(settings, known, metrics, measured)
    if project is not None and project not in projects:
        more = ", ..." if len(projects) > 5 else ""
        shown = f" (stored: {', '.join(projects[:5])}{more})" if projects else ""
        click.echo(f"warning: no run of project {project!r} is stored{shown}", err=True)
    if states:
        frame = pl.DataFrame([
            {"project": s.project, "gate": s.gate, "state": s.state, "since": s.since,
             "failing_runs": s.consecutive_failures, "last_notified_at": s.last_notified_at}
            for s in states
        ])
        print_frame(frame, "table", title="gate states")
    if len(stored) > len(states):
        click.echo(f"({len(stored) - len(states)} stored state(s) of gates no longer configured "
                   "are not shown)")


def _warn_about_gates(
    settings: Settings, known: dict[str, tuple[str, str]], metrics: set[str], measured: set[str]
) -> None:
    """Warn (not fail) about gates that cannot get a result from what is stored."""
    # Misspelt metrics were named above; these are real ones no stored run reported yet.
    for metric in sorted(({g.metric for g in settings.gates} - measured) & metrics):
        # Not an error: the metric may come with an analyzer that has not run yet (coverage
        # needs coverage data; each stored run lists every metric in the catalogue anyway).
        click.echo(f"warning: metric {metric!r} has no stored value yet; its gates have "
                   "no data until a run reports it", err=True)
    for gate in settings.gates:
        conflict = direction_conflict(gate, known.get(gate.metric, ("", ""))[0])
        if conflict is not None:
            click.echo(f"warning: gate {gate.gate_id!r}: {conflict}", err=True)


@click.command("report")
@click.option("--project", "projects", multiple=True, help="A project (repeatable).")
@click.option("--all", "all_projects", is_flag=True, help="Every project in the store (default).")
@click.option("--period", type=click.Choice(["day", "week", "month"]), default="week", show_default=True)
@click.option("--send", is_flag=True, help="Queue and deliver to the 'reports' routes.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "html", "json", "text"]),
              default="markdown", show_default=True,
              help="How to print the report (not with --send: each route has its own).")
@common_options
@pass_app
def report_cmd(
    app: AppContext, projects: tuple[str, ...], all_projects: bool, period: str, send: bool, fmt: str
) -> None:
    """Report score, key metrics, gates, findings and regressions over a period."""
    if projects and all_projects:
        raise click.UsageError("--project and --all exclude each other")
    if send and click.get_current_context().get_parameter_source("fmt") != ParameterSource.DEFAULT:
        # Ignoring it would print nothing in that format and send each route's own instead.
        raise click.UsageError(
            "--send and --format exclude each other: --send delivers the report in each "
            "route's own format (its `format` setting), --format only prints it")
    settings = _ready(app)
    store = app.existing_store()  # a report of a database that is not there is a typo
    chosen = list(projects) or None
    if send:
        outcomes = jobs.send_reports(settings, store, chosen, period=cast(Period, period))
        if not outcomes:
            click.echo("nothing to send: no 'reports' route, or this report was already queued")
        _echo_outcomes(outcomes)
        return
    reports = jobs.build_reports(store, chosen, period=cast(Period, period), now=utc_now(),
                                 gates=settings.gates)
    click.echo(render_report(reports, fmt, base_url=settings.dashboard.base_url))


@click.command("notify")
@click.option("--flush", is_flag=True, help="Deliver every due message of the outbox now.")
@click.option("--list", "list_", is_flag=True, help="Show the outbox (newest first).")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]),
              help="With --list: only messages of this status.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="With --list: most rows shown.")
@click.option("--test", "test_purpose", type=click.Choice(["alerts", "reports"]),
              help="Send a test message to every endpoint of this purpose.")
@click.option("--show", "show_id", metavar="MESSAGE_ID",
              help="Print one message as queued: endpoint, title and body (an id prefix will do).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True,
              help="table: lines for a person; json/csv: the rows of one action (--flush, "
                   "--list or --test) for programs.")
@common_options
@pass_app
def notify_cmd(
    app: AppContext, flush: bool, list_: bool, status: str | None, limit: int,
    test_purpose: str | None, show_id: str | None, fmt: str,
) -> None:
    """Deliver (--flush), inspect (--list, --show ID) or test (--test alerts) notifications.

    --test exits 1 when any endpoint did not get the test message (or there is none).
    """
    actions = [name for name, chosen in (("--flush", flush), ("--list", list_),
                                         ("--test", test_purpose), ("--show", show_id)) if chosen]
    if not actions:
        raise click.UsageError("choose --flush, --list, --show or --test")
    if fmt != "table" and len(actions) > 1:
        # One JSON document or CSV table per output: two actions' rows do not fit in one.
        raise click.UsageError(
            f"--format {fmt} prints the result of one action: choose one of {', '.join(actions)}")
    settings = _ready(app)
    # --test may start a new database's outbox; flushing or listing needs an existing one
    store = app.store() if test_purpose else app.existing_store()
    test_failed = False
    if test_purpose:
        outcomes = send_test_notification(store, list(settings.routes), purpose=test_purpose,
                                          policy=jobs.delivery_policy(settings))
        _echo_outcomes(outcomes, fmt)
        if not outcomes:
            click.echo(f"error: no '{test_purpose}' route configured: nothing to test", err=True)
        test_failed = not outcomes or not all(o.ok for o in outcomes)
    if flush:
        now = utc_now()
        outcomes = jobs.flush_outbox(settings, store, now=now)
        if fmt == "table":
            click.echo(f"{sum(o.ok for o in outcomes)} delivered, "
                       f"{sum(not o.ok for o in outcomes)} not delivered{_waiting(store, now)}")
        _echo_outcomes(outcomes, fmt)
    if list_:
        store.ensure_schema()
        frame = list_outbox(store, status=status, limit=limit)
        if fmt == "table":
            # The full rows (endpoint, ids) are in --format json/csv; a terminal needs the gist.
            frame = frame.select(
                pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M"), "route", "project", "title",
                "status", "attempts", pl.col("next_attempt_at").dt.strftime("%Y-%m-%d %H:%M"),
                "last_error",
            )
        print_frame(frame, fmt, title="outbox")
    if show_id is not None:
        _show_message(store, show_id, fmt)
    if test_failed:
        click.get_current_context().exit(1)


def _show_message(store: MetricStore, id_prefix: str, fmt: str) -> None:
    """One outbox message as it goes out (secrets masked again, as everywhere they are shown)."""
    store.ensure_schema()
    found = find_messages(store, id_prefix.strip()) if id_prefix.strip() else None
    if found is None or found.height == 0:
        raise NotifyError(f"no outbox message with id {id_prefix!r} (`notify --list` shows them)")
    if found.height > 1:
        ids = ", ".join(found.get_column("message_id").head(5).to_list())
        raise NotifyError(f"{found.height} messages start with {id_prefix!r} ({ids}): give more of the id")
    masked = found.with_columns(pl.col(c).map_elements(lambda v: mask_text(v, ()), return_dtype=pl.String)
                                for c in ("endpoint", "title", "body"))
    if fmt != "table":
        print_frame(masked, fmt)
        return
    row = masked.row(0, named=True)
    click.echo(f"message {row['message_id']} ({row['purpose']}, {row['status']}, {row['notify_type']})")
    click.echo(f"to:     route {row['route']}, {row['endpoint']} ({row['body_format']})")
    click.echo(f"title:  {row['title']}")
    click.echo("")
    click.echo(row["body"])


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run the jobs that are due once, then exit (cron).")
@common_options
@pass_app
def scheduler_cmd(app: AppContext, once: bool) -> None:
    """Run collect, report, maintenance and delivery jobs from the settings."""
    settings = _ready(app)
    store = app.store()
    store.ensure_schema()
    sched = scheduler_from_settings(settings, store)
    if once:
        statuses = sched.run_once(handle_signals=True)
        for name, state in statuses.items():
            click.echo(f"{state:<9} {name}")
        if not statuses:
            click.echo("no job is due")
        if sched.stopped_by is not None:  # cut short: end by the signal, as collect and check do
            click.get_current_context().exit(128 + sched.stopped_by)
        if any(s == "failed" for s in statuses.values()):
            click.get_current_context().exit(1)
        return
    click.echo(f"scheduler: {len(sched.jobs)} job(s); next at {_when(sched.next_run())}; "
               "stop with Ctrl-C or SIGTERM", err=True)
    sched.run_forever()


def _waiting(store: MetricStore, now: datetime) -> str:
    """``; 2 pending, next attempt 2026-11-26 05:40 UTC`` when messages wait for a retry.

    The time also waits for an open circuit; one already passed means the next flush.
    """
    (count, due), = store.fetch(
        f"SELECT count(*), min(next_attempt_at) FROM ({OUTBOX_DISPLAY}) WHERE status = 'pending'"
    )
    if not count:
        return ""
    when = "at the next flush" if due is None or due <= now else f"{_when(due)} UTC"
    return f"; {count} pending, next attempt {when}"


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    for command in (check_cmd, gates_cmd, report_cmd, notify_cmd, scheduler_cmd):
        group.add_command(command)
