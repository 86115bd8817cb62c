"""The analyzers, by name: registering one is one line here."""

from __future__ import annotations

from collectors import bandit, complexity, coverage, mypy, ruff, suppressions
from collectors.base import Adapter
from collectors.score import METRICS as DERIVED_METRICS
from storage.models import MetricSpec

__all__ = ["ADAPTERS", "CATALOGUE", "TOOL_NAMES"]

ADAPTERS: dict[str, Adapter] = {
    adapter.name: adapter
    for adapter in (
        ruff.ADAPTER,
        mypy.ADAPTER,
        bandit.ADAPTER,
        coverage.ADAPTER,
        complexity.ADAPTER,
        suppressions.ADAPTER,
    )
}

TOOL_NAMES: tuple[str, ...] = tuple(ADAPTERS)

#: Every metric collect can produce (written to the store with every run).
CATALOGUE: tuple[MetricSpec, ...] = (
    *(spec for adapter in ADAPTERS.values() for spec in adapter.metrics),
    *DERIVED_METRICS,
)
