"""Alert state over runs: K consecutive failures, reminders, stale, recovery, old runs."""

from __future__ import annotations

from datetime import timedelta

from alert_helpers import T0, RunMaker

from alerts.config import GateSpec, RouteSpec
from alerts.evaluate import AlertPolicy, evaluate_run
from alerts.gates import StalePolicy
from storage.models import RunRecord, RunResult, ToolRunRecord
from storage.store import MetricStore


def _kinds(store: MetricStore, run_id: str, gates: list[GateSpec], policy: AlertPolicy, hours: float,
           routes: list[RouteSpec] | None = None):
    evaluation = evaluate_run(store, run_id, gates=gates, routes=routes or [], policy=policy,
                              now=T0 + timedelta(hours=hours))
    return [e.kind for e in evaluation.events], evaluation


def test_k_consecutive_failures_and_culprit_commit(store: MetricStore, make_run: RunMaker) -> None:
    gates = [GateSpec(metric="ruff.issues", max=10, consecutive=3)]
    policy = AlertPolicy()
    history = [5, 12, 4, 12, 13, 14, 15]  # one noisy run, then a real streak starting at run 4
    seen = []
    for hour, value in enumerate(history, start=1):
        run_id = make_run({"ruff.issues": value}, author=f"dev{hour}")
        kinds, evaluation = _kinds(store, run_id, gates, policy, hour)
        seen.append((kinds, evaluation.results[0].state, evaluation.results[0].raw_state))
    assert seen == [
        ([], "pass", "pass"), ([], "pass", "fail"), ([], "pass", "pass"),
        ([], "pass", "fail"), ([], "pass", "fail"), (["alert"], "fail", "fail"),
        ([], "fail", "fail"),
    ]
    alert = store.fetch("SELECT since_run_id, consecutive_failures FROM alert_states")
    assert alert == [("demo-run-006", 4)]


def test_alert_names_the_commit_that_started_the_streak(store: MetricStore, make_run: RunMaker) -> None:
    gates = [GateSpec(metric="ruff.issues", max=10, consecutive=2)]
    make_run({"ruff.issues": 1})
    first_bad = make_run({"ruff.issues": 20}, author="Streak Starter")
    evaluate_run(store, first_bad, gates=gates, routes=[], policy=AlertPolicy(), now=T0)
    second = make_run({"ruff.issues": 21}, author="Someone Else")
    evaluation = evaluate_run(store, second, gates=gates, routes=[], policy=AlertPolicy(), now=T0)
    (event,) = evaluation.events
    assert event.author == "Streak Starter" and event.commit_sha is not None
    assert event.commit_sha.startswith("002")


def test_reminders_at_the_interval_only(store: MetricStore, make_run: RunMaker) -> None:
    gates = [GateSpec(metric="bandit.issues.high", max=0)]
    policy = AlertPolicy(reminder_hours=6)
    routes = [RouteSpec(purpose="alerts", urls=["json://127.0.0.1:9/ops"])]  # queued, not sent
    kinds = []
    for hour in (0, 1, 5, 6, 7, 12, 13):
        run_id = make_run({"bandit.issues.high": 1}, at=T0 + timedelta(hours=hour))
        kinds.append(_kinds(store, run_id, gates, policy, hour, routes)[0])
    assert kinds == [["alert"], [], [], ["reminder"], [], ["reminder"], []]


def test_stale_is_its_own_alert_and_recovers(store: MetricStore, make_run: RunMaker) -> None:
    gates = [GateSpec(metric="coverage.line_percent", min=50)]
    policy = AlertPolicy(stale=StalePolicy(after_runs=2, after_days=30))
    sequence = [{"coverage.line_percent": 80}, {"ruff.issues": 1}, {"ruff.issues": 1},
                {"ruff.issues": 1}, {"coverage.line_percent": 81}]
    out = []
    for hour, measures in enumerate(sequence):
        kinds, evaluation = _kinds(store, make_run(measures), gates, policy, hour)
        out.append((kinds, evaluation.results[0].state))
    assert out == [([], "pass"), ([], "no_data"), (["stale"], "stale"), ([], "stale"),
                   (["recovery"], "pass")]


def test_an_older_run_does_not_move_the_state(store: MetricStore, make_run: RunMaker) -> None:
    gates = [GateSpec(metric="bandit.issues.high", max=0)]
    newest = make_run({"bandit.issues.high": 0}, at=T0 + timedelta(days=2))
    assert _kinds(store, newest, gates, AlertPolicy(), 0)[0] == []
    # backfill stores an old, failing commit afterwards: recorded, but no alert and no state change
    old = make_run({"bandit.issues.high": 5}, at=T0)
    kinds, evaluation = _kinds(store, old, gates, AlertPolicy(), 1)
    assert kinds == [] and evaluation.results[0].state == "fail"
    assert store.fetch("SELECT state, last_run_id FROM alert_states") == [("pass", newest)]
    assert store.fetch("SELECT count(*) FROM gate_results") == [(2,)]


