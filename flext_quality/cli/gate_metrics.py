"""Which metrics a gate may name: what some analyzer reports, or what the store has seen."""

from __future__ import annotations

import difflib

from alerts.config import GateSpec
from collectors.registry import CATALOGUE
from flext_quality.settings import Settings
from storage.alert_store import metric_directions
from storage.errors import ConfigError
from storage.store import MetricStore

__all__ = ["check_gate_metrics", "known_metrics", "unknown_metric"]


def check_gate_metrics(settings: Settings, store: MetricStore, project: str) -> None:
    """Refuse a gate whose metric no analyzer reports and the store has never seen.

    Such a gate would be "no data" forever, and pass a CI build: a typo must stop it instead.
    """
    known = known_metrics(store)
    for gate in settings.gates:
        if gate.applies_to(project) and gate.metric not in known:
            raise ConfigError(unknown_metric(gate, known))


def known_metrics(store: MetricStore) -> set[str]:
    """Metrics some analyzer reports, or that the store has seen (imported data too)."""
    known = {spec.name for spec in CATALOGUE}
    if store.path.exists():
        known |= set(metric_directions(store))
        known |= {str(row[0]) for row in store.fetch("SELECT DISTINCT metric FROM series")}
    return known


def unknown_metric(gate: GateSpec, known: set[str]) -> str:
    close = difflib.get_close_matches(gate.metric, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"gate {gate.gate_id!r}: unknown metric {gate.metric!r}{hint}; the metrics "
        "view lists them (flext-quality sql \"SELECT name FROM metrics\")"
    )
