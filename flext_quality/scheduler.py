"""The scheduler: per-project collect, reports, maintenance and outbox delivery on ``schedule``.

Jobs come from the settings (:func:`build_jobs`). Every job runs guarded: a failure is logged
and recorded in ``job_runs`` and never stops the loop. A project's collect holds a
per-project file lock (``<db>.collect-<project>.lock``), so two runs of one project never
overlap, even across processes (``flext-quality collect`` from cron, a second scheduler):
a busy project's job is recorded as ``skipped``. A failed job is tried again every
``retry_minutes`` until it succeeds, as long as that comes before its next regular run (a busy
database at 02:30 must not cost a day's data). SIGTERM and SIGINT end the current job at once
(its analyzers are killed; a collect cut short stores nothing), then stop the loop.

Time is injectable: ``clock`` drives ``schedule`` itself (through :func:`schedule_clock`),
so tests simulate a week without sleeping. ``--once`` (:meth:`QualityScheduler.run_once`)
decides what is due from the last recorded run of each job, so it suits cron.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import functools
import hashlib
import logging
import os
import re
import signal
import threading
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import schedule

from alerts.masking import install_log_masking, mask_text
from alerts.notify import DeliveryOutcome, Sender, apprise_send
from collectors.runner import allow_processes, kill_all_processes
from flext_quality import jobs
from flext_quality.settings import Settings
from storage.alert_store import record_job_run
from storage.errors import FlextQualityError, StoppedError
from storage.store import MetricStore

__all__ = [
    "BusyError",
    "JobSpec",
    "QualityScheduler",
    "build_jobs",
    "project_lock",
    "schedule_clock",
    "scheduler_from_settings",
]

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_clock_lock = threading.Lock()


@contextlib.contextmanager
def schedule_clock(clock: Clock) -> Iterator[None]:
    """Make ``schedule`` read the time from ``clock`` inside this block."""

    class _ClockedDatetime(_dt.datetime):
        @classmethod
        def now(cls, tz: _dt.tzinfo | None = None) -> Any:
            return clock()

    shim = types.SimpleNamespace(**{k: getattr(_dt, k) for k in dir(_dt) if not k.startswith("__")})
    shim.datetime = _ClockedDatetime
    with _clock_lock:
        original = schedule.datetime  # type: ignore[attr-defined]
        schedule.datetime = shim  # type: ignore[attr-defined,assignment]
        try:
            yield
        finally:
            schedule.datetime = original  # type: ignore[attr-defined]


class BusyError(Exception):
    """The project's previous run still holds its lock."""


def lock_name(project: str) -> str:
    """A file-name part for ``project``: the name itself when it is safe as one, else a
    readable form plus a hash of the name (``team/api`` and ``team_api`` differ)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", project)[:80]
    if safe == project:
        return safe
    # "+" is never in a name kept as it is, so no project name can give this one
    return f"{safe}+{hashlib.sha256(project.encode('utf-8')).hexdigest()[:12]}"


@contextlib.contextmanager
def project_lock(db: Path, project: str) -> Iterator[None]:
    """Hold the per-project collect lock, or raise :class:`BusyError` at once."""
    path = Path(f"{db}.collect-{lock_name(project)}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(f"a run of project {project!r} is still in progress") from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# How long after its time a daily or weekly job that never ran is still due for `--once`.
_FIRST_SLOT_GRACE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job: what to run and when (every N minutes, daily at HH:MM, or weekly on a day)."""

    name: str
    run: Callable[[], object]
    every_minutes: int | None = None
    at: str | None = None
    day: str | None = None
    project: str | None = None

    def register(self, scheduler: schedule.Scheduler, wrapped: Callable[[], object]) -> None:
        """Add this job to ``scheduler``, calling ``wrapped``."""
        if self.every_minutes is not None:
            job = scheduler.every(self.every_minutes).minutes
        elif self.day in _WEEKDAYS:
            job = getattr(scheduler.every(), str(self.day)).at(self.at)
        else:
            job = scheduler.every().day.at(self.at)
        job.do(wrapped).tag(self.name)

    def last_slot(self, now: datetime) -> datetime | None:
        """The latest scheduled time at or before ``now`` (None for interval jobs)."""
        if self.every_minutes is not None or self.at is None:
            return None
        hour, minute = (int(p) for p in self.at.split(":"))
        slot = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if slot > now:
            slot -= timedelta(days=1)
        if self.day in _WEEKDAYS:
            back = (slot.weekday() - _WEEKDAYS.index(str(self.day))) % 7
            slot -= timedelta(days=back)
        return slot

    def due(
        self,
        now: datetime,
        last_run: datetime | None,
        *,
        last_failed: bool = False,
        retry_minutes: int = 0,
    ) -> bool:
        """Whether ``--once`` should run this job, given its last recorded start.

        A job whose last run failed is due again ``retry_minutes`` after it (0: no retry). A
        daily or weekly job that never ran is due only in the hour after its time, as the loop
        would run it: a first ``--once`` at 09:53 must not send the 10:05 report early (nor
        yesterday's), which would also take the day's report slot.
        """
        if last_run is None:
            slot = self.last_slot(now)
            return slot is None or now - slot < _FIRST_SLOT_GRACE
        if last_failed and self.retries(retry_minutes) and now - last_run >= timedelta(minutes=retry_minutes):
            return True
        if self.every_minutes is not None:
            return now - last_run >= timedelta(minutes=self.every_minutes)
        slot = self.last_slot(now)
        return slot is not None and last_run < slot

    def retries(self, retry_minutes: int) -> bool:
        """Whether a failure of this job is worth a retry before its next regular run."""
        if retry_minutes <= 0:
            return False
        return self.every_minutes is None or self.every_minutes > retry_minutes


