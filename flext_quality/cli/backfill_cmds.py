"""``flext-quality backfill``: analyse a project's git history, one run per commit.

Only option parsing, progress display and signal handling live here; the work is
:func:`collectors.backfill.backfill`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from collectors.backfill import (
    BackfillInterrupted,
    BackfillProgress,
    BackfillRequest,
    BackfillSummary,
    backfill,
)
from collectors.discovery import resolve_project
from collectors.gitwalk import Commit, Every
from collectors.pipeline import collect
from collectors.registry import ADAPTERS
from flext_quality.cli.common import (
    AppContext,
    ProjectPath,
    analyzers_stop_on_signals,
    common_options,
    parse_tools,
    pass_app,
    plural,
)
from flext_quality.jobs import collect_options, evaluate_and_deliver, prepare_notifications
from storage.errors import ConfigError
from storage.store import MetricStore

__all__ = ["register"]


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--since {value!r} is not a date (use YYYY-MM-DD or an ISO time)") from None
    # commit times are compared as naive UTC; a time with an offset is converted first
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _pause_hook(after: int | None, fifo: Path | None) -> Callable[[int, Commit], None] | None:
    """A test hook: after N stored runs, announce it on a FIFO and wait to be killed."""
    if after is None or fifo is None:
        return None

    def on_stored(count: int, commit: Commit) -> None:
        if count != after:
            return
        with fifo.open("w", encoding="utf-8") as pipe:  # blocks until the test reads
            pipe.write(f"paused {count} {commit.sha}\n")
        # Not signal.pause(): a signal that lands between the write and the pause() call would
        # leave it waiting forever. The loop's next turn runs a pending handler instead.
        while True:
            time.sleep(0.2)

    return on_stored


def _in_ci(environ: Mapping[str, str]) -> bool:
    """True under a CI service (they set ``CI``, to ``true``, ``1`` or their own name).

    A CI log is no terminal even when the job runs under a pseudo-terminal, and an animated
    bar there turns into pages of redrawn lines.
    """
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: short enough for a progress line."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole // 60 % 60:02d}m"


def _label(event: BackfillProgress) -> str:
    """The stored commit and its status, else what runs now."""
    if event.commit is not None:
        return f"{event.commit.sha[:10]} {event.status}"
    return event.activity or "starting"


class _Display:
    """Progress on stderr: an animated bar on a terminal, plain lines in logs and under CI.

    Plain mode prints one line when a chunk's batch analysis starts and one per stored commit.
    The time left is the backfill's own estimate (:class:`collectors.backfill_types.Pace`,
    which counts only this invocation's commits); it is left out until it has a pace, and the
    cache's hit rate shows ``-`` until a per-file result was looked up.
    """

    def __init__(self, console: Console, *, enabled: bool, animated: bool) -> None:
        self.console = console
        self.enabled = enabled
        self.animated = enabled and animated
        self.progress: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> _Display:
        if self.animated:
            self.progress = Progress(
                TextColumn("[bold]backfill"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[commit]}"),
                TextColumn("cache {task.fields[hits]}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[eta]}"),
                console=self.console,
            )
            self.progress.start()
            self.task = self.progress.add_task("backfill", total=None, commit="", hits="-", eta="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def warn(self, message: str) -> None:
        """One warning line (above the bar while it is shown), also with ``--format json``."""
        self.console.print(f"warning: {message}", markup=False, highlight=False, soft_wrap=True)

    def __call__(self, event: BackfillProgress) -> None:
        if not self.enabled:
            return
        hits = "-" if event.hit_rate is None else f"{event.hit_rate:.0%}"
        eta = f"eta {_duration(event.eta_s)}" if event.eta_s is not None else ""
        label = _label(event)
        if self.progress is not None:
            self.progress.update(
                self.task, total=event.total, completed=event.done, commit=label, hits=hits, eta=eta
            )
            return
        if event.commit is None and event.activity is None:
            self.console.print(f"backfill: {plural(event.total, 'commit')} to analyse", highlight=False)
            return
        line = f"[{event.done}/{event.total}] {label}"
        if event.commit is not None:
            line = f"{line} cache {hits} {eta}".rstrip()
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


def _interrupted_line(summary: BackfillSummary, *, force: bool) -> str:
    """What an interrupt left behind, and how to go on."""
    if force:
        return (
            f"interrupted: {summary.stored} of {plural(summary.selected, 'commit')} analysed "
            "again and stored; the same command starts over (--force analyses every commit again)"
        )
    stored = summary.skipped + summary.stored
    earlier = f" ({summary.stored} in this run)" if summary.skipped else ""
    return (
        f"interrupted: {stored} of {plural(summary.selected, 'commit')} stored{earlier}; run the "
        "same command again to resume (stored commits are skipped)"
    )


def _print_summary(summary: BackfillSummary, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(summary.as_dict(), indent=2))
        return
    rate = "" if summary.hit_rate is None else f" ({summary.hit_rate:.0%})"
    click.echo(
        f"backfill of {summary.project}: {plural(summary.selected, 'commit')} selected, "
        f"{summary.skipped} already stored, {plural(summary.stored, 'run')} stored "
        f"({summary.partial} partial, {summary.failed} failed); files analysed "
        f"{summary.files_analysed}, served from cache {summary.files_cached}{rate}; "
        f"{summary.wall_s:.1f}s"
    )


@click.command("backfill")
@common_options
@click.argument("path", type=ProjectPath(), default=Path())
@click.option("--project", default=None, help="Project name (default: the folder name).")
@click.option("--commits", "max_commits", type=click.IntRange(min=1), default=None,
              help="Newest N commits (after --every thinning).")
@click.option("--since", default=None,
              help="Only commits at or after this date or ISO time (UTC unless it has an offset).")
@click.option("--every", type=click.Choice(["day", "week", "month"]), default=None,
              help="Keep only the last commit of each UTC day, ISO week or month.")
@click.option("--branch", default=None,
              help="Branch, tag or commit to walk (default: the current branch); runs record "
                   "a branch only when this is one.")
@click.option("--tools", default=None,
              help=f"Comma-separated analyzers (default: collect.tools; known: {','.join(ADAPTERS)}).")
@click.option("--coverage-dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=None,
              help="Folder with per-commit coverage reports named <sha>.json or <sha>.xml.")
@click.option("--force", is_flag=True, help="Re-analyse commits that are already stored.")
@click.option("--chunk", type=click.IntRange(min=1), default=25, show_default=True,
              help="Commits whose changed files are analysed together in one tool call.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              help="Summary format; json also turns the progress display off.")
@click.option("--pause-after", type=int, default=None, hidden=True)
@click.option("--pause-fifo", type=click.Path(path_type=Path), default=None, hidden=True)
@pass_app
def backfill_cmd(
    app: AppContext, path: Path, project: str | None, max_commits: int | None,
    since: str | None, every: Every | None, branch: str | None, tools: str | None,
    coverage_dir: Path | None, force: bool, chunk: int, fmt: str,
    pause_after: int | None, pause_fifo: Path | None,
) -> None:
    """Analyse the git history of PATH: one run per commit, oldest first, resumable."""
    settings = app.settings
    prepare_notifications(settings)
    chosen = parse_tools(tools, settings.collect.tools)
    resolved = resolve_project(path, settings.allowed_roots)
    store = app.store()
    store.ensure_schema()
    request = BackfillRequest(
        project=project or resolved.name, tools=tuple(chosen), options=collect_options(settings),
        ref=branch, max_commits=max_commits, since=_parse_since(since), every=every,
        force=force, chunk=chunk, coverage_dir=coverage_dir,
    )
    per_file = [ADAPTERS[name] for name in chosen if ADAPTERS[name].per_file]
    console = Console(stderr=True)
    display = _Display(
        console, enabled=fmt == "text", animated=console.is_terminal and not _in_ci(os.environ)
    )
    try:
        # SIGTERM unwinds like Ctrl-C: the analysed runs are stored, the checkout is removed
        with analyzers_stop_on_signals(sigterm_interrupts=True), display:
            summary = backfill(
                resolved, request, store=store, collect=collect, adapters=per_file,
                on_progress=display, on_stored=_pause_hook(pause_after, pause_fifo),
                on_warning=display.warn,
            )
    except BackfillInterrupted as stop:
        click.echo(_interrupted_line(stop.summary, force=force), err=True)
        raise click.exceptions.Exit(130) from None
    _print_summary(summary, fmt)
    # Every stored run gets its gate results (so the history shows where a gate was red), in
    # commit order; older runs move the alert state quietly and only the project's newest run
    # announces, so replaying history never fires an alert per old commit.
    if any(gate.applies_to(summary.project) for gate in settings.gates):
        for run_id in _runs_to_evaluate(store, summary.project, summary.run_ids):
            evaluate_and_deliver(settings, store, run_id)


def _runs_to_evaluate(store: MetricStore, project: str, stored: list[str]) -> list[str]:
    """This backfill's runs, plus the project's backfill runs that have no gate results yet
    (stored by an invocation that was interrupted before it evaluated them), oldest first."""
    rows = store.fetch(
        """
        SELECT run_id FROM runs r
        WHERE project = ?
          AND (run_id IN (SELECT unnest(?::VARCHAR[]))
               OR (trigger = 'backfill'
                   AND NOT EXISTS (SELECT 1 FROM gate_results g WHERE g.run_id = r.run_id)))
        ORDER BY coalesce(committed_at, started_at), started_at
        """,
        [project, stored],
    )
    return [str(row[0]) for row in rows]


def register(group: click.Group) -> None:
    """Add the backfill command to ``group``."""
    group.add_command(backfill_cmd)
