"""Evaluation after a stored run: gate results, alert state changes, and the messages they cause.

The alert state per (project, gate) lives in the database. A run moves it like this:

* a failing run counts towards ``consecutive``; the gate turns red (one *alert*) when the
  count reaches it and the gate was not red already;
* a passing run turns a red or stale gate green (one *recovery*);
* a metric missing for too long turns the gate *stale* (its own alert, never a silent pass);
* a run without the metric but not yet stale leaves the state alone (``no_data``);
* while red, an optional *reminder* every ``reminder_hours``.

Results, the new states and the grouped messages are written in one transaction, so a
restart never sends an alert twice; each message's dedup key names the violation it reports.
Runs are taken in commit order: a backfill's older runs move the state quietly (so a streak
counts every failing commit and ``since`` is the commit that changed it); only the project's
newest run announces, comparing the state with what was last told (``announced_state``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from alerts.config import GateSpec, RouteSpec
from alerts.gates import GateOutcome, StalePolicy, evaluate_gate, reference_requests
from alerts.messages import AlertEvent, alert_messages
from storage.alert_store import (
    AlertStateRow,
    GateResultRow,
    load_run_context,
    run_summary,
    save_evaluation,
)
from storage.errors import StoreError
from storage.queries import previous_run
from storage.store import MetricStore

__all__ = ["AlertPolicy", "Evaluation", "advance", "build_event", "evaluate_run"]


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """How alerts behave: staleness, reminders, and the dashboard link."""

    stale: StalePolicy = field(default_factory=StalePolicy)
    reminder_hours: float | None = None
    dashboard_url: str | None = None


@dataclass(slots=True)
class Evaluation:
    """What evaluating one run produced."""

    run_id: str
    project: str
    results: list[GateResultRow]
    events: list[AlertEvent]
    message_ids: list[str]

    @property
    def red(self) -> list[GateResultRow]:
        """Gates that are red (failing or stale) after this run."""
        return [r for r in self.results if r.state in ("fail", "stale")]


def advance(
    prev: AlertStateRow | None,
    outcome: GateOutcome,
    gate: GateSpec,
    *,
    project: str,
    run_id: str,
    point_ts: datetime,
    now: datetime,
    reminder_hours: float | None,
    repeat: bool = False,
    announce: bool = True,
) -> tuple[AlertStateRow, str, str | None]:
    """The next alert state, the smoothed result state, and the event kind (or None).

    ``repeat`` says this run was counted already: the same run evaluated again, or a new run
    of the same commit that replaced the one counted (a CI retry). It does not lengthen a
    failing streak, so ``consecutive`` counts each run once.

    ``announce`` is False for a run that is not the project's newest (a backfill walking its
    history): the state moves, so streaks and ``since`` follow the commits, but nothing is
    told. The newest run then tells what changed since the last announcement.
    """
    base = prev or AlertStateRow(project, gate.gate_id, "no_data", None, None, 0, None, None,
                                 None, now)
    moved = replace(base, last_run_id=run_id, last_point_ts=point_ts, updated_at=now)
    state, shown = base.state, "no_data"
    if outcome.state == "fail":
        counted = repeat and base.consecutive_failures > 0
        count = base.consecutive_failures + (0 if counted else 1)
        streak = run_id if base.consecutive_failures == 0 else base.streak_run_id
        if counted and streak == base.last_run_id:
            streak = run_id  # the streak's first run was replaced by this one
        moved = replace(moved, consecutive_failures=count, streak_run_id=streak)
        # Not red before `consecutive` failing runs in a row: one noisy run does not alert.
        state = shown = "fail" if count >= gate.consecutive else "pass"
    elif outcome.state != "no_data":
        moved = replace(moved, consecutive_failures=0, streak_run_id=None)
        state = shown = outcome.state
    if state != base.state:
        # Since the commit that changed it (a backfill evaluates long after the commits).
        moved = replace(moved, state=state, since=point_ts, since_run_id=run_id)
    elif repeat and base.since_run_id is not None and base.since_run_id == base.last_run_id:
        moved = replace(moved, since_run_id=run_id)  # the run it dates from was replaced by this one
    if not announce:
        return moved, shown, None
    told = base.announced_state if prev is not None else "no_data"
    kind: str | None = None
    if state != told:
        if state == "fail":
            kind = "alert"
        elif state == "stale":
            kind = "stale"
        elif told in ("fail", "stale"):
            kind = "recovery"
    elif state in ("fail", "stale") and reminder_hours is not None:
        last = base.last_notified_at or base.since or now
        if now - last >= timedelta(hours=reminder_hours):
            kind = "reminder"
    moved = replace(moved, announced_state=state)
    if kind is not None:
        moved = replace(moved, last_notified_at=now)
    return moved, shown, kind


def evaluate_run(
    store: MetricStore,
    run_id: str,
    *,
    gates: list[GateSpec],
    routes: list[RouteSpec],
    policy: AlertPolicy,
    now: datetime,
) -> Evaluation:
    """Evaluate every gate that applies to the run's project; store results, states, messages."""
    # One read for everything (references of every gate; most apply to every project).
    metrics, days, bases = reference_requests(gates)
    ctx = load_run_context(store, run_id, metrics=metrics, day_offsets=days, baselines=bases)
    if ctx is None:
        raise StoreError(f"no run {run_id!r} in the store")
    summary = ctx.run
    project = str(summary["project"])
    applicable = [g for g in gates if g.applies_to(project)]
    states = ctx.states
    point_ts: datetime = ctx.run["point_ts"]
    results: list[GateResultRow] = []
    new_states: list[AlertStateRow] = []
    events: list[AlertEvent] = []
    for gate in applicable:
        outcome = evaluate_gate(gate, ctx, policy.stale)
        prev = states.get((project, gate.gate_id))
        newer = prev is None or prev.last_point_ts is None or point_ts >= prev.last_point_ts
        shown = outcome.state
        if newer:
            # Older runs of a backfill move the state quietly; only the newest one announces.
            state, shown, kind = advance(
                prev, outcome, gate, project=project, run_id=run_id, point_ts=point_ts,
                now=now, reminder_hours=policy.reminder_hours,
                repeat=prev is not None and _counted_already(prev.last_run_id, run_id, store),
                announce=ctx.is_latest,
            )
            new_states.append(state)
            if kind is not None:
                events.append(build_event(kind, gate, outcome, ctx.previous.get(gate.metric), state,
                                           store, summary, now))
        results.append(GateResultRow(
            run_id, project, gate.gate_id, gate.metric, shown, outcome.state, outcome.value,
            outcome.threshold, outcome.reference_value, outcome.reference_run_id,
            outcome.detail, now,
        ))
    messages = alert_messages(events, project=project, routes=routes,
                              dashboard_url=policy.dashboard_url, now=now)
    if events and not messages:
        # No route takes this project's alerts: the state was told to nobody, so "last alert
        # sent" keeps its earlier value.
        before = {gate: row.last_notified_at for (_, gate), row in states.items()}
        new_states = [replace(s, last_notified_at=before.get(s.gate)) for s in new_states]
    ids = save_evaluation(store, results, new_states, messages)
    return Evaluation(run_id, project, results, events, ids)


