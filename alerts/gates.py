"""Evaluating one gate on one run: pass, fail, no data, or stale.

Pure functions over a :class:`~storage.alert_store.RunContext` (the run's measures and the
reference values, read by the store in one go). A gate's conditions each give a threshold in
the metric's units and a side (the value must stay at or below, or at or above it); the
tolerance band widens the threshold; all conditions must hold.

Only ``max_worsening*`` reads the metric's good direction from the catalogue. On a ``neutral``
metric (a size: no way is good) it has no meaning, so such a gate is ``no_data`` with a detail
that says what to use instead; every other condition is an explicit bound and works on any
metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from alerts.config import GateSpec
from storage.alert_store import RunContext

__all__ = ["GateOutcome", "StalePolicy", "direction_conflict", "evaluate_gate", "reference_requests"]


@dataclass(frozen=True, slots=True)
class StalePolicy:
    """When a metric that stopped being reported makes its gate stale."""

    after_runs: int = 3
    after_days: float = 14.0


@dataclass(frozen=True, slots=True)
class GateOutcome:
    """The raw result of a gate on one run (before K-consecutive smoothing).

    A ``pass`` or ``fail`` also names the condition that decided it: ``rule`` as people read
    it (``<= 0``, ``rise <= 5 vs previous``), the reference that rule compares with
    (``rule_against``: ``previous``, ``7d``, ``baseline``; None for a fixed bound) and the
    gate's ``tolerance``. ``detail`` says all of it in one sentence.
    """

    state: str  # pass | fail | no_data | stale
    value: float | None
    threshold: float | None
    reference_value: float | None
    reference_run_id: str | None
    detail: str
    rule: str | None = None
    rule_against: str | None = None
    tolerance: float = 0.0


class _Condition(NamedTuple):
    """One condition of a gate: the value must stay at or below (``upper``) or at or above
    ``threshold``; ``against`` is the reference of a relative condition."""

    rule: str
    threshold: float
    upper: bool
    against: str | None = None


def _days(against: str) -> int | None:
    if against.endswith("d") and against[:-1].isdigit():
        return int(against[:-1])
    return None


def reference_requests(
    gates: list[GateSpec],
) -> tuple[list[str], list[tuple[str, int]], list[tuple[str, str | None]]]:
    """The metrics, day offsets and baselines a set of gates needs from the store."""
    metrics = sorted({g.metric for g in gates})
    days: set[tuple[str, int]] = set()
    bases: set[tuple[str, str | None]] = set()
    for gate in gates:
        if not gate.is_relative:
            continue
        n = _days(gate.against)
        if n is not None:
            days.add((gate.metric, n))
        elif gate.against == "baseline":
            bases.add((gate.metric, gate.baseline_run))
    return metrics, sorted(days), sorted(bases, key=lambda b: (b[0], b[1] or ""))


def _reference(gate: GateSpec, ctx: RunContext) -> tuple[float, str] | None:
    n = _days(gate.against)
    if n is not None:
        return ctx.days_ago.get((gate.metric, n))
    if gate.against == "baseline":
        return ctx.baseline.get((gate.metric, gate.baseline_run))
    return ctx.previous.get(gate.metric)


def direction_conflict(gate: GateSpec, direction: str | None) -> str | None:
    """Why ``gate`` cannot be evaluated on a metric aiming ``direction`` (None if it can).

    ``max_worsening`` needs a good direction; a ``neutral`` metric has none.
    """
    if direction != "neutral" or not gate.uses_worsening:
        return None
    return (f"{gate.metric} has no good direction (neutral in the metric catalogue), so "
            "max_worsening cannot apply: use max_increase or max_decrease")


def _conditions(gate: GateSpec, ref: float | None, aim_high: bool) -> list[_Condition]:
    """Every condition of ``gate`` that can be judged (relative ones need ``ref``)."""
    out: list[_Condition] = []
    if gate.max is not None:
        out.append(_Condition(f"<= {gate.max:g}", gate.max, True))
    if gate.min is not None:
        out.append(_Condition(f">= {gate.min:g}", gate.min, False))
    if ref is None:
        return out
    worse_up = not aim_high
    pairs: list[tuple[float | None, bool, bool]] = [
        (gate.max_increase, False, True),
        (gate.max_increase_percent, True, True),
        (gate.max_decrease, False, False),
        (gate.max_decrease_percent, True, False),
        (gate.max_worsening, False, worse_up),
        (gate.max_worsening_percent, True, worse_up),
    ]
    for amount, percent, upper in pairs:
        if amount is None:
            continue
        delta = abs(ref) * amount / 100 if percent else amount
        threshold = ref + delta if upper else ref - delta
        unit = "%" if percent else ""
        word = "rise" if upper else "fall"
        out.append(_Condition(f"{word} <= {amount:g}{unit} vs {gate.against}", threshold, upper,
                              gate.against))
    return out


def _stale(gate: GateSpec, ctx: RunContext, policy: StalePolicy) -> GateOutcome | None:
    seen = ctx.last_seen.get(gate.metric)
    if seen is None:
        return None
    last_ts, missing_runs = seen
    age = ctx.run["point_ts"] - last_ts
    if missing_runs >= policy.after_runs or age > timedelta(days=policy.after_days):
        return GateOutcome(
            "stale", None, None, None, None,
            f"{gate.metric} not reported for {missing_runs} run(s) and {age.days} day(s) "
            f"(last at {last_ts:%Y-%m-%d %H:%M})",
        )
    return None


def evaluate_gate(gate: GateSpec, ctx: RunContext, policy: StalePolicy) -> GateOutcome:
    """Evaluate ``gate`` on the run described by ``ctx``."""
    value = ctx.values.get(gate.metric)
    if value is None:
        stale = _stale(gate, ctx, policy)
        if stale is not None:
            return stale
        reason = "never reported" if gate.metric not in ctx.last_seen else "missing in this run"
        return GateOutcome("no_data", None, None, None, None, f"{gate.metric} {reason}")
    direction = ctx.directions.get(gate.metric)
    conflict = direction_conflict(gate, direction)
    if conflict is not None:
        return GateOutcome("no_data", value, None, None, None, conflict)
    ref = _reference(gate, ctx) if gate.is_relative else None
    ref_value, ref_run = (ref if ref is not None else (None, None))
    # A metric the catalogue does not know is judged as aiming low (a rise is worse).
    conditions = _conditions(gate, ref_value, direction == "aim_high")
    if not conditions:
        return GateOutcome(
            "no_data", value, None, None, None,
            f"baseline run {gate.baseline_run!r} not found, or it has no {gate.metric}"
            if gate.baseline_run and gate.against == "baseline"
            else f"no reference value ({gate.against}) for {gate.metric} yet",
        )
    failed = [
        c for c in conditions
        if (value > c.threshold + gate.tolerance if c.upper else value < c.threshold - gate.tolerance)
    ]
    decided = failed[0] if failed else conditions[0]
    ref_text = f", reference {ref_value:g}" if ref_value is not None else ""
    verdict = "violates" if failed else "meets"
    detail = (
        f"{gate.metric} = {value:g} {verdict} {decided.rule} (threshold {decided.threshold:g}"
        f"{f' ± {gate.tolerance:g}' if gate.tolerance else ''}{ref_text})"
    )
    return GateOutcome(
        "fail" if failed else "pass", value, decided.threshold, ref_value, ref_run, detail,
        rule=decided.rule, rule_against=decided.against, tolerance=gate.tolerance,
    )
