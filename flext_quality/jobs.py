"""Composed jobs: collect, then evaluate gates, then deliver; reports; flush; maintenance.

This is where the layers meet (alerts must not import collectors): the CLI commands and the
scheduler call these functions with the settings, the store and, for tests, the I/O hooks
(``collector``, ``sender``, ``now``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from alerts.config import GateSpec
from alerts.evaluate import AlertPolicy, Evaluation, evaluate_run
from alerts.gates import StalePolicy
from alerts.masking import install_log_masking
from alerts.notify import (
    DeliveryOutcome,
    DeliveryPolicy,
    Notifier,
    Sender,
    apprise_send,
    utc_now,
    validate_routes,
)
from alerts.reminders import queue_reminders
from alerts.report import Period, ProjectReport, build_report
from alerts.report_render import report_messages
from collectors.base import CollectOptions
from collectors.discovery import discover_files, resolve_project
from collectors.earlier import keep_earlier_results
from collectors.pipeline import collect
from collectors.runner import processes_stopped
from collectors.stored_cache import StoredFileCache
from flext_quality.settings import Settings
from storage.alert_store import enqueue_messages, project_names
from storage.blob_cache import BlobCache
from storage.errors import ProjectError, StoppedError
from storage.maintenance import apply_retention
from storage.models import RunResult
from storage.store import MetricStore

__all__ = [
    "CheckOutcome",
    "Collector",
    "alert_policy",
    "build_reports",
    "collect_and_evaluate",
    "collect_cached",
    "collect_options",
    "default_collector",
    "delivery_policy",
    "evaluate_and_deliver",
    "flush_outbox",
    "maintenance",
    "prepare_notifications",
    "send_reports",
]

Collector = Callable[[Path, str, str], RunResult]
"""``collector(path, project, trigger) -> RunResult`` (the collect pipeline, or a test double)."""


def prepare_notifications(settings: Settings) -> None:
    """Check every route URL and register its secrets with the log masking.

    Called at the start of every command that may notify (collect, backfill, check, report,
    notify, scheduler), so that a URL Apprise cannot use stops it before any work is done,
    instead of queueing messages that can never be delivered.
    """
    validate_routes(list(settings.routes))
    install_log_masking([url for route in settings.routes for url in route.urls])


def alert_policy(settings: Settings) -> AlertPolicy:
    """Staleness, reminders and dashboard link from the settings."""
    n = settings.notify
    return AlertPolicy(
        stale=StalePolicy(after_runs=n.stale_after_runs, after_days=n.stale_after_days),
        reminder_hours=n.reminder_hours,
        dashboard_url=settings.dashboard.base_url,
    )


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    """Retries, backoff and circuit breakers from the settings."""
    n = settings.notify
    return DeliveryPolicy(
        max_attempts=n.max_attempts, backoff_base_s=n.backoff_base_s,
        backoff_max_s=n.backoff_max_s, breaker_threshold=n.breaker_threshold,
        breaker_cooldown_s=n.breaker_cooldown_s, max_age_hours=n.max_age_hours,
    )


def collect_options(settings: Settings) -> CollectOptions:
    """The collectors' options from ``settings.collect`` and the allowed roots.

    The one place settings become :class:`CollectOptions` (collect, backfill, check, scheduler).
    """
    c = settings.collect
    return CollectOptions(
        allowed_roots=tuple(settings.allowed_roots),
        concurrency=c.concurrency,
        timeout_s=c.timeout_s,
        excludes=tuple(c.excludes),
        ruff_select=tuple(c.ruff_select),
        mypy_args=tuple(c.mypy_args),
        bandit_skip_tests=c.bandit_skip_tests,
        coverage_file=c.coverage_file,
        coverage_run_tests=c.coverage_run_tests,
        coverage_test_args=tuple(c.coverage_test_args),
        complexity_limit=c.complexity_limit,
        executables={name: tuple(argv) for name, argv in c.executables.items()},
        cache_dir=(c.cache_dir or settings.db.parent / ".cache").resolve(),
    )


def collect_cached(
    settings: Settings,
    store: MetricStore,
    path: Path,
    *,
    project: str | None,
    tools: list[str] | None = None,
    trigger: str = "manual",
) -> RunResult:
    """Run the collect pipeline with the database's per-file cache (shared with backfill).

    Files unchanged since any earlier collect or backfill (same tool, version, configuration
    and content, and for ruff the same package layout) are served from the cache; the result
    is exactly that of an uncached collect. Collecting a stored commit again, a tool that fails
    this time keeps the results it had in the stored run (:mod:`collectors.earlier`).
    """
    options = collect_options(settings)
    root = resolve_project(path, options.allowed_roots)
    files = discover_files(root, options.excludes)
    if not files:
        # A wrong path (or an exclude that catches everything) must not pass as clean code.
        raise ProjectError(
            f"no Python files under {root}"
            + (f" outside collect.excludes {list(options.excludes)}" if options.excludes else "")
            + ": nothing to analyse"
        )
    store.ensure_schema()
    cache = StoredFileCache(BlobCache(store))
    cache.use_directory(root, files)
    result = collect(root, project=project or root.name, tools=list(tools or settings.collect.tools),
                     options=options, trigger=trigger, file_cache=cache)  # type: ignore[arg-type]
    # a tool failing on a commit it measured before keeps that measurement (and says so)
    return keep_earlier_results(store, result)


def default_collector(
    settings: Settings, store: MetricStore, tools: list[str] | None = None
) -> Collector:
    """The cached collect pipeline with options from the settings (``tools`` overrides the list)."""

    def collect_run(path: Path, project: str, trigger: str) -> RunResult:
        return collect_cached(settings, store, path, project=project, tools=tools, trigger=trigger)

    return collect_run


def flush_outbox(
    settings: Settings,
    store: MetricStore,
    *,
    message_ids: list[str] | None = None,
    now: datetime | None = None,
    sender: Sender = apprise_send,
) -> list[DeliveryOutcome]:
    """Deliver due outbox messages (or just ``message_ids``).

    A general flush (no ``message_ids``) first queues the reminders that are due, so that a
    gate that stays red is reminded of even when no run comes to evaluate it.
    """
    stamp = now or utc_now()
    if message_ids is None:
        queue_reminders(store, gates=list(settings.gates), routes=list(settings.routes),
                        policy=alert_policy(settings), now=stamp)
    notifier = Notifier(store, list(settings.routes), delivery_policy(settings),
                        clock=lambda: stamp, sender=sender)
    return notifier.flush(message_ids)


def evaluate_and_deliver(
    settings: Settings,
    store: MetricStore,
    run_id: str,
    *,
    now: datetime | None = None,
    sender: Sender = apprise_send,
) -> tuple[Evaluation, list[DeliveryOutcome]]:
    """Evaluate the gates on a stored run, then deliver the messages it queued right away."""
    stamp = now or utc_now()
    evaluation = evaluate_run(store, run_id, gates=list(settings.gates),
                              routes=list(settings.routes), policy=alert_policy(settings),
                              now=stamp)
    outcomes: list[DeliveryOutcome] = []
    if evaluation.message_ids:
        outcomes = flush_outbox(settings, store, message_ids=evaluation.message_ids,
                                now=stamp, sender=sender)
    return evaluation, outcomes


@dataclass(slots=True)
class CheckOutcome:
    """A collect (or latest run) plus its gate evaluation and deliveries."""

    run_id: str
    evaluation: Evaluation
    deliveries: list[DeliveryOutcome] = field(default_factory=list)


def collect_and_evaluate(
    settings: Settings,
    store: MetricStore,
    path: Path,
    project: str,
    *,
    trigger: str = "manual",
    collector: Collector | None = None,
    now: datetime | None = None,
    sender: Sender = apprise_send,
) -> CheckOutcome:
    """Collect ``path``, store the run, evaluate the gates and deliver the alerts."""
    run_collect = collector or default_collector(settings, store)
    result = run_collect(path, project, trigger)
    if processes_stopped():
        # A shutdown killed the analyzers: their results are cut short, not the project's.
        raise StoppedError(
            f"stopped while analysing {project!r}: the analyzers were killed, nothing stored"
        )
    run_id = store.append_run(result)
    evaluation, outcomes = evaluate_and_deliver(settings, store, run_id, now=now, sender=sender)
    return CheckOutcome(run_id, evaluation, outcomes)


def build_reports(
    store: MetricStore,
    projects: list[str] | None,
    *,
    period: Period,
    now: datetime,
    gates: Sequence[GateSpec] | None = None,
) -> list[ProjectReport]:
    """Reports of ``projects`` (every project in the store when None).

    With ``gates`` (the configured ones), a report shows only the states of gates that are
    configured for its project.
    """
    names = projects if projects is not None else project_names(store)
    known = set(project_names(store))
    missing = [p for p in names if p not in known]
    if missing:
        raise ProjectError(
            f"no runs of project {missing[0]!r} in the store (known: {', '.join(sorted(known)) or 'none'})"
        )
    return [
        build_report(store, p, period=period, now=now,
                     gate_ids=None if gates is None else {g.gate_id for g in gates if g.applies_to(p)},
                     gated_metrics={g.metric for g in gates or () if g.applies_to(p)})
        for p in names
    ]


def send_reports(
    settings: Settings,
    store: MetricStore,
    projects: list[str] | None,
    *,
    period: Period,
    now: datetime | None = None,
    sender: Sender = apprise_send,
) -> list[DeliveryOutcome]:
    """Queue the reports for every ``reports`` route, then deliver them."""
    stamp = now or utc_now()
    reports = build_reports(store, projects, period=period, now=stamp, gates=settings.gates)
    messages = report_messages(reports, list(settings.routes), base_url=settings.dashboard.base_url)
    ids = enqueue_messages(store, messages)
    if not ids:
        return []
    return flush_outbox(settings, store, message_ids=ids, now=stamp, sender=sender)


def maintenance(settings: Settings, store: MetricStore, *, now: datetime | None = None) -> int | None:
    """Daily housekeeping: apply retention when configured; return measures dropped.

    ``None`` when no retention is configured. Rollups are kept current on every append, so
    nothing needs recomputing here.
    """
    if settings.retention_days is None:
        store.ensure_schema()
        return None
    return apply_retention(store, max_age_days=settings.retention_days, now=now or utc_now())
