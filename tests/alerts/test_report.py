"""Reports: changes, sparklines, gate states, new and fixed findings, regressions with commits."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from alert_helpers import T0, HttpReceiver, RunMaker, invoke_cli
from hypothesis import given
from hypothesis import strategies as st

from alerts.config import GateSpec
from alerts.evaluate import AlertPolicy, evaluate_run
from alerts.report import build_report, sparkline
from alerts.report_render import render_report, report_title
from flext_quality import jobs
from flext_quality.settings import Settings
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
    # Not "new": the score is the last one known, and it did not change in the period.
    line = report.metrics[0]
    assert (line.start, line.end, line.change, line.better) == (90, 90, 0, None)
    assert line.measured_at == T0 - timedelta(days=40)
    assert report.new_findings == 0 and report.regressions == []
    assert report.first_run_at is None and report.last_run_at is None
    text = render_report([report], "text")
    assert "\nscore 90 (unchanged, last measured 2026-01-21 08:00) ▄ · period " in text
    assert "· no runs\n" in text and "(new)" not in text
    assert "quality.score: 90 points (unchanged, last measured 2026-01-21 08:00)" in text
    for fmt in ("markdown", "html"):
        shown = render_report([report], fmt)
        assert "score 90 (unchanged, last measured 2026-01-21 08:00)" in shown, fmt
        assert "(new)" not in shown, fmt
    (metric,) = json.loads(render_report([report], "json"))[0]["metrics"]
    assert (metric["start"], metric["end"], metric["change"], metric["better"]) == (90, 90, 0, None)
    assert metric["measured_at"] == "2026-01-21T08:00:00"


def test_first_measures_of_a_project_are_new(store: MetricStore, make_run: RunMaker) -> None:
    make_run({"quality.score": 90}, at=T0 - timedelta(hours=2))
    report = build_report(store, "demo", period="day", now=T0)
    line = report.metrics[0]
    assert (line.start, line.change, line.better) == (None, None, None)
    assert "score 90 (new) ▄ · period" in render_report([report], "text")


def test_a_metric_not_measured_in_the_period_is_unchanged(
    store: MetricStore, make_run: RunMaker
) -> None:
    make_run({"quality.score": 90, "coverage.line_percent": 71.5}, at=T0 - timedelta(days=2))
    make_run({"quality.score": 88}, at=T0 - timedelta(hours=2))  # coverage skipped
    report = build_report(store, "demo", period="day", now=T0)
    lines = {m.metric: m for m in report.metrics}
    assert (lines["quality.score"].change, lines["quality.score"].better) == (-2, False)
    assert (lines["coverage.line_percent"].change, lines["coverage.line_percent"].better) == (0, None)
    assert ("coverage.line_percent: 71.5 percent (unchanged, last measured 2026-02-28 08:00)"
            in render_report([report], "text"))


@pytest.mark.parametrize(
    ("before", "after", "shown", "better"),
    [
        (80.001, 80.004, "±0", None),  # +0.003: shows as 80 -> 80, so it is no change
        (80.004, 80.001, "±0", None),
        (80.0, 80.0, "±0", None),
        (80.0, 80.01, "+0.01 (better)", True),  # the smallest change the report can show
        (80.0, 79.99, "-0.01 (worse)", False),
    ],
)
def test_a_change_too_small_to_show_is_not_judged(
    store: MetricStore, make_run: RunMaker, before: float, after: float, shown: str,
    better: bool | None,
) -> None:
    make_run({"quality.score": before}, at=T0 - timedelta(days=2))
    make_run({"quality.score": after}, at=T0 - timedelta(hours=2))
    report = build_report(store, "demo", period="day", now=T0)
    score = report.score
    assert score is not None and score.better is better
    for fmt in ("markdown", "text", "html"):
        assert f"({shown})" in render_report([report], fmt), fmt
        assert "+0 (" not in render_report([report], fmt), fmt
    (metric,) = json.loads(render_report([report], "json"))[0]["metrics"]
    assert metric["better"] is better
    # a step nobody can see is not a regression either
    assert [r.metric for r in report.regressions] == (["quality.score"] if better is False else [])


def _reports_to(tmp_path: Path, store: MetricStore, receiver: HttpReceiver) -> list[str]:
    """The CLI options of a database whose settings send reports to ``receiver``."""
    config = tmp_path / "flext-quality.toml"
    config.write_text(f'[[routes]]\npurpose = "reports"\n'
                      f'urls = ["json://127.0.0.1:{receiver.port}/reports"]\n', encoding="utf-8")
    return ["--db", str(store.path), "--config", str(config)]


def test_report_send_refuses_a_format(
    tmp_path: Path, store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver
) -> None:
    common = _reports_to(tmp_path, store, http_receiver)
    make_run({"quality.score": 80})
    for fmt in ("json", "markdown"):  # even the default: --send ignores it either way
        result = invoke_cli("report", "--send", "--format", fmt, *common)
        assert result.exit_code == 2, result.output
        assert "--send and --format exclude each other" in result.stderr
    assert http_receiver.requests == []
    assert store.fetch("SELECT count(*) FROM outbox")[0][0] == 0
    sent = invoke_cli("report", "--send", *common)  # each route's own format
    assert sent.exit_code == 0, sent.output
    assert len(http_receiver.requests) == 1


def test_a_report_slot_is_sent_once_a_day(
    tmp_path: Path, store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver
) -> None:
    settings = Settings(db=store.path, routes=[
        {"purpose": "reports", "urls": [f"json://127.0.0.1:{http_receiver.port}/reports"]}])
    make_run({"quality.score": 80})
    monday = T0 + timedelta(days=7, hours=1)
    for later in (timedelta(0), timedelta(minutes=1), timedelta(hours=9)):  # a retry, by hand
        jobs.send_reports(settings, store, None, period="week", now=monday + later)
    assert len(http_receiver.requests) == 1
    jobs.send_reports(settings, store, None, period="day", now=monday)  # another period: its own
    jobs.send_reports(settings, store, None, period="week", now=monday + timedelta(days=7))
    assert len(http_receiver.requests) == 3


def test_a_report_waiting_behind_an_earlier_message_says_so(
    tmp_path: Path, store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver
) -> None:
    common = _reports_to(tmp_path, store, http_receiver)
    make_run({"quality.score": 80})
    http_receiver.status = 503  # the weekly report fails and waits for its retry
    first = invoke_cli("report", "--send", *common)
    assert first.exit_code == 0 and first.output.startswith("pending ")
    http_receiver.status = 200
    monthly = invoke_cli("report", "--send", "--period", "month", *common)
    assert monthly.exit_code == 0, monthly.output
    assert "nothing to send" not in monthly.output
    assert monthly.output.startswith("skipped ") and "waiting behind an earlier message" in monthly.output
    assert store.fetch("SELECT count(*) FROM outbox WHERE status = 'pending'") == [(2,)]


def test_worst_regressions_lead_with_what_gates_watch_and_skip_echoes(
    store: MetricStore, make_run: RunMaker
) -> None:
    base = {"coverage.line_percent": 97.78, "ruff.issues": 1, "ruff.issues.fixable": 1,
            "issues.per_kloc": 1.0, "bandit.issues.high": 0}
    make_run(base, at=T0 - timedelta(days=5))
    make_run({**base, "coverage.line_percent": 20.27}, at=T0 + timedelta(days=1), author="Carol")
    make_run({**base, "coverage.line_percent": 20.27, "ruff.issues": 13, "ruff.issues.fixable": 13,
              "issues.per_kloc": 13.0}, at=T0 + timedelta(days=2), author="Bob")
    make_run({**base, "coverage.line_percent": 20.27, "ruff.issues": 13, "ruff.issues.fixable": 13,
              "issues.per_kloc": 13.0, "bandit.issues.high": 1}, at=T0 + timedelta(days=3), author="Alice")
    report = build_report(store, "demo", period="week", now=T0 + timedelta(days=4),
                          gated_metrics={"coverage.line_percent", "bandit.issues.high"})
    assert [(r.metric, r.author) for r in report.regressions] == [
        ("bandit.issues.high", "Alice"), ("coverage.line_percent", "Carol"), ("ruff.issues", "Bob")]