def test_a_run_evaluated_again_counts_once(store: MetricStore, make_run: RunMaker) -> None:
    gates = [GateSpec(metric="ruff.issues", max=10, consecutive=2)]
    bad = make_run({"ruff.issues": 20})
    for hour in (1, 2, 3):  # e.g. `check --no-collect` run three times on the same run
        kinds, evaluation = _kinds(store, bad, gates, AlertPolicy(), hour)
        assert (kinds, evaluation.results[0].state) == ([], "pass")
    assert store.fetch("SELECT state, consecutive_failures FROM alert_states") == [("pass", 1)]
    kinds, _ = _kinds(store, make_run({"ruff.issues": 21}), gates, AlertPolicy(), 4)
    assert kinds == ["alert"]


def test_a_retry_of_the_same_commit_replaces_the_counted_run(store: MetricStore, make_run: RunMaker) -> None:
    gates = [GateSpec(metric="ruff.issues", max=10, consecutive=2)]
    first = make_run({"ruff.issues": 20}, author="Streak Starter")
    _kinds(store, first, gates, AlertPolicy(), 1)
    (sha,) = store.fetch("SELECT commit_sha FROM runs WHERE run_id = ?", [first])[0]
    # A CI retry collects the same commit again: a new run replaces the first one.
    when = T0 + timedelta(hours=1)
    retry = store.append_run(RunResult(
        RunRecord("demo-retry", "demo", when, when + timedelta(seconds=5), "succeeded",
                  commit_sha=sha, committed_at=when, author="Streak Starter"),
        tools=[ToolRunRecord("ruff", "succeeded")], measures={"ruff.issues": 22.0},
    ))
    kinds, evaluation = _kinds(store, retry, gates, AlertPolicy(), 2)
    assert (kinds, evaluation.results[0].state) == ([], "pass")  # still one failing commit
    assert store.fetch("SELECT run_id FROM gate_results") == [("demo-retry",)]  # no orphans
    kinds, evaluation = _kinds(store, make_run({"ruff.issues": 23}), gates, AlertPolicy(), 3)
    assert kinds == ["alert"]
    (event,) = evaluation.events
    assert event.commit_sha == sha and event.author == "Streak Starter"


def test_a_backfilled_history_moves_the_state_quietly_and_the_newest_run_tells(
    store: MetricStore, make_run: RunMaker
) -> None:
    gates = [GateSpec(metric="mypy.errors", max=0, consecutive=2)]
    routes = [RouteSpec(purpose="alerts", urls=["json://127.0.0.1:9/ops"])]
    # A backfill stores the commits first, then evaluates them oldest first.
    values = [0, 3, 4, 5, 6]
    run_ids = [make_run({"mypy.errors": v}, author=f"dev{i}") for i, v in enumerate(values)]
    told = [_kinds(store, r, gates, AlertPolicy(), 100, routes)[0] for r in run_ids]
    assert told == [[], [], [], [], ["alert"]]  # one alert, by the newest run only
    [(state, since, since_run, failures, notified, streak)] = store.fetch(
        "SELECT state, since, since_run_id, consecutive_failures, last_notified_at, streak_run_id "
        "FROM alert_states")
    assert (state, failures) == ("fail", 4)  # every failing commit of the history counts
    # red since the commit of the second failing run (consecutive = 2), not the evaluation time
    assert since_run == run_ids[2] and since == T0 + timedelta(hours=3)
    assert streak == run_ids[1] and notified == T0 + timedelta(hours=100)
    shown = store.fetch("SELECT state FROM gate_results ORDER BY evaluated_at, run_id")
    assert [s for (s,) in shown] == ["pass", "pass", "fail", "fail", "fail"]


def test_last_alert_time_stays_empty_when_no_route_takes_the_alert(
    store: MetricStore, make_run: RunMaker
) -> None:
    gates = [GateSpec(metric="mypy.errors", max=0)]
    kinds, _ = _kinds(store, make_run({"mypy.errors": 2}), gates, AlertPolicy(), 1)
    assert kinds == ["alert"]  # the state went red...
    assert store.fetch("SELECT state, last_notified_at FROM alert_states") == [("fail", None)]
    assert store.fetch("SELECT count(*) FROM outbox") == [(0,)]  # ...but nothing was sent
