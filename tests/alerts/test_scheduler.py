"""The scheduler over simulated time (injected clock, no sleeping)."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alert_helpers import CATALOGUE, T0, HttpReceiver

from flext_quality.scheduler import (
    BusyError,
    JobSpec,
    QualityScheduler,
    build_jobs,
    lock_name,
    project_lock,
)
from flext_quality.settings import Settings
from storage import RunRecord, RunResult
from storage.connection import allow_waiting, stop_waiting
from storage.errors import FlextQualityError, StoppedError
from storage.store import MetricStore


class FakeClock:
    """A settable wall clock."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _collector(clock: FakeClock, calls: list[str]):
    def collect(path: Path, project: str, trigger: str) -> RunResult:
        calls.append(project)
        if project == "broken":
            raise RuntimeError("analyzer exploded")
        n = len(calls)
        return RunResult(
            RunRecord(f"{project}-{n}", project, clock.now, clock.now, "succeeded", trigger="scheduled"),
            measures={"quality.score": 80 + n % 5}, catalogue=CATALOGUE,
        )

    return collect


def _simulate(sched: QualityScheduler, clock: FakeClock, end: datetime) -> None:
    while True:
        nxt = sched.next_run()
        if nxt is None or nxt >= end:
            break
        clock.now = nxt
        sched.run_pending()


def test_a_simulated_week(store: MetricStore, tmp_path: Path, http_receiver: HttpReceiver) -> None:
    clock = FakeClock(T0.replace(hour=0))  # Monday 00:00
    settings = Settings(
        db=store.path,
        allowed_roots=[tmp_path],
        projects=[
            {"name": "app", "path": tmp_path, "every_minutes": 360},
            {"name": "broken", "path": tmp_path, "at": "02:30"},
        ],
        scheduler={"report_day": "monday", "report_at": "09:00", "maintenance_at": "03:00",
                   "flush_every_minutes": 240},
        routes=[{"purpose": "reports", "urls": [f"json://127.0.0.1:{http_receiver.port}/r"]}],
    )
    calls: list[str] = []
    specs = build_jobs(settings, store, collector=_collector(clock, calls))
    sched = QualityScheduler(store, specs, clock=clock)
    _simulate(sched, clock, clock.now + timedelta(days=7))
    counts = {(job, status): n for job, status, n in store.fetch(
        "SELECT job, status, count(*) FROM job_runs GROUP BY ALL")}
    assert counts == {
        ("collect:app", "succeeded"): 27,  # every 6 h: 06:00 ... Sunday 18:00
        ("collect:broken", "failed"): 7,  # daily 02:30, raises every time
        ("report", "succeeded"): 1,  # Monday 09:00
        ("maintenance", "succeeded"): 7,  # daily 03:00
        ("flush", "succeeded"): 41,  # every 4 h
    }
    assert calls.count("app") == 27 and calls.count("broken") == 7
    assert store.fetch("SELECT count(*) FROM runs WHERE project = 'app'") == [(27,)]
    errors = store.fetch("SELECT DISTINCT error FROM job_runs WHERE status = 'failed'")
    assert errors == [("RuntimeError: analyzer exploded",)]
    # the weekly report went out once, on Monday at 09:00
    assert len(http_receiver.requests) == 1
    assert "weekly report: app" in http_receiver.requests[0].json()["title"]
    started = store.fetch("SELECT started_at FROM job_runs WHERE job = 'report'")[0][0]
    assert (started.weekday(), started.hour, started.minute) == (0, 9, 0)
    # each job says what it did
    details = dict(store.fetch(
        "SELECT job, detail FROM job_runs WHERE status = 'succeeded' QUALIFY "
        "row_number() OVER (PARTITION BY job ORDER BY started_at) = 1"))
    assert details["collect:app"] == "run app-2: 0 gates"  # no gates configured (broken ran first)
    assert details["maintenance"] == "retention off (retention_days not set): nothing dropped"
    assert details["report"] == "1 of 1 message delivered"
    assert details["flush"] == "nothing to send"
    assert store.fetch("SELECT detail FROM job_runs WHERE status = 'failed' LIMIT 1") == [(None,)]


def test_a_busy_project_is_skipped_not_overlapped(store: MetricStore, tmp_path: Path) -> None:
    clock = FakeClock(T0)
    calls: list[str] = []
    settings = Settings(db=store.path, allowed_roots=[tmp_path],
                        projects=[{"name": "app", "path": tmp_path, "every_minutes": 10}])
    specs = [s for s in build_jobs(settings, store, collector=_collector(clock, calls))
             if s.name == "collect:app"]
    sched = QualityScheduler(store, specs, clock=clock)
    with project_lock(store.path, "app"):  # another process is collecting "app"
        assert sched.run_job(specs[0]) == "skipped"
    assert calls == []
    assert sched.run_job(specs[0]) == "succeeded"
    assert calls == ["app"]
    assert store.fetch("SELECT status FROM job_runs ORDER BY started_at, status") == [
        ("skipped",), ("succeeded",)]


