"""Gate evaluation on real stored runs: absolute, relative, tolerance, no data, stale."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from alert_helpers import T0, RunMaker
from pydantic import ValidationError

from alerts.config import GateSpec, RouteSpec, route_names
from alerts.gates import StalePolicy, evaluate_gate, reference_requests
from alerts.notify import validate_routes
from storage.alert_store import load_run_context
from storage.errors import NotifyError
from storage.store import MetricStore


def _evaluate(store: MetricStore, run_id: str, gate: GateSpec, policy: StalePolicy | None = None):
    metrics, days, bases = reference_requests([gate])
    ctx = load_run_context(store, run_id, metrics=metrics, day_offsets=days, baselines=bases)
    assert ctx is not None
    return evaluate_gate(gate, ctx, policy or StalePolicy())


# (gate, history of the metric, expected state of the last run, expected threshold)
CASES: list[tuple[dict[str, Any], list[float], str, float | None]] = [
    ({"metric": "bandit.issues.high", "max": 0}, [0], "pass", 0),
    ({"metric": "bandit.issues.high", "max": 0}, [1], "fail", 0),
    ({"metric": "coverage.line_percent", "min": 80}, [79.9], "fail", 80),
    ({"metric": "coverage.line_percent", "min": 80, "tolerance": 0.5}, [79.9], "pass", 80),
    ({"metric": "ruff.issues", "max_increase": 10}, [100, 110], "pass", 110),
    ({"metric": "ruff.issues", "max_increase": 10}, [100, 111], "fail", 110),
    ({"metric": "ruff.issues", "max_increase_percent": 5}, [200, 211], "fail", 210),
    ({"metric": "ruff.issues", "max_increase_percent": 5}, [200, 209], "pass", 210),
    ({"metric": "coverage.line_percent", "max_decrease": 1}, [90, 88.5], "fail", 89),
    # worsening takes its direction from the catalogue: score aims high, ruff issues low
    ({"metric": "quality.score", "max_worsening": 2}, [80, 77], "fail", 78),
    ({"metric": "quality.score", "max_worsening": 2}, [80, 95], "pass", 78),
    ({"metric": "ruff.issues", "max_worsening": 0}, [50, 49], "pass", 50),
    ({"metric": "ruff.issues", "max_worsening": 0}, [50, 51], "fail", 50),
    # against the baseline (default: the project's first run) rather than the previous run
    ({"metric": "ruff.issues", "max_increase": 5, "against": "baseline"}, [10, 14, 16], "fail", 15),
    ({"metric": "ruff.issues", "max_increase": 5}, [10, 14, 16], "pass", 19),
    # relative gate on the first run: nothing to compare with yet
    ({"metric": "ruff.issues", "max_increase": 5}, [10], "no_data", None),
]


@pytest.mark.parametrize(("spec", "history", "state", "threshold"), CASES)
def test_gate_cases(
    store: MetricStore, make_run: RunMaker, spec: dict[str, Any], history: list[float],
    state: str, threshold: float | None,
) -> None:
    gate = GateSpec(**spec)
    run_id = ""
    for value in history:
        run_id = make_run({gate.metric: value})
    outcome = _evaluate(store, run_id, gate)
    assert outcome.state == state, outcome.detail
    assert outcome.threshold == (pytest.approx(threshold) if threshold is not None else None)
    assert outcome.value == history[-1]
    assert gate.metric in outcome.detail


def test_against_days_uses_value_from_before_the_window(store: MetricStore, make_run: RunMaker) -> None:
    gate = GateSpec(metric="ruff.issues", max_increase=3, against="7d")
    make_run({"ruff.issues": 10}, at=T0)
    make_run({"ruff.issues": 100}, at=T0 + timedelta(days=5))  # inside the window: ignored
    last = make_run({"ruff.issues": 14}, at=T0 + timedelta(days=8))
    outcome = _evaluate(store, last, gate)
    assert outcome.reference_value == 10
    assert outcome.state == "fail"


def test_pinned_baseline_run(store: MetricStore, make_run: RunMaker) -> None:
    make_run({"ruff.issues": 10})
    pinned = make_run({"ruff.issues": 30})
    last = make_run({"ruff.issues": 33})
    gate = GateSpec(metric="ruff.issues", max_increase=5, against="baseline", baseline_run=pinned)
    outcome = _evaluate(store, last, gate)
    assert (outcome.reference_value, outcome.reference_run_id, outcome.state) == (30, pinned, "pass")


def test_missing_metric_is_no_data_then_stale_by_runs(store: MetricStore, make_run: RunMaker) -> None:
    gate = GateSpec(metric="coverage.line_percent", min=50)
    make_run({"coverage.line_percent": 70, "ruff.issues": 1})
    policy = StalePolicy(after_runs=3, after_days=365)
    states = []
    for _ in range(3):
        run_id = make_run({"ruff.issues": 1})
        states.append(_evaluate(store, run_id, gate, policy).state)
    assert states == ["no_data", "no_data", "stale"]


def test_stale_by_days(store: MetricStore, make_run: RunMaker) -> None:
    gate = GateSpec(metric="coverage.line_percent", min=50)
    make_run({"coverage.line_percent": 70}, at=T0)
    run_id = make_run({"ruff.issues": 1}, at=T0 + timedelta(days=20))
    outcome = _evaluate(store, run_id, gate, StalePolicy(after_runs=10, after_days=14))
    assert outcome.state == "stale"
    assert "not reported" in outcome.detail


def test_never_reported_metric_is_no_data_not_stale(store: MetricStore, make_run: RunMaker) -> None:
    run_id = make_run({"ruff.issues": 1})
    outcome = _evaluate(store, run_id, GateSpec(metric="mypy.errors", max=0))
    assert outcome.state == "no_data"
    assert "never reported" in outcome.detail


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"metric": "ruff.issues"}, "needs one of"),
        ({"metric": "ruff.issues", "max": 1, "against": "lastweek"}, "'previous', 'baseline'"),
        ({"metric": "ruff.issues", "max": 1, "consecutive": 0}, "greater than or equal to 1"),
        ({"metric": "ruff.issues", "max": 1, "colour": "red"}, "Extra inputs"),
    ],
)
def test_gate_config_errors_are_clear(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        GateSpec(**spec)
    assert fragment in str(info.value)


def test_gate_ids_are_stable_and_projects_filter() -> None:
    gate = GateSpec(metric="ruff.issues", max_increase=10, projects=["back*"])
    assert gate.gate_id == "ruff.issues max_increase=10 against=previous"
    assert GateSpec(metric="x", max=1, name="custom").gate_id == "custom"
    assert gate.applies_to("backend") and not gate.applies_to("frontend")


def test_route_validation_masks_the_url() -> None:
    routes = [RouteSpec(purpose="alerts", urls=["nosuchscheme://user:hunter2secret@host/x"])]
    with pytest.raises(NotifyError) as info:
        validate_routes(routes)
    assert "hunter2secret" not in str(info.value)
    assert "routes.0.urls.0=" in str(info.value)
    assert route_names([RouteSpec(purpose="alerts", urls=["json://h"]),
                        RouteSpec(purpose="reports", urls=["json://h"]),
                        RouteSpec(purpose="alerts", urls=["json://h"], name="ops")]) == [
        "alerts-1", "reports-1", "ops"]