def build_jobs(
    settings: Settings,
    store: MetricStore,
    *,
    collector: jobs.Collector | None = None,
    sender: Sender = apprise_send,
) -> list[JobSpec]:
    """The jobs the settings ask for: one collect per project, reports, maintenance, flush."""
    out: list[JobSpec] = []
    for project in settings.projects:
        def collect(p: Any = project) -> object:
            with project_lock(store.path, p.name):
                return jobs.collect_and_evaluate(
                    settings, store, p.path, p.name, trigger="scheduled",
                    collector=collector or jobs.default_collector(settings, store, p.tools),
                    sender=sender,
                )

        every = project.every_minutes if project.at is None else None
        out.append(JobSpec(f"collect:{project.name}", collect, every_minutes=every or (
            None if project.at else 60), at=project.at, project=project.name))
    sched = settings.scheduler
    out.append(JobSpec(
        "report",
        lambda: jobs.send_reports(settings, store, None, period=sched.report_period, sender=sender),
        at=sched.report_at, day=None if sched.report_day == "daily" else sched.report_day,
    ))
    out.append(JobSpec("maintenance", lambda: jobs.maintenance(settings, store),
                       at=sched.maintenance_at))
    out.append(JobSpec("flush", lambda: jobs.flush_outbox(settings, store, sender=sender),
                       every_minutes=sched.flush_every_minutes))
    return out