def test_projects_whose_names_differ_only_in_odd_characters_have_their_own_locks(tmp_path: Path) -> None:
    db = tmp_path / "q.duckdb"
    with (project_lock(db, "team/api"), project_lock(db, "team_api"), project_lock(db, "team api"),
          pytest.raises(BusyError), project_lock(db, "team/api")):  # the same project is still busy
        pass
    assert len(list(tmp_path.glob("q.duckdb.collect-*.lock"))) == 3
    # a name spelt like another's lock name is still its own project
    crafted = lock_name("team/api").replace("+", "-")
    with project_lock(db, "team/api"), project_lock(db, crafted), project_lock(db, lock_name("team/api")):
        pass
    with project_lock(db, "x" * 300):  # a long name still makes a file name the system takes
        pass


def test_once_runs_what_is_due_by_the_recorded_history(store: MetricStore) -> None:
    clock = FakeClock(datetime(2026, 3, 4, 10, 0))  # a Wednesday
    ran: list[str] = []
    specs = [
        JobSpec("flush", lambda: ran.append("flush"), every_minutes=5),
        JobSpec("maintenance", lambda: ran.append("maintenance"), at="03:00"),
        JobSpec("report", lambda: ran.append("report"), at="09:00", day="monday"),
    ]
    sched = QualityScheduler(store, specs, clock=clock)
    # Nothing recorded yet: the interval job runs; the daily and weekly ones wait for their
    # time, as the loop would (a first cron run must not send Monday's report on a Wednesday)
    assert set(sched.run_once()) == {"flush"}
    clock.now += timedelta(minutes=1)
    assert sched.run_once() == {}
    clock.now += timedelta(minutes=5)
    assert sched.run_once() == {"flush": "succeeded"}
    clock.now = datetime(2026, 3, 5, 3, 30)  # Thursday after 03:00: its first slot
    assert set(sched.run_once()) == {"flush", "maintenance"}
    clock.now = datetime(2026, 3, 9, 9, 1)  # next Monday after 09:00
    assert set(sched.run_once()) == {"flush", "maintenance", "report"}  # a missed 03:00 caught up
    assert ran.count("report") == 1 and ran.count("maintenance") == 2


def test_last_slot_of_weekly_and_daily_jobs() -> None:
    weekly = JobSpec("r", lambda: None, at="09:00", day="monday")
    assert weekly.last_slot(datetime(2026, 3, 4, 8, 0)) == datetime(2026, 3, 2, 9, 0)
    assert weekly.last_slot(datetime(2026, 3, 2, 8, 59)) == datetime(2026, 2, 23, 9, 0)
    daily = JobSpec("m", lambda: None, at="03:00")
    assert daily.last_slot(datetime(2026, 3, 4, 2, 0)) == datetime(2026, 3, 3, 3, 0)


def test_sigterm_stops_after_the_current_job(store: MetricStore) -> None:
    clock = FakeClock(T0)
    ran: list[str] = []

    def first() -> None:
        ran.append("first")
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while this job runs
        ran.append("first finished")

    specs = [JobSpec("first", first, every_minutes=1), JobSpec("second", lambda: ran.append("second"),
                                                                every_minutes=1)]
    sched = QualityScheduler(store, specs, clock=clock)
    before = signal.getsignal(signal.SIGTERM)
    clock.now += timedelta(minutes=1)  # both due
    sched.run_forever(max_sleep_s=0.01)
    assert ran == ["first", "first finished"]
    assert signal.getsignal(signal.SIGTERM) == before
    assert store.fetch("SELECT job, status FROM job_runs") == [("first", "succeeded")]


def test_a_project_path_gone_fails_its_job_with_one_line(
    store: MetricStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)
    gone = tmp_path / "moved-away"
    settings = Settings(db=store.path, allowed_roots=[tmp_path],
                        projects=[{"name": "app", "path": gone, "every_minutes": 10}])
    specs = [s for s in build_jobs(settings, store) if s.name == "collect:app"]
    sched = QualityScheduler(store, specs, clock=clock)
    with caplog.at_level(logging.ERROR, logger="flext_quality.scheduler"):
        assert sched.run_job(specs[0]) == "failed"
    [record] = caplog.records
    assert record.exc_info is None  # an expected error: no traceback in cron mail
    assert record.getMessage().startswith("job collect:app failed: ") and str(gone) in record.getMessage()
    [(status, error)] = store.fetch("SELECT status, error FROM job_runs")
    assert status == "failed" and str(gone) in error


