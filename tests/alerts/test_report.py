"""Reports: changes, sparklines, gate states, new and fixed findings, regressions with commits."""

from __future__ import annotations

import json
from datetime import timedelta

from alert_helpers import T0, RunMaker
from hypothesis import given
from hypothesis import strategies as st

from alerts.config import GateSpec
from alerts.evaluate import AlertPolicy, evaluate_run
from alerts.report import build_report, sparkline
from alerts.report_render import render_report, report_title
from storage import FindingRecord
from storage.store import MetricStore


def _finding(rule: str, path: str, n: int) -> FindingRecord:
    return FindingRecord("ruff", rule, "error", path, n, 1, f"{rule} here", f"{rule}-{path}-{n}")


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=200))
def test_sparkline_shape(values: list[float]) -> None:
    line = sparkline(values)
    assert 1 <= len(line) <= 24
    assert set(line) <= set("▁▂▃▄▅▆▇█")
    if min(values) < max(values):
        assert "▁" in line or "█" in line
        assert line[-1] == ("█" if values[-1] == max(values) else line[-1])


def test_sparkline_orders_values() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5, 5]) == "▄▄▄"
    assert sparkline([]) == ""


def test_weekly_report_content(store: MetricStore, make_run: RunMaker) -> None:
    old = [_finding("F401", "pkg/a.py", 1), _finding("E711", "pkg/b.py", 2)]
    make_run({"quality.score": 82, "ruff.issues": 2}, at=T0 - timedelta(days=5), findings=old)
    make_run({"quality.score": 84, "ruff.issues": 2}, at=T0 + timedelta(days=1), findings=old)
    new = [_finding("F401", "pkg/a.py", 1), _finding("B006", "pkg/c.py", 5),
           _finding("B006", "pkg/c.py", 9), _finding("F841", "pkg/c.py", 12)]
    bad = make_run({"quality.score": 70, "ruff.issues": 4}, at=T0 + timedelta(days=3),
                   findings=new, author="Linus", message="Refactor the parser\n\nlong text")
    evaluate_run(store, bad, gates=[GateSpec(metric="quality.score", min=75)], routes=[],
                 policy=AlertPolicy(), now=T0 + timedelta(days=3))
    report = build_report(store, "demo", period="week", now=T0 + timedelta(days=4))
    assert report.runs == 2  # the run before the week is the baseline, not counted
    assert (report.first_run_at, report.last_run_at) == (T0 + timedelta(days=1),
                                                         T0 + timedelta(days=3))
    score = report.score
    assert score is not None
    assert (score.start, score.end, score.change, score.better) == (82, 70, -12, False)
    assert score.spark == "▇█▁"
    ruff = next(m for m in report.metrics if m.metric == "ruff.issues")
    assert ruff.change == 2 and ruff.better is False
    assert report.gates == [("quality.score min=75", "fail", T0 + timedelta(days=3))]
    assert (report.new_findings, report.fixed_findings) == (3, 1)
    assert report.top_new_rules == [("B006", 2), ("F841", 1)]
    assert report.top_new_files == [("pkg/c.py", 3)]
    assert report.top_fixed_rules == [("E711", 1)]
    worst = report.regressions[0]
    assert (worst.metric, worst.before, worst.after, worst.author) == ("ruff.issues", 2, 4, "Linus")
    assert worst.commit_sha is not None and worst.commit_sha.startswith("003")
    assert {r.metric for r in report.regressions} == {"ruff.issues", "quality.score"}

    markdown = render_report([report], "markdown", base_url="https://q.example.com")
    for fragment in ("## demo", "score 70 (-12 (worse)) ▇█▁", "B006 (2)", "`pkg/c.py` (3)",
                     "E711 (1)", "Refactor the parser", "quality.score min=75: fail",
                     "(https://q.example.com/gates?project=demo)"):
        assert fragment in markdown, fragment
    assert "long text" not in markdown
    html = render_report([report], "html")
    assert "<table><tr><td>quality.score: 70 points (-12 (worse)) ▇█▁</td></tr>" in html
    assert "B006 (2)" in html
    data = json.loads(render_report([report], "json"))
    assert data[0]["findings"]["new"] == 3
    assert data[0]["regressions"][0]["commit_sha"] == worst.commit_sha
    text = render_report([report], "text")
    assert "== demo ==" in text and "Worst regressions:" in text
    assert report_title([report]) == "flext-quality weekly report: demo (2026-03-06)"


def test_report_of_an_idle_project(store: MetricStore, make_run: RunMaker) -> None:
    make_run({"quality.score": 90}, at=T0 - timedelta(days=40))
    report = build_report(store, "demo", period="day", now=T0)
    assert report.runs == 0
    assert report.metrics[0].end == 90 and report.metrics[0].change is None
    assert report.new_findings == 0 and report.regressions == []
    assert report.first_run_at is None and report.last_run_at is None
    assert "· no runs\n" in render_report([report], "text")
