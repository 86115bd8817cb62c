"""Declarative configuration of gates and notification routes (validated at start).

These models are read from ``[[gates]]`` and ``[[routes]]`` in ``flext-quality.toml`` by the
settings at the entry points and passed down to :mod:`alerts` as plain values.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ABSOLUTE_KEYS", "RELATIVE_KEYS", "GateSpec", "RouteSpec", "route_names"]

ABSOLUTE_KEYS: tuple[str, ...] = ("min", "max")
RELATIVE_KEYS: tuple[str, ...] = (
    "max_increase", "max_increase_percent", "max_decrease", "max_decrease_percent",
    "max_worsening", "max_worsening_percent",
)


class GateSpec(BaseModel):
    """A condition on one metric of the matching projects.

    Absolute: ``min``/``max``. Relative: ``max_increase``/``max_increase_percent`` (or the
    ``max_decrease*`` pair for metrics that aim high) against ``against``; or
    ``max_worsening``/``max_worsening_percent``, whose bad direction comes from the metric
    catalogue (a rise for ``aim_low`` metrics, a fall for ``aim_high`` ones; ``neutral``
    metrics such as ``size.loc`` have no bad direction, so there use the increase/decrease keys).
    ``consecutive`` failing runs are needed before the gate turns red; ``tolerance`` widens
    every threshold by that many units of the metric (noise band).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field(min_length=1)
    min: float | None = None
    max: float | None = None
    max_increase: float | None = None
    max_increase_percent: float | None = None
    max_decrease: float | None = None
    max_decrease_percent: float | None = None
    max_worsening: float | None = None
    max_worsening_percent: float | None = None
    against: Literal["previous", "baseline"] | str = "previous"
    baseline_run: str | None = None
    projects: list[str] = Field(default_factory=lambda: ["*"])
    consecutive: int = Field(default=1, ge=1)
    tolerance: float = Field(default=0.0, ge=0)
    name: str | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> GateSpec:
        conditions = [
            self.min, self.max, self.max_increase, self.max_increase_percent,
            self.max_decrease, self.max_decrease_percent, self.max_worsening,
            self.max_worsening_percent,
        ]
        if all(c is None for c in conditions):
            raise ValueError(
                "a gate needs one of min, max, max_increase, max_increase_percent, "
                "max_decrease, max_decrease_percent, max_worsening, max_worsening_percent"
            )
        against = self.against
        if against not in ("previous", "baseline") and not (
            against.endswith("d") and against[:-1].isdigit()
        ):
            raise ValueError(
                f"against={against!r}: allowed are 'previous', 'baseline' or '<N>d' (e.g. '7d')"
            )
        return self

    @property
    def gate_id(self) -> str:
        """A stable id for this gate, used to key its state across restarts."""
        return self.name or self.rule

    @property
    def rule(self) -> str:
        """The condition in one line, e.g. ``ruff.issues max_increase=5 against=previous``."""
        parts = [self.metric]
        for label in ABSOLUTE_KEYS + RELATIVE_KEYS:
            value = getattr(self, label)
            if value is not None:
                parts.append(f"{label}={value:g}")
        if self.is_relative:
            parts.append(f"against={self.against}")
        return " ".join(parts)

    @property
    def is_relative(self) -> bool:
        """True when the gate compares against a reference value."""
        return any(getattr(self, k) is not None for k in RELATIVE_KEYS)

    @property
    def uses_worsening(self) -> bool:
        """True when a condition depends on the metric's good direction (``max_worsening*``)."""
        return self.max_worsening is not None or self.max_worsening_percent is not None

    def applies_to(self, project: str) -> bool:
        """True when ``project`` matches one of the gate's ``projects`` patterns."""
        return any(fnmatchcase(project, pattern) for pattern in self.projects)


class RouteSpec(BaseModel):
    """Where messages of one purpose go: a list of Apprise URLs, optionally for some projects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    purpose: Literal["alerts", "reports"]
    urls: list[str] = Field(min_length=1)
    projects: list[str] = Field(default_factory=lambda: ["*"])
    name: str | None = None
    format: Literal["auto", "markdown", "html", "text"] = "auto"

    def applies_to(self, project: str | None) -> bool:
        """True for messages about ``project`` (messages about no project go to every route)."""
        return project is None or any(fnmatchcase(project, p) for p in self.projects)


def route_names(routes: list[RouteSpec]) -> list[str]:
    """A stable name per route: its ``name``, else ``<purpose>-<n>`` (n counts per purpose).

    The outbox stores this name and the URL's index instead of the URL itself.
    """
    names: list[str] = []
    counts: dict[str, int] = {}
    for route in routes:
        counts[route.purpose] = counts.get(route.purpose, 0) + 1
        names.append(route.name or f"{route.purpose}-{counts[route.purpose]}")
    if len(set(names)) != len(names):
        raise ValueError(f"route names must be unique, got {names}")
    return names
