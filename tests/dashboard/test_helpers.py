"""Data helpers and chart builders, checked directly (no Streamlit page involved)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from dashboard.charts import FAIL_COLOUR, findings_flow_figure, query_chart, trend_figure
from dashboard.context import GateLine
from dashboard.data import data_version, overview, page_rows, state_of
from dashboard.data_findings import FindingFilter, flow
from dashboard.data_ops import mask_endpoint
from dashboard.data_sql import csv_bytes, parquet_bytes
from dashboard.data_trends import gate_thresholds, range_bounds
from storage import queries
from storage.store import MetricStore


@pytest.mark.parametrize(
    ("endpoint", "secret"),
    [
        ("mailtos://bob:hunter2pass@mail.example.com", "hunter2pass"),
        ("slack://T000/B000/XXXXsecrettokenXXXX", "secrettoken"),
        ("json://example.com/hook?+X-Token=abcdef123", "abcdef123"),
        ("https://hooks.example.com/services/T00/B00/zzzzzzzzzzzzzzzzzz", "zzzzzzzzzzzzzzzzzz"),
        ("discord://1234567890/aaaaaaaaaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaaaaaaaaa"),
        ("ntfy://host/topic?password=pw12345", "pw12345"),
    ],
)
def test_mask_endpoint_hides_secrets(endpoint: str, secret: str) -> None:
    masked = mask_endpoint(endpoint)
    assert masked is not None and secret not in masked and "****" in masked
    assert masked.split("://")[0] == endpoint.split("://")[0]


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([], "no gates"),
        (["pass"], "green"),
        (["pass", "stale"], "stale"),
        (["stale", "fail"], "red"),
        (["FAIL"], "red"),
        (["no_data", "pass"], "green"),
    ],
)
def test_state_of(states: list[str], expected: str) -> None:
    assert state_of(states) == expected


def test_page_rows_cuts_pages_and_clamps() -> None:
    frame = pl.DataFrame({"project": [f"p-{i:03d}" for i in range(53)]})
    first, pages = page_rows(frame, search="", page=1, page_size=25)
    last, _ = page_rows(frame, search="", page=99, page_size=25)
    found, found_pages = page_rows(frame, search="P-01", page=1, page_size=25)
    assert pages == 3 and first.height == 25 and last["project"].to_list() == ["p-050", "p-051", "p-052"]
    assert found_pages == 1 and found["project"].to_list() == [f"p-{i:03d}" for i in range(10, 20)]


def test_overview_marks_old_projects_stale_and_sorts_worst_first(seeded_master: Path) -> None:
    db = str(seeded_master)
    version = data_version(db)
    assert version is not None
    now = datetime(2026, 12, 31)  # every project's newest run is weeks old by then
    frame = overview(db, version, ttl_s=5, score_metric="quality.score", now=now, stale_after_days=14)
    assert frame["gate_state"].to_list()[0] == "red"  # red wins over stale
    assert set(frame["gate_state"].to_list()[1:]) == {"stale"}
    rest = frame["score"].to_list()[1:]
    assert rest == sorted(rest)
    acme = frame.filter(pl.col("project") == "acme").row(0, named=True)
    assert acme["score"] == pytest.approx(80 - 11 * 1.5)
    assert acme["change_week"] == pytest.approx(-7 * 1.5)
    assert len(acme["spark"]) == 12


def test_findings_flow_matches_storage_new_and_fixed(seeded_master: Path) -> None:
    db = str(seeded_master)
    version = data_version(db)
    assert version is not None
    frame = flow(db, version, "acme", "month", FindingFilter(), ttl_s=5)
    store = MetricStore(seeded_master)
    runs = store.query("SELECT run_id FROM runs WHERE project = 'acme' ORDER BY committed_at")["run_id"]
    new = fixed = 0
    for run_id in runs.to_list()[1:]:
        n, f = queries.new_and_fixed(store, run_id)
        new, fixed = new + n.height, fixed + f.height
    totals = dict(frame.group_by("kind").agg(pl.col("findings").sum()).iter_rows())
    assert (totals["new"], totals["fixed"]) == (new, fixed)
    assert new > 0 and fixed > 0
    only_bandit = flow(db, version, "acme", "month", FindingFilter(tools=("bandit",)), ttl_s=5)
    assert dict(only_bandit.select("kind", "findings").iter_rows()) == {"new": 1}


def test_range_bounds_end_at_the_newest_point() -> None:
    span = (datetime(2024, 1, 1), datetime(2026, 1, 1))
    start, end = range_bounds(span, "30 days")
    assert start == datetime(2025, 12, 2) and end > span[1]
    assert queries.choose_granularity(*range_bounds(span, "1 year")) == "day"
    assert range_bounds(span, "all")[0] == span[0]
    assert queries.choose_granularity(*range_bounds(span, "all")) == "week"


def _points(grain: str) -> pl.DataFrame:
    ts = [datetime(2026, 1, 1) + timedelta(days=i) for i in range(5)]
    return pl.DataFrame(
        {
            "ts": ts,
            "metric": ["m"] * 5,
            "value": [1.0, 2.0, 3.0, 2.0, 1.0],
            "min_value": [0.5] * 5,
            "max_value": [3.5] * 5,
            "n": [1] * 5,
            "run_id": [f"r{i}" if grain == "raw" else None for i in range(5)],
            "commit_sha": [f"{i:040d}" if grain == "raw" else None for i in range(5)],
            "author": ["ana"] * 5,
            "message": ["fix things\nmore"] * 5,
        }
    )


def test_trend_figure_traces() -> None:
    failures = pl.DataFrame(
        {
            "ts": [datetime(2026, 1, 3)],
            "metric": ["m"],
            "gate": ["g"],
            "value": [3.0],
            "threshold": [2.5],
            "commit_sha": ["abc"],
        }
    )
    changes = pl.DataFrame(
        {
            "ts": [datetime(2026, 1, 2)],
            "tool": ["ruff"],
            "prev_version": ["0.16"],
            "tool_version": ["0.17"],
            "prev_hash": ["a"],
            "config_hash": ["b"],
            "commit_sha": ["x"],
        }
    )
    fig = trend_figure(
        _points("raw"),
        ["m"],
        "raw",
        thresholds=[("g", "m", 2.5), ("other", "zz", 1.0)],
        failures=failures,
        changes=changes,
    )
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"m", "gate: g", "gate failed", "tool change"}
    assert list(by_name["gate: g"].y) == [2.5, 2.5]
    assert by_name["gate failed"].marker.color == FAIL_COLOUR and list(by_name["gate failed"].y) == [3.0]
    assert by_name["m"].customdata[0][2] == "fix things"  # first line of the commit message
    assert by_name["tool change"].text[0] == "ruff: version 0.16 -> 0.17, configuration changed"
    assert len(fig.layout.shapes) == 1  # the vertical marker line
    bucketed = trend_figure(_points("day"), ["m"], "day")
    assert [t.name for t in bucketed.data] == ["range", "m"]
    assert "min" in bucketed.data[1].hovertemplate


def test_findings_flow_figure_puts_fixed_below_zero() -> None:
    frame = pl.DataFrame({"period": [datetime(2026, 1, 1)] * 2, "kind": ["new", "fixed"], "findings": [3, 2]})
    fig = findings_flow_figure(frame)
    assert {t.name: list(t.y) for t in fig.data} == {"new": [3], "fixed": [-2]}


@pytest.mark.parametrize(("grain", "tick", "hover"), [
    ("day", "%Y-%m-%d", "%{x|%Y-%m-%d}"), ("week", "%Y-%m-%d", "%{x|week of %Y-%m-%d}"),
    ("month", "%b %Y", "%{x|%B %Y}"),
])
def test_findings_flow_periods_are_dates_never_times_of_day(grain: str, tick: str, hover: str) -> None:
    frame = pl.DataFrame({"period": [datetime(2026, 11, 23)], "kind": ["new"], "findings": [4]})
    fig = findings_flow_figure(frame, grain)
    assert fig.layout.xaxis.tickformat == tick
    assert fig.data[0].hovertemplate.startswith(hover)


def test_query_chart_and_downloads() -> None:
    frame = pl.DataFrame(
        {"day": [1, 2, 3], "a": [1.0, 2.0, 3.0], "b": [3, 2, 1], "tags": [["x"], [], ["y", "z"]]}
    )
    fig = query_chart(frame, "bar", "day", ["a", "b"])
    assert [t.type for t in fig.data] == ["bar", "bar"] and list(fig.data[1].y) == [3, 2, 1]
    assert csv_bytes(frame).decode().splitlines()[0] == "day,a,b,tags"
    assert pl.read_parquet(parquet_bytes(frame)).equals(frame)


def test_gate_thresholds_merge_configured_and_stored_gates(seeded_master: Path) -> None:
    db = str(seeded_master)
    version = data_version(db)
    assert version is not None
    configured = (
        GateLine(gate="cov", metric="coverage.line_percent", min=75.0, max=None, projects=("ac*",)),
        GateLine(gate="elsewhere", metric="ruff.issues", min=None, max=3.0, projects=("other-*",)),
    )
    lines = gate_thresholds(db, version, "acme", configured, ttl_s=5)
    assert sorted(lines) == [("cov", "coverage.line_percent", 75.0), ("score-min", "quality.score", 70.0)]
    assert gate_thresholds(db, version, "project-0002", configured, ttl_s=5) == []


def test_relative_gate_is_drawn_as_a_step_line_of_its_thresholds() -> None:
    moving = pl.DataFrame(
        {
            "ts": [datetime(2026, 1, 1), datetime(2026, 1, 2), datetime(2026, 1, 4)],
            "metric": ["m", "m", "m"],
            "gate": ["m max_increase=1", "m max_increase=1", "m max_increase=1"],
            "threshold": [2.0, 3.0, 4.0],
        }
    )
    fig = trend_figure(_points("raw"), ["m"], "raw", moving=moving)
    (step,) = [t for t in fig.data if t.name == "gate: m max_increase=1"]
    assert list(step.y) == [2.0, 3.0, 4.0]
    assert step.line.shape == "hv"
    # A metric without a relative gate gets no such line.
    assert not [t for t in trend_figure(_points("raw"), ["m"], "raw").data if t.name.startswith("gate")]


def test_what_changed_marks_metrics_that_appear_or_disappear(seeded_db: Path) -> None:
    from dataclasses import replace

    from dashboard_testkit import acme_runs

    from dashboard.data_trends import compare_runs

    store = MetricStore(seeded_db)
    first, last = acme_runs()[0], acme_runs()[-1]
    # The newest run gains a metric and loses coverage (its report went missing).
    measures = {k: v for k, v in last.measures.items() if k != "coverage.line_percent"}
    store.append_run(replace(last, measures={**measures, "mypy.errors": 2.0}))
    version = data_version(str(seeded_db))
    deltas = compare_runs(
        str(seeded_db), version, "acme", first.run.run_id, last.run.run_id, ttl_s=1
    ).deltas
    verdict = dict(zip(deltas["metric"].to_list(), deltas["verdict"].to_list(), strict=True))
    assert verdict["mypy.errors"] == "new"
    assert verdict["coverage.line_percent"] == "gone"
    assert verdict["quality.score"] == "worse"


def test_gate_history_is_on_the_runs_time_axis(seeded_db: Path) -> None:
    from dashboard.charts import gate_timeline_figure
    from dashboard.data_ops import gate_history

    history = gate_history(str(seeded_db), data_version(str(seeded_db)), project="acme", ttl_s=1)
    assert history is not None and history.height
    runs = MetricStore(seeded_db).query("SELECT run_id, committed_at FROM runs WHERE project = 'acme'")
    committed = dict(runs.iter_rows())
    assert all(ts == committed[run_id] for ts, run_id in history.select("ts", "run_id").iter_rows())
    fig = gate_timeline_figure(history)
    plotted = sorted(x for trace in fig.data for x in trace.x)
    assert plotted == sorted(history["ts"].to_list())
