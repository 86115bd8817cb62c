"""Reminders while a gate stays red, also when no run comes to evaluate it.

A run reminds of its own gates when it is evaluated (:mod:`alerts.evaluate`). A project that
stops producing runs (its pipeline broken, a repository archived) would then never be reminded
of, so the outbox flush (the scheduler's every-few-minutes job, and ``notify --flush``) also
queues the reminders that are due: for every red or stale gate that was announced, once
``reminder_hours`` have passed since the last message about it (or since it turned red).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from alerts.config import GateSpec, RouteSpec
from alerts.evaluate import AlertPolicy, build_event
from alerts.gates import evaluate_gate, reference_requests
from alerts.messages import AlertEvent, alert_messages
from storage.alert_store import (
    AlertStateRow,
    enqueue_messages,
    load_alert_states,
    load_run_context,
    save_evaluation,
)
from storage.store import MetricStore

__all__ = ["due_reminders", "queue_reminders"]


def due_reminders(
    states: dict[tuple[str, str], AlertStateRow],
    gates: list[GateSpec],
    *,
    reminder_hours: float,
    now: datetime,
) -> dict[str, list[tuple[AlertStateRow, GateSpec]]]:
    """Per project, the red or stale gates whose reminder is due at ``now``.

    Only gates that are configured (and apply to the project) and whose state was announced:
    a state moved quietly by a backfill is told by the project's next newest run instead.
    """
    configured = {g.gate_id: g for g in gates}
    due: dict[str, list[tuple[AlertStateRow, GateSpec]]] = {}
    for (project, gate_id), state in sorted(states.items()):
        gate = configured.get(gate_id)
        if gate is None or not gate.applies_to(project) or state.last_run_id is None:
            continue
        if state.state not in ("fail", "stale") or state.announced_state != state.state:
            continue
        last = state.last_notified_at or state.since or now
        if now - last >= timedelta(hours=reminder_hours):
            due.setdefault(project, []).append((state, gate))
    return due


def queue_reminders(
    store: MetricStore,
    *,
    gates: list[GateSpec],
    routes: list[RouteSpec],
    policy: AlertPolicy,
    now: datetime,
) -> list[str]:
    """Queue the reminders due at ``now`` (one grouped message per project and endpoint).

    Returns the ids of the messages queued. A gate's ``last_notified_at`` moves only when a
    message about it was queued (no route for the project: nobody was reminded).
    """
    if policy.reminder_hours is None or not store.path.exists():
        return []
    due = due_reminders(load_alert_states(store), gates, reminder_hours=policy.reminder_hours, now=now)
    metrics, days, bases = reference_requests(gates)
    queued: list[str] = []
    for project, items in due.items():
        events: list[AlertEvent] = []
        states: list[AlertStateRow] = []
        for state, gate in items:
            ctx = load_run_context(store, str(state.last_run_id), metrics=metrics,
                                   day_offsets=days, baselines=bases)
            if ctx is None:
                continue
            outcome = evaluate_gate(gate, ctx, policy.stale)
            events.append(build_event("reminder", gate, outcome, ctx.previous.get(gate.metric),
                                      state, store, ctx.run, now))
            states.append(replace(state, last_notified_at=now, updated_at=now))
        messages = alert_messages(events, project=project, routes=routes,
                                  dashboard_url=policy.dashboard_url, now=now)
        ids = enqueue_messages(store, messages)
        if ids:  # reminded: only now does "last alert sent" move
            save_evaluation(store, [], states, [])
            queued += ids
    return queued
