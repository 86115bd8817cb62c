"""Metrics derived from several tools: issue density and the quality score.

The quality score (0-100, higher is better) is a weighted mean of component scores, each
0-100, taken over the components whose inputs were measured in the run. A missing input
(coverage not collected, a tool that failed) removes its component and its weight: it is
never counted as zero.

==============  ======  ===============================================================
component       weight  score
==============  ======  ===============================================================
lint            25      ``100 * max(0, 1 - ruff.issues per 1,000 sloc / 20)``
typing          15      ``100 * max(0, 1 - mypy.errors per 1,000 sloc / 10)``
security        20      ``max(0, 100 - 25 * high - 10 * medium - 2 * low)`` (bandit)
complexity      15      ``100 * clamp((12 - cyclomatic mean) / 10)``: 100 at mean 2, 0 at 12
maintainability 10      ``maintainability.mean`` (already 0-100)
coverage        15      ``coverage.line_percent``
==============  ======  ===============================================================

Rationale: densities rather than counts, so a big project is not punished for its size;
security findings are absolute because one high-severity hole matters whatever the size;
the complexity scale starts at 2 because a typical well-factored function scores 1-3.
"""

from __future__ import annotations

from collections.abc import Mapping

from storage.models import MetricSpec

__all__ = ["METRICS", "WEIGHTS", "components", "derived_metrics", "quality_score", "unscored"]

WEIGHTS: dict[str, float] = {
    "lint": 25.0, "typing": 15.0, "security": 20.0, "complexity": 15.0,
    "maintainability": 10.0, "coverage": 15.0,
}
METRICS = (
    MetricSpec("issues.per_kloc", "findings/kloc", "aim_low", "mean",
               "ruff, mypy and bandit findings per 1,000 source lines.", "derived"),
    MetricSpec("quality.score", "points", "aim_high", "mean",
               "Composite quality score 0-100 (formula in the README).", "derived"),
)


def _clamp(value: float) -> float:
    return max(0.0, min(100.0, value))


def components(m: Mapping[str, float]) -> dict[str, float]:
    """The component scores (0-100) that the measures allow."""
    out: dict[str, float] = {}
    kloc = m.get("size.sloc", 0.0) / 1000.0
    if kloc > 0 and "ruff.issues" in m:
        out["lint"] = _clamp(100.0 * (1.0 - m["ruff.issues"] / kloc / 20.0))
    if kloc > 0 and "mypy.errors" in m:
        out["typing"] = _clamp(100.0 * (1.0 - m["mypy.errors"] / kloc / 10.0))
    if "bandit.issues" in m:
        out["security"] = _clamp(100.0 - 25.0 * m.get("bandit.issues.high", 0.0)
                                 - 10.0 * m.get("bandit.issues.medium", 0.0)
                                 - 2.0 * m.get("bandit.issues.low", 0.0))
    if "complexity.cyclomatic.mean" in m:
        out["complexity"] = _clamp(100.0 * (12.0 - m["complexity.cyclomatic.mean"]) / 10.0)
    if "maintainability.mean" in m:
        out["maintainability"] = _clamp(m["maintainability.mean"])
    if "coverage.line_percent" in m:
        out["coverage"] = _clamp(m["coverage.line_percent"])
    return out


def unscored(m: Mapping[str, float]) -> list[str]:
    """Components whose tool measured but that lack the size they are a density of.

    ``lint`` and ``typing`` are findings per 1,000 source lines: without ``size.sloc`` (the
    complexity tool not among a run's tools, or failed) they are left out of the score, which
    then does not reflect ruff's or mypy's findings. Callers say so next to the score.
    """
    if "size.sloc" in m:  # measured (0 lines has no findings to leave out either)
        return []
    return [name for name, key in (("lint", "ruff.issues"), ("typing", "mypy.errors")) if key in m]


def quality_score(measures: Mapping[str, float]) -> float | None:
    """The weighted mean of the available components, or ``None`` when there are none."""
    parts = components(measures)
    if not parts:
        return None
    total = sum(WEIGHTS[name] for name in parts)
    return round(sum(WEIGHTS[name] * value for name, value in parts.items()) / total, 2)


def derived_metrics(measures: Mapping[str, float]) -> dict[str, float]:
    """``issues.per_kloc`` (when size and at least one issue tool are known) and ``quality.score``."""
    out: dict[str, float] = {}
    kloc = measures.get("size.sloc", 0.0) / 1000.0
    counted = [measures[k] for k in ("ruff.issues", "mypy.errors", "bandit.issues") if k in measures]
    if kloc > 0 and counted:
        out["issues.per_kloc"] = sum(counted) / kloc
    score = quality_score(measures)
    if score is not None:
        out["quality.score"] = score
    return out
