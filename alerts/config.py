"""Declarative configuration of gates and notification routes (validated at start).

These models are read from ``[[gates]]`` and ``[[routes]]`` in ``flext-quality.toml`` by the
settings at the entry points and passed down to :mod:`alerts` as plain values.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ABSOLUTE_KEYS", "MAX_AGAINST_DAYS", "RELATIVE_KEYS", "GateSpec", "RouteSpec", "gate_ids",
    "route_names",
]

ABSOLUTE_KEYS: tuple[str, ...] = ("min", "max")
RELATIVE_KEYS: tuple[str, ...] = (
    "max_increase", "max_increase_percent", "max_decrease", "max_decrease_percent",
    "max_worsening", "max_worsening_percent",
)
# A century, as the settings' other day counts: a longer look-back has no timestamp to reach.
MAX_AGAINST_DAYS = 36_525
_DAYS_AGO = re.compile(r"[0-9]+d")
# The amounts of relative rules are how much a value may move: a negative one could never pass.
_Amount = Annotated[float, Field(ge=0)]


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

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    metric: str = Field(min_length=1)
    min: float | None = None
    max: float | None = None
    max_increase: _Amount | None = None
    max_increase_percent: _Amount | None = None
    max_decrease: _Amount | None = None
    max_decrease_percent: _Amount | None = None
    max_worsening: _Amount | None = None
    max_worsening_percent: _Amount | None = None
    against: Literal["previous", "baseline"] | str = "previous"
    baseline_run: str | None = None
    projects: list[str] = Field(default_factory=lambda: ["*"])
    consecutive: int = Field(default=1, ge=1)
    tolerance: float = Field(default=0.0, ge=0)
    name: str | None = None

    @field_validator("against")
    @classmethod
    def _known_reference(cls, against: str) -> str:
        if against in ("previous", "baseline") or (
            _DAYS_AGO.fullmatch(against) and 1 <= int(against[:-1]) <= MAX_AGAINST_DAYS
        ):
            return against
        raise ValueError(
            "allowed are 'previous', 'baseline' or '<N>d' with N from 1 to "
            f"{MAX_AGAINST_DAYS} (e.g. '7d')"
        )

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
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(
                f"min={self.min:g} is above max={self.max:g}: no value could pass (min must be "
                "at most max)"
            )
        unused = [k for k in ("against", "baseline_run") if k in self.model_fields_set]
        if unused and not self.is_relative:
            raise ValueError(
                f"{unused[0]} applies only to relative conditions (max_increase, max_decrease, "
                "max_worsening and their _percent forms); this gate has only min/max"
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

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

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


def gate_ids(gates: list[GateSpec]) -> list[str]:
    """Each gate's :attr:`GateSpec.gate_id`; two gates with one id are refused.

    The id keys a gate's alert state, so two gates sharing one would overwrite each other's
    results and announce a new RED on every run. Gates that differ only in ``consecutive``,
    ``tolerance`` or ``projects`` have the same rule, hence the same default id.
    """
    first: dict[str, int] = {}
    for n, gate in enumerate(gates):
        seen = first.setdefault(gate.gate_id, n)
        if seen != n:
            raise ValueError(
                f"gates.{seen} and gates.{n} have the same id {gate.gate_id!r}: give each gate "
                "a distinct `name`"
            )
    return list(first)