class QualityScheduler:
    """Runs :class:`JobSpec` jobs on a ``schedule.Scheduler`` with an injectable clock."""

    def __init__(
        self,
        store: MetricStore,
        job_specs: list[JobSpec],
        *,
        clock: Clock = datetime.now,
        secrets: set[str] | None = None,
        retry_minutes: int = 0,
    ) -> None:
        self.store = store
        self.jobs = job_specs
        self.clock = clock
        self.secrets = secrets or set()
        self.retry_minutes = retry_minutes
        self.stop_event = threading.Event()
        self.stopped_by: int | None = None  # the signal that stopped it, if any
        self.scheduler = schedule.Scheduler()
        with schedule_clock(clock):
            for spec in job_specs:
                spec.register(self.scheduler, functools.partial(self._run_scheduled, spec))

    def _run_scheduled(self, spec: JobSpec) -> None:
        """A regular run from the loop: a failure schedules retries, a success ends them."""
        status = self.run_job(spec)
        tag = f"retry:{spec.name}"
        if status != "failed":
            self.scheduler.clear(tag)
        elif spec.retries(self.retry_minutes) and not self.scheduler.get_jobs(tag):
            # Runs inside run_pending, so schedule already reads the injected clock.
            self.scheduler.every(self.retry_minutes).minutes.do(self._retry, spec).tag(tag)
            log.info("job %s will be tried again in %d min", spec.name, self.retry_minutes)

    def _retry(self, spec: JobSpec) -> object:
        """A retry: stop retrying on success, or when the regular run comes first."""
        if self.run_job(spec) != "failed":
            return schedule.CancelJob
        regular = [j.next_run for j in self.scheduler.get_jobs(spec.name) if j.next_run]
        if regular and min(regular) - self.clock() <= timedelta(minutes=self.retry_minutes):
            return schedule.CancelJob
        return None

    def run_job(self, spec: JobSpec) -> str:
        """Run one job guarded; record and return ``succeeded``, ``failed`` or ``skipped``."""
        if self.stop_event.is_set():
            return "skipped"
        started = self.clock()
        status, error, detail = "succeeded", None, None
        try:
            result = spec.run()
            error = _undelivered(result, self.secrets)
            detail = _detail(spec.name, result)
        except (BusyError, StoppedError) as busy:
            # busy: another run of the project holds it; stopped: a shutdown cut this one short
            status, error = "skipped", str(busy)
            log.info("job %s skipped: %s", spec.name, busy)
        except FlextQualityError as exc:
            # An expected error (a project path gone, a bad setting): one line, no traceback.
            status, error = "failed", mask_text(str(exc), self.secrets)
            log.error("job %s failed: %s", spec.name, error)
        except Exception as exc:
            status, error = "failed", mask_text(f"{type(exc).__name__}: {exc}", self.secrets)
            log.exception("job %s failed", spec.name)
        finished = self.clock()
        if status == "succeeded":
            log.info("job %s succeeded in %.1fs", spec.name, (finished - started).total_seconds())
            if error is not None:
                # The job ran; some messages did not go out (they stay in the outbox).
                log.warning("job %s: %s", spec.name, error)
        try:
            record_job_run(self.store, spec.name, started_at=started,
                           finished_at=finished, status=status, error=error, detail=detail)
        except FlextQualityError as error:
            # Recording is best effort: a busy database (or a stop while waiting for it, when
            # another writer holds it) must not stop the loop, nor fill the log with a traceback.
            log.warning("could not record the run of job %s (%s): %s", spec.name, status,
                        mask_text(str(error), self.secrets))
        except Exception:
            log.exception("could not record the run of job %s", spec.name)
        return status

    def run_pending(self) -> None:
        """Run the jobs that are due now (by the injected clock)."""
        with schedule_clock(self.clock):
            self.scheduler.run_pending()

    def next_run(self) -> datetime | None:
        """When the next job is due."""
        with schedule_clock(self.clock):
            return self.scheduler.get_next_run()

    @contextlib.contextmanager
    def _stopping_on_signals(self, enabled: bool) -> Iterator[None]:
        """SIGTERM and SIGINT end the running job at once and skip the ones after it.

        The running job's analyzers run in process groups of their own, which the signal does
        not reach: they are killed, so a collect cut short stores nothing (``skipped``)
        instead of the scheduler waiting for them or leaving them running.
        """
        previous: dict[signal.Signals, Any] = {}

        def stop(signum: int, _frame: object) -> None:
            self.stopped_by = signum
            self.stop_event.set()
            kill_all_processes()

        if enabled:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, stop)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            allow_processes()

    def _last_runs(self) -> dict[str, tuple[datetime, bool]]:
        """Each job's last recorded run (skipped ones aside): when it started, whether it failed."""
        return {
            str(name): (started, status == "failed") for name, started, status in self.store.fetch(
                "SELECT job, max(started_at), arg_max(status, started_at) FROM job_runs "
                "WHERE status <> 'skipped' GROUP BY job")
        } if self.store.path.exists() else {}

    def resume_retries(self) -> list[str]:
        """Retries of jobs whose last run failed before a restart, as if the loop had not stopped.

        The loop keeps its retries in memory: without this, a daily job that failed at 02:30
        and whose scheduler restarted at 02:35 would wait until the next day. Each retry is due
        ``retry_minutes`` after the failure (at once if that has passed), unless the job's
        regular run comes first. Returns the names of the jobs to retry.
        """
        if self.retry_minutes <= 0:
            return []
        last = self._last_runs()
        resumed = []
        with schedule_clock(self.clock):
            now = self.clock()
            for spec in self.jobs:
                started, failed = last.get(spec.name, (None, False))
                if started is None or not failed or not spec.retries(self.retry_minutes):
                    continue
                due = max(now, started + timedelta(minutes=self.retry_minutes))
                regular = [j.next_run for j in self.scheduler.get_jobs(spec.name) if j.next_run]
                if regular and min(regular) <= due:
                    continue
                job = self.scheduler.every(self.retry_minutes).minutes.do(self._retry, spec)
                job.tag(f"retry:{spec.name}")
                job.next_run = due  # the first try when the loop would have made it
                resumed.append(spec.name)
                log.info("job %s failed before the restart: tried again at %s", spec.name, f"{due:%H:%M}")
        return resumed

    def run_once(self, *, handle_signals: bool = False) -> dict[str, str]:
        """Run every job that is due by its last recorded run (``--once``); return statuses."""
        last = self._last_runs()
        now = self.clock()
        due = []
        for spec in self.jobs:
            started, failed = last.get(spec.name, (None, False))
            if spec.due(now, started, last_failed=failed, retry_minutes=self.retry_minutes):
                due.append(spec)
        with self._stopping_on_signals(handle_signals):
            return {s.name: self.run_job(s) for s in due}

    def run_forever(self, *, max_sleep_s: float = 30.0, handle_signals: bool = True) -> None:
        """Loop until SIGTERM/SIGINT (or :attr:`stop_event`), which end the running job at once."""
        log.info("scheduler started with %d job(s)", len(self.jobs))
        self.resume_retries()
        with self._stopping_on_signals(handle_signals):
            while not self.stop_event.is_set():
                self.run_pending()
                nxt = self.next_run()
                wait = max_sleep_s if nxt is None else (nxt - self.clock()).total_seconds()
                self.stop_event.wait(min(max(wait, 0.05), max_sleep_s))
        log.info("scheduler stopped")


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _detail(job: str, result: object) -> str | None:
    """What a job did, in a line for ``job_runs.detail``."""
    if isinstance(result, jobs.CheckOutcome):
        gates = result.evaluation.results
        red = len(result.evaluation.red)
        return f"run {result.run_id[:12]}: {_plural(len(gates), 'gate')}" + (f", {red} red" if red else "")
    if job == "maintenance":
        if isinstance(result, int):
            return f"retention: dropped {_plural(result, 'raw point')}"
        return "retention off (retention_days not set): nothing dropped"
    if isinstance(result, list):
        sent = [o for o in result if isinstance(o, DeliveryOutcome)]
        if not sent and job == "report":
            return "nothing to send: no 'reports' route, or today's report was queued already"
        if not sent:
            return "nothing to send"
        return f"{sum(o.ok for o in sent)} of {_plural(len(sent), 'message')} delivered"
    return None


