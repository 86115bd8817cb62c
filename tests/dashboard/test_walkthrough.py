"""What a user walkthrough found: alert links to Gates, gates never evaluated, projects whose
runs all failed, long names, when a project was last measured, a single run, the compare
range, and the words around counts and missing commits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from dashboard_testkit import APP, END, acme_runs, column_labels, figure, run_page, texts
from streamlit.testing.v1 import AppTest

from dashboard.data import data_version, overview
from storage.demo import generate
from storage.models import RunRecord, RunResult, ToolRunRecord
from storage.store import MetricStore

NEVER_STALE = "36500"  # days: the gate words these tests check must not turn into "stale"


def _run(
    project: str,
    run_id: str,
    when: datetime,
    *,
    status: str = "succeeded",
    committed_at: datetime | None = None,
    sha: str | None = None,
    measures: dict[str, float] | None = None,
    tools: Sequence[ToolRunRecord] = (),
) -> RunResult:
    run = RunRecord(
        run_id=run_id,
        project=project,
        started_at=when,
        finished_at=when + timedelta(minutes=1),
        status=status,
        trigger="manual",
        commit_sha=sha,
        committed_at=committed_at,
    )
    return RunResult(run=run, tools=list(tools), measures=measures or {})


def _generated(db: Path, *, projects: int = 3, days: int = 60) -> Path:
    """Generated demo history only: no gate was ever evaluated on it."""
    store = MetricStore(db)
    store.ensure_schema()
    data = generate(projects=projects, metrics=20, days=days, seed=42, end=END)
    store.ingest_points(data.points, data.runs)
    return db


def _settings_file(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "flext-quality.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("FLEXT_QUALITY_CONFIG", str(config))


def _param(at: AppTest, name: str) -> str | None:
    value = at.query_params.get(name)
    return value[0] if isinstance(value, list) else value


# --- 1. Gates: the project of an alert link --------------------------------------------------


def test_gates_page_opens_on_the_project_of_an_alert_link_and_keeps_it_in_the_address(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEXT_QUALITY_DB", str(seeded_db))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params["project"] = "project-0001"  # <base_url>/gates?project=project-0001
    at.run()
    at.switch_page("app_pages/gates.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="gates_project").value == "project-0001"
    assert at.dataframe[0].value["project"].tolist() == ["project-0001"]
    at.selectbox(key="gates_project").select("acme").run()
    assert _param(at, "project") == "acme"
    assert at.dataframe[0].value["project"].tolist() == ["acme"]
    at.selectbox(key="gates_project").select("(all projects)").run()
    assert "project" not in at.query_params
    assert set(at.dataframe[0].value["project"]) == {"acme", "project-0001"}


# --- 2. Gates configured but never evaluated ---------------------------------------------------


def test_configured_gates_without_results_are_not_evaluated_rather_than_no_gates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _generated(tmp_path / "demo.duckdb")
    _settings_file(
        tmp_path,
        '[[gates]]\nmetric = "quality.score"\nmin = 70\nprojects = ["project-000[01]"]\n',
        monkeypatch,
    )
    monkeypatch.setenv("FLEXT_QUALITY_NOTIFY__STALE_AFTER_DAYS", NEVER_STALE)
    at = run_page(db, "overview", monkeypatch)
    states = dict(zip(at.dataframe[0].value["project"], at.dataframe[0].value["gate_state"], strict=True))
    assert states == {
        "project-0000": "not evaluated",
        "project-0001": "not evaluated",
        "project-0002": "no gates",
    }
    hint = texts(at.info)
    assert "2 projects have gates configured that were never evaluated" in hint
    assert "flext-quality check --no-collect" in hint and "scheduler" in hint

    at.switch_page("app_pages/trends.py").run()
    caption = texts(at.caption)
    assert "gate failure" not in caption and "gates not evaluated" in caption
    assert "gate: quality.score min=70" in [t.get("name") for t in figure(at, 0)["data"]]
    at.selectbox(key="project_picker").select("project-0002").run()
    assert "no gates" in texts(at.caption) and "gate failure" not in texts(at.caption)

    at.switch_page("app_pages/gates.py").run()
    said = texts(at.info)
    assert "No gate has been evaluated" in said and "flext-quality check --no-collect" in said


def test_evaluated_gates_are_counted_as_before(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_page(seeded_db, "trends", monkeypatch)
    caption = texts(at.caption)
    assert "5 gate failures" in caption  # acme's score is under 70 on its last five runs
    # ruff 0.16.0 -> 0.17.6, once
    assert "1 analyzer or configuration change" in caption and "configuration changes" not in caption


# --- 3. A project whose runs all failed --------------------------------------------------------


def _with_a_broken_project(db: Path) -> Path:
    broken = [
        ToolRunRecord(t, "failed", None, 0.1, (t,), f"{t}: command not found", None, 0)
        for t in ("ruff", "mypy")
    ]
    store = MetricStore(db)
    for i in range(3):
        store.append_run(
            _run("broken", f"broken-{i}", END - timedelta(hours=i), status="failed", tools=broken)
        )
    return db


def test_a_project_whose_runs_all_failed_comes_right_after_the_red_ones(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEXT_QUALITY_NOTIFY__STALE_AFTER_DAYS", NEVER_STALE)
    at = run_page(_with_a_broken_project(seeded_db), "overview", monkeypatch)
    table = at.dataframe[0].value
    assert table["project"].tolist()[:2] == ["acme", "broken"]
    assert table.iloc[0]["gate_state"] == "red"
    assert table.iloc[1]["last_status"] == "all 3 runs failed"
    assert table.iloc[2]["last_status"] == "succeeded"


def test_trends_of_a_project_whose_runs_all_failed_says_so(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(_with_a_broken_project(seeded_db), "trends", monkeypatch)
    at.selectbox(key="project_picker").select("broken").run()
    assert not at.exception, [e.value for e in at.exception]
    said = texts(at.info)
    assert "All 3 runs of this project failed: no metrics to show." in said
    assert "Runs page" in said and "Pick at least one metric" not in said
    assert "trend_metrics" not in [m.key for m in at.multiselect]


# --- 4. A very long project name ---------------------------------------------------------------


def test_overview_shortens_a_very_long_project_name(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "platform-" + "very-long-name-" * 15  # 234 characters
    MetricStore(seeded_db).append_run(_run(name, "long-1", END, measures={"quality.score": 99.0}))
    at = run_page(seeded_db, "overview", monkeypatch)
    shown = [p for p in at.dataframe[0].value["project"] if p.startswith("platform-")]
    assert len(shown) == 1 and len(shown[0]) == 60 and shown[0].endswith("…")
    assert name.startswith(shown[0][:-1])
    assert name in at.selectbox(key="overview_open").options  # the full name opens its trends
    at.text_input(key="overview_search").input("name-very-long-name-very-long-name-very-long").run()
    assert at.dataframe[0].value.shape[0] == 1  # search still sees the whole name


# --- 5. When a project was last measured -------------------------------------------------------


def test_overview_last_run_is_when_the_run_started_not_the_commit_time(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = END + timedelta(hours=3)
    MetricStore(seeded_db).append_run(
        _run(
            "late",
            "late-1",
            started,
            committed_at=END - timedelta(days=40),
            sha="c" * 40,
            measures={"quality.score": 60.0},
        )
    )
    at = run_page(seeded_db, "overview", monkeypatch)
    table = at.dataframe[0]
    late = table.value[table.value["project"] == "late"].iloc[0]
    assert late["last_run_at"] == started
    assert column_labels(table)["last_run_at"] == "Last run"
    assert "last_ts" not in list(table.proto.column_order) + list(table.value.columns)


def test_stale_means_no_run_for_a_while_even_when_the_commit_is_old(
    seeded_master: Path, tmp_path: Path
) -> None:
    db = tmp_path / "late.duckdb"
    db.write_bytes(seeded_master.read_bytes())
    MetricStore(db).append_run(
        _run(
            "late",
            "late-1",
            END,
            committed_at=END - timedelta(days=40),
            sha="c" * 40,
            measures={"quality.score": 60.0},
        )
    )
    version = data_version(str(db))
    assert version is not None
    frame = overview(
        str(db),
        version,
        ttl_s=5,
        score_metric="quality.score",
        now=END + timedelta(days=1),
        stale_after_days=14,
    )
    assert frame.filter(frame["project"] == "late")["gate_state"].item() == "no gates"


# --- 6. A database with a single run -----------------------------------------------------------


@pytest.fixture
def single_run_db(tmp_path: Path) -> Path:
    db = tmp_path / "single.duckdb"
    store = MetricStore(db)
    store.ensure_schema()
    store.append_run(acme_runs(1)[0])
    return db


def test_trends_of_a_single_run_has_a_day_either_side_and_says_collect_again(
    single_run_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(single_run_db, "trends", monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    layout = figure(at, 0)["layout"]
    low, high = (datetime.fromisoformat(str(x)) for x in layout["xaxis"]["range"])
    assert high - low == timedelta(days=2) and low + timedelta(days=1) == END
    said = texts(at.info)
    assert "Only one run so far: collect again to see changes." in said
    assert "widen the range" not in said


def test_findings_of_a_single_run_say_why_there_is_no_flow(
    single_run_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(single_run_db, "findings", monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    assert "Only one run so far" in texts(at.info)
    assert "findings_flow" not in [c.proto.id for c in at.get("plotly_chart")]
    assert len(at.get("plotly_chart")) == 2  # top rules and hot-spot files are still there


def test_findings_say_when_no_finding_came_or_went_in_a_selection(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(seeded_db, "findings", monkeypatch)
    assert len(at.get("plotly_chart")) == 3
    at.multiselect(key="findings_severities").select("error").run()  # B006: there all along
    assert "No finding was new or fixed" in texts(at.info)
    assert len(at.get("plotly_chart")) == 2


# --- 7. The compare range follows the chosen range ----------------------------------------------


def test_what_changed_from_follows_the_start_of_a_new_range(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(seeded_db, "trends", monkeypatch)
    at.selectbox(key="project_picker").select("project-0001").run()
    firsts = []
    for preset in ("30 days", "1 year", "all"):
        at.radio(key="trend_range").set_value(preset).run()
        picker = at.selectbox(key="trend_from")
        assert picker.index == 0, preset
        firsts.append(picker.value)
    assert len(set(firsts)) == 3


# --- 8. Words: missing commits, short hashes, one of a thing ------------------------------------


def test_runs_without_a_commit_are_labelled_without_a_dangling_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "imported.duckdb"
    store = MetricStore(db)
    store.ensure_schema()
    for i in range(2):
        store.append_run(
            _run("imported", f"imp-{i}", END + timedelta(days=i), measures={"quality.score": 50.0 + i})
        )
    at = run_page(db, "trends", monkeypatch)
    labels = at.selectbox(key="trend_from").options
    assert labels == ["2026-11-20 12:00 · no commit", "2026-11-21 12:00 · no commit"]


def test_runs_table_gives_the_commit_room_for_ten_characters_and_counts_in_words(
    single_run_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings_file(
        tmp_path, '[[routes]]\npurpose = "alerts"\nurls = ["json://127.0.0.1:9/hook"]\n', monkeypatch
    )
    at = run_page(single_run_db, "runs", monkeypatch)
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["commit"]["width"] >= 100  # px: ten hex digits and the cell padding
    assert "1 run, newest first · 0 not fully succeeded" in texts(at.caption)
    at.switch_page("app_pages/gates.py").run()
    assert "1 route configured." in texts(at.caption)
