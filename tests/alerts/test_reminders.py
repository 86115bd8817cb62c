"""Reminders while a gate stays red, with or without new runs; and what they name.

A real loopback webhook receives the messages; time is injected, nothing sleeps.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alert_helpers import T0, HttpReceiver, RunMaker

from flext_quality import jobs
from flext_quality.settings import Settings
from storage import RunRecord, RunResult, ToolRunRecord
from storage.store import MetricStore


def _settings(db: Path, receiver: HttpReceiver, **notify: object) -> Settings:
    return Settings(
        db=db,
        gates=[{"metric": "ruff.issues", "max": 2}],
        routes=[{"purpose": "alerts", "name": "ops",
                 "urls": [f"json://127.0.0.1:{receiver.port}/hook"]}],
        notify={"reminder_hours": 6, **notify},
    )


def test_a_red_gate_is_reminded_of_by_the_flush_without_new_runs(
    store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver
) -> None:
    settings = _settings(store.path, http_receiver)
    run_id = make_run({"ruff.issues": 5}, at=T0)
    jobs.evaluate_and_deliver(settings, store, run_id, now=T0)
    assert len(http_receiver.requests) == 1  # the alert

    jobs.flush_outbox(settings, store, now=T0 + timedelta(hours=5))
    assert len(http_receiver.requests) == 1  # not due yet
    jobs.flush_outbox(settings, store, now=T0 + timedelta(hours=6))
    jobs.flush_outbox(settings, store, now=T0 + timedelta(hours=6, minutes=10))
    assert len(http_receiver.requests) == 2  # one reminder, not one per flush
    reminder = http_receiver.requests[1].json()
    assert reminder["title"] == "flext-quality: demo: STILL RED: ruff.issues max=2"
    assert "STILL RED: ruff.issues max=2" in reminder["message"]
    assert "value 5 vs threshold 2" in reminder["message"]
    jobs.flush_outbox(settings, store, now=T0 + timedelta(hours=12))
    assert len(http_receiver.requests) == 3  # every reminder_hours while red

    # green again: no more reminders
    green = make_run({"ruff.issues": 1}, at=T0 + timedelta(hours=13))
    jobs.evaluate_and_deliver(settings, store, green, now=T0 + timedelta(hours=13))
    assert "GREEN again" in http_receiver.requests[-1].json()["title"]
    count = len(http_receiver.requests)
    jobs.flush_outbox(settings, store, now=T0 + timedelta(hours=40))
    assert len(http_receiver.requests) == count


def test_no_reminders_unless_asked_or_for_gates_no_longer_configured(
    store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver
) -> None:
    settings = _settings(store.path, http_receiver)
    run_id = make_run({"ruff.issues": 5}, at=T0)
    jobs.evaluate_and_deliver(settings, store, run_id, now=T0)
    quiet = settings.notify.model_copy(update={"reminder_hours": None})
    never = settings.model_copy(update={"notify": quiet})
    jobs.flush_outbox(never, store, now=T0 + timedelta(days=3))
    removed = settings.model_copy(update={"gates": []})
    jobs.flush_outbox(removed, store, now=T0 + timedelta(days=3))
    assert len(http_receiver.requests) == 1


def test_a_reminder_names_the_commit_that_turned_it_red_and_the_value_before(
    store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver
) -> None:
    settings = _settings(store.path, http_receiver)
    for value, author in ((0, "Ada Lovelace"), (5, "Bob Breaker"), (5, "Carol Bystander")):
        at = T0 + timedelta(hours=make_run.count + 1)
        run_id = make_run({"ruff.issues": value}, at=at, author=author)
        jobs.evaluate_and_deliver(settings, store, run_id, now=at)
    # Carol's later run is evaluated when the reminder is due: it must not take the blame
    late = make_run({"ruff.issues": 5}, at=T0 + timedelta(hours=10), author="Carol Bystander")
    jobs.evaluate_and_deliver(settings, store, late, now=T0 + timedelta(hours=10))
    reminder = http_receiver.requests[-1].json()["message"]
    assert "STILL RED" in reminder
    assert "by Bob Breaker" in reminder and "002abcdef0" in reminder, reminder
    assert "previous 0" in reminder, reminder


def test_since_follows_a_run_replaced_by_a_retry(store: MetricStore, make_run: RunMaker,
                                                  http_receiver: HttpReceiver) -> None:
    settings = _settings(store.path, http_receiver)
    first = make_run({"ruff.issues": 5}, at=T0)
    jobs.evaluate_and_deliver(settings, store, first, now=T0)
    # the same commit collected again (a CI retry): a new run id replaces the first run
    stored = store.fetch("SELECT commit_sha FROM runs WHERE run_id = ?", [first])[0][0]
    retry = RunResult(
        RunRecord("demo-retry", "demo", T0, T0 + timedelta(seconds=5), "succeeded",
                  commit_sha=stored, committed_at=T0, author="Ada Lovelace"),
        tools=[ToolRunRecord("ruff", "succeeded")], measures={"ruff.issues": 5},
    )
    store.append_run(retry)
    jobs.evaluate_and_deliver(settings, store, "demo-retry", now=T0 + timedelta(minutes=5))
    assert store.fetch("SELECT run_id FROM runs") == [("demo-retry",)]
    assert store.fetch("SELECT state, since_run_id FROM alert_states") == [("fail", "demo-retry")]
    assert len(http_receiver.requests) == 1  # the retry is not a new violation


def test_a_stale_only_message_says_stale(store: MetricStore, make_run: RunMaker,
                                         http_receiver: HttpReceiver) -> None:
    settings = _settings(store.path, http_receiver, stale_after_runs=2)
    for hour in range(4):  # the metric stops being measured after the first run
        at = T0 + timedelta(hours=hour)
        run_id = make_run({"ruff.issues": 1} if hour == 0 else {"bandit.issues.high": 0}, at=at)
        jobs.evaluate_and_deliver(settings, store, run_id, now=at)
    titles = [r.json()["title"] for r in http_receiver.requests]
    assert titles == ["flext-quality: demo: STALE: ruff.issues max=2"], titles


def test_reminders_closer_than_a_minute_are_not_lost(
    store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver
) -> None:
    settings = _settings(store.path, http_receiver, reminder_hours=0.001)  # every 3.6 s
    run_id = make_run({"ruff.issues": 5}, at=T0)
    jobs.evaluate_and_deliver(settings, store, run_id, now=T0)
    for seconds in (4, 8, 12):  # three reminders inside one minute
        jobs.flush_outbox(settings, store, now=T0 + timedelta(seconds=seconds))
    assert len(http_receiver.requests) == 4
    (told,) = store.fetch("SELECT last_notified_at FROM alert_states")[0]
    assert told == T0 + timedelta(seconds=12)