def _undelivered(result: object, secrets: set[str]) -> str | None:
    """A note on the messages a job's deliveries left undelivered (None when all went out).

    Collect, report and flush jobs return their deliveries; a dead endpoint does not fail the
    job (the message waits in the outbox for a retry), but ``job_runs`` should say so.
    """
    outcomes = result.deliveries if isinstance(result, jobs.CheckOutcome) else result
    if not isinstance(outcomes, list):
        return None
    sent = [o for o in outcomes if isinstance(o, DeliveryOutcome)]
    missed = [o for o in sent if not o.ok]
    if not missed:
        return None
    first = missed[0]
    return mask_text(
        f"{len(missed)} of {len(sent)} deliveries not delivered (first: route {first.route}, "
        f"{first.endpoint}, {first.status}: {first.error or 'no reason given'})",
        secrets,
    )


def scheduler_from_settings(
    settings: Settings,
    store: MetricStore,
    *,
    collector: jobs.Collector | None = None,
    sender: Sender = apprise_send,
    clock: Clock = datetime.now,
) -> QualityScheduler:
    """A scheduler with the jobs of ``settings``; secrets of the routes are masked in logs."""
    secrets = install_log_masking([u for r in settings.routes for u in r.urls])
    specs = build_jobs(settings, store, collector=collector, sender=sender)
    return QualityScheduler(store, specs, clock=clock, secrets=secrets,
                            retry_minutes=settings.scheduler.retry_minutes)