def test_each_finished_job_is_one_info_line_with_its_duration(
    store: MetricStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)

    def slow() -> None:
        clock.now += timedelta(seconds=90)

    spec = JobSpec("flush", slow, every_minutes=5)
    sched = QualityScheduler(store, [spec], clock=clock)
    with caplog.at_level(logging.INFO, logger="flext_quality.scheduler"):
        assert sched.run_job(spec) == "succeeded"
    assert [r.getMessage() for r in caplog.records] == ["job flush succeeded in 90.0s"]
    assert store.fetch("SELECT job, status FROM job_runs") == [("flush", "succeeded")]


def test_a_failed_job_is_retried_until_it_succeeds_before_its_next_run(store: MetricStore) -> None:
    clock = FakeClock(datetime(2026, 3, 4, 1, 0))
    outcomes = iter([False, False, True])  # busy, busy, then it works

    def nightly() -> None:
        if not next(outcomes):
            raise FlextQualityError("the database is busy")

    spec = JobSpec("collect:app", nightly, at="02:30", project="app")
    sched = QualityScheduler(store, [spec], clock=clock, retry_minutes=10)
    _simulate(sched, clock, datetime(2026, 3, 5, 2, 0))
    rows = store.fetch("SELECT started_at, status FROM job_runs ORDER BY started_at")
    assert rows == [
        (datetime(2026, 3, 4, 2, 30), "failed"),
        (datetime(2026, 3, 4, 2, 40), "failed"),
        (datetime(2026, 3, 4, 2, 50), "succeeded"),
    ]
    assert sched.next_run() == datetime(2026, 3, 5, 2, 30)  # the retries ended with the success


def test_a_restarted_loop_retries_what_failed_before_it_stopped(store: MetricStore) -> None:
    outcomes = iter([False, True])  # busy at 02:30; works at the retry

    def nightly() -> None:
        if not next(outcomes):
            raise FlextQualityError("the database is busy")

    spec = JobSpec("collect:app", nightly, at="02:30", project="app")
    clock = FakeClock(datetime(2026, 3, 4, 2, 0))
    first = QualityScheduler(store, [spec], clock=clock, retry_minutes=10)
    _simulate(first, clock, datetime(2026, 3, 4, 2, 31))  # failed at 02:30, then a restart
    clock.now = datetime(2026, 3, 4, 2, 35)
    second = QualityScheduler(store, [spec], clock=clock, retry_minutes=10)
    assert second.resume_retries() == ["collect:app"]
    assert second.next_run() == datetime(2026, 3, 4, 2, 40)  # as the first loop would have
    _simulate(second, clock, datetime(2026, 3, 5, 2, 0))
    assert store.fetch("SELECT started_at, status FROM job_runs ORDER BY started_at") == [
        (datetime(2026, 3, 4, 2, 30), "failed"), (datetime(2026, 3, 4, 2, 40), "succeeded")]
    assert second.next_run() == datetime(2026, 3, 5, 2, 30)
    # a job whose regular run comes before the retry, or that succeeded last, is left alone
    assert QualityScheduler(store, [spec], clock=clock, retry_minutes=10).resume_retries() == []


def test_retries_stop_when_the_regular_run_comes_first(store: MetricStore) -> None:
    clock = FakeClock(datetime(2026, 3, 4, 0, 0))

    def broken() -> None:
        raise RuntimeError("still broken")

    hourly = JobSpec("collect:app", broken, every_minutes=60, project="app")
    often = JobSpec("flush", broken, every_minutes=5)  # its own interval is shorter: no retries
    sched = QualityScheduler(store, [hourly, often], clock=clock, retry_minutes=25)
    _simulate(sched, clock, datetime(2026, 3, 4, 2, 1))
    starts = [t.strftime("%H:%M") for (t,) in store.fetch(
        "SELECT started_at FROM job_runs WHERE job = 'collect:app' ORDER BY started_at")]
    # regular runs at 01:00 and 02:00; retries at 01:25 and 01:50, none closer than 25 min to 02:00
    assert starts == ["01:00", "01:25", "01:50", "02:00"]
    assert store.fetch("SELECT count(*) FROM job_runs WHERE job = 'flush'") == [(24,)]


