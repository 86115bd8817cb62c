"""Good directions of metrics: ``neutral`` sizes are neither better nor worse anywhere.

Reports, gates and the dashboard's run comparison all judge a change by the catalogue's
direction; code growing (``size.loc``) must never be a "regression". Everything runs on real
DuckDB files with the real collectors' catalogue.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from alert_helpers import T0, RunMaker, invoke_cli

from alerts.config import GateSpec
from alerts.gates import StalePolicy, evaluate_gate, reference_requests
from alerts.report import build_report
from alerts.report_render import render_report
from collectors.registry import CATALOGUE
from storage.alert_store import load_run_context
from storage.models import MetricSpec, judge_change
from storage.store import MetricStore

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(
    ("direction", "delta", "verdict"),
    [
        ("aim_low", 2, False), ("aim_low", -2, True), ("aim_high", 2, True),
        ("aim_high", -2, False), ("neutral", 2, None), ("neutral", -2, None),
        ("aim_low", 0, None), ("aim_high", 0.0, None), ("sideways", 5, None),
    ],
)
def test_judge_change(direction: str, delta: float, verdict: bool | None) -> None:
    assert judge_change(direction, delta) is verdict


def test_metric_spec_accepts_neutral_and_refuses_unknown_directions() -> None:
    assert MetricSpec("size.loc", "lines", "neutral", "last", "lines").direction == "neutral"
    with pytest.raises(ValueError, match="'sideways'"):
        MetricSpec("size.loc", "lines", "sideways", "last", "lines")  # type: ignore[arg-type]


def _readme_directions() -> dict[str, str]:
    """The "good" column of the README's metrics table, as catalogue directions."""
    text = README.read_text(encoding="utf-8")
    table = text.split("### Metrics (", 1)[1].split("\n\n", 2)[1]
    words = {"low": "aim_low", "high": "aim_high", "-": "neutral"}
    found: dict[str, str] = {}
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        names = re.findall(r"`([^`]+)`", cells[0])
        for name in names:
            # "`bandit.issues.high` / `.medium`": a leading dot continues the first name
            full = names[0].rsplit(".", 1)[0] + name if name.startswith(".") else name
            found[full] = words[cells[2]]
    return found


def test_catalogue_directions_match_the_readme() -> None:
    documented = _readme_directions()
    assert {s.name: s.direction for s in CATALOGUE} == documented
    sizes = {s.name for s in CATALOGUE if s.direction == "neutral"}
    assert sizes == {"size.files", "size.loc", "size.sloc", "size.lloc", "size.comments",
                     "complexity.functions"}


def test_report_shows_code_growth_as_a_plain_change(store: MetricStore, make_run: RunMaker) -> None:
    store.write_catalogue(CATALOGUE)
    make_run({"size.loc": 35, "ruff.issues": 2, "quality.score": 80}, at=T0)
    make_run({"size.loc": 37, "ruff.issues": 3, "quality.score": 81}, at=T0 + timedelta(hours=1))
    report = build_report(store, "demo", period="day", now=T0 + timedelta(hours=4))
    lines = {m.metric: m for m in report.metrics}
    assert (lines["size.loc"].change, lines["size.loc"].better) == (2, None)
    assert lines["ruff.issues"].better is False and lines["quality.score"].better is True
    assert [r.metric for r in report.regressions] == ["ruff.issues"]

    text = render_report([report], "text")
    assert "size.loc: 37 lines (+2) " in text
    assert "ruff.issues: 3 count (+1 (worse))" in text
    regressions = text.split("Worst regressions:", 1)[1]
    assert "ruff.issues: 2 -> 3" in regressions and "size.loc" not in regressions
    data = json.loads(render_report([report], "json"))[0]
    size = next(m for m in data["metrics"] if m["metric"] == "size.loc")
    assert (size["direction"], size["better"]) == ("neutral", None)


def _evaluate(store: MetricStore, run_id: str, gate: GateSpec):
    metrics, days, bases = reference_requests([gate])
    ctx = load_run_context(store, run_id, metrics=metrics, day_offsets=days, baselines=bases)
    assert ctx is not None
    return evaluate_gate(gate, ctx, StalePolicy())


@pytest.mark.parametrize(
    ("spec", "state"),
    [
        # explicit bounds work on a neutral metric: direction plays no part in them
        ({"max": 1200}, "pass"),
        ({"max": 1100}, "fail"),
        ({"min": 1250}, "fail"),
        ({"max_increase": 200}, "pass"),
        ({"max_increase": 100}, "fail"),
        ({"max_decrease_percent": 1}, "pass"),
        # "worse" means nothing for a size: said plainly instead of guessing a side
        ({"max_worsening": 0}, "no_data"),
        ({"max_worsening_percent": 5, "max": 2000}, "no_data"),
    ],
)
def test_gates_on_a_neutral_metric(
    store: MetricStore, make_run: RunMaker, spec: dict[str, float], state: str
) -> None:
    store.write_catalogue(CATALOGUE)
    make_run({"size.loc": 1000})
    run_id = make_run({"size.loc": 1200})
    gate = GateSpec(metric="size.loc", **spec)
    outcome = _evaluate(store, run_id, gate)
    assert outcome.state == state, outcome.detail
    if state == "no_data":
        assert outcome.value == 1200
        assert "size.loc has no good direction" in outcome.detail
        assert "use max_increase or max_decrease" in outcome.detail


def test_gates_command_warns_about_worsening_on_a_neutral_metric(
    tmp_path: Path, store: MetricStore, make_run: RunMaker
) -> None:
    store.write_catalogue(CATALOGUE)
    make_run({"size.loc": 1000})
    config = tmp_path / "flext-quality.toml"
    config.write_text('[[gates]]\nmetric = "size.loc"\nmax_worsening = 10\n'
                      '[[gates]]\nmetric = "size.loc"\nmax_increase = 10\n', encoding="utf-8")
    result = invoke_cli("gates", "--db", str(store.path), "--config", str(config))
    assert result.exit_code == 0, result.output
    warnings = result.stderr.splitlines()
    assert warnings == [
        "warning: gate 'size.loc max_worsening=10 against=previous': size.loc has no good "
        "direction (neutral in the metric catalogue), so max_worsening cannot apply: use "
        "max_increase or max_decrease"
    ]


def test_dashboard_comparison_calls_a_size_change_neither_better_nor_worse(
    store: MetricStore, make_run: RunMaker
) -> None:
    from dashboard.data import data_version
    from dashboard.data_trends import compare_runs

    store.write_catalogue(CATALOGUE)
    first = make_run({"size.loc": 35, "ruff.issues": 2, "quality.score": 80, "custom.x": 1})
    last = make_run({"size.loc": 37, "ruff.issues": 3, "quality.score": 81, "custom.x": 2})
    db = str(store.path)
    version = data_version(db)
    assert version is not None
    deltas = compare_runs(db, version, "demo", first, last, ttl_s=1).deltas
    verdict = dict(zip(deltas["metric"].to_list(), deltas["verdict"].to_list(), strict=True))
    assert verdict == {"size.loc": "changed", "ruff.issues": "worse", "quality.score": "better",
                       "custom.x": "changed"}