def build_event(
    kind: str,
    gate: GateSpec,
    outcome: GateOutcome,
    previous: tuple[float, str] | None,
    state: AlertStateRow,
    store: MetricStore,
    summary: dict[str, object],
    now: datetime,
) -> AlertEvent:
    """The event of ``kind`` for one gate, naming the commit that turned it red.

    That commit is the first run of the failing streak (with ``consecutive`` > 1, after a
    backfill, and for reminders it is not the newest run), and the previous value is the one
    just before it.
    """
    culprit = summary
    if kind in ("alert", "reminder") and state.streak_run_id and state.streak_run_id != summary["run_id"]:
        found = run_summary(store, state.streak_run_id)
        if found is not None:
            culprit = found
            previous = _value_before(store, state.streak_run_id, gate.metric)
    reminder_no = 0
    if kind == "reminder" and state.since is not None:
        reminder_no = int((now - state.since).total_seconds())  # one per second at most
    return AlertEvent(
        kind=kind,
        project=str(summary["project"]),
        gate=gate.gate_id,
        metric=gate.metric,
        value=outcome.value,
        threshold=outcome.threshold,
        rule=outcome.rule,
        rule_against=outcome.rule_against,
        tolerance=outcome.tolerance,
        reference_value=outcome.reference_value,
        previous_value=previous[0] if previous else None,
        detail=outcome.detail,
        run_id=str(summary["run_id"]),
        commit_sha=_opt(culprit.get("commit_sha")),
        author=_opt(culprit.get("author")),
        violation=f"{state.since_run_id}:{reminder_no}",
    )


def _value_before(store: MetricStore, run_id: str, metric: str) -> tuple[float, str] | None:
    """The value of ``metric`` in the run just before ``run_id`` (None: no such run or value)."""
    before = previous_run(store, run_id)
    if before is None:
        return None
    rows = store.fetch(
        "SELECT value FROM measure_point WHERE run_id = ? AND metric = ?", [before["run_id"], metric]
    )
    return (float(rows[0][0]), str(before["run_id"])) if rows else None


def _counted_already(last_run_id: str | None, run_id: str, store: MetricStore) -> bool:
    """True when the state's last run is this run, or is gone: replacing a run (same project
    and commit) is the only way a run disappears, so this run stands in for it."""
    if last_run_id is None:
        return False
    if last_run_id == run_id:
        return True
    return not store.fetch("SELECT 1 FROM run_record WHERE run_id = ?", [last_run_id])


def _opt(value: object) -> str | None:
    return None if value is None else str(value)