def test_once_retries_a_failed_job_after_the_retry_delay(store: MetricStore) -> None:
    clock = FakeClock(datetime(2026, 3, 4, 2, 31))
    results = iter([RuntimeError("busy"), None])

    def nightly() -> None:
        error = next(results)
        if error:
            raise error

    spec = JobSpec("maintenance", nightly, at="02:30")
    sched = QualityScheduler(store, [spec], clock=clock, retry_minutes=10)
    assert sched.run_once() == {"maintenance": "failed"}
    clock.now += timedelta(minutes=9)
    assert sched.run_once() == {}
    clock.now += timedelta(minutes=1)
    assert sched.run_once() == {"maintenance": "succeeded"}
    clock.now += timedelta(minutes=30)
    assert sched.run_once() == {}  # succeeded: nothing until tomorrow's 02:30
    without = QualityScheduler(store, [spec], clock=clock, retry_minutes=0)
    store_failed = "INSERT INTO job_run_record VALUES ('maintenance', ?, ?, 'failed', 'x', NULL)"
    with store.transaction() as con:
        con.execute(store_failed, [clock.now, clock.now])
    clock.now += timedelta(hours=2)
    assert without.run_once() == {}


def test_the_retry_delay_is_a_setting() -> None:
    assert Settings().scheduler.retry_minutes == 10
    with pytest.raises(ValueError, match="retry_minutes"):
        Settings(scheduler={"retry_minutes": -1})


def test_a_job_whose_messages_did_not_go_out_says_so(
    store: MetricStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a local port nobody listens on: the endpoint is down
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    clock = FakeClock(T0)
    settings = Settings(
        db=store.path,
        routes=[{"purpose": "reports", "name": "team", "urls": [f"json://127.0.0.1:{dead}/r"]}],
        notify={"max_attempts": 3},
    )
    store.append_run(RunResult(RunRecord("r1", "app", T0, T0, "succeeded"),
                               measures={"quality.score": 80}, catalogue=CATALOGUE))
    [report] = [s for s in build_jobs(settings, store) if s.name == "report"]
    sched = QualityScheduler(store, [report], clock=clock)
    with caplog.at_level(logging.WARNING, logger="flext_quality.scheduler"):
        assert sched.run_job(report) == "succeeded"  # it ran; the message waits for a retry
    [(status, error)] = store.fetch("SELECT status, error FROM job_runs")
    assert status == "succeeded"
    assert error.startswith("1 of 1 deliveries not delivered (first: route team, json://127.0.0.1:")
    # (log records pass the process-wide secret masking, which other tests may have fed)
    [note] = [r.getMessage() for r in caplog.records if r.name == "flext_quality.scheduler"]
    assert note.startswith("job report: 1 of 1 deliveries not delivered (first: route team, json://")
    assert store.fetch("SELECT status FROM outbox") == [("pending",)]


def test_the_maintenance_job_records_how_many_points_retention_dropped(store: MetricStore) -> None:
    old = datetime(2026, 1, 5, 12, 0)
    for day in range(3):  # three runs of 2 measures, the newest kept as the project's newest run
        when = old + timedelta(days=day)
        store.append_run(RunResult(
            RunRecord(f"r{day}", "app", when, when, "succeeded", commit_sha=f"{day:040x}", committed_at=when),
            measures={"a": 1.0 + day, "b": 2.0}, catalogue=CATALOGUE))
    clock = FakeClock(datetime(2026, 6, 1, 3, 0))
    settings = Settings(db=store.path, retention_days=30)
    spec = next(s for s in build_jobs(settings, store) if s.name == "maintenance")
    assert QualityScheduler(store, [spec], clock=clock).run_job(spec) == "succeeded"
    assert store.fetch("SELECT count(*) FROM measures") == [(2,)]  # the newest run's two
    assert store.fetch("SELECT detail FROM job_runs") == [("retention: dropped 4 raw points",)]


def test_a_job_stopped_while_another_writer_holds_the_database_is_one_log_line(
    store: MetricStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.ensure_schema()
    holder = os.open(f"{store.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another writer holds the database
    stop_waiting()  # the scheduler's SIGTERM: every wait for the database ends at once

    def waiting_job() -> None:
        raise StoppedError(f"stopped while waiting for database {store.path}: nothing was written")

    spec = JobSpec("collect:app", waiting_job, every_minutes=5, project="app")
    try:
        with caplog.at_level(logging.INFO, logger="flext_quality.scheduler"):
            assert QualityScheduler(store, [spec], clock=FakeClock(T0)).run_job(spec) == "skipped"
    finally:
        allow_waiting()
        os.close(holder)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelno for r in warnings] == [logging.WARNING] and warnings[0].exc_info is None
    assert warnings[0].getMessage().startswith("could not record the run of job collect:app (skipped): "
                                               "stopped while waiting for database")
