"""What a walkthrough of Overview, Gates and Runs found: a project where nothing was measured
counted as green; run labels that could not tell runs apart; data text rendered as Markdown;
test notifications missing from a filtered outbox; relative gates without a rule; gates not
evaluated for some projects without a word why; millisecond ticks on a one-run history."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dashboard_testkit import END, column_labels, figure, rendered_links, run_page, texts
from markdown_it import MarkdownIt

from dashboard.data import state_of
from dashboard.data_ops import history_range
from dashboard.text import literal
from flext_quality.jobs import evaluate_and_deliver
from flext_quality.settings import load_settings
from storage.models import RunRecord, RunResult, RunStatus, ToolRunRecord
from storage.store import MetricStore

EVIL = "[Session expired](https://evil.example)"
NEVER_STALE = "36500"  # days: the states these tests check must not turn into "stale"
SCORE_GATE = '[[gates]]\nname = "score-min"\nmetric = "quality.score"\nmin = 70\n'


def _run(
    project: str,
    run_id: str,
    when: datetime,
    *,
    status: RunStatus = "succeeded",
    sha: str | None = None,
    measures: dict[str, float] | None = None,
    tools: Sequence[ToolRunRecord] = (),
) -> RunResult:
    record = RunRecord(run_id, project, when, when + timedelta(seconds=30), status, commit_sha=sha)
    return RunResult(run=record, tools=list(tools), measures=measures or {})


def _config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "flext-quality.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("FLEXT_QUALITY_CONFIG", str(config))
    monkeypatch.setenv("FLEXT_QUALITY_NOTIFY__STALE_AFTER_DAYS", NEVER_STALE)
    return config


def _stored_and_evaluated(db: Path, config: Path, results: Sequence[RunResult]) -> Path:
    """Store each run and evaluate the configured gates on it, as ``collect`` does."""
    store = MetricStore(db)
    store.ensure_schema()
    settings = load_settings(config, {"db": db})
    for result in results:
        store.append_run(result)
        evaluate_and_deliver(settings, store, result.run.run_id)
    return db


# --- 1. Nothing measured is not green --------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "measured", "expected"),
    [
        (["no_data"], True, "no data"),
        (["no_data", "no_data"], True, "no data"),
        (["pass"], False, "no data"),  # every run of the project failed
        (["no_data", "pass"], True, "green"),
        (["no_data", "fail"], True, "red"),
        (["no_data", "stale"], False, "stale"),
        ([], False, "no gates"),
    ],
)
def test_state_of_is_no_data_when_no_gate_passed_or_nothing_was_measured(
    states: list[str], measured: bool, expected: str
) -> None:
    assert state_of(states, measured=measured) == expected


def test_overview_counts_projects_where_nothing_was_measured_as_no_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, SCORE_GATE, monkeypatch)
    crashed = ToolRunRecord("ruff", "failed", error="ruff crashed")
    db = _stored_and_evaluated(
        tmp_path / "q.duckdb",
        config,
        [
            _run("onerun", "r1", END, status="failed", tools=[crashed]),  # every analyzer failed
            _run("noscore", "r2", END, measures={"ruff.issues": 3.0}),  # the gate's metric: never
            _run("good", "r3", END, measures={"quality.score": 90.0}),
        ],
    )
    at = run_page(db, "overview", monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    states = dict(zip(table["project"], table["gate_state"], strict=True))
    assert states == {"onerun": "no data", "noscore": "no data", "good": "green"}
    assert table["project"].tolist()[-1] == "good"  # no data ranks before green
    tally = {m.label: m.value for m in at.metric}
    assert (tally["No data"], tally["Green"]) == ("2", "1")
    assert "2 projects are `no data`" in texts(at.info)


# --- 2. Run labels ------------------------------------------------------------------------------


def test_run_labels_tell_runs_of_one_minute_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MetricStore(tmp_path / "q.duckdb")
    store.ensure_schema()
    minute = datetime(2026, 11, 26, 11, 26)
    for i in range(6):
        sha = None if i == 5 else f"{i:x}" * 40
        store.append_run(_run("repo2", f"run-{i}", minute + timedelta(seconds=5 * i), sha=sha))
    twin = minute + timedelta(seconds=40)  # a folder outside git collected twice in one second
    store.append_run(_run("repo2", "run-twin-a", twin))
    store.append_run(_run("repo2", "run-twin-b", twin))
    at = run_page(store.path, "runs", monkeypatch)
    picker = at.selectbox(key="runs_detail")
    labels = picker.options
    assert len(labels) == 8 and len(set(labels)) == 8
    assert "2026-11-26 11:26:05 · repo2 · 1111111111 · succeeded" in labels
    assert "2026-11-26 11:26:25 · repo2 · no commit · succeeded" in labels
    assert {label for label in labels if "run-twin" in label} == {
        "2026-11-26 11:26:40 · repo2 · no commit · succeeded · run run-twin-a",
        "2026-11-26 11:26:40 · repo2 · no commit · succeeded · run run-twin-b",
    }


# --- 3. Data is shown as written, never as Markdown -----------------------------------------------


def test_literal_keeps_the_text_and_makes_no_link() -> None:
    md = MarkdownIt("commonmark")
    planted = (EVIL, "![x](https://evil.example/x.png)", "# big\n1. list\n- item\n<b>bold</b> **b** `c` $x$")
    for text in planted:
        html = md.render(literal(text))
        assert "<a " not in html and "<img" not in html and "<h1>" not in html and "<li>" not in html
        assert "<strong>" not in html and "<code>" not in html
    assert "https://" not in literal("see https://evil.example")  # no bare GFM link either
    assert literal("setup.cfg: note: unused section(s)") == "setup.cfg: note: unused section(s)"


def test_errors_and_names_from_the_data_render_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, SCORE_GATE, monkeypatch)
    store = MetricStore(tmp_path / "q.duckdb")
    store.ensure_schema()
    tools = [
        ToolRunRecord("ruff", "failed", error=f"ruff crashed: {EVIL}"),
        ToolRunRecord("mypy", "skipped", error=f"no config {EVIL}"),
    ]
    store.append_run(_run(EVIL, "r1", END, status="failed", tools=tools))  # stored, never evaluated
    _stored_and_evaluated(store.path, config, [_run("good", "r2", END, measures={"quality.score": 90.0})])

    at = run_page(store.path, "runs", monkeypatch)
    at.selectbox(key="runs_project").select(EVIL).run()
    assert "Session expired" in texts(at.error) and "Session expired" in texts(at.info)
    assert rendered_links(at) == [] and "https://evil" not in texts(at.error) + texts(at.info)

    at.switch_page("app_pages/gates.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Session expired" in texts(at.info)  # named as not evaluated yet
    assert rendered_links(at) == [] and "https://evil" not in texts(at.info)

    at.switch_page("app_pages/overview.py").run()
    assert rendered_links(at) == []


# --- 4. Gates page: test messages, rules, gates not evaluated -----------------------------------


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    """A local HTTP endpoint (a real receiver) for the test notification."""
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"json://127.0.0.1:{server.server_port}/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_test_notifications_are_listed_in_a_project_filtered_outbox(
    seeded_db: Path, tmp_path: Path, hook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, f'[[routes]]\npurpose = "alerts"\nurls = ["{hook}"]\n', monkeypatch)
    at = run_page(seeded_db, "gates", monkeypatch)
    at.selectbox(key="gates_project").select("acme").run()
    assert "2 of 2 messages" in texts(at.caption)
    at.button(key="gates_test").click().run()
    assert "1 of 1 endpoints reached" in texts(at.success)
    outbox = at.main.dataframe[-1].value
    assert "flext-quality test notification" in outbox["title"].tolist()
    assert outbox.shape[0] == 3 and set(outbox["project"].dropna()) == {"acme"}
    caption = texts(at.caption)
    assert "3 of 3 messages" in caption and "test notifications" in caption


def test_configured_gates_show_the_rule_of_every_kind(
    seeded_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(
        tmp_path,
        SCORE_GATE
        + '[[gates]]\nmetric = "ruff.issues"\nmax_worsening_percent = 1\nagainst = "previous"\n'
        + '[[gates]]\nname = "ruff-rise"\nmetric = "ruff.issues"\nmax_increase = 5\nagainst = "7d"\n'
        + "consecutive = 3\n"
        + '[[gates]]\nname = "cov-drop"\nmetric = "coverage.line_percent"\nmax_decrease_percent = 2\n'
        + 'against = "baseline"\n',
        monkeypatch,
    )
    at = run_page(seeded_db, "gates", monkeypatch)
    table = next(t for t in at.main.dataframe if "rule" in t.value.columns)
    rules = dict(zip(table.value["gate"], table.value["rule"], strict=True))
    assert rules["score-min"] == "min=70"
    assert rules["ruff.issues max_worsening_percent=1 against=previous"] == (
        "max_worsening_percent=1 against=previous"
    )
    assert rules["ruff-rise"] == "max_increase=5 against=7d consecutive=3"
    assert rules["cov-drop"] == "max_decrease_percent=2 against=baseline"
    assert column_labels(table)["rule"] == "Rule"


def test_gates_page_names_the_projects_whose_gates_were_not_evaluated(
    seeded_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # seeded: states of score-min for acme and project-0001 only; the generated projects'
    # runs were stored without evaluating any gate
    _config(tmp_path, SCORE_GATE, monkeypatch)
    at = run_page(seeded_db, "gates", monkeypatch)
    assert "2 gate states, one per project and gate (1 gate over 2 projects)" in texts(at.caption)
    note = texts(at.info)
    assert "Not evaluated yet for 5 projects with runs (project-0000, project-0002, project-0003" in note
    assert "flext-quality check --no-collect --project NAME" in note and "demo" in note
    at.selectbox(key="gates_project").select("acme").run()
    assert "Not evaluated yet" not in texts(at.info)
    at.selectbox(key="gates_project").select("project-0002").run()
    assert "Not evaluated yet for 1 project with runs (project-0002)" in texts(at.info)


# --- 5. The history of one run is ticked in minutes or days -------------------------------------


def test_history_range_widens_an_instant_or_a_short_span_to_whole_minutes() -> None:
    instant = datetime(2026, 11, 26, 11, 20, 1, 365500)
    assert history_range(pl.Series([instant])) == [
        datetime(2026, 11, 25, 11, 20),
        datetime(2026, 11, 27, 11, 21),
    ]
    start, end = history_range(pl.Series([instant, instant + timedelta(seconds=3)])) or []
    assert start.second == start.microsecond == end.second == end.microsecond == 0
    assert start < instant and end > instant + timedelta(seconds=3) and end - start >= timedelta(hours=1)
    assert history_range(pl.Series([instant, instant + timedelta(days=3)])) is None  # plotly's own


def test_gate_history_of_a_project_with_one_run_is_ticked_in_whole_minutes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, SCORE_GATE, monkeypatch)
    when = datetime(2026, 11, 26, 11, 20, 1, 365500)
    db = _stored_and_evaluated(
        tmp_path / "q.duckdb", config, [_run("onerun", "r1", when, measures={"quality.score": 90.0})]
    )
    at = run_page(db, "gates", monkeypatch)
    at.selectbox(key="gates_project").select("onerun").run()
    axis = figure(at, 0)["layout"]["xaxis"]
    start, end = (datetime.fromisoformat(str(t)) for t in axis["range"])
    assert start < when < end and end - start >= timedelta(hours=1)
    assert start.second == start.microsecond == end.second == end.microsecond == 0
